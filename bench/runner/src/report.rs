//! The markdown report: header, one row per command, binaries, targets.

use std::fmt::Write;

use crate::stats::{bootstrap_ci, median, summarize};
use crate::Results;

const MIB: f64 = 1024.0 * 1024.0;

/// Targets from the issue.
const HELPER_MAX_RATIO: f64 = 1.15;
const WRAPPER_MAX_ADDED_MS: f64 = 0.3;
/// What kelos-glab may add in front of the floor (issue 20).
const GLAB_WRAPPER_MAX_ADDED_MS: f64 = 0.25;
/// `get` for a GitLab host against the std floor (issue 20).
const GITLAB_GET_MAX_RATIO: f64 = 1.0;
const MAX_BINARY_BYTES: u64 = 1024 * 1024;
const MAX_RSS_KIB: u64 = 2 * 1024;

struct Target {
    what: String,
    measured: String,
    ci: String,
    limit: String,
    /// `None`: a check whose interval is too wide to decide; not counted.
    pass: Option<bool>,
}

fn wall_ms(r: &Results, i: usize) -> Vec<f64> {
    r.samples[i]
        .iter()
        .map(|s| s.wall_ns as f64 / 1e6)
        .collect()
}

fn cpu_ms(r: &Results, i: usize) -> Vec<f64> {
    r.samples[i].iter().map(|s| s.cpu_ns as f64 / 1e6).collect()
}

fn max_rss(r: &Results, i: usize) -> u64 {
    r.rss[i].iter().copied().max().unwrap_or(0)
}

/// Renders the report; the flag says whether every target passed.
pub fn render(r: &Results) -> (String, bool) {
    let h = &r.header;
    let mut out = String::new();
    let _ = writeln!(out, "# kelos-credential-helpers benchmark\n");
    let _ = writeln!(out, "- {} — {}", h.date, h.machine);
    let _ = writeln!(
        out,
        "- load average (1/5/15 min) at start: **{}** ({}); at end: {}",
        h.load_start, h.waited, h.load_end
    );
    let _ = writeln!(out, "- {}; {}", h.rustc, h.gh);
    let _ = writeln!(
        out,
        "- {} timed runs of each command after {} warm-up rounds, interleaved round-robin \
         (order rotated every round, reversed every other round); wall time from spawn to \
         `wait4`, CPU time and minor faults from its `rusage`; {:.0} s in all",
        h.runs,
        h.warmup,
        h.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "- stdin for every run: `protocol=https\\nhost=github.com\\n\\n` (from a file); token \
         file via `KELOS_GITHUB_TOKEN_FILE` in kubelet's `..data` layout unless noted"
    );
    let _ = writeln!(
        out,
        "- peak RSS: the largest `ru_maxrss` of {} runs of each command started from the \
         static `kelos-bench-rss` launcher (an upper bound: the floor's row shows what the \
         launcher itself can add)",
        h.rss_runs
    );
    if h.runs < 200 {
        let _ = writeln!(out, "- **fewer than 200 runs: a quick look, not a result**");
    }

    let _ = writeln!(out, "\n## Processes (ms)\n");
    let _ = writeln!(
        out,
        "| command | median | p10 | p90 | CPU median | minor faults | peak RSS KiB | vs baseline (median) |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for (i, v) in r.variants.iter().enumerate() {
        let wall = wall_ms(r, i);
        let s = summarize(&wall);
        let cpu = summarize(&cpu_ms(r, i));
        let vs = match v.baseline {
            None => "baseline".to_string(),
            Some(key) => {
                let b = summarize(&wall_ms(r, r.index(key))).median;
                format!("{:.2}× {key}, {:+.3} ms", s.median / b, s.median - b)
            }
        };
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {} | {} |",
            v.label,
            s.median,
            s.p10,
            s.p90,
            cpu.median,
            median(
                &r.samples[i]
                    .iter()
                    .map(|s| s.minflt as f64)
                    .collect::<Vec<_>>()
            ),
            max_rss(r, i),
            vs
        );
    }

    let _ = writeln!(out, "\n## Binaries\n");
    let _ = writeln!(
        out,
        "| binary | file bytes | stripped bytes | stripped MiB | static |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
    for b in &r.sizes {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.3} | {} |",
            b.name,
            b.bytes,
            b.stripped_bytes,
            b.stripped_bytes as f64 / MIB,
            if b.is_static {
                "yes (no PT_INTERP)"
            } else {
                "**no**"
            }
        );
    }

    let targets = targets(r);
    let _ = writeln!(out, "\n## Targets\n");
    let _ = writeln!(
        out,
        "| target | measured | 95% CI (bootstrap) | limit | result |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
    for t in &targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            t.what,
            t.measured,
            t.ci,
            t.limit,
            match t.pass {
                Some(true) => "PASS",
                Some(false) => "**FAIL**",
                None => "undecided (interval spans the limit)",
            }
        );
    }
    let decided: Vec<bool> = targets.iter().filter_map(|t| t.pass).collect();
    let passed = decided.iter().filter(|p| **p).count();
    let _ = writeln!(out, "\n{passed}/{} decided rows pass.", decided.len());

    let _ = writeln!(out, "\n## Notes\n");
    let floor = wall_ms(r, r.index("floor"));
    let gh = summarize(&wall_ms(r, r.index("gh")));
    let _ = writeln!(
        out,
        "- `gh --version` alone spreads from {:.1} ms (p10) to {:.1} ms (p90): differences of \
         tenths of a millisecond show only in front of the floor",
        gh.p10, gh.p90
    );
    let shell_floor = wall_ms(r, r.index("floor-shell"));
    let _ = writeln!(
        out,
        "- Kelos's shell wrapper in front of the floor: {:+.3} ms",
        summarize(&shell_floor).median - summarize(&floor).median
    );
    let helper = summarize(&wall_ms(r, r.index("helper"))).median;
    let bare = summarize(&wall_ms(r, r.index("floor-bare"))).median;
    let _ = writeln!(
        out,
        "- the helpers skip std's start-up; against the floor without it, `git-credential-kelos \
         get` is {:.2}× ({:+.3} ms)",
        helper / bare,
        helper - bare
    );
    for key in ["shell-helper", "gh-credential"] {
        let i = r.index(key);
        let m = summarize(&wall_ms(r, i)).median;
        let _ = writeln!(
            out,
            "- {}: {:.1}× the time of `git-credential-kelos get`",
            r.variants[i].label,
            m / helper
        );
    }
    (out, passed == decided.len())
}

fn targets(r: &Results) -> Vec<Target> {
    let mut t = Vec::new();

    let floor = wall_ms(r, r.index("floor"));
    let helper = wall_ms(r, r.index("helper"));
    let ratio = summarize(&helper).median / summarize(&floor).median;
    let (lo, hi) = bootstrap_ci(&floor, &helper, |a, b| b / a);
    t.push(Target {
        what: "`git-credential-kelos get` vs floor (median ratio)".into(),
        measured: format!("{ratio:.3}×"),
        ci: format!("{lo:.3}× … {hi:.3}×"),
        limit: format!("≤ {HELPER_MAX_RATIO:.2}×"),
        pass: Some(ratio <= HELPER_MAX_RATIO),
    });

    // `env` runs before every shell command (the snippet): held to the
    // helper's own target.
    let env = wall_ms(r, r.index("env"));
    let ratio = summarize(&env).median / summarize(&floor).median;
    let (lo, hi) = bootstrap_ci(&floor, &env, |a, b| b / a);
    t.push(Target {
        what: "`git-credential-kelos env` vs floor (median ratio)".into(),
        measured: format!("{ratio:.3}×"),
        ci: format!("{lo:.3}× … {hi:.3}×"),
        limit: format!("≤ {HELPER_MAX_RATIO:.2}×"),
        pass: Some(ratio <= HELPER_MAX_RATIO),
    });
    let via_exec = wall_ms(r, r.index("floor-exec"));
    let added = summarize(&via_exec).median - summarize(&floor).median;
    let (lo, hi) = bootstrap_ci(&floor, &via_exec, |a, b| b - a);
    t.push(Target {
        what: "`git-credential-kelos exec` added, in front of the floor (median difference)".into(),
        measured: format!("{added:+.3} ms"),
        ci: format!("{lo:+.3} … {hi:+.3} ms"),
        limit: format!("≤ {WRAPPER_MAX_ADDED_MS} ms"),
        pass: Some(added <= WRAPPER_MAX_ADDED_MS),
    });

    // What kelos-gh adds is one exec of itself and its own work, the same
    // whatever it execs; in front of the floor that is measured without gh's
    // own spread of milliseconds, which is the decisive row.
    let floor_via = wall_ms(r, r.index("floor-kelos"));
    let added = summarize(&floor_via).median - summarize(&floor).median;
    let (lo, hi) = bootstrap_ci(&floor, &floor_via, |a, b| b - a);
    t.push(Target {
        what: "`kelos-gh` added, measured in front of the floor (median difference)".into(),
        measured: format!("{added:+.3} ms"),
        ci: format!("{lo:+.3} … {hi:+.3} ms"),
        limit: format!("≤ {WRAPPER_MAX_ADDED_MS} ms"),
        pass: Some(added <= WRAPPER_MAX_ADDED_MS),
    });
    // GitLab: `get` for its instance, and what kelos-glab adds (one exec of
    // itself, its token and the one read of glab's config).
    let gitlab = wall_ms(r, r.index("helper-gitlab"));
    let ratio = summarize(&gitlab).median / summarize(&floor).median;
    let (lo, hi) = bootstrap_ci(&floor, &gitlab, |a, b| b / a);
    t.push(Target {
        what: "`git-credential-kelos get` for a GitLab host vs floor (median ratio)".into(),
        measured: format!("{ratio:.3}×"),
        ci: format!("{lo:.3}× … {hi:.3}×"),
        limit: format!("≤ {GITLAB_GET_MAX_RATIO:.2}×"),
        pass: Some(ratio <= GITLAB_GET_MAX_RATIO),
    });
    let glab_via = wall_ms(r, r.index("floor-kelos-glab"));
    let added = summarize(&glab_via).median - summarize(&floor).median;
    let (lo, hi) = bootstrap_ci(&floor, &glab_via, |a, b| b - a);
    t.push(Target {
        what: "`kelos-glab` added, measured in front of the floor (median difference)".into(),
        measured: format!("{added:+.3} ms"),
        ci: format!("{lo:+.3} … {hi:+.3} ms"),
        limit: format!("≤ {GLAB_WRAPPER_MAX_ADDED_MS} ms"),
        pass: Some(added <= GLAB_WRAPPER_MAX_ADDED_MS),
    });

    let gh = wall_ms(r, r.index("gh"));
    let via = wall_ms(r, r.index("gh-kelos"));
    let added = summarize(&via).median - summarize(&gh).median;
    let (lo, hi) = bootstrap_ci(&gh, &via, |a, b| b - a);
    t.push(Target {
        what: "… the same, measured in front of `gh --version` (check; decided only when the \
               interval clears the limit)"
            .into(),
        measured: format!("{added:+.3} ms"),
        ci: format!("{lo:+.3} … {hi:+.3} ms"),
        limit: format!("≤ {WRAPPER_MAX_ADDED_MS} ms"),
        pass: if hi <= WRAPPER_MAX_ADDED_MS {
            Some(true)
        } else if lo > WRAPPER_MAX_ADDED_MS {
            Some(false)
        } else {
            None
        },
    });

    for b in r.sizes.iter().filter(|b| !b.name.contains("floor")) {
        t.push(Target {
            what: format!("`{}` stripped size", b.name),
            measured: format!(
                "{:.3} MiB{}",
                b.stripped_bytes as f64 / MIB,
                if b.was_stripped { "" } else { " (after strip)" }
            ),
            ci: String::new(),
            limit: "≤ 1 MiB".into(),
            pass: Some(b.stripped_bytes <= MAX_BINARY_BYTES),
        });
    }

    for (key, what) in [
        (
            "helper",
            "`git-credential-kelos get` peak RSS (max of runs)",
        ),
        (
            "floor-kelos",
            "`kelos-gh` peak RSS (max of runs, in front of the floor)",
        ),
        (
            "floor-kelos-glab",
            "`kelos-glab` peak RSS (max of runs, in front of the floor)",
        ),
    ] {
        let rss = max_rss(r, r.index(key));
        t.push(Target {
            what: what.into(),
            measured: format!("{rss} KiB"),
            ci: String::new(),
            limit: format!("≤ {MAX_RSS_KIB} KiB"),
            pass: Some(rss <= MAX_RSS_KIB),
        });
    }
    t
}
