//! Host names: normalisation, GitHub host classes, loopback detection.
//!
//! The classes follow gh's own lookup (go-gh `auth.TokenForHost`), so that the
//! helper, the wrapper and gh agree on which token a host gets.

use std::ffi::OsStr;
use std::fmt;

use crate::env::{EnvSnapshot, GH_HOST_VAR};
use crate::gitlab_host::{GitlabHostError, GitlabHostProblem};
use crate::provider::{HostSyntax, Provider, GITHUB};

/// Which family of GitHub deployment a host belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostClass {
    /// `github.com` and `*.github.com`.
    Dotcom,
    /// `github.localhost` and `*.github.localhost` (GitHub's development host).
    Local,
    /// `*.ghe.com`: GitHub Enterprise Cloud with data residency.
    Tenancy,
    /// Anything else: GitHub Enterprise Server.
    Enterprise,
}

impl HostClass {
    pub fn as_str(self) -> &'static str {
        match self {
            HostClass::Dotcom => "dotcom",
            HostClass::Local => "local",
            HostClass::Tenancy => "tenancy",
            HostClass::Enterprise => "enterprise",
        }
    }

    /// GitHub's variables consulted, in order, when the token file yields
    /// nothing (CONTRACT: *Reading the token*, step 5): [`Provider::fallbacks`].
    pub fn fallback_vars(self) -> &'static [&'static str] {
        GITHUB.fallbacks(self)
    }
}

impl fmt::Display for HostClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not accepted as a host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the host is empty")]
    Empty,
    /// A byte that cannot appear in a host name or `[IPv6]:port`.
    #[error("the host contains {}", shown_char(*.0))]
    BadCharacter(char),
    #[error("the port is not a number from 1 to 65535")]
    BadPort,
    #[error("an IPv6 address must be written [addr]")]
    BadBrackets,
}

/// A character as a message names it: a space as such, a control
/// character escaped (`\x1b`), any other in backquotes.
fn shown_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_control() => {
            crate::text::escape_controls(c.encode_utf8(&mut [0; 4])).into_owned()
        }
        c => format!("`{c}`"),
    }
}

/// A host in canonical form: lower-case, one trailing dot removed, port kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Host(String);

impl Host {
    /// Normalises and validates `raw`: letters, digits, `-`, `_` and `.` in the
    /// name, an optional `:port`, or a bracketed IPv6 literal.
    pub fn parse(raw: &str) -> Result<Host, HostError> {
        let lower = raw.to_ascii_lowercase();
        let (name, port) = split_port(&lower)?;
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return Err(HostError::Empty);
        }
        // A second trailing dot is no DNS name, and would leave `name.` for
        // the next parse to shorten: the form would not be canonical.
        if name.ends_with('.') {
            return Err(HostError::BadCharacter('.'));
        }
        if let Some(inner) = name.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(HostError::BadBrackets)?;
            if inner.is_empty() {
                return Err(HostError::BadBrackets);
            }
            if let Some(c) = inner
                .chars()
                .find(|c| !(c.is_ascii_hexdigit() || *c == ':' || *c == '.'))
            {
                return Err(HostError::BadCharacter(c));
            }
        } else if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(HostError::BadCharacter(c));
        }
        let mut canonical = String::with_capacity(lower.len());
        canonical.push_str(name);
        if let Some(port) = port {
            canonical.push(':');
            canonical.push_str(&port.to_string());
        }
        Ok(Host(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host without its port.
    pub fn name(&self) -> &str {
        split_port(&self.0).map(|(n, _)| n).unwrap_or(&self.0)
    }

    pub fn class(&self) -> HostClass {
        classify_name(self.name()).0
    }

    /// The name gh keys its token lookup on: `api.github.com` → `github.com`,
    /// `x.acme.ghe.com` → `acme.ghe.com`.
    pub fn gh_name(&self) -> String {
        classify_name(self.name()).1
    }

    /// `localhost`, `*.localhost`, `127.0.0.0/8` and `[::1]`: the only hosts
    /// for which a token may travel over plain `http`.
    pub fn is_loopback(&self) -> bool {
        let name = self.name();
        if name == "localhost" || name.ends_with(".localhost") || name == "[::1]" {
            return true;
        }
        let mut octets = name.split('.');
        octets.next() == Some("127")
            && name.split('.').count() == 4
            && octets.all(|o| !o.is_empty() && o.len() <= 3 && o.parse::<u8>().is_ok())
    }

    /// `gist.` + this host: gh and git reach gists through it with the same
    /// token. An IP address has no such name.
    pub fn gist(&self) -> Option<Host> {
        if self.is_ip_literal() {
            return None;
        }
        Some(Host(format!("gist.{}", self.0)))
    }

    fn is_ip_literal(&self) -> bool {
        let name = self.name();
        name.starts_with('[')
            || name
                .split('.')
                .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits `name[:port]`; the port comes back as a number, so `:0443` and
/// `:443` are one port.
fn split_port(host: &str) -> Result<(&str, Option<u16>), HostError> {
    let colon = if host.starts_with('[') {
        match host.find(']') {
            Some(close) => host[close..].find(':').map(|i| close + i),
            None => return Err(HostError::BadBrackets),
        }
    } else {
        // Bytes, not a char search: this runs on every git request.
        host.bytes().rposition(|b| b == b':')
    };
    match colon {
        None => Ok((host, None)),
        Some(i) => {
            let port = &host[i + 1..];
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HostError::BadPort);
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok((&host[..i], Some(p))),
                _ => Err(HostError::BadPort),
            }
        }
    }
}

/// Where a host that a person gave comes from: it names the thing to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostOrigin {
    /// The `GH_HOST` variable.
    GhHost,
    /// A `--host` option.
    HostOption,
    /// A provider's host variable holding a URL (`GITLAB_HOST`).
    UrlVar(&'static str),
}

/// What is wrong with a host a person gave, in the terms they wrote it in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostProblem {
    #[error("is not UTF-8")]
    NotUtf8,
    /// `https://...`: a URL, not a host.
    #[error("is a URL ({0}://...), not a host name")]
    Scheme(String),
    /// `host/path`.
    #[error("has a path after the host name")]
    Path,
    /// Spaces, tabs or newlines, at either end or inside.
    #[error("contains white space")]
    Whitespace,
    /// `user@host`.
    #[error("has a user name before the host (user@)")]
    UserInfo,
    /// Anything else `Host::parse` refuses.
    #[error("is not a host name: {0}")]
    Invalid(HostError),
    /// What [`crate::gitlab_host::parse_gitlab_host`] refuses.
    #[error("{0}")]
    Url(GitlabHostProblem),
}

impl From<GitlabHostError> for HostInputError {
    fn from(e: GitlabHostError) -> Self {
        let var = crate::provider::PROVIDERS
            .iter()
            .flat_map(|p| p.host_vars.iter().copied())
            .find(|v| *v == e.var)
            .unwrap_or("GITLAB_HOST");
        HostInputError {
            origin: HostOrigin::UrlVar(var),
            value: e.value,
            problem: HostProblem::Url(e.problem),
            suggestion: None,
        }
    }
}

/// A host from `GH_HOST` or `--host` that cannot be used. `Display` is the
/// one message every command gives for it: the value, the actual problem,
/// and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInputError {
    pub origin: HostOrigin,
    /// The value as given, escaped for one line.
    pub value: String,
    pub problem: HostProblem,
    /// The host name the value most likely meant, when one can be seen.
    pub suggestion: Option<Host>,
}

impl fmt::Display for HostInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let example = self
            .suggestion
            .as_ref()
            .map_or_else(|| "ghe.example.com[:port]".to_owned(), Host::to_string);
        match self.origin {
            HostOrigin::GhHost => write!(
                f,
                "{GH_HOST_VAR}={} {}; set {GH_HOST_VAR} to the host name alone, like {example}",
                self.value, self.problem
            ),
            HostOrigin::HostOption => write!(
                f,
                "--host {} {}; give the host name alone, like {example}",
                self.value, self.problem
            ),
            HostOrigin::UrlVar(var) => match &self.problem {
                HostProblem::Url(problem) => GitlabHostError {
                    var: var.to_owned(),
                    value: self.value.clone(),
                    problem: problem.clone(),
                }
                .fmt(f),
                problem => write!(f, "{var}=\"{}\" {problem}", self.value),
            },
        }
    }
}

impl std::error::Error for HostInputError {}

/// Reads a host that a person gave (`GH_HOST`, `--host`): the one place
/// that turns such a value into a [`Host`] or into a message naming what
/// is actually wrong with it (a scheme, a path, white space, ...).
pub fn parse_host_input(origin: HostOrigin, raw: &OsStr) -> Result<Host, HostInputError> {
    let error = |problem, suggestion| HostInputError {
        origin,
        // Quoted, so that white space shows; control characters escaped by
        // the one rule for what a person sees (never Rust's `\u{..}`).
        value: format!(
            "\"{}\"",
            crate::text::escape_controls(&raw.to_string_lossy())
        ),
        problem,
        suggestion,
    };
    let Some(text) = raw.to_str() else {
        return Err(error(HostProblem::NotUtf8, None));
    };
    let parse_error = match Host::parse(text) {
        Ok(host) => return Ok(host),
        Err(e) => e,
    };
    // Only a refused value is looked at more closely.
    let trimmed = text.trim();
    let (problem, rest) = if let Some((scheme, rest)) = trimmed.split_once("://") {
        (HostProblem::Scheme(scheme.to_owned()), rest)
    } else if trimmed != text || text.contains(char::is_whitespace) {
        (HostProblem::Whitespace, trimmed)
    } else if text.contains('/') {
        (HostProblem::Path, text)
    } else if text.contains('@') {
        (HostProblem::UserInfo, text)
    } else {
        return Err(error(HostProblem::Invalid(parse_error), None));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    Err(error(problem, Host::parse(authority).ok()))
}

/// `GH_HOST`'s value as a host: GitHub's [`Provider::parse_host_var`].
pub fn parse_gh_host_var(_name: &'static str, raw: &OsStr) -> Result<Host, HostInputError> {
    parse_host_input(HostOrigin::GhHost, raw)
}

impl Provider {
    /// The host its variables name (the first non-empty one), else its
    /// default host.
    pub fn host(&self, env: &EnvSnapshot) -> Result<Host, HostInputError> {
        match (self.host_syntax, self.host_var(env)) {
            (HostSyntax::Name(_), None) => Ok(Host(String::from(self.default_host))),
            (HostSyntax::Name(parse), Some((name, raw))) => parse(name, raw),
            (HostSyntax::Url, _) => self
                .instance(env)
                .map(|instance| instance.authority())
                .map_err(HostInputError::from),
        }
    }

    /// The hosts the helper answers for: the `--host` values, else
    /// [`Provider::host`].
    pub fn configured_hosts<S: AsRef<OsStr>>(
        &self,
        options: &[S],
        env: &EnvSnapshot,
    ) -> Result<Vec<Host>, HostInputError> {
        if options.is_empty() {
            return self.host(env).map(|h| vec![h]);
        }
        options
            .iter()
            .map(|raw| parse_host_input(HostOrigin::HostOption, raw.as_ref()))
            .collect()
    }
}

/// The host of `GH_HOST` (unset or empty: `github.com`).
pub fn gh_host(env: &EnvSnapshot) -> Result<Host, HostInputError> {
    GITHUB.host(env)
}

/// GitHub's hosts: [`Provider::configured_hosts`].
pub fn configured_hosts<S: AsRef<OsStr>>(
    options: &[S],
    env: &EnvSnapshot,
) -> Result<Vec<Host>, HostInputError> {
    GITHUB.configured_hosts(options, env)
}

fn classify_name(name: &str) -> (HostClass, String) {
    if name == "github.com" || name.ends_with(".github.com") {
        return (HostClass::Dotcom, "github.com".to_owned());
    }
    if name == "github.localhost" || name.ends_with(".github.localhost") {
        return (HostClass::Local, "github.localhost".to_owned());
    }
    if let Some(prefix) = name.strip_suffix(".ghe.com") {
        if !prefix.is_empty() {
            let tenant = prefix.rsplit('.').next().unwrap_or(prefix);
            if !tenant.is_empty() {
                return (HostClass::Tenancy, format!("{tenant}.ghe.com"));
            }
        }
    }
    (HostClass::Enterprise, name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let cases = [
            ("github.com", "github.com"),
            ("GitHub.COM", "github.com"),
            ("github.com.", "github.com"),
            ("github.com.:443", "github.com:443"),
            ("GHE.Example.com:8443", "ghe.example.com:8443"),
            ("[::1]:8080", "[::1]:8080"),
            ("127.0.0.1:3000", "127.0.0.1:3000"),
            ("github.com:0443", "github.com:443"),
        ];
        for (raw, want) in cases {
            assert_eq!(Host::parse(raw).unwrap().as_str(), want, "{raw}");
        }
    }

    #[test]
    fn normalisation_is_idempotent() {
        for raw in ["GitHub.com.", "a.B.ghe.com.:1", "[::1]", "x_y.local"] {
            let once = Host::parse(raw).unwrap();
            assert_eq!(Host::parse(once.as_str()).unwrap(), once);
        }
    }

    #[test]
    fn rejects_what_is_not_a_host() {
        let cases = [
            ("", HostError::Empty),
            (".", HostError::Empty),
            ("github.com:", HostError::BadPort),
            ("github.com:0", HostError::BadPort),
            ("github.com:65536", HostError::BadPort),
            ("github.com:+1", HostError::BadPort),
            ("github.com..", HostError::BadCharacter('.')),
            ("..", HostError::BadCharacter('.')),
            ("a:b:c", HostError::BadPort),
            ("github.com/evil", HostError::BadCharacter('/')),
            ("user@github.com", HostError::BadCharacter('@')),
            ("git hub.com", HostError::BadCharacter(' ')),
            ("github.com\n", HostError::BadCharacter('\n')),
            ("[::1", HostError::BadBrackets),
            ("[]", HostError::BadBrackets),
            ("[g::1]", HostError::BadCharacter('g')),
        ];
        for (raw, want) in cases {
            assert_eq!(Host::parse(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn class_table() {
        let cases = [
            ("github.com", HostClass::Dotcom, "github.com"),
            ("api.github.com", HostClass::Dotcom, "github.com"),
            ("GitHub.com.", HostClass::Dotcom, "github.com"),
            ("github.com:8443", HostClass::Dotcom, "github.com"),
            ("github.localhost", HostClass::Local, "github.localhost"),
            ("api.github.localhost", HostClass::Local, "github.localhost"),
            ("acme.ghe.com", HostClass::Tenancy, "acme.ghe.com"),
            ("api.acme.ghe.com", HostClass::Tenancy, "acme.ghe.com"),
            ("ghe.com", HostClass::Enterprise, "ghe.com"),
            ("evilgithub.com", HostClass::Enterprise, "evilgithub.com"),
            (
                "github.com.evil.net",
                HostClass::Enterprise,
                "github.com.evil.net",
            ),
            (
                "ghe.example.com:8443",
                HostClass::Enterprise,
                "ghe.example.com",
            ),
        ];
        for (raw, class, gh_name) in cases {
            let host = Host::parse(raw).unwrap();
            assert_eq!(host.class(), class, "{raw}");
            assert_eq!(host.gh_name(), gh_name, "{raw}");
        }
    }

    #[test]
    fn loopback_table() {
        let yes = [
            "localhost",
            "localhost:8080",
            "github.localhost",
            "127.0.0.1",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:80",
        ];
        let no = [
            "github.com",
            "localhost.evil.com",
            "127.0.0.1.evil.com",
            "127.0.0",
            "128.0.0.1",
            "127.0.0.256",
            "[::2]",
            "mylocalhost",
        ];
        for raw in yes {
            assert!(Host::parse(raw).unwrap().is_loopback(), "{raw}");
        }
        for raw in no {
            assert!(!Host::parse(raw).unwrap().is_loopback(), "{raw}");
        }
    }

    #[test]
    fn gist_hosts() {
        let gist = |h: &str| Host::parse(h).unwrap().gist().map(|g| g.0);
        assert_eq!(gist("github.com").as_deref(), Some("gist.github.com"));
        assert_eq!(
            gist("ghe.example.com:8443").as_deref(),
            Some("gist.ghe.example.com:8443")
        );
        assert_eq!(gist("[::1]:80"), None);
        assert_eq!(gist("127.0.0.1:8080"), None);
    }

    #[test]
    fn a_person_s_host_errors_name_the_actual_problem() {
        use std::os::unix::ffi::OsStrExt;
        let gh = |raw: &str| parse_host_input(HostOrigin::GhHost, OsStr::new(raw));
        let cases = [
            (
                "https://ghe.corp.example",
                "GH_HOST=\"https://ghe.corp.example\" is a URL (https://...), not a host \
                 name; set GH_HOST to the host name alone, like ghe.corp.example",
            ),
            (
                "https://x-access-token:ghs_abc@ghe.corp.example:8443/org/repo.git",
                "GH_HOST=\"https://x-access-token:ghs_abc@ghe.corp.example:8443/org/repo.git\" \
                 is a URL (https://...), not a host name; set GH_HOST to the host name alone, \
                 like ghe.corp.example:8443",
            ),
            (
                "ghe.corp.example/org",
                "GH_HOST=\"ghe.corp.example/org\" has a path after the host name; set \
                 GH_HOST to the host name alone, like ghe.corp.example",
            ),
            (
                " ghe.corp.example\n",
                "GH_HOST=\" ghe.corp.example\\n\" contains white space; set GH_HOST to the \
                 host name alone, like ghe.corp.example",
            ),
            (
                "me@ghe.corp.example",
                "GH_HOST=\"me@ghe.corp.example\" has a user name before the host (user@); \
                 set GH_HOST to the host name alone, like ghe.corp.example",
            ),
            (
                "ghe.corp.example:https",
                "GH_HOST=\"ghe.corp.example:https\" is not a host name: the port is not a \
                 number from 1 to 65535; set GH_HOST to the host name alone, like \
                 ghe.example.com[:port]",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(gh(raw).unwrap_err().to_string(), want, "{raw:?}");
        }
        let not_utf8 = parse_host_input(HostOrigin::HostOption, OsStr::from_bytes(b"gh\xffe"));
        assert_eq!(
            not_utf8.unwrap_err().to_string(),
            "--host \"gh\u{fffd}e\" is not UTF-8; give the host name alone, like \
             ghe.example.com[:port]"
        );
        assert_eq!(
            gh("GHE.corp.example.").unwrap().as_str(),
            "ghe.corp.example"
        );
    }

    #[test]
    fn configured_hosts_come_from_options_else_gh_host_else_github_com() {
        let none: [&str; 0] = [];
        let empty = EnvSnapshot::default();
        let set = EnvSnapshot::from_pairs([(GH_HOST_VAR, "GHE.example.com")]);
        let blank = EnvSnapshot::from_pairs([(GH_HOST_VAR, "")]);
        let names = |hosts: Vec<Host>| hosts.into_iter().map(|h| h.0).collect::<Vec<_>>();
        assert_eq!(
            names(configured_hosts(&none, &empty).unwrap()),
            ["github.com"]
        );
        assert_eq!(
            names(configured_hosts(&none, &blank).unwrap()),
            ["github.com"]
        );
        assert_eq!(
            names(configured_hosts(&none, &set).unwrap()),
            ["ghe.example.com"]
        );
        assert_eq!(
            names(configured_hosts(&["a.example", "B.example:1"], &set).unwrap()),
            ["a.example", "b.example:1"]
        );
        let err = configured_hosts(&["https://a.example"], &set).unwrap_err();
        assert_eq!(err.origin, HostOrigin::HostOption);
    }

    #[test]
    fn fallback_order_follows_gh() {
        assert_eq!(
            HostClass::Dotcom.fallback_vars(),
            ["GH_TOKEN", "GITHUB_TOKEN"]
        );
        assert_eq!(
            HostClass::Enterprise.fallback_vars(),
            [
                "GH_ENTERPRISE_TOKEN",
                "GITHUB_ENTERPRISE_TOKEN",
                "GITHUB_TOKEN"
            ]
        );
    }
}
