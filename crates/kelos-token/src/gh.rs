//! The pure decisions of `kelos-gh`: which variables get the file's token,
//! and which file is the real gh.
//!
//! Nothing here touches the process: the environment, PATH and the file
//! system come in as values and closures, so every rule is unit-tested with
//! fake tables.

use std::borrow::Cow;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::env::{split_entry, GH_PATH_VAR};
use crate::host::HostClass;
use crate::token::Token;

/// The variables `kelos-gh` sets to the file's token for a `GH_HOST` of
/// `class` (CONTRACT: *kelos-gh*). Those in the first group are always set;
/// the others only when `present` says the variable is already in the
/// environment, so that a stale copy of it cannot outlive the rotation,
/// and no variable appears that was not there before except gh's own.
///
/// gh itself reads `GH_TOKEN` then `GITHUB_TOKEN` for github.com and
/// `*.ghe.com` (recent gh), and `GH_ENTERPRISE_TOKEN` then
/// `GITHUB_ENTERPRISE_TOKEN` for other hosts (and for `*.ghe.com` in gh older
/// than 2.4x, such as the Debian 2.23 package): setting both families for a
/// tenancy host serves every version.
pub fn token_vars(class: HostClass, present: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let (always, if_present): (&[&'static str], &[&'static str]) = match class {
        HostClass::Dotcom | HostClass::Local => (&["GH_TOKEN"], &["GITHUB_TOKEN"]),
        HostClass::Tenancy => (
            &["GH_TOKEN", "GH_ENTERPRISE_TOKEN"],
            &["GITHUB_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
        ),
        HostClass::Enterprise => (
            &["GH_ENTERPRISE_TOKEN"],
            &["GITHUB_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
        ),
    };
    always
        .iter()
        .copied()
        .chain(if_present.iter().copied().filter(|name| present(name)))
        .collect()
}

/// The environment gh is started with: every entry exactly as it came
/// (order, duplicates and all), except any entry of a name in `names`, whose
/// place goes to one `NAME=token` at the end. gh (Go) keeps the first entry
/// of a name, so a stale duplicate must not survive ahead of the fresh one.
pub fn exec_environment<'a>(
    entries: impl IntoIterator<Item = &'a CStr>,
    names: &[&str],
    token: &Token,
) -> Vec<Cow<'a, CStr>> {
    let replaced = |entry: &CStr| {
        split_entry(entry.to_bytes())
            .is_some_and(|(name, _)| names.iter().any(|n| n.as_bytes() == name))
    };
    let mut environment: Vec<Cow<'a, CStr>> = entries
        .into_iter()
        .filter(|entry| !replaced(entry))
        .map(Cow::Borrowed)
        .collect();
    for name in names {
        // A Token holds printable ASCII only, so the entry has no NUL; were
        // that ever not so, the variable is left out rather than the error
        // (which carries the bytes) shown.
        if let Ok(entry) = CString::new(format!("{name}={}", token.expose())) {
            environment.push(Cow::Owned(entry));
        }
    }
    environment
}

/// What the finder needs to know about a file: its identity, and whether it
/// is something that can be run (a regular file with an execute bit, after
/// following symlinks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub is_executable_regular_file: bool,
}

impl FileId {
    fn same_file(&self, (dev, ino): (u64, u64)) -> bool {
        self.dev == dev && self.ino == ino
    }
}

/// Bytes the kelos-gh binary carries, by which `doctor` recognises it
/// (the real gh never contains them).
pub const WRAPPER_MARKER: [u8; 24] = *b"kelos-gh wrapper marker\0";

/// Identifies `path` as exec would see it (symlinks followed); `None` when
/// it does not exist.
pub fn stat_file(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(path).ok()?;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
        is_executable_regular_file: meta.is_file() && meta.permissions().mode() & 0o111 != 0,
    })
}

/// Why `KELOS_GH_PATH` cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GhPathProblem {
    NotAbsolute,
    /// Missing, or not an executable regular file.
    NotExecutable,
    /// It is this wrapper itself (the same dev and inode): running it would
    /// loop.
    IsThisWrapper,
}

impl fmt::Display for GhPathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GhPathProblem::NotAbsolute => "is not an absolute path",
            GhPathProblem::NotExecutable => "does not exist or is not an executable file",
            GhPathProblem::IsThisWrapper => "is this wrapper itself, not the real gh",
        })
    }
}

/// The real gh could not be found. `Display` is one line: what was searched
/// and how to fix it. Paths only; no token can be in here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindGhError {
    /// `KELOS_GH_PATH` is set and unusable; PATH was not searched.
    GhPath {
        value: OsString,
        problem: GhPathProblem,
    },
    /// No usable `gh` in PATH.
    NotInPath {
        /// The PATH value (`None`: unset).
        path_var: Option<OsString>,
        /// The absolute entry holding this wrapper, when one does.
        own_entry: Option<PathBuf>,
        /// The absolute entries whose `gh` was looked at, in order.
        searched: Vec<PathBuf>,
        /// Relative and empty entries, skipped.
        skipped: Vec<PathBuf>,
    },
}

impl fmt::Display for FindGhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FindGhError::GhPath { value, problem } => write!(
                f,
                "{GH_PATH_VAR}={} {problem}; set {GH_PATH_VAR} to the absolute path of the \
                 real gh (e.g. /usr/bin/gh) or unset it to search PATH",
                Path::new(value).display()
            ),
            FindGhError::NotInPath {
                path_var,
                own_entry,
                searched,
                skipped,
            } => {
                write!(f, "cannot find the real gh: {GH_PATH_VAR} is unset, and ")?;
                if path_var.is_none() {
                    f.write_str("PATH is unset")?;
                } else if searched.is_empty() {
                    f.write_str("PATH has no absolute entry to search")?;
                } else {
                    f.write_str("no executable gh (other than this wrapper) in PATH entries ")?;
                    for (i, dir) in searched.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        write!(f, "{sep}{}", dir.display())?;
                    }
                }
                if let Some(own) = own_entry {
                    write!(
                        f,
                        " (searched after this wrapper's own entry {})",
                        own.display()
                    )?;
                }
                if !skipped.is_empty() {
                    f.write_str("; relative or empty PATH entries are never used: ")?;
                    for (i, dir) in skipped.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        write!(f, "{sep}{:?}", dir.as_os_str())?;
                    }
                }
                write!(
                    f,
                    "; install gh or set {GH_PATH_VAR} to the absolute path of the real gh"
                )
            }
        }
    }
}

impl std::error::Error for FindGhError {}

/// Why [`find_real_gh`] chose what it chose, for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// From `KELOS_GH_PATH`.
    GhPath(PathBuf),
    /// From PATH; `own_entry` is this wrapper's entry when it has one (the
    /// search started after it), else the whole PATH was searched.
    InPath {
        path: PathBuf,
        own_entry: Option<PathBuf>,
    },
}

impl Found {
    pub fn path(&self) -> &Path {
        match self {
            Found::GhPath(p) => p,
            Found::InPath { path, .. } => path,
        }
    }

    pub fn into_path(self) -> PathBuf {
        match self {
            Found::GhPath(p) => p,
            Found::InPath { path, .. } => path,
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::GhPath(p) => write!(f, "{} (from {GH_PATH_VAR})", p.display()),
            Found::InPath {
                path,
                own_entry: Some(own),
            } => write!(
                f,
                "{} (first gh in PATH after this wrapper's entry {})",
                path.display(),
                own.display()
            ),
            Found::InPath {
                path,
                own_entry: None,
            } => write!(
                f,
                "{} (first gh in PATH that is not this wrapper; this wrapper is in no \
                 absolute PATH entry)",
                path.display()
            ),
        }
    }
}

/// Finds the real gh.
///
/// - `gh_path`: the value of `KELOS_GH_PATH`; an empty value counts as unset.
///   When set it wins, and must be absolute, executable and not this wrapper.
/// - `path_var`: the value of PATH.
/// - `this_exe`: this executable's (dev, inode).
/// - `stat`: follows symlinks; `None` when the path does not exist.
///
/// From PATH: the first `gh` after this wrapper's own entry (the first entry
/// whose `gh` is this very file; with none, the whole PATH) that is an
/// executable regular file and not this wrapper. Relative and empty entries
/// are never used: they depend on the current directory, and a repository
/// with a `gh` in it must not be run.
pub fn find_real_gh(
    gh_path: Option<&OsStr>,
    path_var: Option<&OsStr>,
    this_exe: (u64, u64),
    stat: impl Fn(&Path) -> Option<FileId>,
) -> Result<Found, FindGhError> {
    if let Some(value) = gh_path.filter(|v| !v.is_empty()) {
        let path = Path::new(value);
        let problem = if !path.is_absolute() {
            Some(GhPathProblem::NotAbsolute)
        } else {
            match stat(path) {
                Some(id) if id.same_file(this_exe) => Some(GhPathProblem::IsThisWrapper),
                Some(id) if id.is_executable_regular_file => None,
                _ => Some(GhPathProblem::NotExecutable),
            }
        };
        return match problem {
            None => Ok(Found::GhPath(path.to_path_buf())),
            Some(problem) => Err(FindGhError::GhPath {
                value: value.to_os_string(),
                problem,
            }),
        };
    }

    let entries: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let (absolute, skipped): (Vec<&PathBuf>, Vec<&PathBuf>) =
        entries.iter().partition(|e| e.is_absolute());
    // One pass, stopping at the answer: once this wrapper's entry is seen,
    // the next usable gh is it; a usable gh before that entry counts only if
    // the wrapper turns out to be in no entry at all.
    let mut own = None;
    let mut first_usable = None;
    for (i, dir) in absolute.iter().enumerate() {
        let Some(id) = stat(&dir.join("gh")) else {
            continue;
        };
        if id.same_file(this_exe) {
            if own.is_none() {
                own = Some(i);
                first_usable = None;
            }
        } else if id.is_executable_regular_file {
            if own.is_some() {
                first_usable = Some(i);
                break;
            }
            first_usable = first_usable.or(Some(i));
        }
    }
    if let Some(i) = first_usable {
        return Ok(Found::InPath {
            path: absolute[i].join("gh"),
            own_entry: own.map(|i| absolute[i].to_path_buf()),
        });
    }
    let start = own.map_or(0, |i| i + 1);
    Err(FindGhError::NotInPath {
        path_var: path_var.map(OsStr::to_os_string),
        own_entry: own.map(|i| absolute[i].to_path_buf()),
        searched: absolute[start..].iter().map(|p| p.to_path_buf()).collect(),
        skipped: skipped.into_iter().cloned().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_vars_table() {
        use HostClass::*;
        let none: &[&str] = &[];
        let all: &[&str] = &[
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "GH_ENTERPRISE_TOKEN",
            "GITHUB_ENTERPRISE_TOKEN",
        ];
        let github_only: &[&str] = &["GITHUB_TOKEN"];
        let enterprise_only: &[&str] = &["GITHUB_ENTERPRISE_TOKEN"];
        let cases: &[(HostClass, &[&str], &[&str])] = &[
            (Dotcom, none, &["GH_TOKEN"]),
            (Dotcom, github_only, &["GH_TOKEN", "GITHUB_TOKEN"]),
            (Dotcom, enterprise_only, &["GH_TOKEN"]),
            (Dotcom, all, &["GH_TOKEN", "GITHUB_TOKEN"]),
            (Local, none, &["GH_TOKEN"]),
            (Local, all, &["GH_TOKEN", "GITHUB_TOKEN"]),
            (Tenancy, none, &["GH_TOKEN", "GH_ENTERPRISE_TOKEN"]),
            (
                Tenancy,
                github_only,
                &["GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
            ),
            (
                Tenancy,
                enterprise_only,
                &["GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
            ),
            (
                Tenancy,
                all,
                &[
                    "GH_TOKEN",
                    "GH_ENTERPRISE_TOKEN",
                    "GITHUB_TOKEN",
                    "GITHUB_ENTERPRISE_TOKEN",
                ],
            ),
            (Enterprise, none, &["GH_ENTERPRISE_TOKEN"]),
            (
                Enterprise,
                github_only,
                &["GH_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
            ),
            (
                Enterprise,
                enterprise_only,
                &["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
            ),
            (
                Enterprise,
                all,
                &[
                    "GH_ENTERPRISE_TOKEN",
                    "GITHUB_ENTERPRISE_TOKEN",
                    "GITHUB_TOKEN",
                ],
            ),
        ];
        for (class, present, want) in cases {
            let got = token_vars(*class, |n| present.contains(&n));
            assert_eq!(got, *want, "{class} with {present:?}");
        }
    }

    #[test]
    fn every_token_variable_is_in_the_snapshot() {
        // Callers ask an EnvSnapshot whether a variable is present.
        use HostClass::*;
        for class in [Dotcom, Local, Tenancy, Enterprise] {
            for name in token_vars(class, |_| true) {
                assert!(crate::env::KNOWN_VARS.contains(&name), "{name}");
            }
        }
    }

    #[test]
    fn exec_environment_replaces_every_entry_of_the_names_and_keeps_the_rest() {
        let token = crate::clean_token(b"ghs_fresh").unwrap();
        let entries = [
            c"GH_TOKEN=stale",
            c"PATH=/bin",
            c"NOEQUALS",
            c"GH_TOKEN=stale2",
            c"GITHUB_TOKEN=",
            c"GH_TOKENS=other",
            c"PATH=/second",
        ];
        let got = exec_environment(entries, &["GH_TOKEN", "GITHUB_TOKEN"], &token);
        let got: Vec<&CStr> = got.iter().map(|c| c.as_ref()).collect();
        assert_eq!(
            got,
            [
                c"PATH=/bin",
                c"NOEQUALS",
                c"GH_TOKENS=other",
                c"PATH=/second",
                c"GH_TOKEN=ghs_fresh",
                c"GITHUB_TOKEN=ghs_fresh",
            ]
        );
        let untouched = exec_environment(entries, &[], &token);
        assert!(untouched.iter().map(|c| c.as_ref()).eq(entries));
    }

    const SELF: (u64, u64) = (1, 100);

    /// A fake file system: path → (dev, ino, executable regular file).
    struct Fs(Vec<(&'static str, u64, u64, bool)>);

    impl Fs {
        fn stat(&self) -> impl Fn(&Path) -> Option<FileId> + '_ {
            move |p: &Path| {
                self.0
                    .iter()
                    .find(|(path, ..)| Path::new(path) == p)
                    .map(|&(_, dev, ino, x)| FileId {
                        dev,
                        ino,
                        is_executable_regular_file: x,
                    })
            }
        }

        fn find(&self, gh_path: Option<&str>, path: &str) -> Result<Found, FindGhError> {
            find_real_gh(
                gh_path.map(OsStr::new),
                Some(OsStr::new(path)),
                SELF,
                self.stat(),
            )
        }

        fn found(&self, gh_path: Option<&str>, path: &str) -> PathBuf {
            match self.find(gh_path, path) {
                Ok(found) => found.into_path(),
                Err(e) => panic!("{path}: {e}"),
            }
        }
    }

    /// The wrapper at /usr/local/bin/gh, the real gh at /usr/bin/gh.
    fn standard() -> Vec<(&'static str, u64, u64, bool)> {
        vec![
            ("/usr/local/bin/gh", 1, 100, true),
            ("/usr/bin/gh", 1, 200, true),
        ]
    }

    #[test]
    fn skips_own_entry_and_finds_the_real_gh() {
        let fs = Fs(standard());
        assert_eq!(
            fs.find(None, "/usr/local/bin:/usr/bin:/bin"),
            Ok(Found::InPath {
                path: "/usr/bin/gh".into(),
                own_entry: Some("/usr/local/bin".into()),
            })
        );
    }

    #[test]
    fn gh_before_own_entry_is_not_used() {
        // Another gh earlier in PATH than the wrapper (e.g. ~/.local/bin/gh):
        // it is not after us, so it is not the one to run.
        let mut files = standard();
        files.push(("/home/u/.local/bin/gh", 2, 300, true));
        let fs = Fs(files);
        assert_eq!(
            fs.found(None, "/home/u/.local/bin:/usr/local/bin:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
    }

    #[test]
    fn a_gh_only_before_own_entry_is_not_found() {
        let fs = Fs(vec![
            ("/home/u/.local/bin/gh", 2, 300, true),
            ("/usr/local/bin/gh", 1, 100, true),
        ]);
        let err = fs
            .find(None, "/home/u/.local/bin:/usr/local/bin:/usr/bin")
            .unwrap_err();
        assert_eq!(
            err,
            FindGhError::NotInPath {
                path_var: Some("/home/u/.local/bin:/usr/local/bin:/usr/bin".into()),
                own_entry: Some("/usr/local/bin".into()),
                searched: vec!["/usr/bin".into()],
                skipped: vec![],
            }
        );
    }

    #[test]
    fn the_search_stops_at_the_real_gh() {
        let fs = Fs(standard());
        let looked_at = std::cell::RefCell::new(Vec::new());
        let stat = |p: &Path| {
            looked_at.borrow_mut().push(p.to_path_buf());
            fs.stat()(p)
        };
        let found = find_real_gh(
            None,
            Some(OsStr::new(
                "/usr/local/sbin:/usr/local/bin:/usr/bin:/sbin:/bin",
            )),
            SELF,
            stat,
        );
        assert_eq!(found.unwrap().path(), Path::new("/usr/bin/gh"));
        assert_eq!(
            looked_at.into_inner(),
            ["/usr/local/sbin/gh", "/usr/local/bin/gh", "/usr/bin/gh"].map(PathBuf::from)
        );
    }

    #[test]
    fn wrapper_not_in_path_searches_everything() {
        let fs = Fs(standard());
        assert_eq!(
            fs.find(None, "/bin:/usr/bin"),
            Ok(Found::InPath {
                path: "/usr/bin/gh".into(),
                own_entry: None,
            })
        );
    }

    #[test]
    fn a_copy_of_the_wrapper_is_run_and_the_chain_ends_at_the_real_gh() {
        // /a/gh is us; /b/gh a copy (another inode); the copy then starts
        // after /b and reaches the real gh.
        let fs = Fs(vec![
            ("/a/gh", 1, 100, true),
            ("/b/gh", 1, 101, true),
            ("/usr/bin/gh", 1, 200, true),
        ]);
        let path = "/a:/b:/usr/bin";
        assert_eq!(fs.found(None, path), PathBuf::from("/b/gh"));
        let from_copy = find_real_gh(None, Some(OsStr::new(path)), (1, 101), fs.stat()).unwrap();
        assert_eq!(from_copy.path(), Path::new("/usr/bin/gh"));
    }

    #[test]
    fn hard_links_and_symlinks_to_the_wrapper_are_the_wrapper() {
        // stat follows symlinks, so a symlink to the wrapper has its inode,
        // like a hard link does.
        let fs = Fs(vec![
            ("/a/gh", 1, 100, true),
            ("/link/gh", 1, 100, true),
            ("/usr/bin/gh", 1, 200, true),
        ]);
        assert_eq!(
            fs.found(None, "/a:/link:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
        // Invoked through the symlink entry that comes first.
        assert_eq!(
            fs.found(None, "/link:/a:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
    }

    #[test]
    fn same_directory_twice() {
        let fs = Fs(standard());
        assert_eq!(
            fs.found(None, "/usr/local/bin:/usr/local/bin:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
    }

    #[test]
    fn same_inode_on_another_device_is_not_the_wrapper() {
        let fs = Fs(vec![
            ("/usr/local/bin/gh", 1, 100, true),
            ("/other/gh", 2, 100, true),
        ]);
        assert_eq!(
            fs.found(None, "/usr/local/bin:/other"),
            PathBuf::from("/other/gh")
        );
    }

    #[test]
    fn relative_and_empty_entries_are_never_used() {
        // "." and "" would find the gh in the current directory (a cloned
        // repository, say); "bin" a relative one.
        let mut files = standard();
        files.push(("gh", 3, 1, true));
        files.push(("./gh", 3, 1, true));
        files.push(("bin/gh", 3, 2, true));
        let fs = Fs(files);
        assert_eq!(
            fs.found(None, "/usr/local/bin:.::bin:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
        let err = fs.find(None, "/usr/local/bin:.::bin").unwrap_err();
        assert_eq!(
            err,
            FindGhError::NotInPath {
                path_var: Some("/usr/local/bin:.::bin".into()),
                own_entry: Some("/usr/local/bin".into()),
                searched: vec![],
                skipped: vec![".".into(), "".into(), "bin".into()],
            }
        );
    }

    #[test]
    fn non_executable_and_missing_candidates_are_passed_over() {
        let fs = Fs(vec![
            ("/usr/local/bin/gh", 1, 100, true),
            ("/opt/gh", 1, 150, false), // not executable, or a directory
            ("/usr/bin/gh", 1, 200, true),
        ]);
        assert_eq!(
            fs.found(None, "/usr/local/bin:/nowhere:/opt:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
    }

    #[test]
    fn kelos_gh_path_wins() {
        let mut files = standard();
        files.push(("/opt/gh/bin/gh", 1, 400, true));
        let fs = Fs(files);
        assert_eq!(
            fs.find(Some("/opt/gh/bin/gh"), "/usr/local/bin:/usr/bin"),
            Ok(Found::GhPath("/opt/gh/bin/gh".into()))
        );
        // Empty counts as unset.
        assert_eq!(
            fs.found(Some(""), "/usr/local/bin:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
    }

    #[test]
    fn kelos_gh_path_problems_are_errors_not_fallbacks() {
        let mut files = standard();
        files.push(("/usr/local/bin/gh-link", 1, 100, true));
        files.push(("/etc/passwd", 1, 500, false));
        let fs = Fs(files);
        let path = "/usr/local/bin:/usr/bin";
        let cases = [
            ("/usr/local/bin/gh", GhPathProblem::IsThisWrapper),
            ("/usr/local/bin/gh-link", GhPathProblem::IsThisWrapper),
            ("usr/bin/gh", GhPathProblem::NotAbsolute),
            ("./gh", GhPathProblem::NotAbsolute),
            ("/nowhere/gh", GhPathProblem::NotExecutable),
            ("/etc/passwd", GhPathProblem::NotExecutable),
        ];
        for (value, problem) in cases {
            assert_eq!(
                fs.find(Some(value), path),
                Err(FindGhError::GhPath {
                    value: value.into(),
                    problem
                }),
                "{value}"
            );
        }
    }

    #[test]
    fn only_the_wrapper_in_path() {
        let fs = Fs(standard());
        let err = fs.find(None, "/usr/local/bin:/bin").unwrap_err();
        assert_eq!(
            err,
            FindGhError::NotInPath {
                path_var: Some("/usr/local/bin:/bin".into()),
                own_entry: Some("/usr/local/bin".into()),
                searched: vec!["/bin".into()],
                skipped: vec![],
            }
        );
        let unset = find_real_gh(None, None, SELF, fs.stat()).unwrap_err();
        assert!(unset.to_string().contains("PATH is unset"), "{unset}");
    }

    #[test]
    fn error_messages_are_one_line_and_name_the_fix() {
        let fs = Fs(standard());
        let errors = [
            fs.find(None, "/usr/local/bin:/bin:.:").unwrap_err(),
            fs.find(None, "").unwrap_err(),
            fs.find(Some("gh"), "/usr/bin").unwrap_err(),
            fs.find(Some("/usr/local/bin/gh"), "/usr/bin").unwrap_err(),
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("KELOS_GH_PATH"), "{text}");
        }
        assert_eq!(
            errors[0].to_string(),
            "cannot find the real gh: KELOS_GH_PATH is unset, and no executable gh (other \
             than this wrapper) in PATH entries /bin (searched after this wrapper's own entry \
             /usr/local/bin); relative or empty PATH entries are never used: \".\", \"\"; \
             install gh or set KELOS_GH_PATH to the absolute path of the real gh"
        );
        assert_eq!(
            errors[2].to_string(),
            "KELOS_GH_PATH=gh is not an absolute path; set KELOS_GH_PATH to the absolute path \
             of the real gh (e.g. /usr/bin/gh) or unset it to search PATH"
        );
    }
}
