//! Test harness shared by the end-to-end suites.
//!
//! The suites run the *built* binaries (static musl builds, found through `KELOS_BIN_DIR`)
//! against the real `git`. Nothing here silently skips: a missing binary or tool is a panic
//! that says how to fix it.

pub mod chroot;
pub mod doctor_report;
pub mod generations;
pub mod gh_api;
pub mod gh_generations;
pub mod git_generations;
pub mod gitlab_api;
pub mod http;
pub mod npm_registry;
pub mod page;
pub mod pod;
pub mod process;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod soak;
pub mod tempdir;
pub mod tools;
pub mod volume;

use std::env;
use std::path::PathBuf;

pub use process::run_with_timeout;
pub use sandbox::{GitSandbox, TokenSandbox};
pub use secrets::{assert_no_token, assert_no_token_in, unique_token};
pub use server::SmartHttpServer;
pub use tempdir::TempDir;
pub use volume::{make_directory, make_fifo, make_oversized_file, make_plain_file, TokenVolume};

/// Name of the credential helper binary.
pub const HELPER: &str = "git-credential-kelos";

/// Prefix of every line the helper writes to stderr.
pub const HELPER_STDERR_PREFIX: &str = "git-credential-kelos:";

/// `$KELOS_BIN_DIR/<name>`. Panics (never skips) when the directory or the file is missing.
pub fn bin(name: &str) -> PathBuf {
    const HINT: &str = "KELOS_BIN_DIR is not set: run `make test` (builds the static musl \
                        binaries and points the tests at them)";
    let dir = match env::var_os("KELOS_BIN_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => panic!("{HINT}"),
    };
    let path = dir.join(name);
    if !path.is_file() {
        panic!(
            "{HINT}; `{}` does not exist (KELOS_BIN_DIR={})",
            path.display(),
            dir.display()
        );
    }
    let path = if path.is_absolute() {
        path
    } else {
        env::current_dir().expect("current directory").join(path)
    };
    path.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", path.display()))
}

/// Finds `tool` in PATH (a program deps.sh keeps off PATH, such as glab, where it put it);
/// panics when it is not on `scripts/deps.sh`'s list (see [`tools`]), and with the command
/// that installs it when it is missing.
/// `git` is the generation this process tests ([`git_generations::test_git`]).
pub fn require_tool(tool: &str) -> PathBuf {
    let source = tools::require_listed(tool);
    if tool == "git" {
        return git_generations::test_git().path.clone();
    }
    // glab: off PATH, where scripts/deps.sh unpacked it.
    if let Some(path) = tools::require_off_path(tool, source) {
        return path;
    }
    find_in_path(tool)
        .unwrap_or_else(|| panic!("{tool} not found: {}", tools::install_hint(source)))
}

/// `tool` in PATH, as a shell finds it (`which`). Panics when `tool` is not on
/// `scripts/deps.sh`'s list: every lookup of a program by name goes through the list.
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    tools::require_listed(tool);
    which::which(tool).ok()
}

/// Parses credential-protocol output (`key=value` lines) into pairs, in order.
/// Lines without `=` are returned with an empty key so that tests can notice them.
pub fn parse_attrs(bytes: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (String::new(), l.to_string()),
        })
        .collect()
}

/// The keys of credential-protocol output, in order.
pub fn attr_keys(bytes: &[u8]) -> Vec<String> {
    parse_attrs(bytes).into_iter().map(|(k, _)| k).collect()
}

/// The value of the last `key=` line, like git's reader (a later line wins).
pub fn attr(bytes: &[u8], key: &str) -> Option<String> {
    parse_attrs(bytes)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Lines of `stderr` written by the helper (they start with `git-credential-kelos:`).
pub fn helper_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with(HELPER_STDERR_PREFIX))
        .map(str::to_string)
        .collect()
}

/// The commit the workspace is at (`git rev-parse HEAD`), as the release scripts name it.
/// The checkout is marked safe for this one command (`-c safe.directory=ROOT`, which git
/// honours on its command line): in a CI container the checkout belongs to another user, and
/// git would otherwise refuse it ("dubious ownership"). Panics with git's words on failure.
pub fn head_commit() -> String {
    let root = chroot::workspace_root();
    let mut c = std::process::Command::new(require_tool("git"));
    c.arg("-c")
        .arg(format!("safe.directory={}", root.display()))
        .args(["rev-parse", "HEAD"])
        .current_dir(&root);
    let out = run_with_timeout(c, b"", std::time::Duration::from_secs(30));
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && commit.len() >= 40,
        "git rev-parse HEAD in {} failed ({}): {}",
        root.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    commit
}

/// Output bytes as text, invalid UTF-8 replaced (for assertions and failure messages).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `bytes` (a command's output), as text, contains `needle`; the failure shows
/// `context` and the text.
#[track_caller]
pub fn assert_contains(bytes: &[u8], needle: &str, context: &str) {
    let shown = text(bytes);
    assert!(
        shown.contains(needle),
        "{context}no {needle:?} in:\n{shown}"
    );
}

/// `(object[key], object[value])` of each object in a JSON array, both strings; panics on
/// any other shape.
pub fn json_pairs(array: &serde_json::Value, key: &str, value: &str) -> Vec<(String, String)> {
    let field = |o: &serde_json::Value, k: &str| -> String {
        o[k].as_str()
            .unwrap_or_else(|| panic!("{k} is not a string: {o}"))
            .to_owned()
    };
    array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array}"))
        .iter()
        .map(|o| (field(o, key), field(o, value)))
        .collect()
}

/// Asserts that a command succeeded; the failure shows `what`, its status, stdout and stderr.
#[track_caller]
pub fn assert_success(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// What git sends a helper to get a credential for `protocol://host`.
pub fn fill_request(protocol: &str, host: &str) -> String {
    format!("protocol={protocol}\nhost={host}\n\n")
}
