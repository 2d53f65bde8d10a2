//! The rotation soak: `soak [--duration SECS] [--workers N] ...` (run it through
//! `bash scripts/soak.sh`, which builds the static binaries and sets `KELOS_BIN_DIR`).
//!
//! Exits 0 only when every phase met its expectations: no auth failure (nor any other
//! failure) in the rotation phases, no hang anywhere, no token in any captured output, and
//! the fault phases' stated outcomes. See `kelos_e2e::soak`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use kelos_e2e::soak::report;
use kelos_e2e::soak::run::{default_report, soak, Config};

const USAGE: &str = "\
usage: soak [--duration SECS] [--workers N] [--min-ops N] [--fault-duration SECS] [--baseline SECS]
            [--consumer-duration SECS] [--consumer-min-ops N]
            [--gitlab-duration SECS] [--gitlab-min-ops N]
            [--rotate-ms MS] [--write-pause-ms MS] [--op-timeout SECS] [--report PATH]

  --duration SECS        rotation phase length (default 5: the CI run, about 100 s in
                         all, 70 s of it the GitLab phase's 2,000 operations)
  --workers N            concurrent workers (default 4)
  --min-ops N            go on with the rotation phase past --duration until N operations
                         are done (at most 3 x duration; default 0)
  --consumer-duration SECS
                         the consumer phase: bash -c (BASH_ENV) running curl with
                         $GITHUB_TOKEN while the token rotates (default: duration / 2,
                         from 3 to 60); also the length of the configure phase
                         (configure/unconfigure in a loop on the workers' repository
                         configs while a controller stand-in rewrites its helper and
                         git fetches)
  --consumer-min-ops N   go on with the consumer phase until N operations are done (at
                         most 3 x its duration; default 0)
  --gitlab-duration SECS the GitLab phase: git fetch/push as oauth2 and glab api user
                         through kelos-glab while the GitLab token rotates (default:
                         duration / 2, from 3 to 60)
  --gitlab-min-ops N     go on with the GitLab phase until N operations are done (at most
                         240 s; fewer fails the phase; default 2000)
  --fault-duration SECS  each fault phase (default: duration / 12, at least 0.75)
  --baseline SECS        the baseline phase, which also times the operations
                         (default: duration / 10, from 2 to 15)
  --rotate-ms MS         rotation interval (default: 200, lengthened only when the
                         baseline's slowest p99 times 2 exceeds it; the report says so)
  --write-pause-ms MS    how long the non-atomic writer leaves the file empty (default 20)
  --op-timeout SECS      an operation running longer is killed and counted as a hang (default 30)
  --report PATH          where to write the Markdown report (default target/soak/report.md)
";

fn parse() -> Result<Config, String> {
    let mut duration = 5.0f64;
    let mut workers = 4usize;
    let mut min_ops = 0usize;
    let mut fault: Option<f64> = None;
    let mut baseline: Option<f64> = None;
    let mut consumer: Option<f64> = None;
    let mut consumer_min_ops = 0usize;
    let mut gitlab: Option<f64> = None;
    let mut gitlab_min_ops = 2000usize;
    let mut rotate_ms: Option<u64> = None;
    let mut pause_ms = 20u64;
    let mut op_timeout = 30.0f64;
    let mut report: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        if name == "-h" || name == "--help" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |v: String| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| format!("{name}: {v:?} is not a positive number"))
        };
        match name.as_str() {
            "--duration" => duration = num(value()?)?,
            "--workers" => workers = num(value()?)? as usize,
            "--min-ops" => min_ops = num(value()?)? as usize,
            "--fault-duration" => fault = Some(num(value()?)?),
            "--baseline" => baseline = Some(num(value()?)?),
            "--consumer-duration" => consumer = Some(num(value()?)?),
            "--consumer-min-ops" => consumer_min_ops = num(value()?)? as usize,
            "--gitlab-duration" => gitlab = Some(num(value()?)?),
            "--gitlab-min-ops" => gitlab_min_ops = num(value()?)? as usize,
            "--rotate-ms" => rotate_ms = Some(num(value()?)? as u64),
            "--write-pause-ms" => pause_ms = num(value()?)? as u64,
            "--op-timeout" => op_timeout = num(value()?)?,
            "--report" => report = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    if workers == 0 || rotate_ms == Some(0) {
        return Err("--workers and --rotate-ms must be at least 1".to_string());
    }
    let fault = fault.unwrap_or((duration / 12.0).max(0.75));
    let baseline = baseline.unwrap_or((duration / 10.0).clamp(2.0, 15.0));
    let consumer = consumer.unwrap_or((duration / 2.0).clamp(3.0, 60.0));
    let gitlab = gitlab.unwrap_or((duration / 2.0).clamp(3.0, 60.0));
    Ok(Config {
        workers,
        baseline: Duration::from_secs_f64(baseline),
        rotation: Duration::from_secs_f64(duration),
        consumer: Duration::from_secs_f64(consumer),
        consumer_min_ops,
        gitlab: Duration::from_secs_f64(gitlab),
        gitlab_min_ops,
        min_ops,
        fault: Duration::from_secs_f64(fault),
        rotate_every: rotate_ms.map(Duration::from_millis),
        write_pause: Duration::from_millis(pause_ms),
        op_timeout: Duration::from_secs_f64(op_timeout),
        fast_limit: Duration::from_secs(5),
        report: report.unwrap_or_else(default_report),
    })
}

fn main() -> ExitCode {
    let cfg = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("soak: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = cfg.report.clone();
    let result = soak(cfg);
    let text = report::render(&result);
    println!("{text}");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, &text) {
        Ok(()) => eprintln!("soak: report written to {}", path.display()),
        Err(e) => {
            eprintln!("soak: cannot write the report to {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if result.passed() {
        eprintln!("soak: PASS");
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: FAIL (see the expectations in the report)");
        ExitCode::from(1)
    }
}
