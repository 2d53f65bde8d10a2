//! A snapshot of the environment variables this project reads.

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;

use crate::gitlab_host::GLAB_CONFIG_DIR_VAR;
use crate::provider::{copy_into, GITHUB, PROVIDER_VARS};

pub const TOKEN_FILE_VAR: &str = GITHUB.token_file_var;
pub const GH_HOST_VAR: &str = GITHUB.host_vars[0];
pub const GH_PATH_VAR: &str = GITHUB.cli_path_var;
pub const TRACE_VAR: &str = "KELOS_CREDENTIAL_TRACE";
/// Where `exec` and the CLI wrappers look for programs. Kept in the
/// snapshot (so the launcher reads it with the rest, once) but no token
/// rule reads it, so it is not one of [`KNOWN_VARS`].
pub const PATH_VAR: &str = "PATH";

/// The variables that may hold a GitHub token (gh's, and the fallbacks),
/// in the order `env` writes them.
pub const TOKEN_VARS: &[&str] = GITHUB.token_vars;

/// Where git finds its config files: the trace must never be one of them.
const GIT_CONFIG_VARS: [&str; 6] = [
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG",
    "GIT_DIR",
];

/// Every variable either binary reads: every provider's
/// ([`crate::provider::PROVIDERS`]), the trace setting, and git's config
/// locations. Nothing else is captured (but PATH), so nothing else can leak
/// through a snapshot.
pub const KNOWN_VARS: &[&str] = KNOWN_VAR_ARRAY.split_at(KNOWN_VAR_COUNT).0;
const KNOWN_VAR_COUNT: usize = PROVIDER_VARS.len() + 1 + GIT_CONFIG_VARS.len() + 1;
/// [`KNOWN_VARS`], then [`PATH_VAR`]: what a snapshot keeps.
const KNOWN_VAR_ARRAY: [&str; KNOWN_VAR_COUNT + 1] = {
    let mut out = [""; KNOWN_VAR_COUNT + 1];
    let at = copy_into(&mut out, 0, &PROVIDER_VARS);
    let at = copy_into(&mut out, at, &[TRACE_VAR]);
    let at = copy_into(&mut out, at, &GIT_CONFIG_VARS);
    // Where glab's config is (besides HOME, XDG_CONFIG_HOME): never traced to.
    let at = copy_into(&mut out, at, &[GLAB_CONFIG_DIR_VAR]);
    let at = copy_into(&mut out, at, &[PATH_VAR]);
    assert!(at == KNOWN_VAR_COUNT + 1);
    out
};

/// The name of a variable the snapshot keeps, as its `'static` form.
#[inline(always)]
fn kept(name: &[u8]) -> Option<&'static str> {
    KNOWN_VAR_ARRAY
        .iter()
        .copied()
        .find(|k| k.as_bytes() == name)
}

/// The values of [`KNOWN_VARS`] at one moment. Pure functions take this
/// rather than reading the process environment, so tests can build one.
#[derive(Clone, Default)]
pub struct EnvSnapshot {
    vars: Vec<(&'static str, OsString)>,
}

impl EnvSnapshot {
    /// One pass over the process environment. Both binaries are
    /// single-threaded and never change their own environment, which is what
    /// [`process_environ`] asks of its callers.
    pub fn from_process() -> Self {
        // SAFETY: see above; the entries are copied before this returns.
        Self::from_entries(unsafe { process_environ() }.map(CStr::to_bytes))
    }

    /// Builds a snapshot from `NAME=value` entries, as the C runtime keeps
    /// them. The first entry of a name wins, as with `getenv` and with gh
    /// (Go keeps the first of duplicate names); an entry without `=` is no
    /// variable.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut vars: Vec<(&'static str, OsString)> = Vec::new();
        for entry in entries {
            let Some((name, value)) = split_entry(entry) else {
                continue;
            };
            if let Some(known) = kept(name) {
                if !vars.iter().any(|(n, _)| *n == known) {
                    vars.push((known, OsStr::from_bytes(value).to_os_string()));
                }
            }
        }
        EnvSnapshot { vars }
    }

    /// Builds a snapshot from pairs; names outside [`KNOWN_VARS`] (and
    /// PATH) are dropped.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: Into<OsString>,
    {
        let mut vars = Vec::new();
        for (name, value) in pairs {
            if let Some(known) = kept(name.as_ref().as_bytes()) {
                vars.retain(|(n, _)| *n != known);
                vars.push((known, value.into()));
            }
        }
        EnvSnapshot { vars }
    }

    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, v)| v.as_os_str())
    }

    /// Sets a variable of any name, for a test's own provider.
    #[cfg(test)]
    pub(crate) fn insert_for_test(&mut self, name: &'static str, value: &str) {
        self.vars.retain(|(n, _)| *n != name);
        self.vars.push((name, value.into()));
    }

    /// The value, treating an empty one as unset (as gh and the contract do).
    pub fn non_empty(&self, name: &str) -> Option<&OsStr> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// Whether two names are equal. A name asked for usually comes from the
/// same table as the snapshot's (a [`crate::provider::Provider`]'s field),
/// so the same address settles it without a byte-by-byte comparison
/// (musl's `memcmp` is one: on `get`'s path it cost as much as the rest of
/// the lookup of a variable).
#[inline(always)]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

/// `NAME=value` split at the first `=`; `None` for an entry without one.
pub fn split_entry(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = entry.iter().position(|b| *b == b'=')?;
    Some((&entry[..at], &entry[at + 1..]))
}

/// The process environment's entries, read where the C runtime keeps them:
/// no copy, and no scan of the whole environment per variable (`getenv` for
/// each name cost a credential lookup a third of its instructions).
///
/// # Safety
///
/// Nothing may change the process environment (`std::env::set_var`,
/// `setenv`, `putenv`) while the returned entries are in use.
pub unsafe fn process_environ<'a>() -> impl Iterator<Item = &'a CStr> {
    extern "C" {
        static environ: *const *const c_char;
    }
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings
    // (or NULL itself), left alone for as long as the caller promises.
    let mut next = unsafe { environ };
    std::iter::from_fn(move || {
        if next.is_null() || unsafe { (*next).is_null() } {
            return None;
        }
        let entry = unsafe { CStr::from_ptr(*next) };
        next = unsafe { next.add(1) };
        Some(entry)
    })
}

/// The pointers of `argv` as the C runtime passes them to a `no_main`
/// binary's `main`; empty for a NULL `argv` or a negative `argc`.
///
/// # Safety
///
/// A non-NULL `argv` must hold `argc` pointers to NUL-terminated strings
/// that live as long as `'a` (the C runtime's do, for the whole process).
pub unsafe fn c_args<'a>(argc: c_int, argv: *const *const c_char) -> &'a [*const c_char] {
    if argv.is_null() {
        return &[];
    }
    // SAFETY: as the caller promises.
    unsafe { std::slice::from_raw_parts(argv, usize::try_from(argc).unwrap_or(0)) }
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
            ("HOSTNAME", "pod"),
            ("GH_TOKEN", "b"),
            ("GITHUB_TOKEN", ""),
        ]);
        assert_eq!(env.get("GH_TOKEN"), Some(OsStr::new("b")));
        assert_eq!(env.get("PATH"), Some(OsStr::new("/bin")));
        assert_eq!(env.get("HOSTNAME"), None);
        assert_eq!(env.get("GITHUB_TOKEN"), Some(OsStr::new("")));
        assert_eq!(env.non_empty("GITHUB_TOKEN"), None);
    }

    #[test]
    fn entries_keep_the_first_value_of_a_name_as_getenv_does() {
        let env = EnvSnapshot::from_entries([
            &b"GH_TOKEN=a=b"[..],
            b"PATH=/bin",
            b"PATH=/second",
            b"HOSTNAME=pod",
            b"GH_TOKEN=second",
            b"GH_HOST",
            b"GITHUB_TOKEN=",
            b"=GH_TOKEN",
        ]);
        assert_eq!(env.get("GH_TOKEN"), Some(OsStr::new("a=b")));
        assert_eq!(env.get("PATH"), Some(OsStr::new("/bin")));
        assert_eq!(env.get("HOSTNAME"), None);
        assert_eq!(env.get("GH_HOST"), None);
        assert_eq!(env.get("GITHUB_TOKEN"), Some(OsStr::new("")));
    }

    #[test]
    fn the_process_environment_reads_as_std_reads_it() {
        // SAFETY: no test in this crate changes the environment.
        let entries: Vec<&[u8]> = unsafe { process_environ() }.map(CStr::to_bytes).collect();
        let path = entries
            .iter()
            .find_map(|e| split_entry(e).filter(|(n, _)| *n == b"PATH"))
            .map(|(_, v)| OsStr::from_bytes(v).to_os_string());
        assert_eq!(path, std::env::var_os("PATH"));
    }

    #[test]
    fn debug_shows_names_only() {
        let env = EnvSnapshot::from_pairs([("GH_TOKEN", "ghs_secret")]);
        let shown = format!("{env:?}");
        assert_eq!(shown, r#"{"GH_TOKEN"}"#);
    }
}
