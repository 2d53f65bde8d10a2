//! The GitLab instance a pod names in `GITLAB_HOST` (or `GL_HOST`, `GITLAB_URI`, as glab
//! reads them): a base URL (`https://gitlab.example.com`,
//! `http://gitlab-webservice-default.gitlab.svc:8181`, with an optional relative URL root
//! `/gitlab`) or a bare host (`gitlab.example.com`, `host:port`).
//!
//! Pure: the caller reads the variable; this decides what it means, which git requests it
//! answers, and what glab's config needs so that glab talks to it (glab takes a host's API
//! protocol from its config's host entry, not from `GITLAB_HOST`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::host::{Host, HostError};

/// The variable naming glab's config directory.
pub const GLAB_CONFIG_DIR_VAR: &str = "GLAB_CONFIG_DIR";

/// glab's config file name inside its config directory.
pub const GLAB_CONFIG_FILE_NAME: &str = "config.yml";

/// Where glab 1.53 keeps `config.yml`: `GLAB_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/glab-cli`, else `$HOME/.config/glab-cli` (glab's
/// `internal/config/config_file.go`, `ConfigDir`; an empty variable counts as
/// unset, as there). `None` when none of them is set. The one rule for
/// kelos-glab (which edits the file) and the trace (which never writes it).
pub fn glab_config_file(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let dir = if let Some(dir) = set(GLAB_CONFIG_DIR_VAR) {
        PathBuf::from(dir)
    } else if let Some(xdg) = set("XDG_CONFIG_HOME") {
        Path::new(&xdg).join("glab-cli")
    } else {
        Path::new(&set("HOME")?).join(".config").join("glab-cli")
    };
    Some(dir.join(GLAB_CONFIG_FILE_NAME))
}

/// How the instance is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    /// The word in a URL and in git's `protocol=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed, valid `GITLAB_HOST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitlabHost {
    scheme: Scheme,
    /// The host name alone (lower-case, no trailing dot, IPv6 in brackets).
    host: Host,
    /// `None`: the scheme's default port (also when it was written out).
    port: Option<u16>,
    /// The relative URL root without its slashes (`gitlab`, `a/b`), or empty.
    path: String,
    /// The key glab derives from the variable for its config's `hosts:` entry.
    glab_key: String,
}

/// What glab's config must hold for this instance's host entry (no token: glab sends
/// `GITLAB_TOKEN` from the environment once the entry exists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlabHostEntry {
    /// The key under `hosts:`: glab 1.53's own reading of the variable, lower-case, the
    /// scheme and the slashes around it removed: `host[:port][/root]`, port as written.
    pub key: String,
    pub api_protocol: Scheme,
    /// `host[:port][/root]`: glab builds `api_protocol://api_host/api/v4/` from it, so
    /// the relative URL root must be in it.
    pub api_host: String,
    pub git_protocol: Scheme,
}

impl GitlabHost {
    /// `gitlab.com` over https: what an unset variable means.
    pub fn gitlab_com() -> GitlabHost {
        parse_gitlab_host("GITLAB_HOST", OsStr::new("gitlab.com")).expect("gitlab.com is valid")
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The host and port (when not the scheme's default), as git names it
    /// in a request over this instance's scheme.
    pub fn authority(&self) -> Host {
        match self.port {
            None => self.host.clone(),
            // A valid host and port make a valid host.
            Some(port) => {
                Host::parse(&format!("{}:{port}", self.host)).unwrap_or_else(|_| self.host.clone())
            }
        }
    }

    /// Whether git's request for `protocol` and `host` (`name[:port]`, as git sends it) is
    /// for this instance, and over which scheme it is answered. https: this host on this
    /// port (the default 443 for an `http://` instance: the same host over https). http:
    /// only for an `http://` instance, on exactly its port. A default port equals none.
    pub fn answers(&self, protocol: &str, host: &str) -> Option<Scheme> {
        self.answers_host(protocol, &Host::parse(host).ok()?)
    }

    /// [`GitlabHost::answers`] for a host already parsed.
    pub fn answers_host(&self, protocol: &str, asked: &Host) -> Option<Scheme> {
        if asked.name() != self.host.as_str() {
            return None;
        }
        let asked_port = port_of(asked);
        let (scheme, port) = match (protocol, self.scheme) {
            ("https", Scheme::Https) => (Scheme::Https, self.port),
            ("https", Scheme::Http) => (Scheme::Https, None),
            ("http", Scheme::Http) => (Scheme::Http, self.port),
            _ => return None,
        };
        let default = scheme.default_port();
        (asked_port.unwrap_or(default) == port.unwrap_or(default)).then_some(scheme)
    }

    /// Whether glab needs a host entry to reach this instance: only plain http, which glab
    /// never infers (a port and a URL root it takes from the variable itself).
    pub fn needs_glab_entry(&self) -> bool {
        self.scheme == Scheme::Http
    }

    /// The host entry glab reads for this instance.
    pub fn glab_entry(&self) -> GlabHostEntry {
        GlabHostEntry {
            key: self.glab_key.clone(),
            api_protocol: self.scheme,
            api_host: self.glab_key.clone(),
            git_protocol: self.scheme,
        }
    }
}

/// The URL again, in canonical form: `scheme://host[:port][/root]`.
impl fmt::Display for GitlabHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if !self.path.is_empty() {
            write!(f, "/{}", self.path)?;
        }
        Ok(())
    }
}

fn port_of(host: &Host) -> Option<u16> {
    let rest = host.as_str().strip_prefix(host.name())?;
    rest.strip_prefix(':')?.parse().ok()
}

/// What is wrong with the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GitlabHostProblem {
    #[error("is empty")]
    Empty,
    /// `user:password@host`: never shown (see [`GitlabHostError`]).
    #[error("has a user name or password in it (user@); the token comes from the token file, never from the URL")]
    UserInfo,
    #[error("has the scheme `{0}`; only https:// and http:// are understood")]
    Scheme(String),
    #[error("has a query (?...)")]
    Query,
    #[error("has a fragment (#...)")]
    Fragment,
    #[error("names no host")]
    NoHost,
    #[error("has a port that is not a number from 1 to 65535")]
    BadPort,
    #[error("contains white space")]
    Whitespace,
    #[error("contains the control character {0}")]
    Control(String),
    /// Shown as `U+XXXX`: a raw bidi or look-alike character would mislead.
    #[error(
        "contains U+{0:04X}, which is not ASCII (write an international name in its xn-- form)"
    )]
    NonAscii(u32),
    #[error("is not a host name: {0}")]
    Host(HostError),
}

/// A value that cannot be used. `Display` is one line: the variable, the value (controls
/// escaped, anything before an `@` and every token-shaped word masked), what is wrong,
/// and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitlabHostError {
    pub var: String,
    /// The value as it may be shown.
    pub value: String,
    pub problem: GitlabHostProblem,
}

impl fmt::Display for GitlabHostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{var}=\"{value}\" {problem}; set {var} to the instance's base URL, like \
             https://gitlab.example.com or http://gitlab-webservice-default.gitlab.svc:8181",
            var = self.var,
            value = self.value,
            problem = self.problem
        )
    }
}

impl std::error::Error for GitlabHostError {}

/// The value as an error may show it: nothing before the last `@` (a password), nor after
/// a colon that starts no port (`https://oauth2:TOKEN`), every token-shaped word masked,
/// control and non-ASCII characters escaped.
fn shown(raw: &str) -> String {
    // Only a scheme's own letters before `://` are shown (a `://` later in
    // the value is no scheme, and what precedes it may be a password).
    let is_scheme = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    };
    // `get` rather than indexing: every index below is found in `raw` itself
    // (so on a char boundary), and a slice that cannot panic carries no
    // panic location, which the helper's size counts (1 MiB).
    let part = |from: usize, to: usize| raw.get(from..to).unwrap_or_default();
    let start = raw
        .find("://")
        .filter(|&i| is_scheme(part(0, i)))
        .map_or(0, |i| i + 3);
    let cut = if let Some(at) = raw.rfind('@') {
        format!("{}…@{}", part(0, start.min(at)), part(at + 1, raw.len()))
    } else {
        let end = part(start, raw.len())
            .find('/')
            .map_or(raw.len(), |i| start + i);
        match part(start, end).rfind(':').map(|i| start + i + 1) {
            Some(p)
                if !part(p, end)
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b']') =>
            {
                format!("{}…{}", part(0, p), part(end, raw.len()))
            }
            _ => raw.to_owned(),
        }
    };
    let masked = crate::redact::redact(&cut, &[]);
    let escaped = crate::text::escape_controls(&masked);
    escaped
        .chars()
        .map(|c| match c {
            c if c.is_ascii() || c == '…' => c.to_string(),
            c => format!("\\u{{{:x}}}", c as u32),
        })
        .collect()
}

/// Parses `raw`, the value of the variable `var` (named in the error).
pub fn parse_gitlab_host(var: &str, raw: &OsStr) -> Result<GitlabHost, GitlabHostError> {
    let text = raw.to_string_lossy();
    let error = |problem| GitlabHostError {
        var: var.to_owned(),
        value: shown(&text),
        problem,
    };
    parse_text(&text).map_err(error)
}

fn parse_text(text: &str) -> Result<GitlabHost, GitlabHostProblem> {
    use GitlabHostProblem as P;
    // First: a value holding credentials is refused whatever else is wrong with it.
    if text.contains('@') {
        return Err(P::UserInfo);
    }
    if text.trim().is_empty() {
        return Err(P::Empty);
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        let escaped = crate::text::escape_controls(c.encode_utf8(&mut [0; 4])).into_owned();
        return Err(P::Control(escaped));
    }
    if text.contains(char::is_whitespace) {
        return Err(P::Whitespace);
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Err(P::NonAscii(c as u32));
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((s, rest)) => match s.to_ascii_lowercase().as_str() {
            "https" => (Scheme::Https, rest),
            "http" => (Scheme::Http, rest),
            _ => return Err(P::Scheme(s.to_owned())),
        },
        None => (Scheme::Https, text),
    };
    if rest.contains('?') {
        return Err(P::Query);
    }
    if rest.contains('#') {
        return Err(P::Fragment);
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(P::NoHost);
    }
    let parsed = Host::parse(authority).map_err(|e| match e {
        HostError::BadPort => P::BadPort,
        HostError::Empty => P::NoHost,
        e => P::Host(e),
    })?;
    let port = port_of(&parsed).filter(|&p| p != scheme.default_port());
    let host = Host::parse(parsed.name()).map_err(P::Host)?;
    // glab 1.53 (glinstance.StripHostProtocol): lower-case, the scheme removed, then `:`
    // and `/` trimmed from both ends. The URL root keeps its inner slashes.
    let glab_key = rest
        .to_ascii_lowercase()
        .trim_matches(|c| c == ':' || c == '/')
        .to_owned();
    Ok(GitlabHost {
        scheme,
        host,
        port,
        path: path.trim_matches('/').to_owned(),
        glab_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glab_s_config_file_is_where_glab_keeps_it() {
        let file = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            glab_config_file(|name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.into()))
        };
        let all = [
            ("GLAB_CONFIG_DIR", "/g"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(file(&all), Some("/g/config.yml".into()));
        assert_eq!(file(&all[1..]), Some("/x/glab-cli/config.yml".into()));
        assert_eq!(
            file(&all[2..]),
            Some("/h/.config/glab-cli/config.yml".into())
        );
        // An empty variable counts as unset, as in glab.
        let empty = [
            ("GLAB_CONFIG_DIR", ""),
            ("XDG_CONFIG_HOME", ""),
            ("HOME", "/h"),
        ];
        assert_eq!(file(&empty), Some("/h/.config/glab-cli/config.yml".into()));
        assert_eq!(file(&[("HOME", "")]), None);
        assert_eq!(file(&[]), None);
    }
    use proptest::prelude::*;

    fn parse(raw: &str) -> Result<GitlabHost, GitlabHostError> {
        parse_gitlab_host("GITLAB_HOST", OsStr::new(raw))
    }

    #[test]
    fn reads_urls_and_bare_hosts() {
        // value | scheme host port (-: the scheme's default) URL root | glab's key
        let table = "
            https://gitlab.example.com      https gitlab.example.com - ''  gitlab.example.com
            https://GitLab.Example.COM/     https gitlab.example.com - ''  gitlab.example.com
            http://gl-web.gitlab.svc:8181   http gl-web.gitlab.svc 8181 '' gl-web.gitlab.svc:8181
            HTTP://127.0.0.1:8181/gitlab/   http 127.0.0.1 8181 'gitlab'   127.0.0.1:8181/gitlab
            https://h.example:443/a/b       https h.example - 'a/b'        h.example:443/a/b
            http://h.example:80             http h.example - ''            h.example:80
            https://[::1]:8443              https [::1] 8443 ''            [::1]:8443
            gitlab.example.com              https gitlab.example.com - ''  gitlab.example.com
            gitlab.example.com.:8443        https gitlab.example.com 8443 '' gitlab.example.com.:8443";
        let cases = table.lines().skip(1).map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            (w[0], w[1..5].join(" "), w[5])
        });
        for (raw, want, key) in cases {
            let g = parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let port = g.port().map_or("-".to_owned(), |p| p.to_string());
            let got = format!("{} {} {port} '{}'", g.scheme(), g.host(), g.path());
            assert_eq!(got, want, "{raw}");
            let entry = GlabHostEntry {
                key: key.to_owned(),
                api_protocol: g.scheme(),
                api_host: key.to_owned(),
                git_protocol: g.scheme(),
            };
            assert_eq!(g.glab_entry(), entry, "{raw}");
            assert_eq!(g.needs_glab_entry(), g.scheme() == Scheme::Http, "{raw}");
        }
        assert_eq!(GitlabHost::gitlab_com().to_string(), "https://gitlab.com");
    }

    #[test]
    fn refuses_what_is_malformed_naming_the_variable() {
        use GitlabHostProblem as P;
        let cases = [
            ("", P::Empty),
            ("  ", P::Empty),
            ("ssh://gitlab.example.com", P::Scheme("ssh".into())),
            ("git@gitlab.example.com:group/repo.git", P::UserInfo),
            (
                "https://oauth2:glpat-secret@gitlab.example.com",
                P::UserInfo,
            ),
            ("https://gitlab.example.com/?private_token=x", P::Query),
            ("https://gitlab.example.com#top", P::Fragment),
            ("https://", P::NoHost),
            ("https:///gitlab", P::NoHost),
            ("https://gitlab.example.com:0", P::BadPort),
            ("https://gitlab.example.com:99999", P::BadPort),
            ("gitlab.example.com:", P::BadPort),
            ("https://oauth2:glpat-secret/x", P::BadPort),
            ("https://gitlab.example.com /x", P::Whitespace),
            ("gitlab.example.com\n", P::Control("\\n".into())),
            ("gitläb.example.com", P::NonAscii(0xe4)),
            (
                "https://gitlab_example!.com",
                P::Host(HostError::BadCharacter('!')),
            ),
        ];
        for (raw, problem) in cases {
            let e = parse_gitlab_host("GL_HOST", OsStr::new(raw)).expect_err(raw);
            assert_eq!(e.problem, problem, "{raw:?}");
            let line = e.to_string();
            assert!(line.starts_with("GL_HOST=\""), "{line}");
            assert!(line.contains("like https://gitlab.example.com"), "{line}");
            assert!(!line.contains('\n') && !line.contains("secret"), "{line}");
        }
        let e = parse("a\u{202e}b").unwrap_err();
        assert_eq!(e.value, "a\\u{202e}b");
    }

    #[test]
    fn answers_its_own_host_only_and_http_only_when_named() {
        let https = parse("https://gitlab.example.com").unwrap();
        let http = parse("http://gitlab.svc:8181/gitlab").unwrap();
        let bare_port = parse("gitlab.example.com:8443").unwrap();
        let cases = [
            (&https, "https", "gitlab.example.com", Some(Scheme::Https)),
            (
                &https,
                "https",
                "GitLab.example.com.:443",
                Some(Scheme::Https),
            ),
            (&https, "https", "gitlab.example.com:8443", None),
            (&https, "http", "gitlab.example.com", None),
            (&https, "https", "other.example.com", None),
            (&https, "https", "x.gitlab.example.com", None),
            (&https, "ssh", "gitlab.example.com", None),
            (&https, "HTTPS", "gitlab.example.com", None),
            (&https, "https", "", None),
            (&http, "http", "gitlab.svc:8181", Some(Scheme::Http)),
            (&http, "http", "gitlab.svc", None),
            (&http, "http", "gitlab.svc:8182", None),
            (&http, "https", "gitlab.svc", Some(Scheme::Https)),
            (&http, "https", "gitlab.svc:443", Some(Scheme::Https)),
            (&http, "https", "gitlab.svc:8181", None),
            (
                &bare_port,
                "https",
                "gitlab.example.com:8443",
                Some(Scheme::Https),
            ),
            (&bare_port, "https", "gitlab.example.com", None),
            (&bare_port, "http", "gitlab.example.com:8443", None),
        ];
        for (g, protocol, host, want) in cases {
            assert_eq!(g.answers(protocol, host), want, "{g} {protocol}://{host}");
        }
        let http80 = parse("http://gitlab.svc").unwrap();
        assert_eq!(http80.answers("http", "gitlab.svc:80"), Some(Scheme::Http));
    }

    fn valid_url() -> impl Strategy<Value = (String, Scheme, String, Option<u16>, String)> {
        (
            prop_oneof![Just(Scheme::Https), Just(Scheme::Http)],
            "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]{1,8}){0,3}",
            proptest::option::of(1u16..),
            "(/[A-Za-z0-9._~-]{1,8}){0,3}",
            prop_oneof![Just(""), Just("/")],
        )
            .prop_map(|(scheme, host, port, path, slash)| {
                let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
                let url = format!("{scheme}://{host}{port_text}{path}{slash}");
                let port = port.filter(|&p| p != scheme.default_port());
                (
                    url,
                    scheme,
                    host,
                    port,
                    path.trim_start_matches('/').to_owned(),
                )
            })
    }

    proptest! {
        #[test]
        fn valid_urls_round_trip((url, scheme, host, port, path) in valid_url()) {
            let g = parse(&url).unwrap();
            prop_assert_eq!((g.scheme(), g.host().as_str(), g.port(), g.path()), (scheme, host.as_str(), port, path.as_str()));
            prop_assert_eq!(parse(&g.to_string()).unwrap(), g.clone());
            let asked = format!("{host}:{}", port.unwrap_or(scheme.default_port()));
            prop_assert_eq!(g.answers(scheme.as_str(), &asked), Some(scheme));
            prop_assert_eq!(g.answers("https", &format!("x{host}")), None);
        }

        #[test]
        fn any_value_is_a_host_or_one_line(raw in "\\PC{0,40}|[ -~\\n\\r\\t\\x00\\x1b]{0,40}") {
            if let Err(e) = parse(&raw) {
                let line = e.to_string();
                prop_assert!(line.starts_with("GITLAB_HOST=\""));
                prop_assert!(!line.chars().any(char::is_control), "{}", line);
            }
        }

        #[test]
        fn a_password_in_the_url_is_never_shown(
            scheme in "https?|ssh|[a-z]{1,5}",
            user in "[a-z0-9]{0,8}",
            password in "SECRET[A-Za-z0-9!$&'()*+,;=.~-]{4,20}",
            rest in "[a-z.]{1,12}(:[0-9]{0,6})?(/[ -~]{0,10})?",
        ) {
            for raw in [
                format!("{scheme}://{user}:{password}@{rest}"),
                format!("{user}:{password}@{rest}"),
                format!("{scheme}://{user}:{password}@{password}@{rest}"),
            ] {
                let e = parse(&raw).unwrap_err();
                prop_assert_eq!(&e.problem, &GitlabHostProblem::UserInfo);
                prop_assert!(!e.to_string().contains("SECRET"), "{}", e);
            }
            // No `@`: what follows the colon is no port, and is not shown either.
            let e = parse(&format!("{scheme}://{user}:{password}/x")).unwrap_err();
            prop_assert!(!e.to_string().contains("SECRET"), "{}", e);
        }
    }
}
