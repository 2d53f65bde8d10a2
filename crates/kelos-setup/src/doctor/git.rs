//! git's checks: `git` (it runs, its config reads), `git.helper` (kelos
//! first for each host), `git.leak` (no helper answers a host that is not
//! ours, or plain http), and the `configure` commands that fix them, built
//! from configure's own [`Scope`].

use std::path::Path;

use super::facts::{Facts, HelperSource, ProbeOutcome};
use super::report::{check, Check, CheckId, Level};
use crate::configure::Scope;
use crate::gitconfig::is_kelos_helper;
use crate::quote::sh_word;
use kelos_token::served::Served;

pub(super) fn git_checks(f: &Facts, checks: &mut Vec<Check>) {
    match (&f.git.version, &f.git.config_error) {
        (Ok(v), None) => checks.push(check(CheckId::Git, Level::Ok, v.clone(), None)),
        (Ok(v), Some(e)) => {
            checks.push(check(
                CheckId::Git,
                Level::Fail,
                format!("{v}, but it cannot read its config: {e}"),
                Some(
                    "fix the config file git names (`git config --list --show-origin` shows which)",
                ),
            ));
            return;
        }
        (Err(e), _) => {
            let fix = if e.starts_with("cannot run git") {
                "install git"
            } else {
                "fix what git says (a config file it cannot read: `git config --list --show-origin` names them)"
            };
            checks.push(check(CheckId::Git, Level::Fail, e.clone(), Some(fix)));
            return;
        }
    }
    for (url, helpers) in &f.git.helpers {
        let host = url.split_once("://").map_or(url.as_str(), |(_, h)| h);
        let list = if helpers.is_empty() {
            "none".to_owned()
        } else {
            helpers.join(" → ")
        };
        let configure = format!(
            "git-credential-kelos configure {} --host {host}",
            Scope::System.cli_args().join(" ")
        );
        let position = helpers.iter().position(|h| is_kelos_helper(h));
        let cannot_run = position.and_then(|p| {
            f.git
                .kelos_runs
                .iter()
                .find(|(value, _)| *value == helpers[p])
                .and_then(|(value, run)| run.as_ref().err().map(|why| (value, why)))
        });
        let c = match (position, cannot_run) {
            (Some(_), Some((value, why))) => check(
                CheckId::GitHelper,
                Level::Fail,
                format!("git is configured to run `{value}` for {url}, but cannot run it: {why} (helpers: {list})"),
                Some("install git-credential-kelos into a directory in PATH: install -m 0755 git-credential-kelos /usr/local/bin/git-credential-kelos"),
            ),
            (None, _) => check(
                CheckId::GitHelper,
                Level::Fail,
                format!("git runs no kelos helper for {url} (helpers: {list})"),
                Some(&configure),
            ),
            (Some(0), None) => check(
                CheckId::GitHelper,
                Level::Ok,
                format!("git asks kelos first for {url} (helpers: {list})"),
                None,
            ),
            (Some(_), None) => check(
                CheckId::GitHelper,
                Level::Warn,
                format!("another helper runs before kelos for {url} (helpers: {list}); it may answer with a stale token"),
                Some(&configure),
            ),
        };
        checks.push(c);
    }
    leak_check(f, checks);
}

/// `git.leak`: no helper may answer a host that is not ours, or plain http.
fn leak_check(f: &Facts, checks: &mut Vec<Check>) {
    let probes = &f.git.probes;
    if probes.is_empty() {
        return;
    }
    let asked: Vec<&str> = probes.iter().map(|p| p.url.as_str()).collect();
    // Per helper: the URLs it answered, and those it never returned for.
    let mut by_helper: Vec<(&HelperSource, Vec<&str>, Vec<String>)> = Vec::new();
    let mut unattributed = Vec::new();
    let mut notes = Vec::new();
    let mut level = Level::Ok;
    for probe in probes {
        match &probe.outcome {
            ProbeOutcome::Silent => {}
            ProbeOutcome::Answered | ProbeOutcome::TimedOut(_) => {
                level = Level::Fail;
                if probe.culprits.is_empty() {
                    let what = if probe.outcome == ProbeOutcome::Answered {
                        "git gets a password (not shown)"
                    } else {
                        "git does not finish"
                    };
                    let helpers = if probe.helpers.is_empty() {
                        "none listed".to_owned()
                    } else {
                        probe.helpers.join(" → ")
                    };
                    unattributed.push(format!(
                        "for {}, {what} from the helpers git runs for it ({helpers})",
                        probe.url
                    ));
                }
                for (h, outcome) in &probe.culprits {
                    let at = match by_helper.iter().position(|(known, _, _)| *known == h) {
                        Some(at) => at,
                        None => {
                            by_helper.push((h, Vec::new(), Vec::new()));
                            by_helper.len() - 1
                        }
                    };
                    match outcome {
                        ProbeOutcome::TimedOut(limit) => by_helper[at].2.push(format!(
                            "{} (killed after {})",
                            probe.url,
                            crate::child::show_limit(*limit)
                        )),
                        _ => by_helper[at].1.push(&probe.url),
                    }
                }
            }
            ProbeOutcome::Skipped(why) => {
                level = level.max(Level::Warn);
                notes.push(format!("{} not asked: {why}", probe.url));
            }
            ProbeOutcome::Failed(why) => {
                level = level.max(Level::Warn);
                notes.push(format!("{} could not be asked: {why}", probe.url));
            }
        }
    }
    let mut findings: Vec<String> = by_helper
        .iter()
        .map(|(h, answered, hung)| {
            let mut did = Vec::new();
            if !answered.is_empty() {
                did.push(format!(
                    "gives git a password (not shown) for {}",
                    answered.join(" and ")
                ));
            }
            if !hung.is_empty() {
                did.push(format!("never returns for {}", hung.join(" and ")));
            }
            format!(
                "helper `{}` ({}) {}",
                h.value,
                describe_source(h),
                did.join(", and ")
            )
        })
        .collect();
    findings.extend(unattributed);
    findings.extend(notes);
    let leaking: Vec<&HelperSource> = by_helper.iter().map(|(h, _, _)| *h).collect();
    let place = f
        .git
        .repository
        .as_deref()
        .map(|r| format!(" in {}", r.display()))
        .unwrap_or_default();
    if level == Level::Ok {
        checks.push(check(
            CheckId::GitLeak,
            Level::Ok,
            format!(
                "no helper answers {} (asked git credential fill{place})",
                asked.join(" or ")
            ),
            None,
        ));
        return;
    }
    let message = if level == Level::Fail {
        format!(
            "{}; git runs it for every remote{place}, so any host (and plain http) can get the token",
            findings.join("; ")
        )
    } else {
        findings.join("; ")
    };
    let fix = leak_fix(&leaking, &f.hosts, f.git.repository.as_deref());
    checks.push(check(CheckId::GitLeak, level, message, Some(&fix)));
}

fn describe_source(h: &HelperSource) -> String {
    match (&h.file, h.scope.as_str()) {
        (_, "command") => format!("{} from git's command line or GIT_CONFIG_PARAMETERS", h.key),
        (Some(file), scope) if !scope.is_empty() => {
            format!("{} in {}, {scope} config", h.key, file.display())
        }
        (Some(file), _) => format!("{} in {}", h.key, file.display()),
        (None, _) => h.key.clone(),
    }
}

/// Commands a person can paste: for each scope a leaking helper comes
/// from, `configure --exclusive` in that scope (the repository's last, as
/// it starts with `cd`).
pub fn leak_fix(leaking: &[&HelperSource], hosts: &[Served], repository: Option<&Path>) -> String {
    // What `configure --exclusive` writes, as options: none for github.com alone.
    let host_args: String = match hosts {
        [Served::GitHub(only)] if only.as_str() == "github.com" => String::new(),
        _ => hosts
            .iter()
            .map(|h| format!(" --host {}", h.host()))
            .collect(),
    };
    // The scope's options from the same type `configure` takes them as.
    let cmd = |scope: Scope| {
        format!(
            "git-credential-kelos configure --exclusive {}{host_args}",
            scope.cli_args().join(" ")
        )
    };
    // In the order the commands can run one after another: the repository's
    // last, as it starts with `cd`.
    let rank = |scope: &Option<Scope>| match scope {
        Some(Scope::System) => 0,
        Some(Scope::Global) => 1,
        Some(Scope::Local) => 3,
        Some(Scope::File(_)) | None => 2,
    };
    let mut sorted: Vec<(&HelperSource, Option<Scope>)> = leaking
        .iter()
        .map(|h| (*h, Scope::of_listed(&h.scope, h.file.as_deref())))
        .collect();
    sorted.sort_by_key(|(_, scope)| rank(scope));
    let mut fixes: Vec<String> = Vec::new();
    let mut others = Vec::new();
    for (h, scope) in sorted {
        let fix = match scope {
            Some(Scope::Local) => {
                // The repository doctor ran in, else the one the file is in.
                let dir = repository.map(Path::to_path_buf).or_else(|| {
                    h.file
                        .as_deref()
                        .and_then(|f| f.parent()?.parent())
                        .map(Path::to_path_buf)
                });
                match dir {
                    Some(dir) => format!(
                        "cd {} && {}",
                        sh_word(&dir.display().to_string()),
                        cmd(Scope::Local)
                    ),
                    None => cmd(Scope::Local),
                }
            }
            Some(scope) => cmd(scope),
            None if h.scope == "command" => {
                others.push(format!(
                    "remove `{}` from the -c options or GIT_CONFIG_PARAMETERS/GIT_CONFIG_COUNT of what starts git",
                    h.value
                ));
                continue;
            }
            None => {
                others.push(format!("remove `{}` ({})", h.value, h.key));
                continue;
            }
        };
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    let mut parts = Vec::new();
    if !fixes.is_empty() {
        parts.push(fixes.join(" && "));
    }
    parts.extend(others);
    if parts.is_empty() {
        return "find the helper with `git config --show-origin --show-scope --get-regexp 'credential\\..*helper'`, then run `git-credential-kelos configure --exclusive` in its scope".to_owned();
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::facts::fixtures::{facts, git};
    use super::super::facts::Probe;
    use super::*;
    use kelos_token::env::EnvSnapshot;
    use kelos_token::host::Host;
    use kelos_token::served::served_hosts as configured_hosts;
    use std::path::PathBuf;
    use std::time::Duration;

    fn source(value: &str, scope: &str, file: Option<&str>) -> HelperSource {
        HelperSource {
            value: value.into(),
            key: "credential.helper".into(),
            scope: scope.into(),
            file: file.map(PathBuf::from),
        }
    }

    fn probe(
        url: &str,
        outcome: ProbeOutcome,
        culprits: Vec<(HelperSource, ProbeOutcome)>,
    ) -> Probe {
        Probe {
            url: url.into(),
            outcome,
            culprits,
            helpers: vec![],
        }
    }

    fn leak(f: &Facts) -> Check {
        let mut checks = Vec::new();
        git_checks(f, &mut checks);
        checks
            .into_iter()
            .find(|c| c.id == CheckId::GitLeak)
            .expect("a git.leak check")
    }

    #[test]
    fn silent_probes_are_ok_and_name_what_was_asked() {
        let f = facts(
            git(
                vec![
                    probe(
                        "https://kelos-doctor-probe.invalid",
                        ProbeOutcome::Silent,
                        vec![],
                    ),
                    probe("http://github.com", ProbeOutcome::Silent, vec![]),
                ],
                Some("/w/repo"),
            ),
            &["github.com"],
        );
        let c = leak(&f);
        assert_eq!(c.level, Level::Ok);
        assert_eq!(
            c.message,
            "no helper answers https://kelos-doctor-probe.invalid or http://github.com (asked git credential fill in /w/repo)"
        );
        assert_eq!(c.fix, None);
    }

    #[test]
    fn a_leaking_helper_is_named_once_with_its_file_and_the_fix_for_its_scope() {
        let controller = source(
            "!f() { echo password=$GITHUB_TOKEN; }; f",
            "local",
            Some("/w/my repo/.git/config"),
        );
        let f = facts(
            git(
                vec![
                    probe(
                        "https://kelos-doctor-probe.invalid",
                        ProbeOutcome::Answered,
                        vec![(controller.clone(), ProbeOutcome::Answered)],
                    ),
                    probe(
                        "http://ghe.example.com",
                        ProbeOutcome::Answered,
                        vec![(controller, ProbeOutcome::Answered)],
                    ),
                ],
                Some("/w/my repo"),
            ),
            &["ghe.example.com"],
        );
        let c = leak(&f);
        assert_eq!(c.level, Level::Fail);
        assert_eq!(
            c.message,
            "helper `!f() { echo password=$GITHUB_TOKEN; }; f` (credential.helper in /w/my repo/.git/config, local config) \
             gives git a password (not shown) for https://kelos-doctor-probe.invalid and http://ghe.example.com; \
             git runs it for every remote in /w/my repo, so any host (and plain http) can get the token"
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("cd '/w/my repo' && git-credential-kelos configure --exclusive --local --host ghe.example.com")
        );
    }

    proptest::proptest! {
        /// Whatever mix of scopes leaks: one `configure --exclusive` per
        /// scope, with configure's own option for it, system first and the
        /// repository (after its `cd`) last; one `remove` per helper no
        /// option rewrites.
        #[test]
        fn leak_fix_runs_each_scope_once_in_order(
            picks in proptest::collection::vec((0usize..6, 0usize..3), 1..8),
        ) {
            const SCOPES: [&str; 6] = ["system", "global", "local", "worktree", "command", "odd"];
            const FILES: [Option<&str>; 3] = [None, Some("/r/.git/config"), Some("/r/a b")];
            let leaking: Vec<HelperSource> = picks
                .iter()
                .enumerate()
                .map(|(i, &(scope, file))| HelperSource {
                    value: format!("h{i}"),
                    ..source("", SCOPES[scope], FILES[file])
                })
                .collect();
            let refs: Vec<&HelperSource> = leaking.iter().collect();
            let hosts = [Served::GitHub(Host::parse("github.com").unwrap())];
            let fix = leak_fix(&refs, &hosts, Some(Path::new("/r")));
            let rank = |s: &Scope| match s {
                Scope::System => 0,
                Scope::Global => 1,
                Scope::File(_) => 2,
                Scope::Local => 3,
            };
            let mut want: Vec<Scope> = Vec::new();
            for h in &leaking {
                if let Some(scope) = Scope::of_listed(&h.scope, h.file.as_deref()) {
                    if !want.contains(&scope) {
                        want.push(scope);
                    }
                }
            }
            want.sort_by_key(rank);
            let commands = fix.split("; ").next().unwrap_or_default();
            let got: Vec<&str> = commands
                .split(" && ")
                .filter_map(|c| c.strip_prefix("git-credential-kelos configure --exclusive "))
                .collect();
            let want_flags: Vec<String> = want.iter().map(|s| s.cli_args().join(" ")).collect();
            proptest::prop_assert_eq!(got, want_flags.iter().map(String::as_str).collect::<Vec<_>>());
            proptest::prop_assert_eq!(
                commands.contains("cd /r && "),
                want.last() == Some(&Scope::Local),
                "{}", fix
            );
            let removals = leaking
                .iter()
                .filter(|h| Scope::of_listed(&h.scope, h.file.as_deref()).is_none())
                .count();
            proptest::prop_assert_eq!(fix.matches("remove `").count(), removals, "{}", fix);
        }
    }

    #[test]
    fn fixes_per_scope_system_first_the_repository_last() {
        let hosts = configured_hosts(
            &Vec::<String>::new(),
            &EnvSnapshot::from_pairs(Vec::<(&str, &str)>::new()),
        )
        .unwrap();
        let local = source("a", "local", Some("/r/.git/config"));
        let global = source("b", "global", Some("/h/.gitconfig"));
        let system = source("c", "system", Some("/etc/gitconfig"));
        let other = source("d", "worktree", Some("/r/.git/config.worktree"));
        let command = source("e", "command", None);
        assert_eq!(
            leak_fix(&[&local, &global, &system, &global, &other, &command], &hosts, None),
            "git-credential-kelos configure --exclusive --system && \
             git-credential-kelos configure --exclusive --global && \
             git-credential-kelos configure --exclusive --file /r/.git/config.worktree && \
             cd /r && git-credential-kelos configure --exclusive --local; \
             remove `e` from the -c options or GIT_CONFIG_PARAMETERS/GIT_CONFIG_COUNT of what starts git"
        );
    }

    #[test]
    fn a_helper_that_never_returns_fails_and_skipped_probes_say_why() {
        let sleeper = source("!f() { sleep 1000; }; f", "global", Some("/h/.gitconfig"));
        let f = facts(
            git(
                vec![
                    probe(
                        "https://kelos-doctor-probe.invalid",
                        ProbeOutcome::TimedOut(Duration::from_secs(3)),
                        vec![(sleeper, ProbeOutcome::TimedOut(Duration::from_secs(3)))],
                    ),
                    probe(
                        "http://github.com",
                        ProbeOutcome::Skipped(
                            "helper `x` never returned for an earlier probe".into(),
                        ),
                        vec![],
                    ),
                ],
                None,
            ),
            &["github.com"],
        );
        let c = leak(&f);
        assert_eq!(c.level, Level::Fail);
        assert!(c.message.contains("helper `!f() { sleep 1000; }; f` (credential.helper in /h/.gitconfig, global config) never returns for https://kelos-doctor-probe.invalid (killed after 3 s)"), "{}", c.message);
        assert!(
            c.message
                .contains("http://github.com not asked: helper `x` never returned"),
            "{}",
            c.message
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("git-credential-kelos configure --exclusive --global")
        );
        // Only skipped: a warning.
        let f = facts(
            git(
                vec![probe(
                    "http://github.com",
                    ProbeOutcome::Skipped("budget".into()),
                    vec![],
                )],
                None,
            ),
            &["github.com"],
        );
        assert_eq!(leak(&f).level, Level::Warn);
    }
}
