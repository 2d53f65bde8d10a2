//! `doctor`: gathers the facts (files, git, gh) and hands them to
//! `checks::diagnose`, which decides.

mod checks;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::gitconfig::{helpers_for, parse_null_config};
use checks::{diagnose, Facts, GhEnd, GhFacts, GhLink, GitFacts, Report};
use kelos_token::env::{GH_PATH_VAR, TOKEN_FILE_VAR};
use kelos_token::gh::{find_real_gh, stat_file, token_vars, Found, WRAPPER_MARKER};
use kelos_token::host::gh_host;
use kelos_token::source::{read_token_file, FileProblem};
use kelos_token::{lookup, EnvSnapshot, Host};

pub fn run(env: &EnvSnapshot, hosts: Vec<Host>, no_token_ok: bool) -> Report {
    let class = hosts
        .first()
        .map(Host::class)
        .unwrap_or(kelos_token::HostClass::Dotcom);
    let file = env
        .non_empty(TOKEN_FILE_VAR)
        .map(|p| read_token_file(Path::new(p)))
        .filter(|r| !matches!(r, Err(FileProblem::NotConfigured)));
    let facts = Facts {
        now: SystemTime::now(),
        lookup: lookup(env, class),
        file,
        gh_vars: gh_vars(env),
        git: git_facts(&hosts),
        gh: gh_facts(env),
        env: env.clone(),
        hosts,
        no_token_ok,
    };
    diagnose(&facts)
}

fn gh_vars(env: &EnvSnapshot) -> Result<Vec<&'static str>, String> {
    let host = gh_host(env).map_err(|why| format!("{why}; kelos-gh sets nothing"))?;
    Ok(token_vars(host.class(), |name| env.get(name).is_some()))
}

fn git_facts(hosts: &[Host]) -> GitFacts {
    let version = Command::new("git")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))
        .and_then(|o| {
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned())
            } else {
                Err(format!("git --version failed: {}", o.status))
            }
        });
    let entries = Command::new("git")
        .args([
            "config",
            "--null",
            "--get-regexp",
            r"^credential\..*helper$",
        ])
        .output()
        .map(|o| parse_null_config(&o.stdout))
        .unwrap_or_default();
    GitFacts {
        version,
        helpers: hosts
            .iter()
            .map(|h| (h.clone(), helpers_for(&entries, h)))
            .collect(),
    }
}

/// Time limit for `gh --version`.
const GH_VERSION_LIMIT: Duration = Duration::from_secs(5);

/// At most this many links are followed (the walk guarantees fewer: each
/// copy's answer first appears later in PATH than the copy).
const MAX_CHAIN: usize = 64;

/// Where `gh` leads: the gh a shell would run (the walk with no identity of
/// its own: the first executable gh in PATH), then, while that is kelos-gh,
/// the file that copy would exec, as kelos-gh itself decides it
/// ([`find_real_gh`] from that copy's identity). No wrapper is run; the real
/// gh at the end is asked its version, with a time limit.
fn gh_facts(env: &EnvSnapshot) -> GhFacts {
    let path_var = std::env::var_os("PATH");
    let Ok(first) = find_real_gh(None, path_var.as_deref(), None, stat_file) else {
        return GhFacts::default();
    };
    let mut chain = vec![GhLink {
        is_wrapper: is_kelos_gh(first.path()),
        path: first.into_path(),
        from_gh_path: false,
    }];
    let mut met: Vec<(u64, u64)> = Vec::new();
    let end = loop {
        let last = chain.last().expect("the chain has a link");
        if !last.is_wrapper {
            break GhEnd::Real(version_line(&last.path, GH_VERSION_LIMIT));
        }
        if chain.len() >= MAX_CHAIN {
            break GhEnd::TooLong;
        }
        let Some(id) = stat_file(&last.path) else {
            break GhEnd::NotFound(format!("{} can no longer be read", last.path.display()));
        };
        met.push((id.dev, id.ino));
        match find_real_gh(
            env.get(GH_PATH_VAR),
            path_var.as_deref(),
            Some((id.dev, id.ino)),
            stat_file,
        ) {
            Err(e) => break GhEnd::NotFound(e.to_string()),
            Ok(found) => {
                let from_gh_path = matches!(found, Found::GhPath(_));
                let path = found.into_path();
                if stat_file(&path).is_some_and(|id| met.contains(&(id.dev, id.ino))) {
                    break GhEnd::Loops(path);
                }
                chain.push(GhLink {
                    is_wrapper: is_kelos_gh(&path),
                    path,
                    from_gh_path,
                });
            }
        }
    };
    GhFacts { chain, end }
}

/// The first line `gh --version` prints, or why there is none. The child is
/// killed when it runs past `limit`.
fn version_line(gh: &Path, limit: Duration) -> Result<String, String> {
    let shown = gh.display();
    let mut child = Command::new(gh)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("`{shown} --version` cannot be run: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{shown} --version` did not finish within {}s (doctor killed it)",
                    limit.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for `{shown} --version`: {e}")),
        }
    };
    // Something it started may hold the pipe open: wait no longer than the
    // limit allows.
    let wait = deadline.saturating_duration_since(Instant::now());
    let out = rx
        .recv_timeout(wait.max(Duration::from_millis(100)))
        .map_err(|_| format!("`{shown} --version` exited but its output stayed open"))?;
    if !status.success() {
        return Err(format!("`{shown} --version` failed ({status})"));
    }
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.trim().to_owned())
        .ok_or_else(|| format!("`{shown} --version` printed nothing"))
}

/// Whether `path` is kelos-gh: it carries [`WRAPPER_MARKER`]. Only the first
/// 8 MiB are read; the wrapper is far smaller, the real gh far larger.
fn is_kelos_gh(path: &Path) -> bool {
    let mut contents = Vec::new();
    let read = fs::File::open(path).and_then(|f| f.take(8 << 20).read_to_end(&mut contents));
    read.is_ok()
        && contents
            .windows(WRAPPER_MARKER.len())
            .any(|w| w == WRAPPER_MARKER)
}

#[cfg(test)]
mod gh_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_gh_version_past_its_time_limit_is_killed_and_said_so() {
        let dir = std::env::temp_dir().join(format!("kelos-doctor-gh-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (slow, fast) = (dir.join("slow-gh"), dir.join("fast-gh"));
        for (path, script) in [
            (&slow, "#!/bin/sh\nexec sleep 30\n"),
            (
                &fast,
                "#!/bin/sh\necho 'gh version 9.9.9'\necho second line\n",
            ),
        ] {
            fs::write(path, script).unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Another test thread forking while a script was written can hold
        // it open for writing a moment (ETXTBSY): run it again then.
        let run = |gh: &Path, limit| {
            let mut result = version_line(gh, limit);
            for _ in 0..50 {
                if !matches!(&result, Err(e) if e.contains("busy")) {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
                result = version_line(gh, limit);
            }
            result
        };
        let started = Instant::now();
        let err = run(&slow, Duration::from_millis(300)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not killed in time"
        );
        assert!(err.contains("did not finish within"), "{err}");
        assert!(err.contains("killed"), "{err}");
        assert_eq!(
            run(&fast, Duration::from_secs(5)),
            Ok("gh version 9.9.9".into())
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
