//! `git-credential-kelos doctor`: the checks, as a pure function from facts
//! gathered elsewhere to a report, one module per subject (`token`, `host`,
//! `git`, `gh`); the report and its output are `report`'s. No check ever
//! carries a token: the token appears only as
//! [`Token::masked`](kelos_token::Token::masked).

pub use super::facts::*;
pub use super::report::Report;
use super::{gh, git, host, token};

pub fn diagnose(f: &Facts) -> Report {
    let mut checks = Vec::new();
    // GitHub's token and gh only where GitHub is answered for (a GitLab
    // workspace has no GitHub variable).
    if f.github {
        token::file_checks(f, &mut checks);
        token::expiry_check(f, &mut checks);
        token::fallback_check(f, &mut checks);
    }
    token::gitlab_check(f, &mut checks);
    host::host_check(f, &mut checks);
    if f.github {
        gh::vars_check(f, &mut checks);
    }
    git::git_checks(f, &mut checks);
    if f.github {
        gh::gh_checks(f, &mut checks);
    }
    gh::glab_checks(f, &mut checks);
    Report { checks }
}

#[cfg(test)]
mod tests {
    use super::super::facts::fixtures::{facts, git};
    use super::super::report::{CheckId, Level};
    use super::*;
    use kelos_token::env::EnvSnapshot;
    use kelos_token::host::configured_hosts;

    #[test]
    fn a_bad_host_is_a_failed_host_check_and_the_rest_still_runs() {
        let env = EnvSnapshot::from_pairs([("GH_HOST", "https://ghe.corp.example")]);
        let mut f = facts(git(vec![], None), &[]);
        f.host_error = configured_hosts(&Vec::<String>::new(), &env).err();
        let report = diagnose(&f);
        let host = report
            .checks
            .iter()
            .find(|c| c.id == CheckId::Host)
            .unwrap();
        assert_eq!(host.level, Level::Fail);
        assert!(
            host.message.contains("is a URL (https://...)"),
            "{}",
            host.message
        );
        assert_eq!(
            host.fix.as_deref(),
            Some("set GH_HOST to the host name alone (or unset it for github.com), like ghe.corp.example")
        );
        assert!(report.failed());
        assert!(report.checks.iter().any(|c| c.id == CheckId::Git));
        assert!(report.to_json().starts_with("{\"result\":\"fail\""));
    }
}
