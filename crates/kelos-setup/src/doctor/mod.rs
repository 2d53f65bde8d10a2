//! `doctor`: gathers the facts (files, git, gh) and hands them to
//! `checks::diagnose`, which decides, one subject at a time (`token`,
//! `host`, `git`, `gh`); `report` shows the result.

mod checks;
mod facts;
mod gh;
mod git;
mod host;
mod report;
mod token;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::child::{self, ChildError, Deadline};
use crate::gitconfig::{helper_entries, is_kelos_helper, parse_origin_config, ConfigEntry};
use checks::{
    diagnose, Facts, GhEnd, GhFacts, GhLink, GitFacts, HelperSource, Probe, ProbeOutcome, Report,
};
use kelos_token::env::TOKEN_VARS;
use kelos_token::gh::{glab_wrapper_version, stat_file, token_vars, wrapper_version, Found};
use kelos_token::gitlab_host::Scheme;
use kelos_token::host::{gh_host, HostInputError};
use kelos_token::provider::Provider;
use kelos_token::real_gh::find_real_cli;
use kelos_token::redact::redact;
use kelos_token::served::Served;
use kelos_token::source::{choose, choose_for, read_configured_file};
use kelos_token::{clean_token, EnvSnapshot, Host, Token, GITHUB, GITLAB};

/// The most any one child (git) is given.
const CHILD_LIMIT: Duration = Duration::from_secs(3);
/// The most all of doctor's children together are given.
const TOTAL_LIMIT: Duration = Duration::from_secs(15);
/// A host no helper may answer for.
pub const PROBE_HOST: &str = "kelos-doctor-probe.invalid";
/// The username of the probes.
const PROBE_USER: &str = "kelos-doctor-probe";

pub fn run(
    env: &EnvSnapshot,
    hosts: Result<Vec<Served>, HostInputError>,
    no_token_ok: bool,
) -> Report {
    let (hosts, host_error) = match hosts {
        Ok(hosts) => (hosts, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let class = hosts
        .iter()
        .find_map(|s| match s {
            Served::GitHub(h) => Some(h.class()),
            Served::GitLab(_) => None,
        })
        .unwrap_or(kelos_token::HostClass::Dotcom);
    // One read of the file, for the file's checks and the decision alike.
    let (path, read) = read_configured_file(env);
    let file = path.is_some().then(|| read.clone());
    let found = choose(path, read, env, class);
    let mut known: Vec<Token> = found.token.iter().cloned().collect();
    // The fallbacks too (each word of a value), wherever they might show.
    known.extend(
        TOKEN_VARS
            .iter()
            .filter_map(|v| env.non_empty(v))
            .flat_map(|v| v.as_encoded_bytes().split(u8::is_ascii_whitespace))
            .filter_map(|v| clean_token(v).ok()),
    );
    // GitLab's token, when GitLab is in play; its fallbacks masked as well.
    let gitlab = GITLAB
        .in_play(env)
        .then(|| choose_for(&GITLAB, env, kelos_token::HostClass::Enterprise));
    known.extend(gitlab.iter().filter_map(|l| l.token.clone()));
    known.extend(
        GITLAB
            .token_vars
            .iter()
            .filter_map(|v| env.non_empty(v))
            .filter_map(|v| clean_token(v.as_encoded_bytes()).ok()),
    );
    let deadline = Deadline::new(TOTAL_LIMIT, CHILD_LIMIT);
    let (git, probe_passwords) = git_facts(&hosts, &known, deadline);
    known.extend(probe_passwords);
    let facts = Facts {
        now: SystemTime::now(),
        lookup: found,
        gitlab,
        github: host_error.is_some() || hosts.iter().any(|s| matches!(s, Served::GitHub(_))),
        file,
        gh_vars: gh_vars(env),
        git,
        gh: cli_facts(&GITHUB, env),
        glab: GITLAB.in_play(env).then(|| cli_facts(&GITLAB, env)),
        env: env.clone(),
        hosts,
        no_token_ok,
        host_error,
        reader: reader(),
    };
    let known: Vec<&Token> = known.iter().collect();
    diagnose(&facts).redacted(&known)
}

/// This process's user and groups (effective gid first), as `token.mode`
/// judges the file's access for them.
fn reader() -> checks::Reader {
    // SAFETY: getuid, getegid and getgroups(2) into a buffer of the size
    // the first call reported.
    unsafe {
        let egid = libc::getegid();
        let mut groups = vec![egid];
        let n = libc::getgroups(0, std::ptr::null_mut());
        if n > 0 {
            let mut more = vec![0 as libc::gid_t; n as usize];
            let got = libc::getgroups(n, more.as_mut_ptr());
            if got > 0 {
                more.truncate(got as usize);
                groups.extend(more.into_iter().filter(|g| *g != egid));
            }
        }
        checks::Reader {
            uid: libc::getuid(),
            groups,
        }
    }
}

fn gh_vars(env: &EnvSnapshot) -> Result<Vec<&'static str>, String> {
    let host = gh_host(env).map_err(|why| format!("{why}; kelos-gh sets nothing"))?;
    Ok(token_vars(host.class(), |name| env.get(name).is_some()))
}

/// git, as doctor runs it: no terminal prompt, no askpass program (an
/// empty `GIT_ASKPASS` also stops git from looking at `core.askPass` and
/// `SSH_ASKPASS`), no credential manager dialogs or probing; [`child::run`]
/// adds no stdin (or just the request), no controlling terminal and a time
/// limit. `git credential fill` itself uses no network; a helper is the
/// user's own program, and is killed with its process group at the limit.
fn quiet_git() -> Command {
    let mut c = Command::new("git");
    c.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env("GCM_INTERACTIVE", "never")
        // Git Credential Manager: no HTTP request to the host to find out
        // what kind of host it is.
        .env("GCM_AUTODETECT_TIMEOUT", "0")
        .env("GIT_TRACE", "0")
        .env("LC_ALL", "C");
    c
}

/// Runs quiet git with `args` (and `stdin`), within the deadline.
fn git(
    args: &[&str],
    stdin: Option<&[u8]>,
    deadline: Deadline,
) -> Result<child::Finished, ChildError> {
    let limit = deadline.next_limit();
    if limit.is_zero() {
        return Err(ChildError::TimedOut(limit));
    }
    child::run(quiet_git().args(args), stdin, limit)
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The git facts, and the passwords probes received (only so that they can
/// be masked wherever they would show).
fn git_facts(hosts: &[Served], known: &[Token], deadline: Deadline) -> (GitFacts, Vec<Token>) {
    let passwords = &mut Vec::new();
    let known: Vec<&Token> = known.iter().collect();
    let mask = |value: &str| redact(value, &known);
    let version = match git(&["--version"], None, deadline) {
        Err(ChildError::Spawn(e)) => Err(format!("cannot run git: {e}")),
        Err(e) => Err(format!("git --version {e}")),
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        // git reads its config even for --version: a broken file stops it.
        Ok(o) => Err(format!(
            "git --version failed ({}): {}",
            o.status,
            mask(&first_line(&o.stderr))
        )),
    };
    if version.is_err() {
        return (
            GitFacts {
                version,
                helpers: Vec::new(),
                kelos_runs: Vec::new(),
                probes: Vec::new(),
                repository: None,
                config_error: None,
            },
            Vec::new(),
        );
    }
    let entries = git(
        &[
            "config",
            "--show-scope",
            "--show-origin",
            "--null",
            "--get-regexp",
            r"^credential\..*helper$",
        ],
        None,
        deadline,
    );
    // Exit 1: no helper configured at all.
    let (entries, config_error) = match entries {
        Ok(o) if matches!(o.status.code(), Some(0 | 1)) => (parse_origin_config(&o.stdout), None),
        Ok(o) => (
            Vec::new(),
            Some(format!(
                "git config failed: {}",
                mask(&first_line(&o.stderr))
            )),
        ),
        Err(e) => (Vec::new(), Some(format!("git config {e}"))),
    };
    let repository = git(&["rev-parse", "--show-toplevel"], None, deadline)
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim_end_matches('\n')));
    // GitHub's host (not its gist host, as before GitLab); every URL of a
    // GitLab instance.
    let urls = hosts.iter().flat_map(|served| match served {
        Served::GitHub(h) => vec![(Scheme::Https, h.clone())],
        Served::GitLab(_) => served.urls(),
    });
    let helpers = urls
        .map(|(scheme, h)| {
            let values = helper_entries(&entries, scheme.as_str(), &h)
                .into_iter()
                .map(|e| mask(&e.value))
                .collect();
            (format!("{scheme}://{h}"), values)
        })
        .collect();
    let mut kelos_runs: Vec<(String, Result<(), String>)> = Vec::new();
    for entry in &entries {
        let shown = mask(&entry.value);
        if is_kelos_helper(&entry.value) && !kelos_runs.iter().any(|(v, _)| *v == shown) {
            kelos_runs.push((shown, can_run_kelos(&entry.value, deadline)));
        }
    }
    let base = std::env::current_dir().ok();
    let source = |e: &ConfigEntry| HelperSource {
        value: mask(&e.value),
        key: e.key.clone(),
        scope: e.scope.clone(),
        file: e.origin.strip_prefix("file:").map(|f| {
            let f = Path::new(f);
            match (&repository, &base) {
                (_, _) if f.is_absolute() => f.to_path_buf(),
                (Some(top), _) => top.join(f),
                (None, Some(cwd)) => cwd.join(f),
                (None, None) => f.to_path_buf(),
            }
        }),
    };
    let mut targets: Vec<(&str, Host)> = Vec::new();
    if let Ok(probe) = Host::parse(PROBE_HOST) {
        targets.push(("https", probe));
    }
    // Plain http must get nothing, but where the operator chose it (an
    // `http://` GitLab instance's own host and port).
    for served in hosts {
        let plain = Host::parse(served.host().name()).ok();
        let h = match served {
            Served::GitHub(h) => Some(h.clone()),
            Served::GitLab(instance) if instance.scheme() == Scheme::Https => {
                Some(instance.authority())
            }
            Served::GitLab(_) => plain,
        };
        if let Some(h) = h.filter(|h| !h.is_loopback() && !targets.iter().any(|(_, t)| t == h)) {
            targets.push(("http", h));
        }
    }
    let mut hung: Vec<String> = Vec::new();
    let mut probes = Vec::new();
    for (protocol, host) in targets {
        let url = format!("{protocol}://{host}");
        let candidates = helper_entries(&entries, protocol, &host);
        let shown: Vec<String> = candidates.iter().map(|e| mask(&e.value)).collect();
        // With a username, as in `https://user@host/...`: a helper that gives
        // only a password then completes the credential (git would send it).
        let request = format!("protocol={protocol}\nhost={host}\nusername={PROBE_USER}\n\n");
        let outcome = if let Some(h) = candidates.iter().find(|e| hung.contains(&e.value)) {
            ProbeOutcome::Skipped(format!(
                "helper `{}` never returned for an earlier probe",
                mask(&h.value)
            ))
        } else if deadline.passed() {
            ProbeOutcome::Skipped("doctor's time limit for git is spent".into())
        } else {
            fill(&[], &request, deadline, passwords)
        };
        let mut culprits = Vec::new();
        if matches!(outcome, ProbeOutcome::Answered | ProbeOutcome::TimedOut(_)) {
            for entry in &candidates {
                let alone = if hung.contains(&entry.value) {
                    ProbeOutcome::TimedOut(CHILD_LIMIT)
                } else {
                    let only = format!("credential.helper={}", entry.value);
                    fill(
                        &["-c", "credential.helper=", "-c", &only],
                        &request,
                        deadline,
                        passwords,
                    )
                };
                if let ProbeOutcome::TimedOut(_) = alone {
                    hung.push(entry.value.clone());
                }
                if matches!(alone, ProbeOutcome::Answered | ProbeOutcome::TimedOut(_)) {
                    culprits.push((source(entry), alone));
                }
            }
        }
        probes.push(Probe {
            url,
            outcome,
            culprits,
            helpers: shown,
        });
    }
    let facts = GitFacts {
        version,
        helpers,
        kelos_runs,
        probes,
        repository,
        config_error,
    };
    (facts, std::mem::take(passwords))
}

/// `git [pre] credential fill` with `request`: did a password come? The
/// password itself is kept only for masking.
fn fill(
    pre: &[&str],
    request: &str,
    deadline: Deadline,
    passwords: &mut Vec<Token>,
) -> ProbeOutcome {
    let mut args: Vec<&str> = pre.to_vec();
    args.extend(["-c", "credential.interactive=false", "credential", "fill"]);
    match git(&args, Some(request.as_bytes()), deadline) {
        Ok(o) => {
            let password = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("password="))
                .find(|p| !p.is_empty())
                .map(str::to_owned);
            match password {
                Some(p) => {
                    if let Ok(t) = clean_token(p.as_bytes()) {
                        passwords.push(t);
                    }
                    ProbeOutcome::Answered
                }
                None => ProbeOutcome::Silent,
            }
        }
        Err(ChildError::TimedOut(limit)) => ProbeOutcome::TimedOut(limit),
        Err(e) => ProbeOutcome::Failed(format!("git credential fill {e}")),
    }
}

/// Whether git can run the kelos helper `value`: for `kelos ...`, git's own
/// lookup (`git credential-kelos capability`, as git runs helpers); for a
/// path, that file.
fn can_run_kelos(value: &str, deadline: Deadline) -> Result<(), String> {
    let program = value.split_whitespace().next().unwrap_or("");
    let ran = if program.contains('/') {
        let limit = deadline.next_limit();
        child::run(Command::new(program).arg("capability"), None, limit)
    } else {
        git(&["credential-kelos", "capability"], None, deadline)
    };
    match ran {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let said = first_line(&o.stderr);
            let hint = if said.contains("not a git command") {
                "; git-credential-kelos is not in PATH"
            } else {
                ""
            };
            Err(format!("{said}{hint}"))
        }
        Err(ChildError::Spawn(e)) => Err(format!("{program}: {e}")),
        Err(e) => Err(format!("{program} capability {e}")),
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
fn cli_facts(provider: &'static Provider, env: &EnvSnapshot) -> GhFacts {
    let path_var = std::env::var_os("PATH");
    let find = |cli_path, this_exe| {
        find_real_cli(provider, cli_path, path_var.as_deref(), this_exe, stat_file)
    };
    let Ok(first) = find(None, None) else {
        return GhFacts::default();
    };
    let link = |path, from_cli_path| cli_link(provider, path, from_cli_path);
    let mut chain = vec![link(first.into_path(), false)];
    let mut met: Vec<(u64, u64)> = Vec::new();
    let end = loop {
        // Never empty (it starts with the first link); no panic location.
        let Some(last) = chain.last() else {
            break GhEnd::NoGh;
        };
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
        match find(env.get(provider.cli_path_var), Some((id.dev, id.ino))) {
            Err(e) => break GhEnd::NotFound(e.shown(provider).to_string()),
            Ok(found) => {
                let from_gh_path = matches!(found, Found::GhPath(_));
                let path = found.into_path();
                if stat_file(&path).is_some_and(|id| met.contains(&(id.dev, id.ino))) {
                    break GhEnd::Loops(path);
                }
                chain.push(link(path, from_gh_path));
            }
        }
    };
    GhFacts { chain, end }
}

/// The first line `gh --version` prints, or why there is none. The child is
/// killed when it runs past `limit`.
fn version_line(gh: &Path, limit: Duration) -> Result<String, String> {
    let shown = gh.display();
    let out = child::run(Command::new(gh).arg("--version"), None, limit)
        .map_err(|e| format!("`{shown} --version` {e}"))?;
    if !out.status.success() {
        return Err(format!("`{shown} --version` failed ({})", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.trim().to_owned())
        .ok_or_else(|| format!("`{shown} --version` printed nothing"))
}

/// A link of the chain: whether `path` is `provider`'s wrapper (kelos-gh,
/// kelos-glab: it carries that wrapper's marker) and, if so, its stamp's
/// version. Only the first 8 MiB are read; the wrapper is far smaller, the
/// real CLI far larger.
fn cli_link(provider: &Provider, path: PathBuf, from_gh_path: bool) -> GhLink {
    let stamp_of = if provider.cli == GITLAB.cli {
        glab_wrapper_version
    } else {
        wrapper_version
    };
    let mut contents = Vec::new();
    let read = fs::File::open(&path).and_then(|f| f.take(8 << 20).read_to_end(&mut contents));
    let stamp = read.ok().and_then(|_| stamp_of(&contents));
    GhLink {
        path,
        is_wrapper: stamp.is_some(),
        wrapper_version: stamp.flatten(),
        from_gh_path,
    }
}

#[cfg(test)]
mod gh_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::thread;
    use std::time::Instant;

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
