//! The host a root file system is made on: root, the system tools, the workspace and its
//! target and cache directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::run_with_timeout;
use crate::require_tool;

/// Panics unless running as root, naming what needs it.
pub fn require_root(what: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "{what} needs root (it runs debootstrap, mount namespaces and chroot; CI runs as root): \
         run it as root, e.g. `sudo -E env PATH=\"$PATH\" cargo test -p kelos-e2e --test images`"
    );
}

/// Like [`require_tool`], also searching the sbin directories (not in every user's PATH),
/// with the Debian package that provides the tool in the hint.
pub fn require_system_tool(tool: &str, package: &str) -> PathBuf {
    crate::tools::require_listed(tool);
    for dir in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    crate::find_in_path(tool)
        .unwrap_or_else(|| panic!("{tool} not found: install it with `apt-get install {package}`"))
}

/// `buildah` with its own storage under `root` (vfs), never the machine's, and with
/// `/var/lib` a private tmpfs for that one run: containers/image writes its blob-info
/// cache to `/var/lib/containers/cache` whenever it runs as root, and no flag or variable
/// moves it. `unshare` and `sh` exec in place, so the process is buildah itself (a time
/// limit kills it). The same isolation as `scripts/image.sh`.
pub fn buildah_in(root: &Path) -> Command {
    let mut c = Command::new(crate::require_tool("unshare"));
    c.args(["--mount", "--propagation", "private", "--"])
        .arg(crate::require_tool("sh"))
        .args([
            "-c",
            "mount -t tmpfs -o mode=0755 kelos-buildah-var-lib /var/lib && exec \"$0\" \"$@\"",
        ])
        .arg(require_system_tool("buildah", "buildah"))
        .arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs"]);
    c
}

/// The workspace root (the parent of the `tests` package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Where cached root file systems (and the unpacked copies of a run) live.
pub fn cache_dir() -> PathBuf {
    let dir = target_dir().join("rootfs-cache");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// `dpkg --print-architecture`.
pub fn host_architecture() -> String {
    let dpkg = require_tool("dpkg");
    let mut cmd = Command::new(dpkg);
    cmd.arg("--print-architecture");
    let out = run_with_timeout(cmd, b"", Duration::from_secs(30));
    assert!(out.status.success(), "dpkg --print-architecture failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The tools every root fs test needs (debootstrap, chroot, unshare, mount, tar): each
/// missing one fails with the command that installs it.
pub fn require_rootfs_tools() {
    for (tool, package) in [
        ("debootstrap", "debootstrap"),
        ("chroot", "coreutils"),
        ("unshare", "util-linux"),
        ("mount", "mount"),
        ("tar", "tar"),
    ] {
        require_system_tool(tool, package);
    }
}

/// `tool` in PATH (absolute entries only), if it is there.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    crate::find_in_path(tool)
}
