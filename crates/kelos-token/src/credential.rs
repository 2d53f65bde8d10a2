//! The credential helper's decisions, as pure functions: which requests are
//! answered, with what, and what to tell people on stderr.

use std::fmt;
use std::time::SystemTime;

use crate::env::EnvSnapshot;
use crate::expiry::{describe_age, describe_expiry, unix_seconds};
use crate::host::{Host, HostError};
use crate::protocol::{Request, Response};
use crate::source::{Lookup, Origin};
use crate::token::clean_token;
use std::os::unix::ffi::OsStrExt;

/// The username git sends with a GitHub App installation token.
pub const DEFAULT_USERNAME: &str = "x-access-token";

/// Why a request gets no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoHost,
    BadHost(HostError),
    /// Not one of the configured hosts nor `gist.` + one.
    OtherHost(Host),
    /// Not `https`, nor `http` to a loopback host.
    Protocol(Option<String>),
    /// The host is configured for GitHub and for GitLab: neither token is
    /// sent, since either could be the other's.
    BothProviders(Host),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoHost => f.write_str("the request names no host"),
            Refusal::BadHost(e) => write!(f, "the request's host is invalid: {e}"),
            Refusal::OtherHost(h) => write!(f, "{h} is not a configured host"),
            Refusal::Protocol(Some(p)) => write!(
                f,
                "protocol `{p}` is refused (https only; http only to loopback hosts)"
            ),
            Refusal::Protocol(None) => f.write_str("the request names no protocol"),
            Refusal::BothProviders(h) => write!(
                f,
                "{h} is configured for GitHub and for GitLab; neither token is sent"
            ),
        }
    }
}

/// Decides whether `request` is one this helper may answer; returns the
/// configured host it matched.
pub fn match_request<'h>(
    request: &Request,
    hosts: impl IntoIterator<Item = &'h Host>,
) -> Result<&'h Host, Refusal> {
    let raw = request.host.as_deref().ok_or(Refusal::NoHost)?;
    let host = Host::parse(raw).map_err(Refusal::BadHost)?;
    let configured = hosts
        .into_iter()
        .find(|h| **h == host || h.gist().as_ref() == Some(&host))
        .ok_or_else(|| Refusal::OtherHost(host.clone()))?;
    match request.protocol.as_deref() {
        Some("https") => Ok(configured),
        Some("http") if host.is_loopback() => Ok(configured),
        other => Err(Refusal::Protocol(other.map(str::to_owned))),
    }
}

/// What to do for a matched `get`.
#[derive(Debug, PartialEq, Eq)]
pub struct GetAnswer {
    /// Bytes for stdout; empty when there is nothing to say.
    pub stdout: Vec<u8>,
    /// One line for stderr (without the program prefix), or none.
    pub stderr: Option<String>,
}

/// `clock` is asked for the time only when there is an expiry to compare it
/// with: the first clock read of a process costs it page faults (the vDSO).
pub fn answer_get(
    request: &Request,
    host: &Host,
    lookup: &Lookup,
    clock: impl FnOnce() -> SystemTime,
) -> GetAnswer {
    let Some(token) = &lookup.token else {
        return GetAnswer {
            stdout: Vec::new(),
            stderr: Some(format!("no token for {host}: {}", lookup.explain())),
        };
    };
    // `https://@github.com/...` makes git send `username=`: that is no
    // username, and the App token's own goes back.
    let username = request
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(lookup.provider.git_username);
    let Some(response) = Response::new(username, token, lookup.expires_at) else {
        return GetAnswer {
            stdout: Vec::new(),
            stderr: Some("the request's username cannot be written back to git".into()),
        };
    };
    let mut stdout = Vec::new();
    response.write_to(&mut stdout);
    let stderr = lookup
        .expires_at
        .and_then(|_| expiry_warning(lookup, unix_seconds(clock())));
    GetAnswer { stdout, stderr }
}

/// The warning for a token whose known expiry is already past (`now` in
/// Unix seconds): it is still handed out (git discards an expired password
/// itself), and this says that the refresher may be failing.
pub fn expiry_warning(lookup: &Lookup, now: i64) -> Option<String> {
    let at = lookup.expires_at?;
    (at <= now).then(|| {
        format!(
            "the token in {} {}; the token refresher may be failing",
            file_name(lookup),
            describe_expiry(at, now)
        )
    })
}

/// The one line `erase` prints: was the refused password the token we hold
/// now, or one from before a rotation?
pub fn erase_message(
    request: &Request,
    host: &Host,
    lookup: &Lookup,
    env: &EnvSnapshot,
    now: SystemTime,
) -> String {
    let Some(refused) = &request.password else {
        return format!("git reports a credential for {host} was refused (no password given)");
    };
    let Some(token) = &lookup.token else {
        return format!(
            "{host} refused a password, and there is no valid token now: {}",
            lookup.explain()
        );
    };
    let source = match lookup.origin {
        Some(Origin::Env(name)) => format!("{name} (frozen at start-up)"),
        _ => file_name(lookup),
    };
    if !token.matches(refused) {
        // A frozen variable used as a fallback while the file was unusable
        // for a moment is not a rotation: say which it was.
        if let Some(name) = frozen_var_holding(refused, lookup, env) {
            return format!(
                "{host} refused the frozen {name} (used as a fallback because the token \
                 file was unusable at that moment); the token in {source} is different, so a \
                 retry will use it: check the writer of the token file"
            );
        }
        return format!(
            "{host} refused an older token; the token in {source} has rotated since, \
             so a retry will use the new one"
        );
    }
    let age = describe_age(lookup.modified, now);
    let expiry = lookup.expires_at.map_or_else(
        || "expiry unknown".into(),
        |at| describe_expiry(at, unix_seconds(now)),
    );
    format!(
        "{host} refused the current token from {source} ({age}, {expiry}); \
         the token itself was rejected: check that it is still valid and may access this repository"
    )
}

/// The fallback variable for `class` whose (valid) token is `password`.
fn frozen_var_holding(password: &[u8], lookup: &Lookup, env: &EnvSnapshot) -> Option<&'static str> {
    let fallbacks = lookup.provider.fallbacks(lookup.class);
    fallbacks.iter().copied().find(|name| {
        env.non_empty(name)
            .and_then(|v| clean_token(v.as_bytes()).ok())
            .is_some_and(|t| t.matches(password))
    })
}

fn file_name(lookup: &Lookup) -> String {
    lookup
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the token file".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::EnvSnapshot;
    use crate::host::HostClass;
    use crate::protocol::parse_request;
    use crate::source::{choose, FileProblem, FileRead, Layout};
    use std::path::PathBuf;
    use std::time::Duration;

    const NOW: u64 = 1_795_428_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn hosts(names: &[&str]) -> Vec<Host> {
        names.iter().map(|n| Host::parse(n).unwrap()).collect()
    }

    fn lookup_with(token: &[u8], expiry: Option<&str>) -> Lookup {
        let read = FileRead {
            path: "/k/GITHUB_TOKEN".into(),
            contents: token.to_vec(),
            layout: Layout::Plain,
            modified: Some(now() - Duration::from_secs(600)),
            mode: 0o644,
            uid: 0,
            gid: 0,
            expiry: expiry.map(|e| Ok(e.as_bytes().to_vec())),
        };
        choose(
            Some(PathBuf::from("/k/GITHUB_TOKEN")),
            Ok(read),
            &EnvSnapshot::default(),
            HostClass::Dotcom,
        )
    }

    #[test]
    fn scoping_table() {
        let configured = hosts(&["github.com", "ghe.example.com:8443", "github.localhost"]);
        let ok = [
            ("https", "github.com"),
            ("https", "GitHub.COM."),
            ("https", "gist.github.com"),
            ("https", "ghe.example.com:8443"),
            ("https", "gist.ghe.example.com:8443"),
            ("http", "github.localhost"),
        ];
        for (protocol, host) in ok {
            let r =
                parse_request(format!("protocol={protocol}\nhost={host}\n").as_bytes()).unwrap();
            assert!(
                match_request(&r, &configured).is_ok(),
                "{protocol}://{host}"
            );
        }
        let refused = [
            ("http", "github.com"),
            ("ssh", "github.com"),
            ("", "github.com"),
            ("https", "github.com:443"),
            ("https", "github.com:8443"),
            ("https", "api.github.com"),
            ("https", "github.com.evil.com"),
            ("https", "evilgithub.com"),
            ("https", "gist.gist.github.com"),
            ("https", "ghe.example.com"),
            ("https", "github.com/x"),
            ("https", ""),
        ];
        for (protocol, host) in refused {
            let r =
                parse_request(format!("protocol={protocol}\nhost={host}\n").as_bytes()).unwrap();
            assert!(
                match_request(&r, &configured).is_err(),
                "{protocol}://{host}"
            );
        }
        let no_host = parse_request(b"protocol=https\n").unwrap();
        assert_eq!(match_request(&no_host, &configured), Err(Refusal::NoHost));
    }

    #[test]
    fn answers_with_default_or_given_username_and_expiry() {
        let host = &hosts(&["github.com"])[0];
        let l = lookup_with(b"ghs_now\n", Some("2026-11-23T11:00:00Z"));
        let r = parse_request(b"protocol=https\nhost=github.com\n").unwrap();
        assert_eq!(
            answer_get(&r, host, &l, now),
            GetAnswer {
                stdout:
                    b"username=x-access-token\npassword=ghs_now\npassword_expiry_utc=1795431600\n"
                        .to_vec(),
                stderr: None
            }
        );
        let r = parse_request(b"url=https://alice@github.com/o/r\n").unwrap();
        let a = answer_get(&r, host, &l, now);
        assert!(a.stdout.starts_with(b"username=alice\npassword=ghs_now\n"));
        // An empty username (`https://@github.com/o/r`) is none.
        for input in [
            &b"url=https://@github.com/o/r\n"[..],
            b"protocol=https\nhost=github.com\nusername=\n",
        ] {
            let r = parse_request(input).unwrap();
            let a = answer_get(&r, host, &l, now);
            assert!(
                a.stdout
                    .starts_with(b"username=x-access-token\npassword=ghs_now\n"),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn expired_token_is_still_given_with_a_warning() {
        let host = &hosts(&["github.com"])[0];
        let l = lookup_with(b"ghs_old", Some("2026-11-23T09:00:00Z"));
        let r = parse_request(b"protocol=https\nhost=github.com\n").unwrap();
        let a = answer_get(&r, host, &l, now);
        assert!(a.stdout.ends_with(b"password_expiry_utc=1795424400\n"));
        assert_eq!(
            a.stderr.as_deref(),
            Some(
                "the token in /k/GITHUB_TOKEN expired at 2026-11-23T09:00:00Z (1h00m ago); \
                 the token refresher may be failing"
            )
        );
    }

    #[test]
    fn no_token_gives_no_output_and_a_reason() {
        let host = &hosts(&["github.com"])[0];
        let l = choose(
            None,
            Err(FileProblem::NotConfigured),
            &EnvSnapshot::default(),
            HostClass::Dotcom,
        );
        let r = parse_request(b"protocol=https\nhost=github.com\n").unwrap();
        let a = answer_get(&r, host, &l, now);
        assert!(a.stdout.is_empty());
        assert_eq!(
            a.stderr.as_deref(),
            Some("no token for github.com: KELOS_GITHUB_TOKEN_FILE is not set; GH_TOKEN, GITHUB_TOKEN unset or empty")
        );
    }

    #[test]
    fn erase_names_a_frozen_fallback_that_was_refused() {
        let host = &hosts(&["github.com"])[0];
        let l = lookup_with(b"ghs_current", None);
        let env = EnvSnapshot::from_pairs([("GITHUB_TOKEN", "ghs_frozen")]);
        let r = parse_request(b"protocol=https\nhost=github.com\npassword=ghs_frozen\n").unwrap();
        let msg = erase_message(&r, host, &l, &env, now());
        assert!(msg.contains("refused the frozen GITHUB_TOKEN"), "{msg}");
        assert!(!msg.contains("ghs_"), "{msg}");
    }

    #[test]
    fn erase_tells_rotated_from_refused() {
        let host = &hosts(&["github.com"])[0];
        let l = lookup_with(b"ghs_current", Some("2026-11-23T10:30:00Z"));
        let old =
            parse_request(b"protocol=https\nhost=github.com\npassword=ghs_previous\n").unwrap();
        let msg = erase_message(&old, host, &l, &EnvSnapshot::default(), now());
        assert!(msg.contains("older token"), "{msg}");
        assert!(!msg.contains("ghs_"), "{msg}");
        let current =
            parse_request(b"protocol=https\nhost=github.com\npassword=ghs_current\n").unwrap();
        let msg = erase_message(&current, host, &l, &EnvSnapshot::default(), now());
        assert_eq!(
            msg,
            "github.com refused the current token from /k/GITHUB_TOKEN (written 10m ago, \
             expires at 2026-11-23T10:30:00Z (in 30m)); the token itself was rejected: \
             check that it is still valid and may access this repository"
        );
    }
}
