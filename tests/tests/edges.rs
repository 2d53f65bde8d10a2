//! The edges of issue 16, against the static binaries and real shells:
//!
//! - the snippet with each subset of the token variables `readonly`, in bash, bash
//!   `--posix`, dash and busybox ash: the shell lives, nothing is printed, the readonly
//!   ones keep their values and every other one is refreshed;
//! - the trace never writes into a file the binary reads (the token file, its expiry
//!   sibling, by any name: the same path, a symlink, a hard link), and a relative trace
//!   path gets one line saying it must be absolute (never from `env`);
//! - trace lines are plain words: many generated runs, no Rust debug text;
//! - a token-file path with a newline gives one stderr line;
//! - `exec` of a script without `#!` runs it with /bin/sh, as execvp and env(1) do;
//! - a bare word close to a people's command, typed at a terminal: one line naming the
//!   command meant, exit 2; without a terminal (git's calls): ignored, exit 0;
//! - `--help` lists only the options a command takes;
//! - doctor's text output: control characters escaped, `password=` masked in every
//!   quoting.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kelos_e2e::chroot::workspace_root;
use kelos_e2e::secrets::redacted;
use kelos_e2e::{bin, require_tool, run_with_timeout, unique_token, TempDir, TokenVolume, HELPER};

const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";
const TIMEOUT: Duration = Duration::from_secs(30);
const TOKEN_VARS: [&str; 4] = [
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
];

fn helper_dir() -> PathBuf {
    bin(HELPER).parent().expect("bin dir").to_path_buf()
}

fn snippet() -> PathBuf {
    workspace_root().join("images/kelos-env.sh")
}

/// A command with a clean environment: PATH = the helper's directory, then the system's.
fn clean(program: impl AsRef<OsStr>, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", helper_dir().display()),
        )
        .env("HOME", home)
        .env("LC_ALL", "C")
        .current_dir(home)
        .stdin(Stdio::null());
    c
}

fn run(cmd: Command, stdin: &[u8]) -> Output {
    run_with_timeout(cmd, stdin, TIMEOUT)
}

// ---------------------------------------------------------------------------------------
// The snippet with readonly variables
// ---------------------------------------------------------------------------------------

/// The shells the snippet must hold in, as argv prefixes for `SHELL -c SCRIPT`.
fn shells() -> Vec<(&'static str, Vec<PathBuf>, Vec<&'static str>)> {
    vec![
        ("bash", vec![require_tool("bash")], vec![]),
        ("bash --posix", vec![require_tool("bash")], vec!["--posix"]),
        ("dash", vec![require_tool("dash")], vec![]),
        ("busybox ash", vec![require_tool("busybox")], vec!["ash"]),
    ]
}

/// Sources the snippet in `shell` with the variables of `readonly` made readonly first
/// (every token variable set to `old`), under `set -eu`; returns the output.
fn source_snippet(
    shell: &(&'static str, Vec<PathBuf>, Vec<&'static str>),
    home: &Path,
    token_file: &Path,
    old: &str,
    readonly: &[&str],
) -> Output {
    let ro = if readonly.is_empty() {
        String::new()
    } else {
        format!("readonly {}; ", readonly.join(" "))
    };
    let script = format!(
        "set -eu; {ro}. '{}'; echo alive; for v in {}; do eval \"printf '%s\\n' \\\"\\$$v\\\"\"; done",
        snippet().display(),
        TOKEN_VARS.join(" ")
    );
    let mut cmd = clean(&shell.1[0], home);
    cmd.args(&shell.2).arg("-c").arg(script);
    cmd.env(TOKEN_FILE_VAR, token_file);
    for v in TOKEN_VARS {
        cmd.env(v, old);
    }
    run(cmd, b"")
}

#[test]
fn the_snippet_skips_readonly_variables_and_refreshes_the_rest_in_every_shell() {
    let home = TempDir::new("kelos-e2e-edges-readonly");
    let old = unique_token("FrozenOld");
    let new = unique_token("FileNew");
    let vol = TokenVolume::with_token(&new);
    let secrets = [old.as_str(), new.as_str()];
    // Every subset of the four variables, in every shell: 64 runs.
    for shell in shells() {
        for subset in 0u32..16 {
            let readonly: Vec<&str> = TOKEN_VARS
                .iter()
                .enumerate()
                .filter(|(i, _)| subset & (1 << i) != 0)
                .map(|(_, v)| *v)
                .collect();
            let out = source_snippet(&shell, home.path(), &vol.token_path(), &old, &readonly);
            let what = format!("{} with {readonly:?} readonly", shell.0);
            assert!(
                out.status.success(),
                "{what}: the shell died ({}); stdout {} stderr {}",
                out.status,
                redacted(&out.stdout, &secrets),
                redacted(&out.stderr, &secrets)
            );
            assert!(
                out.stderr.is_empty(),
                "{what}: the snippet printed on stderr: {}",
                redacted(&out.stderr, &secrets)
            );
            let want: Vec<&str> = std::iter::once("alive")
                .chain(TOKEN_VARS.iter().map(|v| {
                    if readonly.contains(v) {
                        old.as_str()
                    } else {
                        new.as_str()
                    }
                }))
                .collect();
            let got = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                got.lines().collect::<Vec<_>>(),
                want,
                "{what}: stdout (nothing but the script's own lines; readonly ones keep \
                 their value, the others get the file's)"
            );
        }
    }
}
