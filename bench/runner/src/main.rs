//! kelos-bench: times whole processes side by side — the helper against a
//! no-op floor and Kelos's shell helper and gh's own helper, and gh directly
//! against gh behind kelos-gh and behind Kelos's shell wrapper — and prints
//! a markdown report with the targets marked PASS or FAIL.
//!
//! Every round runs every command once, in an order rotated from one round
//! to the next (and reversed every other round), so slow drifts of the
//! machine fall on all of them alike. Wall time is taken around spawn +
//! `wait4`; CPU time and minor faults come from the `rusage` that `wait4`
//! returns; peak RSS from a separate pass under `kelos-bench-rss`.
//!
//! `bash scripts/bench.sh` builds what this needs and runs it; see
//! `kelos-bench --help`.

mod elf;
mod fixture;
mod measure;
mod report;
mod stats;

use kelos_token::expiry::{format_rfc3339, unix_seconds};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use fixture::{Fixture, Sources, GITLAB_HOST, TOKEN};
use measure::Sample;

const USAGE: &str = "\
kelos-bench: time the credential helpers and gh wrappers as whole processes

usage: kelos-bench [options]   (run from the workspace root; bash scripts/bench.sh does)

  --runs N         timed runs of each command (default 200; fewer is not a valid result)
  --warmup N       untimed rounds first (default 20)
  --bin-dir DIR    the static release binaries (default target/x86_64-unknown-linux-musl/release)
  --gh PATH        the real gh (default /usr/bin/gh)
  --bench-dir DIR  where kelos-shell-helper.sh and agent-gh-wrapper.sh are (default bench)
  --out FILE       also write the report here (default target/bench/report.md)
  --work DIR       scratch directory, recreated (default target/bench/work)
  --max-load X     wait until the 1-minute load average is below X (default 0.7)
  --max-wait SECS  ... but no longer than this, then run anyway (default 600; 0 = don't wait)
  --rss-runs N     runs of each command under kelos-bench-rss for peak RSS (default 20)
  --strict         exit 1 when a target is missed
  --also-helper LABEL=PATH   also time another git-credential-kelos build (e.g. a patched
                             one), in the same rounds; repeatable
  --also-kelos-gh LABEL=PATH also time another kelos-gh build, in front of gh and of the
                             floor; repeatable
  --also-floor LABEL=PATH    also time another floor build (e.g. other build flags)
";

struct Options {
    runs: usize,
    warmup: usize,
    bin_dir: PathBuf,
    gh: PathBuf,
    bench_dir: PathBuf,
    out: PathBuf,
    work: PathBuf,
    max_load: f64,
    max_wait: u64,
    rss_runs: usize,
    strict: bool,
    also_helper: Vec<(String, PathBuf)>,
    also_kelos_gh: Vec<(String, PathBuf)>,
    also_floor: Vec<(String, PathBuf)>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 200,
        warmup: 20,
        bin_dir: PathBuf::from("target/x86_64-unknown-linux-musl/release"),
        gh: PathBuf::from("/usr/bin/gh"),
        bench_dir: PathBuf::from("bench"),
        out: PathBuf::from("target/bench/report.md"),
        work: PathBuf::from("target/bench/work"),
        max_load: 0.7,
        max_wait: 600,
        rss_runs: 20,
        strict: false,
        also_helper: Vec::new(),
        also_kelos_gh: Vec::new(),
        also_floor: Vec::new(),
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not UTF-8"))?;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(OsString::from(v))),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<OsString, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |v: OsString, name: &str| -> Result<f64, String> {
            v.to_str()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{name}: {v:?} is not a number"))
        };
        match name.as_str() {
            "--runs" => o.runs = number(value(&name)?, &name)? as usize,
            "--warmup" => o.warmup = number(value(&name)?, &name)? as usize,
            "--bin-dir" => o.bin_dir = value(&name)?.into(),
            "--gh" => o.gh = value(&name)?.into(),
            "--bench-dir" => o.bench_dir = value(&name)?.into(),
            "--out" => o.out = value(&name)?.into(),
            "--work" => o.work = value(&name)?.into(),
            "--max-load" => o.max_load = number(value(&name)?, &name)?,
            "--max-wait" => o.max_wait = number(value(&name)?, &name)? as u64,
            "--rss-runs" => o.rss_runs = number(value(&name)?, &name)? as usize,
            "--strict" => o.strict = true,
            "--also-helper" | "--also-kelos-gh" | "--also-floor" => {
                let v = value(&name)?;
                let v = v.to_str().ok_or_else(|| format!("{name}: not UTF-8"))?;
                let (label, path) = v
                    .split_once('=')
                    .ok_or_else(|| format!("{name}: want LABEL=PATH, got {v:?}"))?;
                let entry = (label.to_string(), PathBuf::from(path));
                match name.as_str() {
                    "--also-helper" => o.also_helper.push(entry),
                    "--also-kelos-gh" => o.also_kelos_gh.push(entry),
                    _ => o.also_floor.push(entry),
                }
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
        }
    }
    if o.runs < 10 {
        return Err("--runs must be at least 10".into());
    }
    Ok(o)
}

/// The commands compared. `baseline` names the row a command is compared with.
pub struct Variant {
    pub key: String,
    pub label: String,
    pub baseline: Option<&'static str>,
    command: Command,
    expect: Expect,
    /// Its stdin, opened afresh for every run.
    input: PathBuf,
}

enum Expect {
    /// stdout has this line.
    Line(String),
    /// stdout starts with this.
    Prefix(&'static str),
    /// stdout is empty.
    Empty,
}

/// Everything measured, for the report.
pub struct Results {
    pub variants: Vec<Variant>,
    pub samples: Vec<Vec<Sample>>,
    /// Peak RSS (KiB) of each run under kelos-bench-rss.
    pub rss: Vec<Vec<u64>>,
    pub sizes: Vec<BinaryFacts>,
    pub header: Header,
}

pub struct BinaryFacts {
    pub name: &'static str,
    pub path: PathBuf,
    pub bytes: u64,
    /// Size after `strip`, when the file still had symbols; else `bytes`.
    pub stripped_bytes: u64,
    pub was_stripped: bool,
    pub is_static: bool,
}

pub struct Header {
    pub date: String,
    pub machine: String,
    pub load_start: String,
    pub waited: String,
    pub load_end: String,
    pub rustc: String,
    pub gh: String,
    pub runs: usize,
    pub warmup: usize,
    pub rss_runs: usize,
    pub elapsed: Duration,
}

impl Results {
    pub fn index(&self, key: &str) -> usize {
        self.variants
            .iter()
            .position(|v| v.key == key)
            .unwrap_or_else(|| panic!("no variant {key}"))
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kelos-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(all_pass) if all_pass || !options.strict => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kelos-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(o: &Options) -> Result<bool, String> {
    let started = Instant::now();
    let helper = o.bin_dir.join("git-credential-kelos");
    let kelos_gh = o.bin_dir.join("kelos-gh");
    let kelos_glab = o.bin_dir.join("kelos-glab");
    let noop = o.bin_dir.join("kelos-bench-noop");
    let bare_noop = o.bin_dir.join("kelos-bench-noop-bare");
    let rss_launcher = o.bin_dir.join("kelos-bench-rss");
    for p in [
        &helper,
        &kelos_gh,
        &kelos_glab,
        &noop,
        &bare_noop,
        &rss_launcher,
    ] {
        if !p.is_file() {
            return Err(format!(
                "{} is missing: build it with `cargo build --release --locked --target \
                 x86_64-unknown-linux-musl -p git-credential-kelos -p kelos-gh -p kelos-glab -p kelos-bench-noop` \
                 (bash scripts/bench.sh does)",
                p.display()
            ));
        }
    }
    if !o.gh.is_file() {
        return Err(format!(
            "{} not found: install gh with `apt-get install gh` (or pass --gh PATH)",
            o.gh.display()
        ));
    }
    let shell_helper = o.bench_dir.join("kelos-shell-helper.sh");
    let shell_wrapper = o.bench_dir.join("agent-gh-wrapper.sh");

    let (load_start, waited) = wait_for_quiet(o.max_load, o.max_wait);

    let fx = Fixture::create(
        &o.work,
        &Sources {
            helper: &helper,
            kelos_gh: &kelos_gh,
            kelos_glab: &kelos_glab,
            noop: &noop,
            bare_noop: &bare_noop,
            shell_wrapper: &shell_wrapper,
            real_gh: &o.gh,
        },
    )
    .map_err(|e| format!("setting up {}: {e}", o.work.display()))?;

    // Each extra kelos-gh gets a directory ahead of gh and one ahead of the floor.
    let mut also_kelos_gh = Vec::new();
    for (n, (label, path)) in o.also_kelos_gh.iter().enumerate() {
        let dirs = (
            fx.install_gh(&format!("also-kelos-gh-{n}"), path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            fx.install_gh(&format!("also-noop-wrap-{n}"), path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        );
        also_kelos_gh.push((label.clone(), dirs));
    }
    // Other builds to compare run from fresh copies too (see fixture.rs).
    let mut also_helper = Vec::new();
    for (n, (label, path)) in o.also_helper.iter().enumerate() {
        let copy = fx
            .fresh_copy(&format!("also-helper-{n}"), path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        also_helper.push((label.clone(), copy));
    }
    let mut also_floor = Vec::new();
    for (n, (label, path)) in o.also_floor.iter().enumerate() {
        let copy = fx
            .fresh_copy(&format!("also-floor-{n}"), path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        also_floor.push((label.clone(), copy));
    }
    let mut variants = build_variants(
        &fx,
        &shell_helper,
        &also_kelos_gh,
        &also_helper,
        &also_floor,
    );
    for v in &mut variants {
        check(v)?;
    }
    check_wrappers_pass_the_token(&fx)?;

    let sink = OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    let n = variants.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(o.runs); n];
    eprintln!(
        "kelos-bench: {} commands, {} warm-up rounds, {} timed rounds",
        n, o.warmup, o.runs
    );
    for round in 0..o.warmup + o.runs {
        let timed = round >= o.warmup;
        for j in 0..n {
            let i = order(round, j, n);
            let v = &mut variants[i];
            let s = measure::run_once(&mut v.command, &v.input, &sink)
                .map_err(|e| format!("running {}: {e}", v.label))?;
            if s.exit != 0 {
                return Err(format!(
                    "{} exited with {} in round {round}",
                    v.label, s.exit
                ));
            }
            if timed {
                samples[i].push(s);
            }
        }
        if timed && (round - o.warmup + 1) % (o.runs / 10).max(1) == 0 {
            eprintln!(
                "kelos-bench: {}/{} rounds, {:.0} s",
                round - o.warmup + 1,
                o.runs,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let load_end = read_loadavg();

    eprintln!("kelos-bench: peak RSS, {} runs of each", o.rss_runs);
    let mut rss: Vec<Vec<u64>> = vec![Vec::with_capacity(o.rss_runs); n];
    for round in 0..o.rss_runs {
        for j in 0..n {
            let i = order(round, j, n);
            rss[i].push(peak_rss(&rss_launcher, &variants[i])?);
        }
    }

    let sizes = vec![
        binary_facts("git-credential-kelos", &helper, &fx.root)?,
        binary_facts("kelos-gh", &kelos_gh, &fx.root)?,
        binary_facts("kelos-glab", &kelos_glab, &fx.root)?,
        binary_facts("kelos-bench-noop (floor)", &noop, &fx.root)?,
    ];
    let header = Header {
        date: utc_now(),
        machine: machine(),
        load_start,
        waited,
        load_end,
        rustc: first_line_of(Command::new("rustc").arg("--version")),
        gh: first_line_of(
            Command::new(&o.gh)
                .arg("--version")
                .env("GH_NO_UPDATE_NOTIFIER", "1"),
        ),
        runs: o.runs,
        warmup: o.warmup,
        rss_runs: o.rss_runs,
        elapsed: started.elapsed(),
    };
    let results = Results {
        variants,
        samples,
        rss,
        sizes,
        header,
    };
    let (text, all_pass) = report::render(&results);
    print!("{text}");
    if let Some(dir) = o.out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    fs::write(&o.out, &text).map_err(|e| format!("{}: {e}", o.out.display()))?;
    eprintln!("kelos-bench: report written to {}", o.out.display());
    let _ = fs::remove_dir_all(&fx.root);
    Ok(all_pass)
}

/// The `j`th command of round `round`: the order is rotated by one each
/// round and runs backwards every other round, so that no command always
/// follows the same one.
fn order(round: usize, j: usize, n: usize) -> usize {
    let k = (round + j) % n;
    if round % 2 == 1 {
        n - 1 - k
    } else {
        k
    }
}

fn build_variants(
    fx: &Fixture,
    shell_helper: &Path,
    also_kelos_gh: &[(String, (PathBuf, PathBuf))],
    also_helper: &[(String, PathBuf)],
    also_floor: &[(String, PathBuf)],
) -> Vec<Variant> {
    let (helper, noop, bare_noop) = (&fx.helper, &fx.noop, &fx.bare_noop);
    // The fresh copy of the real gh comes before the system's in every PATH.
    let path_with = |first: &[&Path]| -> OsString {
        let mut p = OsString::new();
        for d in first {
            p.push(d.as_os_str());
            p.push(":");
        }
        p.push(fx.real_gh_dir.as_os_str());
        p.push(":/usr/local/bin:/usr/bin:/bin");
        p
    };
    // One environment for all, as in an agent container: kelos-gh's
    // directory first in PATH, the token file configured.
    let base = |program: &Path, args: &[&str], path: OsString| -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &fx.home)
            .env("GH_CONFIG_DIR", &fx.gh_config)
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("KELOS_GITHUB_TOKEN_FILE", &fx.token_file);
        c
    };
    let std_path = path_with(&[&fx.kelos_gh_dir]);
    let noop_path = path_with(&[&fx.noop_wrap_dir, &fx.noop_real_dir]);
    let password = Expect::Line(format!("password={TOKEN}"));
    let mut v = Vec::new();
    let mut add = |key: &str, label: String, baseline, command, expect| {
        v.push(Variant {
            key: key.to_string(),
            label,
            baseline,
            command,
            expect,
            input: fx.input.clone(),
        })
    };

    add(
        "floor",
        "floor: `kelos-bench-noop` (static musl, reads stdin, exits)".into(),
        None,
        base(noop, &["get"], std_path.clone()),
        Expect::Empty,
    );
    add(
        "floor-bare",
        "floor without std's start-up: `kelos-bench-noop-bare` (`no_main`, as the helpers)".into(),
        Some("floor"),
        base(bare_noop, &["get"], std_path.clone()),
        Expect::Empty,
    );
    add(
        "helper",
        "`git-credential-kelos get` (kubelet layout)".into(),
        Some("floor"),
        base(helper, &["get"], std_path.clone()),
        Expect::Line(format!("password={TOKEN}")),
    );
    let mut plain = base(helper, &["get"], std_path.clone());
    plain.env("KELOS_GITHUB_TOKEN_FILE", &fx.plain_token_file);
    add(
        "helper-plain",
        "`git-credential-kelos get` (plain file)".into(),
        Some("floor"),
        plain,
        Expect::Line(format!("password={TOKEN}")),
    );
    // The agent's own commands: `env` as the shell snippet runs it before
    // every command (GITHUB_TOKEN and GH_TOKEN present, as in a pod), and
    // `exec` in front of the floor (what it adds is one exec and its work).
    let mut env = base(helper, &["env"], std_path.clone());
    env.env("GITHUB_TOKEN", "ghs_stale")
        .env("GH_TOKEN", "ghs_stale");
    add(
        "env",
        "`git-credential-kelos env` (GITHUB_TOKEN, GH_TOKEN present)".into(),
        Some("floor"),
        env,
        Expect::Line(format!("export GITHUB_TOKEN='{TOKEN}'")),
    );
    let mut exec = base(helper, &["exec"], std_path.clone());
    exec.arg(noop)
        .arg("get")
        .env("GITHUB_TOKEN", "ghs_stale")
        .env("GH_TOKEN", "ghs_stale");
    add(
        "floor-exec",
        "floor via `git-credential-kelos exec` (GITHUB_TOKEN, GH_TOKEN present)".into(),
        Some("floor"),
        exec,
        Expect::Empty,
    );
    let mut sh = base(Path::new("/bin/sh"), &[], std_path.clone());
    sh.arg(shell_helper).arg("get");
    add(
        "shell-helper",
        "Kelos shell helper (`/bin/sh kelos-shell-helper.sh get`)".into(),
        Some("floor"),
        sh,
        Expect::Line(format!("password={TOKEN}")),
    );
    let mut gh_cred = base(
        &fx.real_gh,
        &["auth", "git-credential", "get"],
        std_path.clone(),
    );
    gh_cred.env("GH_TOKEN", TOKEN);
    add(
        "gh-credential",
        "`gh auth git-credential get` (GH_TOKEN)".into(),
        Some("floor"),
        gh_cred,
        password,
    );
    add(
        "gh",
        "`gh --version` direct".into(),
        None,
        base(&fx.real_gh, &["--version"], std_path.clone()),
        Expect::Prefix("gh version"),
    );
    add(
        "gh-kelos",
        "`gh --version` via `kelos-gh` (PATH search)".into(),
        Some("gh"),
        base(
            &fx.kelos_gh_dir.join("gh"),
            &["--version"],
            std_path.clone(),
        ),
        Expect::Prefix("gh version"),
    );
    add(
        "gh-shell",
        "`gh --version` via Kelos shell wrapper".into(),
        Some("gh"),
        base(&fx.shell_gh, &["--version"], std_path.clone()),
        Expect::Prefix("gh version"),
    );
    add(
        "floor-kelos",
        "floor as `gh` via `kelos-gh` (PATH search)".into(),
        Some("floor"),
        base(
            &fx.noop_wrap_dir.join("gh"),
            &["--version"],
            noop_path.clone(),
        ),
        Expect::Empty,
    );
    add(
        "floor-shell",
        "floor as `gh` via Kelos shell wrapper".into(),
        Some("floor"),
        base(&fx.shell_noop, &["--version"], noop_path),
        Expect::Empty,
    );
    // GitLab (a pod of Kelos's GitLab provider: no GitHub variable, the
    // instance over http on a port): `get` for it, and kelos-glab in front of
    // the floor, its host entry already in glab's config (the first, checked
    // run writes it; every timed run is the one read that finds it).
    let gitlab = |program: &Path, args: &[&str], path: OsString| -> Command {
        let mut c = base(program, args, path);
        c.env_remove("KELOS_GITHUB_TOKEN_FILE")
            .env("KELOS_GITLAB_TOKEN_FILE", &fx.token_file)
            .env("GITLAB_HOST", GITLAB_HOST)
            .env("GITLAB_TOKEN", "glpat-stale")
            .env("GLAB_CONFIG_DIR", &fx.glab_config);
        c
    };
    add(
        "helper-gitlab",
        "`git-credential-kelos get` for a GitLab host (http on a port, kubelet layout)".into(),
        Some("floor"),
        gitlab(helper, &["get"], std_path.clone()),
        Expect::Line(format!("password={TOKEN}")),
    );
    add(
        "floor-kelos-glab",
        "floor as `glab` via `kelos-glab` (PATH search, host entry present)".into(),
        Some("floor"),
        gitlab(
            &fx.noop_glab_wrap_dir.join("glab"),
            &["--version"],
            path_with(&[&fx.noop_glab_wrap_dir, &fx.noop_real_dir]),
        ),
        Expect::Empty,
    );
    for (n, (label, path)) in also_floor.iter().enumerate() {
        add(
            &format!("also-floor-{n}"),
            format!("floor [{label}]"),
            Some("floor"),
            base(path, &["get"], std_path.clone()),
            Expect::Empty,
        );
    }
    for (n, (label, path)) in also_helper.iter().enumerate() {
        add(
            &format!("also-helper-{n}"),
            format!("`git-credential-kelos get` [{label}]"),
            Some("floor"),
            base(path, &["get"], std_path.clone()),
            Expect::Line(format!("password={TOKEN}")),
        );
    }
    for (n, (label, dirs)) in also_kelos_gh.iter().enumerate() {
        add(
            &format!("also-gh-kelos-{n}"),
            format!("`gh --version` via `kelos-gh` [{label}]"),
            Some("gh"),
            base(&dirs.0.join("gh"), &["--version"], path_with(&[&dirs.0])),
            Expect::Prefix("gh version"),
        );
        add(
            &format!("also-floor-kelos-{n}"),
            format!("floor as `gh` via `kelos-gh` [{label}]"),
            Some("floor"),
            base(
                &dirs.1.join("gh"),
                &["--version"],
                path_with(&[&dirs.1, &fx.noop_real_dir]),
            ),
            Expect::Empty,
        );
    }
    for variant in v.iter_mut().filter(|v| v.key == "helper-gitlab") {
        variant.input = fx.gitlab_input.clone();
    }
    v
}

/// One untimed run with output captured: the command must do its job.
fn check(v: &mut Variant) -> Result<(), String> {
    let input = File::open(&v.input).map_err(|e| e.to_string())?;
    let out = v
        .command
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running {}: {e}", v.label))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ok = out.status.success()
        && match &v.expect {
            Expect::Line(line) => stdout.lines().any(|l| l == line),
            Expect::Prefix(p) => stdout.starts_with(p),
            Expect::Empty => stdout.is_empty(),
        };
    if !ok {
        return Err(format!(
            "{} did not do its job ({}):\n--- stdout\n{}--- stderr\n{}",
            v.label,
            out.status,
            stdout.replace(TOKEN, "<token>"),
            stderr.replace(TOKEN, "<token>")
        ));
    }
    if !stderr.is_empty() {
        eprintln!(
            "kelos-bench: note: {} writes to stderr: {}",
            v.label,
            stderr.trim_end()
        );
    }
    Ok(())
}

/// The variant's command run under kelos-bench-rss: its `ru_maxrss`, KiB.
fn peak_rss(launcher: &Path, v: &Variant) -> Result<u64, String> {
    let mut c = Command::new(launcher);
    c.arg(v.command.get_program())
        .args(v.command.get_args())
        .env_clear();
    for (name, value) in v.command.get_envs() {
        if let Some(value) = value {
            c.env(name, value);
        }
    }
    let input = File::open(&v.input).map_err(|e| e.to_string())?;
    let out = c
        .stdin(Stdio::from(input))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", launcher.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    match (
        words.next().and_then(|w| w.parse::<u64>().ok()),
        words.next(),
    ) {
        (Some(kib), Some("0")) if out.status.success() => Ok(kib),
        _ => Err(format!(
            "{} under {}: unexpected {:?} ({})",
            v.label,
            launcher.display(),
            text.trim(),
            out.status
        )),
    }
}

/// Both wrappers must actually hand gh the file's token (`gh auth token`
/// with no token variable set), or timing them would mean little.
fn check_wrappers_pass_the_token(fx: &Fixture) -> Result<(), String> {
    for wrapper in [fx.kelos_gh_dir.join("gh"), fx.shell_gh.clone()] {
        let mut path = fx.kelos_gh_dir.clone().into_os_string();
        path.push(":");
        path.push(fx.real_gh_dir.as_os_str());
        path.push(":/usr/local/bin:/usr/bin:/bin");
        let out = Command::new(&wrapper)
            .args(["auth", "token"])
            .env_clear()
            .env("PATH", path)
            .env("HOME", &fx.home)
            .env("GH_CONFIG_DIR", &fx.gh_config)
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("KELOS_GITHUB_TOKEN_FILE", &fx.token_file)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", wrapper.display()))?;
        if String::from_utf8_lossy(&out.stdout).trim() != TOKEN {
            return Err(format!(
                "{} auth token did not print the file's token ({}); stderr: {}",
                wrapper.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).replace(TOKEN, "<token>")
            ));
        }
    }
    Ok(())
}

fn binary_facts(name: &'static str, path: &Path, scratch: &Path) -> Result<BinaryFacts, String> {
    let bytes = fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let facts = elf::inspect(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let stripped_bytes = if facts.is_stripped {
        bytes
    } else {
        let copy = scratch.join("stripped");
        let ok = Command::new("strip")
            .arg("-o")
            .arg(&copy)
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!(
                "{} has symbols and `strip` failed (apt-get install binutils)",
                path.display()
            ));
        }
        fs::metadata(&copy).map_err(|e| e.to_string())?.len()
    };
    Ok(BinaryFacts {
        name,
        path: path.to_path_buf(),
        bytes,
        stripped_bytes,
        was_stripped: facts.is_stripped,
        is_static: facts.is_static,
    })
}

fn read_loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn load1() -> Option<f64> {
    read_loadavg().split_whitespace().next()?.parse().ok()
}

/// Waits, up to `max_wait` seconds, for the 1-minute load average to fall
/// below `max_load`. Returns the load when measuring starts and a note on
/// the wait.
fn wait_for_quiet(max_load: f64, max_wait: u64) -> (String, String) {
    let start = Instant::now();
    let mut last_note = Instant::now();
    loop {
        let load = load1();
        let waited = start.elapsed().as_secs();
        match load {
            Some(l) if l < max_load => {
                return (
                    read_loadavg(),
                    format!("waited {waited} s for the 1-min load to fall below {max_load}"),
                )
            }
            None => return (read_loadavg(), "load average unavailable".into()),
            Some(l) if waited >= max_wait => {
                eprintln!(
                    "kelos-bench: load {l} still ≥ {max_load} after {waited} s; running anyway"
                );
                return (
                    read_loadavg(),
                    format!(
                        "**load still ≥ {max_load} after waiting {waited} s: figures are noisier**"
                    ),
                );
            }
            Some(l) => {
                if waited == 0 || last_note.elapsed() >= Duration::from_secs(30) {
                    eprintln!(
                        "kelos-bench: 1-min load {l} ≥ {max_load}; waiting (up to {max_wait} s, \
                         --max-wait 0 to skip)"
                    );
                    last_note = Instant::now();
                }
                thread::sleep(Duration::from_secs(5));
            }
        }
    }
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{cpus} CPUs, {cpu}, Linux {kernel}")
}

fn first_line_of(command: &mut Command) -> String {
    command
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `YYYY-MM-DD HH:MM UTC`, from the project's own RFC 3339 formatter.
fn utc_now() -> String {
    let rfc3339 = format_rfc3339(unix_seconds(SystemTime::now()));
    format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..16])
}
