//! A snapshot of the environment variables this project reads.

use std::ffi::{OsStr, OsString};
use std::fmt;

pub const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";
pub const GH_HOST_VAR: &str = "GH_HOST";
pub const GH_PATH_VAR: &str = "KELOS_GH_PATH";
pub const TRACE_VAR: &str = "KELOS_CREDENTIAL_TRACE";

/// Every variable either binary reads. Nothing else is captured, so nothing
/// else can leak through a snapshot.
pub const KNOWN_VARS: &[&str] = &[
    TOKEN_FILE_VAR,
    GH_HOST_VAR,
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    GH_PATH_VAR,
    TRACE_VAR,
];

/// The values of [`KNOWN_VARS`] at one moment. Pure functions take this
/// rather than reading the process environment, so tests can build one.
#[derive(Clone, Default)]
pub struct EnvSnapshot {
    vars: Vec<(&'static str, OsString)>,
}

impl EnvSnapshot {
    pub fn from_process() -> Self {
        Self::from_pairs(
            KNOWN_VARS
                .iter()
                .filter_map(|name| std::env::var_os(name).map(|v| (*name, v))),
        )
    }

    /// Builds a snapshot from pairs; names outside [`KNOWN_VARS`] are dropped.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: Into<OsString>,
    {
        let mut vars = Vec::new();
        for (name, value) in pairs {
            if let Some(known) = KNOWN_VARS.iter().find(|k| **k == name.as_ref()) {
                vars.retain(|(n, _)| n != known);
                vars.push((*known, value.into()));
            }
        }
        EnvSnapshot { vars }
    }

    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The value, treating an empty one as unset (as gh and the contract do).
    pub fn non_empty(&self, name: &str) -> Option<&OsStr> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// Shows which variables are set, never their values.
impl fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.vars.iter().map(|(n, _)| n))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_known_names_and_the_last_value() {
        let env = EnvSnapshot::from_pairs([
            ("GH_TOKEN", "a"),
            ("PATH", "/bin"),
            ("GH_TOKEN", "b"),
            ("GITHUB_TOKEN", ""),
        ]);
        assert_eq!(env.get("GH_TOKEN"), Some(OsStr::new("b")));
        assert_eq!(env.get("PATH"), None);
        assert_eq!(env.get("GITHUB_TOKEN"), Some(OsStr::new("")));
        assert_eq!(env.non_empty("GITHUB_TOKEN"), None);
    }

    #[test]
    fn debug_shows_names_only() {
        let env = EnvSnapshot::from_pairs([("GH_TOKEN", "ghs_secret")]);
        let shown = format!("{env:?}");
        assert_eq!(shown, r#"{"GH_TOKEN"}"#);
    }
}
