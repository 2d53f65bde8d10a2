//! Which file is the real gh: `KELOS_GH_PATH`, else the walk of PATH by
//! first appearances that ends every chain of wrapper copies (kelos-gh and
//! `doctor`). Pure: the file system comes in as a closure, so every rule is
//! unit-tested with fake tables.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::provider::{Provider, GITHUB};

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
        self.fmt_for(GITHUB.cli, f)
    }
}

impl GhPathProblem {
    /// The problem, for the CLI named `cli`.
    fn fmt_for(&self, cli: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GhPathProblem::NotAbsolute => f.write_str("is not an absolute path"),
            GhPathProblem::NotExecutable => {
                f.write_str("does not exist or is not an executable file")
            }
            GhPathProblem::IsThisWrapper => {
                write!(f, "is this wrapper itself, not the real {cli}")
            }
        }
    }
}

/// Why a `gh` met in PATH where the search looked was not the one to run
/// (for the message when nothing is found).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassedOver {
    /// The entry has no `gh`.
    NoGh,
    /// Its `gh` is not an executable regular file.
    NotExecutable,
    /// Its `gh` is this wrapper again (a repeated entry, or a link to it).
    ThisWrapper,
    /// Its `gh` is a file that already came earlier in PATH than this
    /// wrapper (a repeated entry, or a link): a file counts at its first
    /// appearance only, so a gh before this wrapper is never run, even when
    /// PATH repeats it later.
    MetBefore,
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
        /// The absolute entry where this wrapper first appears, when it does.
        own_entry: Option<PathBuf>,
        /// The absolute entries searched (those after `own_entry`, or all),
        /// in order, each with why its `gh` was not run.
        searched: Vec<(PathBuf, PassedOver)>,
        /// Relative and empty entries, skipped.
        skipped: Vec<PathBuf>,
    },
}

impl fmt::Display for FindGhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_for(&GITHUB, f)
    }
}

impl FindGhError {
    /// The message for `provider`'s CLI (its name and path variable).
    pub fn shown(&self, provider: &'static Provider) -> impl fmt::Display + '_ {
        Shown(provider, self, FindGhError::fmt_for)
    }

    fn fmt_for(&self, provider: &Provider, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (cli, path_var_name) = (provider.cli, provider.cli_path_var);
        match self {
            FindGhError::GhPath { value, problem } => {
                write!(f, "{path_var_name}={} ", Path::new(value).display())?;
                problem.fmt_for(cli, f)?;
                write!(
                    f,
                    "; set {path_var_name} to the absolute path of the real {cli} (e.g. \
                     /usr/bin/{cli}) or unset it to search PATH"
                )
            }
            FindGhError::NotInPath {
                path_var,
                own_entry,
                searched,
                skipped,
            } => {
                write!(
                    f,
                    "cannot find the real {cli}: {path_var_name} is unset, and "
                )?;
                let after = |f: &mut fmt::Formatter<'_>| match own_entry {
                    Some(own) => write!(f, " after this wrapper's own entry {}", own.display()),
                    None => Ok(()),
                };
                if path_var.is_none() {
                    f.write_str("PATH is unset")?;
                } else if searched.is_empty() {
                    f.write_str("PATH has no absolute entry")?;
                    after(f)?;
                } else {
                    write!(f, "no {cli} in PATH")?;
                    after(f)?;
                    f.write_str(" can be run (searched ")?;
                    for (i, (dir, why)) in searched.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        let gh = dir.join(cli);
                        match why {
                            PassedOver::NoGh => write!(f, "{sep}{}: no {cli}", dir.display()),
                            PassedOver::NotExecutable => {
                                write!(f, "{sep}{}: not an executable file", gh.display())
                            }
                            PassedOver::ThisWrapper => {
                                write!(f, "{sep}{}: this wrapper again", gh.display())
                            }
                            PassedOver::MetBefore => write!(
                                f,
                                "{sep}{}: comes earlier in PATH than this wrapper",
                                gh.display()
                            ),
                        }?;
                    }
                    f.write_str(")")?;
                }
                if !skipped.is_empty() {
                    f.write_str("; relative or empty PATH entries are never used: ")?;
                    for (i, dir) in skipped.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        write!(f, "{sep}\"{}\"", dir.display())?;
                    }
                }
                write!(
                    f,
                    "; install {cli} or set {path_var_name} to the absolute path of the real {cli}"
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
        self.fmt_for(&GITHUB, f)
    }
}

impl Found {
    /// Why it was chosen, for `provider`'s CLI (its name and path variable).
    pub fn shown(&self, provider: &'static Provider) -> impl fmt::Display + '_ {
        Shown(provider, self, Found::fmt_for)
    }

    fn fmt_for(&self, provider: &Provider, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cli = provider.cli;
        match self {
            Found::GhPath(p) => write!(f, "{} (from {})", p.display(), provider.cli_path_var),
            Found::InPath {
                path,
                own_entry: Some(own),
            } => write!(
                f,
                "{} (first {cli} in PATH that first appears after this wrapper's entry {})",
                path.display(),
                own.display()
            ),
            Found::InPath {
                path,
                own_entry: None,
            } => write!(
                f,
                "{} (first {cli} in PATH that is not this wrapper; this wrapper is in no \
                 absolute PATH entry)",
                path.display()
            ),
        }
    }
}

/// A value shown for a provider.
struct Shown<'a, T>(
    &'static Provider,
    &'a T,
    fn(&T, &Provider, &mut fmt::Formatter<'_>) -> fmt::Result,
);

impl<T> fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.2)(self.1, self.0, f)
    }
}

/// `KELOS_GH_PATH` as set: an empty value counts as unset.
pub fn gh_path_value(raw: Option<&OsStr>) -> Option<&OsStr> {
    raw.filter(|v| !v.is_empty())
}

/// Finds the real gh.
///
/// - `gh_path`: the value of `KELOS_GH_PATH` ([`gh_path_value`]).
///   When set it wins, and must be absolute, executable and not this wrapper.
/// - `path_var`: the value of PATH.
/// - `this_exe`: this executable's (dev, inode); `None` when it is known to
///   be no file in PATH (`doctor` asking which gh a shell would run).
/// - `stat`: follows symlinks; `None` when the path does not exist.
///
/// From PATH: walk the `gh` of each absolute entry in order (relative and
/// empty entries are never used: they depend on the current directory, and
/// a repository with a `gh` in it must not be run), counting each file
/// (dev, inode) at its first appearance only. The answer is the first
/// executable regular file that first appears after this executable's first
/// appearance, or from the start when this executable is in no entry.
///
/// So a chain of wrapper copies always ends: each copy's answer first
/// appears strictly later than the copy itself, however PATH repeats entries
/// or links copies (`/a:/b:/a:/usr/bin` from the copy in /b finds
/// /usr/bin/gh, not the copy in /a again); while a gh between two repeats of
/// this wrapper's own entry (`/usr/local/bin:/usr/bin:/usr/local/bin`) is
/// still found. The walk stops at the answer once this wrapper's entry has
/// been seen; it costs one `stat` per entry walked and no other call.
pub fn find_real_gh(
    gh_path: Option<&OsStr>,
    path_var: Option<&OsStr>,
    this_exe: Option<(u64, u64)>,
    stat: impl Fn(&Path) -> Option<FileId>,
) -> Result<Found, FindGhError> {
    find_real_cli(&GITHUB, gh_path, path_var, this_exe, stat)
}

/// [`find_real_gh`] for `provider`'s CLI: the walk looks for a file named
/// [`Provider::cli`] in each entry; `cli_path` is the value of its
/// [`Provider::cli_path_var`]. Show the answer and the error with their
/// `shown(provider)`.
pub fn find_real_cli(
    provider: &Provider,
    cli_path: Option<&OsStr>,
    path_var: Option<&OsStr>,
    this_exe: Option<(u64, u64)>,
    stat: impl Fn(&Path) -> Option<FileId>,
) -> Result<Found, FindGhError> {
    let gh_path = cli_path;
    let is_this_exe = |id: &FileId| this_exe.is_some_and(|own| id.same_file(own));
    if let Some(value) = gh_path_value(gh_path) {
        let path = Path::new(value);
        let problem = if !path.is_absolute() {
            Some(GhPathProblem::NotAbsolute)
        } else {
            match stat(path) {
                Some(id) if is_this_exe(&id) => Some(GhPathProblem::IsThisWrapper),
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

    let entries = || path_var.into_iter().flat_map(std::env::split_paths);
    // The executable files met so far (first appearances only; this
    // executable is recognised by `this_exe`, not kept here).
    let mut met: Vec<(u64, u64)> = Vec::new();
    let mut own_entry: Option<PathBuf> = None;
    // Before this executable's entry: the answer if it turns out to be in
    // no entry at all.
    let mut first_usable: Option<PathBuf> = None;
    // Since the search's start: each entry and why its gh was passed over.
    let mut searched: Vec<(PathBuf, PassedOver)> = Vec::new();
    for dir in entries().filter(|e| e.is_absolute()) {
        let gh = dir.join(provider.cli);
        let why = match stat(&gh) {
            None => PassedOver::NoGh,
            Some(id) if is_this_exe(&id) => {
                if own_entry.is_none() {
                    own_entry = Some(dir);
                    first_usable = None;
                    searched.clear();
                    continue;
                }
                PassedOver::ThisWrapper
            }
            Some(id) if !id.is_executable_regular_file => PassedOver::NotExecutable,
            Some(id) if met.contains(&(id.dev, id.ino)) => PassedOver::MetBefore,
            Some(id) => {
                if own_entry.is_some() {
                    return Ok(Found::InPath {
                        path: gh,
                        own_entry,
                    });
                }
                met.push((id.dev, id.ino));
                if first_usable.is_none() {
                    first_usable = Some(gh);
                }
                continue;
            }
        };
        searched.push((dir, why));
    }
    if let Some(path) = first_usable {
        return Ok(Found::InPath {
            path,
            own_entry: None,
        });
    }
    Err(FindGhError::NotInPath {
        path_var: path_var.map(OsStr::to_os_string),
        own_entry,
        searched,
        skipped: entries().filter(|e| !e.is_absolute()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELF: Option<(u64, u64)> = Some((1, 100));

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
                searched: vec![("/usr/bin".into(), PassedOver::NoGh)],
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
        let from_copy =
            find_real_gh(None, Some(OsStr::new(path)), Some((1, 101)), fs.stat()).unwrap();
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
                searched: vec![("/bin".into(), PassedOver::NoGh)],
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
            "cannot find the real gh: KELOS_GH_PATH is unset, and no gh in PATH after this \
             wrapper's own entry /usr/local/bin can be run (searched /bin: no gh); relative or \
             empty PATH entries are never used: \".\", \"\"; install gh or set KELOS_GH_PATH \
             to the absolute path of the real gh"
        );
        assert_eq!(
            errors[2].to_string(),
            "KELOS_GH_PATH=gh is not an absolute path; set KELOS_GH_PATH to the absolute path \
             of the real gh (e.g. /usr/bin/gh) or unset it to search PATH"
        );
    }

    /// Copies A (/a) and B (/b) of the wrapper, and `real` at /usr/bin/gh
    /// when given.
    fn two_copies(real: bool) -> Fs {
        let mut files = vec![("/a/gh", 1, 100, true), ("/b/gh", 1, 101, true)];
        if real {
            files.push(("/usr/bin/gh", 1, 200, true));
        }
        Fs(files)
    }

    const A: Option<(u64, u64)> = Some((1, 100));
    const B: Option<(u64, u64)> = Some((1, 101));

    fn find_from(fs: &Fs, this_exe: Option<(u64, u64)>, path: &str) -> Result<Found, FindGhError> {
        find_real_gh(None, Some(OsStr::new(path)), this_exe, fs.stat())
    }

    #[test]
    fn two_copies_and_a_repeated_entry_chain_to_the_real_gh() {
        // The loop this walk exists to end: A found B after it, and B found
        // A again at the repeat of /a, forever.
        let fs = two_copies(true);
        let path = "/a:/b:/a:/usr/bin";
        assert_eq!(find_from(&fs, A, path).unwrap().path(), Path::new("/b/gh"));
        assert_eq!(
            find_from(&fs, B, path),
            Ok(Found::InPath {
                path: "/usr/bin/gh".into(),
                own_entry: Some("/b".into()),
            })
        );
    }

    #[test]
    fn two_copies_and_a_repeated_entry_without_a_real_gh_end_not_found() {
        let fs = two_copies(false);
        let path = "/a:/b:/a:/usr/bin";
        assert_eq!(find_from(&fs, A, path).unwrap().path(), Path::new("/b/gh"));
        let err = find_from(&fs, B, path).unwrap_err();
        assert_eq!(
            err,
            FindGhError::NotInPath {
                path_var: Some(path.into()),
                own_entry: Some("/b".into()),
                searched: vec![
                    ("/a".into(), PassedOver::MetBefore),
                    ("/usr/bin".into(), PassedOver::NoGh),
                ],
                skipped: vec![],
            }
        );
        // Truthful: it had entries to search, and says which and why.
        let text = err.to_string();
        assert!(!text.contains("no absolute entry"), "{text}");
        assert_eq!(
            text,
            "cannot find the real gh: KELOS_GH_PATH is unset, and no gh in PATH after this \
             wrapper's own entry /b can be run (searched /a/gh: comes earlier in PATH than \
             this wrapper, /usr/bin: no gh); install gh or set KELOS_GH_PATH to the absolute \
             path of the real gh"
        );
    }

    #[test]
    fn a_real_gh_between_two_repeats_of_the_wrappers_entry_is_found() {
        let fs = Fs(standard());
        for path in [
            "/usr/local/bin:/usr/bin:/usr/local/bin",
            "/usr/local/bin:/usr/local/bin:/usr/bin:/usr/local/bin:/usr/bin",
        ] {
            assert_eq!(fs.found(None, path), PathBuf::from("/usr/bin/gh"), "{path}");
        }
    }

    #[test]
    fn a_gh_before_the_wrapper_stays_unused_when_path_repeats_it_later() {
        // /x/gh first appears before this wrapper, so it is not after it,
        // whatever PATH repeats.
        let mut files = standard();
        files.push(("/x/gh", 1, 300, true));
        let fs = Fs(files);
        let err = fs.find(None, "/x:/usr/local/bin:/x").unwrap_err();
        assert!(
            matches!(&err, FindGhError::NotInPath { searched, .. }
                if searched == &[(PathBuf::from("/x"), PassedOver::MetBefore)]),
            "{err:?}"
        );
        assert_eq!(
            fs.found(None, "/x:/usr/local/bin:/x:/usr/bin"),
            PathBuf::from("/usr/bin/gh")
        );
    }

    #[test]
    fn a_repeat_of_the_wrappers_own_entry_is_named_as_such() {
        let fs = Fs(vec![
            ("/usr/local/bin/gh", 1, 100, true),
            ("/opt/gh", 1, 150, false),
        ]);
        let err = fs
            .find(None, "/usr/local/bin:/opt:/usr/local/bin")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/opt/gh: not an executable file"), "{text}");
        assert!(
            text.contains("/usr/local/bin/gh: this wrapper again"),
            "{text}"
        );
    }

    #[test]
    fn three_copies_in_any_order_chain_in_order_of_first_appearance() {
        let fs = Fs(vec![
            ("/a/gh", 1, 100, true),
            ("/b/gh", 1, 101, true),
            ("/c/gh", 1, 102, true),
            ("/link/gh", 1, 101, true), // a link to B
            ("/usr/bin/gh", 1, 200, true),
        ]);
        let path = "/c:/a:/link:/b:/c:/a:/usr/bin:/b";
        let c = Some((1, 102));
        let hop = |from| find_from(&fs, from, path).unwrap().into_path();
        assert_eq!(hop(c), PathBuf::from("/a/gh"));
        assert_eq!(hop(A), PathBuf::from("/link/gh"));
        assert_eq!(hop(B), PathBuf::from("/usr/bin/gh"));
    }

    #[test]
    fn the_first_gh_in_path_is_the_walk_with_no_identity() {
        // doctor asks which gh a shell would run.
        let fs = Fs(vec![
            ("/opt/gh", 1, 150, false),
            ("/a/gh", 1, 100, true),
            ("/usr/bin/gh", 1, 200, true),
        ]);
        let found = find_from(&fs, None, "/nowhere:/opt:/a:/usr/bin").unwrap();
        assert_eq!(
            found,
            Found::InPath {
                path: "/a/gh".into(),
                own_entry: None,
            }
        );
    }
}

/// The property the walk exists for, over generated PATHs and file layouts:
/// from any copy of the wrapper, the chain of execs ends, and ends at the
/// first real gh that first appears after that copy's first appearance.
#[cfg(test)]
mod walk_properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Kind {
        Real,
        /// A copy of kelos-gh (its own inode).
        Wrapper,
        /// Not an executable regular file (no x bit, a directory, ...).
        NotExecutable,
    }

    #[derive(Clone, Copy, Debug)]
    enum Entry {
        /// `/d<i>`.
        Dir(usize),
        /// `d<i>`: relative. Its `gh` always exists and is a real gh, which
        /// must never be chosen.
        Relative(usize),
        /// An empty entry (the current directory).
        Empty,
    }

    #[derive(Clone, Debug)]
    struct Layout {
        kinds: Vec<Kind>,
        /// What `/d<i>/gh` is: an index into `kinds`, or nothing. Two
        /// directories holding the same index are links (hard or symbolic:
        /// stat follows symlinks) to one file.
        dirs: Vec<Option<usize>>,
        path: Vec<Entry>,
        /// The copy the chain starts from (an index into `kinds`, always a
        /// wrapper; it need not be in PATH).
        start: usize,
    }

    /// File `i`'s identity: files 2k and 2k+1 share an inode number on two
    /// devices, so the walk must compare both.
    fn identity(i: usize) -> (u64, u64) {
        (1 + (i as u64 & 1), 100 + (i as u64 >> 1))
    }

    impl Layout {
        fn path_var(&self) -> OsString {
            let entries: Vec<String> = self
                .path
                .iter()
                .map(|e| match e {
                    Entry::Dir(d) => format!("/d{d}"),
                    Entry::Relative(d) => format!("d{d}"),
                    Entry::Empty => String::new(),
                })
                .collect();
            entries.join(":").into()
        }

        fn stat(&self, path: &Path) -> Option<FileId> {
            let text = path.to_str()?;
            let dir = text.strip_suffix("/gh").or(text.strip_suffix("gh"))?;
            let Some(d) = dir.strip_prefix("/d") else {
                // Relative or empty: a real gh, on a device of its own.
                return Some(FileId {
                    dev: 9,
                    ino: 1,
                    is_executable_regular_file: true,
                });
            };
            let file = (*self.dirs.get(d.parse::<usize>().ok()?)?)?;
            let (dev, ino) = identity(file);
            Some(FileId {
                dev,
                ino,
                is_executable_regular_file: self.kinds[file] != Kind::NotExecutable,
            })
        }

        /// The file a path found by the walk is.
        fn file_at(&self, path: &Path) -> usize {
            let d = path
                .to_str()
                .and_then(|p| p.strip_prefix("/d"))
                .and_then(|p| p.strip_suffix("/gh"))
                .and_then(|d| d.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("the walk chose {}", path.display()));
            self.dirs[d].unwrap_or_else(|| panic!("the walk chose {}: no file", path.display()))
        }

        /// The absolute entries, in order, as directory indices.
        fn absolute(&self) -> Vec<usize> {
            self.path
                .iter()
                .filter_map(|e| match e {
                    Entry::Dir(d) => Some(*d),
                    _ => None,
                })
                .collect()
        }

        /// Files in order of first appearance.
        fn first_appearances(&self) -> Vec<usize> {
            let mut order = Vec::new();
            for d in self.absolute() {
                if let Some(f) = self.dirs[d] {
                    if !order.contains(&f) {
                        order.push(f);
                    }
                }
            }
            order
        }

        /// The model's answer: the first real gh, by first appearance, after
        /// `start`'s first appearance (from the start when it has none).
        fn expected_end(&self) -> Option<usize> {
            let order = self.first_appearances();
            let after = order
                .iter()
                .position(|&f| f == self.start)
                .map_or(0, |i| i + 1);
            order[after..]
                .iter()
                .copied()
                .find(|&f| self.kinds[f] == Kind::Real)
        }

        /// What the not-found message must list from `from`: every absolute
        /// entry after `from`'s first appearance, and why it was passed over.
        fn expected_searched(&self, from: usize) -> Vec<(PathBuf, PassedOver)> {
            let absolute = self.absolute();
            let own = absolute.iter().position(|&d| self.dirs[d] == Some(from));
            let start = own.map_or(0, |i| i + 1);
            let before: Vec<usize> = absolute[..start]
                .iter()
                .filter_map(|&d| self.dirs[d])
                .collect();
            absolute[start..]
                .iter()
                .map(|&d| {
                    let why = match self.dirs[d] {
                        None => PassedOver::NoGh,
                        Some(f) if f == from => PassedOver::ThisWrapper,
                        Some(f) if self.kinds[f] == Kind::NotExecutable => {
                            PassedOver::NotExecutable
                        }
                        Some(f) if before.contains(&f) => PassedOver::MetBefore,
                        Some(f) => panic!("file {f} after the start was not chosen"),
                    };
                    (PathBuf::from(format!("/d{d}")), why)
                })
                .collect()
        }
    }

    fn layout() -> impl Strategy<Value = Layout> {
        let kind = prop_oneof![
            3 => Just(Kind::Wrapper),
            2 => Just(Kind::Real),
            1 => Just(Kind::NotExecutable),
        ];
        (prop::collection::vec(kind, 1..7), 1..9usize)
            .prop_flat_map(|(kinds, ndirs)| {
                let nfiles = kinds.len();
                let dir = prop::option::weighted(0.8, 0..nfiles);
                let entry = prop_oneof![
                    8 => (0..ndirs).prop_map(Entry::Dir),
                    1 => (0..ndirs).prop_map(Entry::Relative),
                    1 => Just(Entry::Empty),
                ];
                (
                    Just(kinds),
                    prop::collection::vec(dir, ndirs),
                    prop::collection::vec(entry, 0..14),
                    0..nfiles,
                )
            })
            .prop_map(|(mut kinds, dirs, path, start)| {
                // The chain starts from a copy of the wrapper.
                kinds[start] = Kind::Wrapper;
                Layout {
                    kinds,
                    dirs,
                    path,
                    start,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn every_chain_of_copies_ends_at_the_first_real_gh_after_its_start(l in layout()) {
            let path_var = l.path_var();
            let distinct = l.kinds.len();
            let expected = l.expected_end();
            let mut current = l.start;
            let mut hops = 0;
            loop {
                hops += 1;
                prop_assert!(
                    hops <= distinct + 1,
                    "the chain did not end within {} hops", distinct + 1
                );
                let stats = std::cell::RefCell::new(Vec::new());
                let stat = |p: &Path| {
                    stats.borrow_mut().push(p.to_path_buf());
                    l.stat(p)
                };
                // As exec sets /proc/self/exe: the running copy's identity.
                let found =
                    find_real_gh(None, Some(&path_var), Some(identity(current)), stat);
                match found {
                    Ok(found) => {
                        let file = l.file_at(found.path());
                        prop_assert_ne!(file, current, "the wrapper would exec itself");
                        if let Found::InPath { own_entry: Some(_), path } = &found {
                            // It stops at the answer.
                            let last = stats.borrow().last().cloned();
                            prop_assert_eq!(last.as_ref(), Some(path));
                        }
                        match l.kinds[file] {
                            Kind::Real => {
                                prop_assert_eq!(Some(file), expected);
                                break;
                            }
                            Kind::Wrapper => current = file,
                            Kind::NotExecutable => {
                                prop_assert!(false, "chose a file that is not executable");
                            }
                        }
                    }
                    Err(FindGhError::NotInPath { searched, .. }) => {
                        prop_assert_eq!(expected, None);
                        prop_assert_eq!(searched, l.expected_searched(current));
                        break;
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
        }

        #[test]
        fn the_not_found_message_is_one_line_naming_every_entry_searched(l in layout()) {
            let path_var = l.path_var();
            let found = find_real_gh(None, Some(&path_var), Some(identity(l.start)), |p| l.stat(p));
            if let Err(e) = found {
                let text = e.to_string();
                prop_assert!(!text.contains('\n'));
                prop_assert!(text.contains("KELOS_GH_PATH"));
                let FindGhError::NotInPath { searched, .. } = &e else {
                    unreachable!("{e}")
                };
                prop_assert_eq!(searched.is_empty(), text.contains("no absolute entry"));
                for (dir, _) in searched {
                    prop_assert!(text.contains(&*dir.to_string_lossy()), "{}", text);
                }
            }
        }
    }
}
