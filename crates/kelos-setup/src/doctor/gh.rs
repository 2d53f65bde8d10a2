//! The CLIs' checks: `gh.vars` (what kelos-gh sets), `gh` (the chain from
//! the gh in PATH to the real gh) and `glab` (the same for kelos-glab, when
//! GitLab is in play), one chain check for both.

use std::fmt::Write as _;

use super::facts::{Facts, GhEnd, GhFacts, GhLink};
use super::report::{check, Check, CheckId, Level};
use kelos_token::provider::Provider;
use kelos_token::{GITHUB, GITLAB};

/// `gh.vars`: the variables kelos-gh sets for `GH_HOST`, or why none.
pub(super) fn vars_check(f: &Facts, checks: &mut Vec<Check>) {
    checks.push(match &f.gh_vars {
        Ok(vars) => check(
            CheckId::GhVars,
            Level::Ok,
            format!("kelos-gh sets {} from the file", vars.join(", ")),
            None,
        ),
        Err(why) => check(
            CheckId::GhVars,
            Level::Warn,
            why.clone(),
            Some("set GH_HOST to a host name"),
        ),
    });
}

pub(super) fn gh_checks(f: &Facts, checks: &mut Vec<Check>) {
    checks.push(cli_check(&GITHUB, CheckId::Gh, &f.gh));
}

/// `glab`: kelos-glab's chain, as `gh` is kelos-gh's; only when GitLab is
/// in play (its facts are gathered only then).
pub(super) fn glab_checks(f: &Facts, checks: &mut Vec<Check>) {
    if let Some(glab) = &f.glab {
        checks.push(cli_check(&GITLAB, CheckId::Glab, glab));
    }
}

/// What a wrapper link says it is, for the check's message (the commit cut short: a
/// whole id would be masked as a token shape).
fn wrapper_version(cli: &str, link: &GhLink) -> String {
    link.wrapper_version.as_deref().map_or_else(
        || format!("kelos-{cli}, version unknown: built before wrappers carried it"),
        kelos_token::version::with_short_commit,
    )
}

/// The check of `provider`'s CLI (`gh`, `glab`): the whole chain, from the
/// CLI in PATH through its wrapper (`kelos-gh`, `kelos-glab`) to the real
/// CLI (or to where it ends without one). One function for both: the
/// provider names the CLI and the variable that points at the real one.
fn cli_check(provider: &Provider, id: CheckId, facts: &GhFacts) -> Check {
    let (cli, var) = (provider.cli, provider.cli_path_var);
    let no_real = || format!("install {cli}, or set {var} to the absolute path of the real {cli}");
    let extra_copies = || {
        format!(
            "remove the extra kelos-{cli} copies from PATH (keep one, ahead of the real {cli}), \
             or set {var} to the absolute path of the real {cli}"
        )
    };
    let Some(first) = facts.chain.first() else {
        return check(
            id,
            Level::Warn,
            format!("no {cli} in PATH"),
            Some(&format!(
                "install {cli} and kelos-{cli} as /usr/local/bin/{cli}, if agents use {cli}"
            )),
        );
    };
    if !first.is_wrapper {
        return check(
            id,
            Level::Warn,
            format!(
                "{cli} in PATH is {}, not the kelos-{cli} wrapper: {cli} will use the frozen token",
                first.path.display()
            ),
            Some(&format!(
                "install kelos-{cli} as /usr/local/bin/{cli}, ahead of the real {cli} in PATH"
            )),
        );
    }
    // "the kelos-gh wrapper A → B (another kelos-gh copy) → real gh C"
    let mut chain = format!(
        "{cli} in PATH is the kelos-{cli} wrapper {} ({})",
        first.path.display(),
        wrapper_version(cli, first)
    );
    for link in &facts.chain[1..] {
        if link.is_wrapper {
            let via = if link.from_gh_path { ", from " } else { "" };
            let via_var = if link.from_gh_path { var } else { "" };
            let _ = write!(
                chain,
                " → {} (another kelos-{cli} copy{via}{via_var}: {})",
                link.path.display(),
                wrapper_version(cli, link)
            );
        } else {
            let _ = write!(chain, " → real {cli} {}", link.path.display());
            if link.from_gh_path {
                let _ = write!(chain, " (from {var})");
            }
        }
    }
    let last = facts.chain.last().unwrap_or(first);
    match &facts.end {
        GhEnd::Real(Ok(version)) => check(id, Level::Ok, format!("{chain} ({version})"), None),
        GhEnd::Real(Err(why)) => check(
            id,
            Level::Warn,
            format!("{chain}, but {why}"),
            Some(&format!(
                "check that the real {cli} runs: {} --version",
                last.path.display()
            )),
        ),
        GhEnd::NotFound(why) => {
            let prefix = format!("cannot find the real {cli}: ");
            check(
                id,
                Level::Fail,
                format!(
                    "{chain}, which finds no real {cli} ({cli} exits 127): {}",
                    why.strip_prefix(&prefix).unwrap_or(why)
                ),
                Some(&no_real()),
            )
        }
        GhEnd::Loops(to) => check(
            id,
            Level::Fail,
            format!(
                "{chain} → {} again: the chain of kelos-{cli} copies loops and {cli} never runs",
                to.display()
            ),
            Some(&extra_copies()),
        ),
        GhEnd::TooLong | GhEnd::NoGh => check(
            id,
            Level::Fail,
            format!(
                "{chain}: still kelos-{cli} after {} copies, no real {cli} reached",
                facts.chain.len()
            ),
            Some(&extra_copies()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "kelos-gh 0.1.0 (commit 0123456789ab)";

    fn link(path: &str, is_wrapper: bool) -> GhLink {
        GhLink {
            path: path.into(),
            is_wrapper,
            wrapper_version: is_wrapper
                .then(|| "kelos-gh 0.1.0 (commit 0123456789abcdef0123456789abcdef01234567)".into()),
            from_gh_path: false,
        }
    }

    fn gh(facts: &GhFacts) -> Check {
        cli_check(&GITHUB, CheckId::Gh, facts)
    }

    fn facts(chain: Vec<GhLink>, end: GhEnd) -> GhFacts {
        GhFacts { chain, end }
    }

    #[test]
    fn the_whole_chain_is_reported_and_the_real_gh_is_its_end() {
        let c = gh(&facts(
            vec![
                link("/usr/local/bin/gh", true),
                link("/x/gh", true),
                link("/usr/bin/gh", false),
            ],
            GhEnd::Real(Ok("gh version 2.23.0 (2023-02-27)".into())),
        ));
        assert_eq!(c.level, Level::Ok);
        assert_eq!(
            c.message,
            format!(
                "gh in PATH is the kelos-gh wrapper /usr/local/bin/gh ({STAMP}) → /x/gh (another \
                 kelos-gh copy: {STAMP}) → real gh /usr/bin/gh (gh version 2.23.0 (2023-02-27))"
            )
        );
        assert_eq!(c.fix, None);

        let mut from_gh_path = link("/opt/gh", false);
        from_gh_path.from_gh_path = true;
        let mut unstamped = link("/usr/local/bin/gh", true);
        unstamped.wrapper_version = None;
        let c = gh(&facts(
            vec![unstamped, from_gh_path],
            GhEnd::Real(Ok("gh version 2.99.0".into())),
        ));
        assert_eq!(
            c.message,
            "gh in PATH is the kelos-gh wrapper /usr/local/bin/gh (kelos-gh, version unknown: \
             built before wrappers carried it) → real gh /opt/gh (from KELOS_GH_PATH) (gh \
             version 2.99.0)"
        );
    }

    #[test]
    fn a_chain_without_a_real_gh_fails_with_the_fix() {
        let c = gh(&facts(
            vec![link("/a/gh", true), link("/b/gh", true)],
            GhEnd::NotFound(
                "cannot find the real gh: KELOS_GH_PATH is unset, and no gh in PATH after \
                 this wrapper's own entry /b can be run (searched /a/gh: comes earlier in PATH \
                 than this wrapper)"
                    .into(),
            ),
        ));
        assert_eq!(c.level, Level::Fail);
        assert!(
            c.message.starts_with(&format!(
                "gh in PATH is the kelos-gh wrapper /a/gh ({STAMP}) → /b/gh (another \
                     kelos-gh copy: {STAMP}), which finds no real gh (gh exits 127): \
                     KELOS_GH_PATH is unset"
            )),
            "{}",
            c.message
        );
        assert!(c.fix.as_deref().unwrap().contains("KELOS_GH_PATH"));
    }

    #[test]
    fn a_looping_or_endless_chain_fails_with_the_fix() {
        for end in [GhEnd::Loops("/a/gh".into()), GhEnd::TooLong] {
            let c = gh(&facts(
                vec![link("/a/gh", true), link("/b/gh", true)],
                end.clone(),
            ));
            assert_eq!(c.level, Level::Fail, "{end:?}");
            assert!(
                c.message.contains(&format!("/a/gh ({STAMP}) → /b/gh")),
                "{}",
                c.message
            );
            let fix = c.fix.unwrap();
            assert!(fix.contains("extra kelos-gh copies"), "{fix}");
            assert!(fix.contains("KELOS_GH_PATH"), "{fix}");
        }
    }

    #[test]
    fn a_real_gh_whose_version_times_out_is_a_warning_that_says_so() {
        let why = "`/usr/bin/gh --version` did not finish within 5 s (killed)";
        let c = gh(&facts(
            vec![link("/usr/local/bin/gh", true), link("/usr/bin/gh", false)],
            GhEnd::Real(Err(why.into())),
        ));
        assert_eq!(c.level, Level::Warn);
        assert!(c.message.ends_with(why), "{}", c.message);
        assert!(c.fix.unwrap().contains("/usr/bin/gh --version"));
    }

    #[test]
    fn no_gh_or_not_the_wrapper_warn() {
        let c = gh(&GhFacts::default());
        assert_eq!(
            (c.level, c.message.as_str()),
            (Level::Warn, "no gh in PATH")
        );
        let c = gh(&facts(
            vec![link("/usr/bin/gh", false)],
            GhEnd::Real(Ok("gh version 2.23.0".into())),
        ));
        assert_eq!(c.level, Level::Warn);
        assert!(
            c.message.contains("not the kelos-gh wrapper"),
            "{}",
            c.message
        );
    }

    #[test]
    fn glab_s_chain_is_the_same_check_in_glab_s_words() {
        let glab = |path: &str, is_wrapper: bool| GhLink {
            path: path.into(),
            is_wrapper,
            wrapper_version: is_wrapper.then(|| {
                "kelos-glab 0.1.0 (commit 0123456789abcdef0123456789abcdef01234567)".into()
            }),
            from_gh_path: !is_wrapper,
        };
        let c = cli_check(
            &GITLAB,
            CheckId::Glab,
            &facts(
                vec![glab("/usr/local/bin/glab", true), glab("/opt/glab", false)],
                GhEnd::Real(Ok("Current glab version: 1.53.0".into())),
            ),
        );
        assert_eq!((c.id, c.level), (CheckId::Glab, Level::Ok));
        assert_eq!(
            c.message,
            "glab in PATH is the kelos-glab wrapper /usr/local/bin/glab (kelos-glab 0.1.0 \
             (commit 0123456789ab)) → real glab /opt/glab (from KELOS_GLAB_PATH) (Current glab \
             version: 1.53.0)"
        );
        let c = cli_check(
            &GITLAB,
            CheckId::Glab,
            &facts(
                vec![glab("/a/glab", true)],
                GhEnd::NotFound("cannot find the real glab: KELOS_GLAB_PATH is unset".into()),
            ),
        );
        assert!(
            c.message
                .ends_with("which finds no real glab (glab exits 127): KELOS_GLAB_PATH is unset"),
            "{}",
            c.message
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("install glab, or set KELOS_GLAB_PATH to the absolute path of the real glab")
        );
        let c = cli_check(&GITLAB, CheckId::Glab, &GhFacts::default());
        assert_eq!(
            (c.message.as_str(), c.fix.as_deref()),
            (
                "no glab in PATH",
                Some("install glab and kelos-glab as /usr/local/bin/glab, if agents use glab")
            )
        );
    }

    #[test]
    fn the_glab_check_is_made_only_when_its_facts_were_gathered() {
        use super::super::facts::fixtures::{facts as pod, git};
        let mut f = pod(git(vec![], None), &[]);
        let ids = |f: &Facts| -> Vec<CheckId> {
            let mut checks = Vec::new();
            glab_checks(f, &mut checks);
            checks.iter().map(|c| c.id).collect()
        };
        assert_eq!(ids(&f), []);
        f.glab = Some(GhFacts::default());
        assert_eq!(ids(&f), [CheckId::Glab]);
    }
}
