//! One copy of a root file system and running commands in it: a private mount namespace
//! (`/proc`, a small `/dev`, bind mounts), `chroot`, removal that never reaches through a
//! mount.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::process::run_with_timeout;
use crate::require_tool;

use super::*;

/// PATH of a container process (Docker's default).
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment of a `RUN` step: what Docker gives a root process.
pub fn root_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), CONTAINER_PATH.into()),
        ("HOME".into(), "/root".into()),
    ]
}

/// A bind mount inside the root file system, set up for each command.
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    /// Absolute path inside the root file system (created as a directory when missing).
    pub target: String,
    pub read_only: bool,
}

/// One command in the root file system.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `None`: root; `Some((uid, gid))`: that user and group, no supplementary groups.
    pub user: Option<(u32, u32)>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory inside the root file system.
    pub cwd: String,
    pub argv: Vec<String>,
    pub stdin: Vec<u8>,
    pub timeout: Duration,
}

impl RunSpec {
    /// `argv` as root, in `/`, with a `RUN` step's environment and no input.
    pub fn as_root(argv: &[&str], timeout: Duration) -> RunSpec {
        RunSpec {
            user: None,
            env: root_env(),
            cwd: "/".into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            stdin: Vec::new(),
            timeout,
        }
    }
}

/// Sets up the namespace's mounts, then `chroot`s (and drops to the user). Arguments:
/// root, binds (lines of `ro|rw<TAB>source<TAB>target`), user (`root` or `UID:GID`), cwd,
/// then the command as `env -i` arguments.
pub(crate) const ENTER: &str = r#"set -eu
R=$1 BINDS=$2 USERSPEC=$3 CWD=$4
shift 4
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t tmpfs -o nosuid,mode=0755,size=4m kelos-dev "$R/dev"
for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  name=${spec%%:*} rest=${spec#*:}
  mknod -m 0666 "$R/dev/$name" c "${rest%%:*}" "${rest#*:}"
done
mkdir -m 0755 "$R/dev/pts"
mkdir -m 1777 "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
tab=$(printf '\t')
printf '%s\n' "$BINDS" | while IFS=$tab read -r mode src dst; do
  [ -n "$src" ] || continue
  mkdir -p "$R$dst"
  mount --bind "$src" "$R$dst"
  [ "$mode" = rw ] || mount -o remount,bind,ro "$R$dst"
done
if [ "$USERSPEC" = root ]; then
  exec chroot "$R" /usr/bin/env -i -C "$CWD" "$@"
fi
exec chroot "$R" /usr/bin/setpriv --reuid="${USERSPEC%%:*}" --regid="${USERSPEC#*:}" \
  --clear-groups -- /usr/bin/env -i -C "$CWD" "$@"
"#;

/// An unpacked root file system (removed on drop) and the bind mounts its commands get.
pub struct Rootfs {
    root: PathBuf,
    binds: Vec<Bind>,
}

impl Rootfs {
    /// A fresh copy of the cached `tarball`.
    pub fn unpack(tarball: &Path) -> Rootfs {
        require_root("unpacking a root file system");
        let started = Instant::now();
        let rootfs = Rootfs::create_empty_in(&cache_dir(), "run");
        rootfs.unpack_into(tarball);
        eprintln!(
            "images: unpacked the root file system in {:.1?}",
            started.elapsed()
        );
        rootfs
    }

    /// Unpacks `tarball` (a cached root file system) into this (empty) root.
    pub(crate) fn unpack_into(&self, tarball: &Path) {
        let mut tar = Command::new(require_tool("tar"));
        tar.args(["--numeric-owner", "-xpf"])
            .arg(tarball)
            .arg("-C")
            .arg(self.path());
        let out = run_with_timeout(tar, b"", Duration::from_secs(600));
        assert!(
            out.status.success(),
            "unpacking {} failed: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        fs::set_permissions(self.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod root file system");
    }

    /// A new empty directory `<parent>/<kind>-<unique>` that is removed on drop.
    pub(crate) fn create_empty_in(parent: &Path, kind: &str) -> Rootfs {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = parent.join(format!("{kind}-{}-{n}-{nanos:08x}", std::process::id()));
        fs::create_dir(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        Rootfs {
            root,
            binds: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The host path of `inside` (an absolute path in the root file system).
    pub fn host_path(&self, inside: &str) -> PathBuf {
        assert!(inside.starts_with('/'), "{inside:?} is not absolute");
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Bind-mounts `source` at `target` for every later command.
    pub fn bind(&mut self, source: &Path, target: &str, read_only: bool) {
        assert!(target.starts_with('/'), "{target:?} is not absolute");
        for s in [source.to_string_lossy().as_ref(), target] {
            assert!(
                !s.contains(['\t', '\n']),
                "{s:?}: tab or newline in a bind path"
            );
        }
        self.binds.push(Bind {
            source: source.to_path_buf(),
            target: target.to_string(),
            read_only,
        });
    }

    /// Copies a host file into the root file system with `mode` (like `COPY`).
    pub fn install_file(&self, from: &Path, inside: &str, mode: u32) {
        let to = self.host_path(inside);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).expect("create parent directory");
        }
        let _ = fs::remove_file(&to);
        fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Runs `spec` in the root file system (in a private mount namespace).
    pub fn run(&self, spec: &RunSpec) -> Output {
        let binds: String = self
            .binds
            .iter()
            .map(|b| {
                format!(
                    "{}\t{}\t{}\n",
                    if b.read_only { "ro" } else { "rw" },
                    b.source.display(),
                    b.target
                )
            })
            .collect();
        let user = match spec.user {
            None => "root".to_string(),
            Some((uid, gid)) => format!("{uid}:{gid}"),
        };
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            ENTER,
        ])
        .arg("kelos-chroot")
        .arg(&self.root)
        .arg(binds)
        .arg(user)
        .arg(&spec.cwd);
        for (k, v) in &spec.env {
            assert!(!k.contains('=') && !k.is_empty(), "bad variable name {k:?}");
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(&spec.argv).current_dir("/");
        run_with_timeout(cmd, &spec.stdin, spec.timeout)
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        remove_tree_without_mounts(&self.root);
    }
}

/// Removes `dir` unless something is mounted under it (then it is left in place, with a
/// message: removing through a mount could delete what the mount shows).
pub(crate) fn remove_tree_without_mounts(dir: &Path) {
    let mounts = mounts_under(dir);
    if !mounts.is_empty() {
        eprintln!(
            "images: NOT removing {}: still mounted under it: {mounts:?}",
            dir.display()
        );
        return;
    }
    let _ = fs::remove_dir_all(dir);
}

/// Mount points at or under `dir`, from `/proc/self/mountinfo`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().to_string();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub(crate) fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 100 {
        format!(
            "{}...",
            &s[..s.char_indices().take(97).last().map_or(0, |(i, _)| i)]
        )
    } else {
        s
    }
}
