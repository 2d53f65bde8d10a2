//! gh's checks: `gh.vars` (what kelos-gh sets) and `gh` (the chain from
//! the gh in PATH to the real gh).

use std::fmt::Write as _;

use super::facts::{Facts, GhEnd, GhFacts, GhLink};
use super::report::{check, Check, CheckId, Level};

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
    checks.push(gh_check(&f.gh));
}

/// What a wrapper link says it is, for the gh check's message (the commit cut short: a
/// whole id would be masked as a token shape).
fn wrapper_version(link: &GhLink) -> String {
    link.wrapper_version.as_deref().map_or_else(
        || "kelos-gh, version unknown: built before wrappers carried it".to_owned(),
        kelos_token::version::with_short_commit,
    )
}

/// The `gh` check: the whole chain, from the gh in PATH to the real gh (or
/// to where it ends without one).
fn gh_check(gh: &GhFacts) -> Check {
    const NO_REAL_GH: &str = "install gh, or set KELOS_GH_PATH to the absolute path of the real gh";
    const EXTRA_COPIES: &str = "remove the extra kelos-gh copies from PATH (keep one, ahead of \
                                the real gh), or set KELOS_GH_PATH to the absolute path of the \
                                real gh";
    let Some(first) = gh.chain.first() else {
        return check(
            CheckId::Gh,
            Level::Warn,
            "no gh in PATH".into(),
            Some("install gh and kelos-gh as /usr/local/bin/gh, if agents use gh"),
        );
    };
    if !first.is_wrapper {
        return check(
            CheckId::Gh,
            Level::Warn,
            format!(
                "gh in PATH is {}, not the kelos-gh wrapper: gh will use the frozen token",
                first.path.display()
            ),
            Some("install kelos-gh as /usr/local/bin/gh, ahead of the real gh in PATH"),
        );
    }
    // "the kelos-gh wrapper A → B (another kelos-gh copy) → real gh C"
    let mut chain = format!(
        "gh in PATH is the kelos-gh wrapper {} ({})",
        first.path.display(),
        wrapper_version(first)
    );
    for link in &gh.chain[1..] {
        let via = if link.from_gh_path {
            ", from KELOS_GH_PATH"
        } else {
            ""
        };
        if link.is_wrapper {
            let _ = write!(
                chain,
                " → {} (another kelos-gh copy{via}: {})",
                link.path.display(),
                wrapper_version(link)
            );
        } else {
            let _ = write!(chain, " → real gh {}", link.path.display());
            if link.from_gh_path {
                chain.push_str(" (from KELOS_GH_PATH)");
            }
        }
    }
    let last = gh.chain.last().unwrap_or(first);
    match &gh.end {
        GhEnd::Real(Ok(version)) => {
            check(CheckId::Gh, Level::Ok, format!("{chain} ({version})"), None)
        }
        GhEnd::Real(Err(why)) => check(
            CheckId::Gh,
            Level::Warn,
            format!("{chain}, but {why}"),
            Some(&format!(
                "check that the real gh runs: {} --version",
                last.path.display()
            )),
        ),
        GhEnd::NotFound(why) => check(
            CheckId::Gh,
            Level::Fail,
            format!(
                "{chain}, which finds no real gh (gh exits 127): {}",
                why.strip_prefix("cannot find the real gh: ").unwrap_or(why)
            ),
            Some(NO_REAL_GH),
        ),
        GhEnd::Loops(to) => check(
            CheckId::Gh,
            Level::Fail,
            format!(
                "{chain} → {} again: the chain of kelos-gh copies loops and gh never runs",
                to.display()
            ),
            Some(EXTRA_COPIES),
        ),
        GhEnd::TooLong | GhEnd::NoGh => check(
            CheckId::Gh,
            Level::Fail,
            format!(
                "{chain}: still kelos-gh after {} copies, no real gh reached",
                gh.chain.len()
            ),
            Some(EXTRA_COPIES),
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

    fn facts(chain: Vec<GhLink>, end: GhEnd) -> GhFacts {
        GhFacts { chain, end }
    }

    #[test]
    fn the_whole_chain_is_reported_and_the_real_gh_is_its_end() {
        let c = gh_check(&facts(
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
        let c = gh_check(&facts(
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
        let c = gh_check(&facts(
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
            let c = gh_check(&facts(
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
        let c = gh_check(&facts(
            vec![link("/usr/local/bin/gh", true), link("/usr/bin/gh", false)],
            GhEnd::Real(Err(why.into())),
        ));
        assert_eq!(c.level, Level::Warn);
        assert!(c.message.ends_with(why), "{}", c.message);
        assert!(c.fix.unwrap().contains("/usr/bin/gh --version"));
    }

    #[test]
    fn no_gh_or_not_the_wrapper_warn() {
        let c = gh_check(&GhFacts::default());
        assert_eq!(
            (c.level, c.message.as_str()),
            (Level::Warn, "no gh in PATH")
        );
        let c = gh_check(&facts(
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
}
