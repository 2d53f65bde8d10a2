//! The hosts the helper answers for, each with the provider whose token it
//! gets: GitHub's host (`GH_HOST`, else github.com) and, when a GitLab
//! setting is in play, GitLab's instance (`GITLAB_HOST`, `GITLAB_URI`,
//! `GL_HOST`, else gitlab.com). A request is answered from the provider
//! whose host it matches, never from the other's token; a request both
//! match is answered by neither.
//!
//! `--host H` names the hosts instead: H is GitLab's when GitLab's instance
//! answers for it (over https, or over http for an `http://` instance on
//! its port), else GitHub's, as before GitLab existed.

use std::ffi::OsStr;
use std::fmt;

use crate::credential::{match_request, Refusal};
use crate::env::EnvSnapshot;
use crate::gitlab_host::{GitlabHost, Scheme};
use crate::host::{parse_host_input, Host, HostInputError, HostOrigin};
use crate::protocol::Request;
use crate::provider::{Provider, GITHUB, GITLAB};

/// One host answered for, and whose token it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// A GitHub host (and its `gist.` host).
    GitHub(Host),
    /// A GitLab instance: its host over https, and over http on its port
    /// when it is an `http://` instance.
    GitLab(GitlabHost),
}

impl Served {
    pub fn provider(&self) -> &'static Provider {
        match self {
            Served::GitHub(_) => &GITHUB,
            Served::GitLab(_) => &GITLAB,
        }
    }

    /// The host as `--host` names it: GitHub's host; GitLab's host and port
    /// (an `http://` instance's port is its http port).
    pub fn host(&self) -> Host {
        match self {
            Served::GitHub(host) => host.clone(),
            Served::GitLab(instance) => instance.authority(),
        }
    }

    /// The URLs git asks for (`scheme`, host), in the order `configure`
    /// writes them: GitHub's host and its gist host over https; GitLab's
    /// host over https and, for an `http://` instance, over http on its
    /// port first.
    pub fn urls(&self) -> Vec<(Scheme, Host)> {
        let mut urls = Vec::with_capacity(2);
        match self {
            Served::GitHub(host) => {
                urls.push((Scheme::Https, host.clone()));
                urls.extend(host.gist().map(|gist| (Scheme::Https, gist)));
            }
            Served::GitLab(instance) => {
                urls.push((instance.scheme(), instance.authority()));
                if instance.scheme() == Scheme::Http {
                    urls.push((Scheme::Https, instance.host().clone()));
                }
            }
        }
        urls
    }
}

impl From<Host> for Served {
    fn from(host: Host) -> Served {
        Served::GitHub(host)
    }
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Served::GitHub(host) => host.fmt(f),
            Served::GitLab(instance) => instance.fmt(f),
        }
    }
}

/// The hosts a command answers for: the `--host` values, each given to
/// the provider it belongs to, else GitHub's host and, when GitLab is in
/// play ([`Provider::in_play`]), GitLab's instance. A pod with no GitLab
/// setting is served exactly as before (GitHub's host, set or not); a
/// GitLab pod with no GitHub variable at all (Kelos's GitLab workspaces)
/// is GitLab's alone. A malformed GitLab host variable is an error.
pub fn served_hosts<S: AsRef<OsStr>>(
    options: &[S],
    env: &EnvSnapshot,
) -> Result<Vec<Served>, HostInputError> {
    let gitlab = if GITLAB.in_play(env) {
        Some(GITLAB.instance(env)?)
    } else {
        None
    };
    if options.is_empty() {
        let github = gitlab.is_none() || GITHUB.any_var_set(env);
        let mut served = Vec::with_capacity(2);
        if github {
            served.push(Served::GitHub(GITHUB.host(env)?));
        }
        served.extend(gitlab.map(Served::GitLab));
        return Ok(served);
    }
    options
        .iter()
        .map(|raw| {
            let host = parse_host_input(HostOrigin::HostOption, raw.as_ref())?;
            Ok(match &gitlab {
                Some(instance) if is_gitlab_s(instance, &host) => Served::GitLab(instance.clone()),
                _ => Served::GitHub(host),
            })
        })
        .collect()
}

/// Whether `--host host` names GitLab's instance.
fn is_gitlab_s(instance: &GitlabHost, host: &Host) -> bool {
    [Scheme::Https, Scheme::Http]
        .iter()
        .any(|s| instance.answers(s.as_str(), host.as_str()).is_some())
}

/// What a request matched: the provider whose token it gets, and the host
/// to speak of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    pub provider: &'static Provider,
    pub host: Host,
}

/// Decides whether `request` is one this helper may answer, and from whose
/// token: GitHub's rules ([`match_request`]) over the GitHub hosts, GitLab's
/// ([`GitlabHost::answers`]) over the GitLab instances; a request both
/// match is refused. With GitHub hosts alone, exactly [`match_request`].
pub fn match_served(request: &Request, served: &[Served]) -> Result<Matched, Refusal> {
    let github = served.iter().filter_map(|s| match s {
        Served::GitHub(h) => Some(h),
        Served::GitLab(_) => None,
    });
    let by_github = match_request(request, github);
    // GitLab's rule only where an instance is served (the request's host
    // parsed once for it).
    let mut instances = served.iter().filter_map(|s| match s {
        Served::GitLab(instance) => Some(instance),
        Served::GitHub(_) => None,
    });
    let by_gitlab = match (instances.next(), request.protocol.as_deref(), &request.host) {
        (Some(first), Some(protocol), Some(raw)) => Host::parse(raw).ok().filter(|asked| {
            std::iter::once(first)
                .chain(instances)
                .any(|i| i.answers_host(protocol, asked).is_some())
        }),
        _ => None,
    };
    match (by_github, by_gitlab) {
        (Ok(host), None) => Ok(Matched {
            provider: &GITHUB,
            host: host.clone(),
        }),
        (Err(refusal), None) => Err(refusal),
        (Ok(host), Some(_)) => Err(Refusal::BothProviders(host.clone())),
        (Err(_), Some(host)) => Ok(Matched {
            provider: &GITLAB,
            host,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_request;
    use proptest::prelude::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot::from_pairs(pairs.iter().copied())
    }

    fn names(served: &[Served]) -> Vec<String> {
        served
            .iter()
            .map(|s| format!("{s} {}", s.provider().name))
            .collect()
    }

    #[test]
    fn gitlab_is_served_only_when_in_play() {
        let none: [&str; 0] = [];
        let github_only = env(&[("KELOS_GITHUB_TOKEN_FILE", "/k/t"), ("GH_HOST", "ghe.x")]);
        assert_eq!(
            names(&served_hosts(&none, &github_only).unwrap()),
            ["ghe.x GitHub"]
        );
        let both = env(&[
            ("KELOS_GITLAB_TOKEN_FILE", "/k/gl"),
            ("GITLAB_HOST", "http://gl.svc:8181"),
        ]);
        // GitLab's variables alone: GitLab's instance alone.
        assert_eq!(
            names(&served_hosts(&none, &both).unwrap()),
            ["http://gl.svc:8181 GitLab"]
        );
        let with_github = env(&[("GH_TOKEN", "x"), ("GITLAB_HOST", "http://gl.svc:8181")]);
        assert_eq!(
            names(&served_hosts(&none, &with_github).unwrap()),
            ["github.com GitHub", "http://gl.svc:8181 GitLab"]
        );
        assert_eq!(
            names(
                &served_hosts(&["gl.svc:8181", "gl.svc", "github.com", "gl.svc:1"], &both).unwrap()
            ),
            [
                "http://gl.svc:8181 GitLab",
                "http://gl.svc:8181 GitLab",
                "github.com GitHub",
                "gl.svc:1 GitHub"
            ]
        );
        // Only GITLAB_TOKEN: gitlab.com.
        let token_only = env(&[("GITLAB_TOKEN", "glpat-x")]);
        assert_eq!(
            names(&served_hosts(&none, &token_only).unwrap()),
            ["https://gitlab.com GitLab"]
        );
        // A malformed GITLAB_HOST: one line naming it.
        let bad = env(&[("GITLAB_HOST", "ssh://gl.svc")]);
        let e = served_hosts(&none, &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("GITLAB_HOST=\"ssh://gl.svc\" has the scheme `ssh`"),
            "{e}"
        );
        // GitHub's --host outside GitLab: as before.
        let e = served_hosts(&["a b"], &github_only)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--host \"a b\""), "{e}");
    }

    fn request(protocol: &str, host: &str) -> Request {
        parse_request(format!("protocol={protocol}\nhost={host}\n").as_bytes()).unwrap()
    }

    #[test]
    fn each_request_goes_to_its_own_provider() {
        let served = served_hosts(
            &Vec::<String>::new(),
            &env(&[
                ("GITLAB_HOST", "http://127.0.0.1:8181"),
                ("GH_HOST", "ghe.x"),
            ]),
        )
        .unwrap();
        let cases = [
            ("https", "ghe.x", Some("GitHub")),
            ("https", "gist.ghe.x", Some("GitHub")),
            ("http", "127.0.0.1:8181", Some("GitLab")),
            ("https", "127.0.0.1", Some("GitLab")),
            ("https", "127.0.0.1:443", Some("GitLab")),
            ("http", "127.0.0.1", None),
            ("https", "127.0.0.1:8181", None),
            ("https", "github.com", None),
            ("http", "ghe.x", None),
        ];
        for (protocol, host, want) in cases {
            let got = match_served(&request(protocol, host), &served).ok();
            assert_eq!(got.map(|m| m.provider.name), want, "{protocol}://{host}");
        }
        // The same host configured for both: neither answers.
        let clash = served_hosts(
            &Vec::<String>::new(),
            &env(&[
                ("GITLAB_HOST", "https://h.example"),
                ("GH_HOST", "h.example"),
            ]),
        )
        .unwrap();
        assert_eq!(
            match_served(&request("https", "h.example"), &clash),
            Err(Refusal::BothProviders(Host::parse("h.example").unwrap()))
        );
    }

    proptest! {
        /// Generated requests against both providers configured: an answer
        /// is always the provider whose host the request names, and a
        /// GitHub-only list matches exactly as before.
        #[test]
        fn never_the_other_provider_s(
            protocol in "https|http|ssh|HTTPS|",
            name in "(github\\.com|gist\\.github\\.com|gl\\.svc|gitlab\\.com|127\\.0\\.0\\.1|ghe\\.x|x)",
            port in proptest::option::of(prop_oneof![Just(443u16), Just(80), Just(8181), Just(8443)]),
            gitlab in "(http://gl\\.svc:8181|https://gl\\.svc|gl\\.svc:8443|http://127\\.0\\.0\\.1:8181|)",
            gh_host in "(github\\.com|ghe\\.x|127\\.0\\.0\\.1)",
        ) {
            let host = match port { Some(p) => format!("{name}:{p}"), None => name.clone() };
            let r = request(&protocol, &host);
            let served = served_hosts(
                &Vec::<String>::new(),
                &env(&[("GITLAB_HOST", &gitlab), ("GH_HOST", &gh_host), ("GITLAB_TOKEN", "glpat-x")]),
            ).unwrap();
            let instance = GITLAB.instance(&env(&[("GITLAB_HOST", &gitlab)])).unwrap();
            let gh = Host::parse(&gh_host).unwrap();
            let github_says = match_request(&r, std::slice::from_ref(&gh)).is_ok();
            let gitlab_says = instance.answers(&protocol, &host).is_some();
            let got = match_served(&r, &served).ok().map(|m| m.provider.name);
            let want = match (github_says, gitlab_says) {
                (true, false) => Some("GitHub"),
                (false, true) => Some("GitLab"),
                _ => None,
            };
            prop_assert_eq!(got, want);
            // GitHub alone: exactly GitHub's rule, refusal and all.
            let alone = match_served(&r, &[Served::GitHub(gh.clone())]).map(|m| m.host);
            prop_assert_eq!(alone, match_request(&r, std::slice::from_ref(&gh)).cloned());
        }
    }
}
