//! The two generations of the real git that the end-to-end suites run against, like the two
//! ghs ([`crate::gh_generations`]).
//!
//! - **Debian's** git (`/usr/bin/git`, the `git` package: 2.39 on bookworm, what GitHub's
//!   `rust:*-bookworm` container and many agent images have). It ignores
//!   `password_expiry_utc` (git passes it on from 2.41): an expired token still
//!   authenticates.
//! - **A current** git (>= 2.45; `/usr/local/bin/git`, which `scripts/deps.sh` builds from
//!   Debian 13's source when it is missing). It passes `password_expiry_utc` on and discards
//!   an expired password.
//!
//! `KELOS_GIT_DEBIAN` and `KELOS_GIT_CURRENT` name other binaries. A test process runs one
//! generation, chosen by `KELOS_TEST_GIT` (`debian` or `current`, default `current`);
//! `scripts/test.sh` runs the suites that run git once per generation. [`test_git`] is that
//! git ([`crate::require_tool`]`("git")` returns it), and [`test_path`] puts it first in a
//! child's PATH. A test asserts what its generation does ([`RealGit::passes_expiry`]), never
//! skips. A missing or wrong git panics with the command that installs it.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::generations;

/// Debian's git.
pub const DEBIAN_GIT: &str = "/usr/bin/git";
/// Where `scripts/deps.sh` puts the current git.
pub const CURRENT_GIT: &str = "/usr/local/bin/git";
/// The oldest git that counts as current.
pub const CURRENT_MIN: (u32, u32, u32) = (2, 45, 0);

const INSTALL_HINT: &str =
    "install everything the tests need with `bash scripts/deps.sh` (as root; it builds the \
     current git into /usr/local when missing)";

/// Which git: `Debian` is `/usr/bin/git` from Debian's `git` package, `Current` a git >=
/// 2.45.
pub use crate::generations::Generation;

/// One real git binary.
#[derive(Debug, Clone)]
pub struct RealGit {
    pub generation: Generation,
    /// Absolute, symlinks resolved.
    pub path: PathBuf,
    /// From `git --version`, e.g. `(2, 39, 5)`.
    pub version: (u32, u32, u32),
}

impl RealGit {
    /// `Debian's git 2.39.5 (/usr/bin/git)`: for messages.
    pub fn label(&self) -> String {
        let who = match self.generation {
            Generation::Debian => "Debian's",
            Generation::Current => "the current",
        };
        generations::label(who, "git", self.version, &self.path)
    }

    /// Whether git passes the helper's `password_expiry_utc` on (and discards an expired
    /// password): from 2.41. Debian 12's 2.39 drops the attribute and uses the password.
    pub fn passes_expiry(&self) -> bool {
        self.version >= (2, 41, 0)
    }
}

/// `(major, minor, patch)` from `git version 2.39.5` (or `2.47.3.windows.1`, `2.45.0.rc1`).
pub fn parse_git_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text
        .lines()
        .next()?
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = v.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn version_of(path: &Path) -> (u32, u32, u32) {
    let mut cmd = Command::new(path);
    cmd.env_clear();
    generations::version_from(cmd, path, parse_git_version)
}

fn located(var: &str, default: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.is_file(),
        "{what} {} not found: {INSTALL_HINT} (or set {var})",
        path.display()
    );
    path.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", path.display()))
}

/// Debian's git (`KELOS_GIT_DEBIAN`, default `/usr/bin/git`).
pub fn debian_git() -> RealGit {
    let path = located("KELOS_GIT_DEBIAN", DEBIAN_GIT, "Debian's git");
    RealGit {
        generation: Generation::Debian,
        version: version_of(&path),
        path,
    }
}

/// The current git (`KELOS_GIT_CURRENT`, default `/usr/local/bin/git`); panics unless it is
/// at least [`CURRENT_MIN`].
pub fn current_git() -> RealGit {
    let path = located("KELOS_GIT_CURRENT", CURRENT_GIT, "the current git");
    let git = RealGit {
        generation: Generation::Current,
        version: version_of(&path),
        path,
    };
    assert!(
        git.version >= CURRENT_MIN,
        "{} is not a current git (>= 2.45): {INSTALL_HINT}, or set KELOS_GIT_CURRENT",
        git.label()
    );
    git
}

/// Both generations, Debian's first. Panics when either is missing, or when the current one
/// is not newer than Debian's (then the matrix would test one generation twice).
pub fn real_gits() -> Vec<RealGit> {
    let (old, new) = (debian_git(), current_git());
    generations::assert_two_generations(
        "git",
        (old.version, old.label()),
        (new.version, new.label()),
    );
    vec![old, new]
}

/// The generation `KELOS_TEST_GIT` names (default `current`).
pub fn test_generation() -> Generation {
    match std::env::var("KELOS_TEST_GIT").as_deref() {
        Err(_) | Ok("") | Ok("current") => Generation::Current,
        Ok("debian") => Generation::Debian,
        Ok(other) => panic!("KELOS_TEST_GIT={other:?}: use `debian` or `current`"),
    }
}

/// The git this test process runs (see the module's documentation).
pub fn test_git() -> &'static RealGit {
    static GIT: OnceLock<RealGit> = OnceLock::new();
    GIT.get_or_init(|| {
        let git = match test_generation() {
            Generation::Debian => debian_git(),
            Generation::Current => current_git(),
        };
        eprintln!(
            "kelos-e2e: git: {} (KELOS_TEST_GIT={})",
            git.label(),
            git.generation.name()
        );
        git
    })
}

/// A directory whose only entry is `git`, a link to [`test_git`]: first in a child's PATH,
/// so that whatever runs `git` by name runs this generation. Under the target directory,
/// made once (atomically: other test processes make the same one).
pub fn git_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let git = test_git();
        let base = crate::chroot::target_dir().join("kelos-test-git");
        let dir = base.join(git.generation.name());
        let link = dir.join("git");
        if fs::read_link(&link).ok().as_deref() == Some(git.path.as_path()) {
            return dir;
        }
        fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));
        let partial = base.join(format!(".{}-{}", git.generation.name(), std::process::id()));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir(&partial).expect("create the git directory");
        symlink(&git.path, partial.join("git")).expect("link git");
        let _ = fs::remove_dir_all(&dir);
        // Another process may have put the same directory in place meanwhile: then that one is used.
        if fs::rename(&partial, &dir).is_err() {
            let _ = fs::remove_dir_all(&partial);
        }
        assert_eq!(
            fs::read_link(&link).ok().as_deref(),
            Some(git.path.as_path()),
            "{} does not link to {}",
            link.display(),
            git.path.display()
        );
        dir
    })
}

/// `PATH` for a child: [`git_dir`], then this process's PATH.
pub fn test_path() -> OsString {
    let mut p = git_dir().as_os_str().to_owned();
    if let Some(rest) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
        p.push(":");
        p.push(rest);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_lines() {
        assert_eq!(parse_git_version("git version 2.39.5\n"), Some((2, 39, 5)));
        assert_eq!(parse_git_version("git version 2.47.3"), Some((2, 47, 3)));
        assert_eq!(
            parse_git_version("git version 2.45.0.rc1"),
            Some((2, 45, 0))
        );
        assert_eq!(
            parse_git_version("git version 2.46.0.windows.1"),
            Some((2, 46, 0))
        );
        assert_eq!(parse_git_version("gh version 2.23.0"), None);
    }

    #[test]
    fn expiry_is_passed_on_from_2_41() {
        let at = |version| RealGit {
            generation: Generation::Debian,
            path: PathBuf::from(DEBIAN_GIT),
            version,
        };
        assert!(!at((2, 39, 5)).passes_expiry());
        assert!(!at((2, 40, 9)).passes_expiry());
        assert!(at((2, 41, 0)).passes_expiry());
        assert!(at((2, 47, 3)).passes_expiry());
    }

    /// The two generations this machine has are two (what the matrix stands on), and the
    /// one the tests run is the one KELOS_TEST_GIT names, first in a child's PATH.
    #[test]
    fn both_generations_are_there_and_the_chosen_one_comes_first() {
        real_gits();
        let chosen = test_git();
        assert_eq!(chosen.generation, test_generation());
        let first = which::which_in("git", Some(test_path()), "/")
            .expect("git in the test PATH")
            .canonicalize()
            .unwrap();
        assert_eq!(first, chosen.path);
        assert_eq!(
            crate::require_tool("git").canonicalize().unwrap(),
            chosen.path
        );
    }
}
