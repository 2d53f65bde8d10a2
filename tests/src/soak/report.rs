//! The soak's report: Markdown, printed and written to `target/soak/report.md`. It names
//! tokens never; samples of stderr are redacted.

use std::fmt::Write as _;
use std::time::Duration;

use crate::soak::run::{times, OpKind, OpRecord, Outcome, PhaseKind, SoakResult};

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// The grace window a credential has at least: a token read just before a rotation is
/// still accepted until the rotation after that one.
pub fn grace(r: &SoakResult) -> Duration {
    r.interval
}

pub fn render(r: &SoakResult) -> String {
    let mut s = String::new();
    let cfg = &r.cfg;
    let verdict = if r.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(s, "# Rotation soak: {verdict}\n");
    let _ = writeln!(
        s,
        "{} workers (each looping git fetch, git push to its own branch, gh api user through \
         kelos-gh); baseline phase {} s, rotation phase {} s{}, consumer phase {} s{} (bash -c with \
         BASH_ENV running curl with $GITHUB_TOKEN), GitLab phase {} s or until {} operations \
         (git fetch and push as oauth2, glab api user through kelos-glab; at most {} s), fault \
         phases {} s; a new token \
         every {} ms, servers accept the current and the previous \
         one; operation time limit {} s. Total {} s (set-up {} s). {} tokens made. Load \
         average {} before, {} after ({} CPUs).\n\nRotation interval: {}.\n",
        cfg.workers,
        secs(cfg.baseline),
        secs(cfg.rotation),
        if cfg.min_ops > 0 {
            format!(" (or until {} operations)", cfg.min_ops)
        } else {
            String::new()
        },
        secs(cfg.consumer),
        if cfg.consumer_min_ops > 0 {
            format!(" (or until {} operations)", cfg.consumer_min_ops)
        } else {
            String::new()
        },
        secs(cfg.gitlab),
        cfg.gitlab_min_ops,
        crate::soak::run::GITLAB_CAP.as_secs(),
        secs(cfg.fault),
        r.interval.as_millis(),
        cfg.op_timeout.as_secs(),
        secs(r.total),
        secs(r.setup),
        r.tokens_made,
        r.load_before,
        r.load_after,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.interval_note,
    );
    for (name, v) in &r.versions {
        let _ = writeln!(s, "- {name}: {v}");
    }
    let _ = writeln!(s);

    let _ = writeln!(s, "## Phases\n");
    let _ = writeln!(
        s,
        "| phase | s | ops | ok | auth failures | no credential | other errors | hangs | \
         fallbacks used | refused by servers | p50 ms | p99 ms | max ms | ops/s | CPU ms/op | result |"
    );
    let _ = writeln!(
        s,
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    for p in &r.phases {
        let all: Vec<&OpRecord> = p.records.iter().collect();
        let (p50, p99, max) = times(&all);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.0} | {} |",
            p.name,
            secs(p.wall),
            p.records.len(),
            p.count(Outcome::Ok),
            p.count(Outcome::AuthFailed),
            p.count(Outcome::NoCredential),
            p.count(Outcome::OtherError),
            p.count(Outcome::Hung),
            p.fallbacks(),
            p.refused(),
            ms(p50),
            ms(p99),
            ms(max),
            p.records.len() as f64 / p.wall.as_secs_f64().max(1e-3),
            p.cpu.as_secs_f64() * 1000.0 / (p.records.len().max(1) as f64),
            if p.passed() { "pass" } else { "**FAIL**" },
        );
    }
    let _ = writeln!(
        s,
        "\n*auth failures*: operations whose credential the server refused; *no credential*: \
         git got no username/password, or gh sent no token; *fallbacks used*: operations whose \
         trace (KELOS_CREDENTIAL_TRACE) shows a fallback variable was used; *refused by \
         servers*: credentials the git server or the API refused.\n"
    );

    let _ = writeln!(s, "## Per operation\n");
    let _ = writeln!(
        s,
        "| phase | operation | ops | ok | p50 ms | p99 ms | max ms |"
    );
    let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|");
    for p in &r.phases {
        for k in OpKind::EVERY {
            let recs: Vec<&OpRecord> = p.records.iter().filter(|x| x.kind == k).collect();
            if recs.is_empty() {
                continue;
            }
            let ok = recs.iter().filter(|x| x.outcome == Outcome::Ok).count();
            let (p50, p99, max) = times(&recs);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.name,
                k.name(),
                recs.len(),
                ok,
                ms(p50),
                ms(p99),
                ms(max)
            );
        }
    }

    let _ = writeln!(s, "\n## Rotation and grace window\n");
    for p in r.phases.iter().filter(|p| {
        matches!(
            p.kind,
            PhaseKind::Rotation
                | PhaseKind::NonAtomic
                | PhaseKind::Consumer
                | PhaseKind::Configure
                | PhaseKind::GitLab
        )
    }) {
        let _ = write!(
            s,
            "- {}: {} new tokens, {} writes in {} s, ticks at most {} ms late (rotator thread {})",
            p.name,
            p.rotations,
            p.writes,
            secs(p.wall),
            ms(p.max_tick_lateness),
            if p.realtime == Some(true) {
                "SCHED_FIFO"
            } else {
                "at normal priority: SCHED_FIFO was refused"
            }
        );
        if let Some(g) = p.max_write_gap {
            let _ = write!(
                s,
                "; the file was empty for at most {} ms at a time (the helper re-reads an \
                 empty file for about 50 ms{}), {:.1}% of the phase",
                ms(g),
                if g >= Duration::from_millis(50) {
                    ": the writer was slower than that, so a failure here could be the harness's"
                } else {
                    ""
                },
                100.0 * p.empty.as_secs_f64() / p.wall.as_secs_f64().max(1e-3)
            );
        }
        let _ =
            writeln!(
            s,
            "; git server: {} requests served, {} challenged (no credentials yet), {} refused; \
             API: {} ok, {} refused, {} without a token.",
            p.git.served, p.git.unauthenticated, p.git.refused, p.api.ok, p.api.refused,
            p.api.unauthenticated
        );
        for k in OpKind::EVERY {
            let recs: Vec<&OpRecord> = p.records.iter().filter(|x| x.kind == k).collect();
            let (_, p99, _) = times(&recs);
            if p99 > grace(r) {
                let _ = writeln!(
                    s,
                    "  - **{} p99 {} ms exceeds the {} ms grace window**: a credential can \
                     outlive its acceptance; lengthen the interval (--rotate-ms) or use fewer \
                     workers.",
                    k.name(),
                    ms(p99),
                    grace(r).as_millis()
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nA credential read from the file is accepted for at least one interval ({} ms) \
         after it is read: it stays valid until the second rotation after it was published.",
        grace(r).as_millis()
    );

    let _ = writeln!(s, "\n## Expectations\n");
    for p in &r.phases {
        let _ = writeln!(s, "### {}\n\nExpected: {}.\n", p.name, p.kind.expectation());
        for c in &p.checks {
            let _ = writeln!(
                s,
                "- {} {} — {}",
                if c.pass { "pass" } else { "**FAIL**" },
                c.what,
                c.detail
            );
        }
        let _ = writeln!(s);
    }

    let any_samples = r.phases.iter().any(|p| !p.samples.is_empty());
    if any_samples {
        let _ = writeln!(s, "## Stderr samples (redacted)\n");
        for p in r.phases.iter().filter(|p| !p.samples.is_empty()) {
            let _ = writeln!(s, "### {}\n", p.name);
            for smp in &p.samples {
                let _ = writeln!(
                    s,
                    "- {} ({}):\n\n  ```\n{}\n  ```",
                    smp.kind.name(),
                    smp.outcome.name(),
                    smp.text
                        .lines()
                        .map(|l| format!("  {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            let _ = writeln!(s);
        }
    }
    if !r.server_log.is_empty() {
        let _ = writeln!(s, "## Git server log (first lines, redacted)\n");
        for l in &r.server_log {
            let _ = writeln!(s, "    {l}");
        }
    }
    s
}
