//! A Debian root file system to run an agent image's steps in, without a container engine.
//!
//! [`rootfs_for`] builds one with `debootstrap` from the Debian mirror apt uses on this
//! machine, runs an image's distribution steps in it (as root, in a `chroot`), and keeps the
//! result as a tarball under `target/rootfs-cache/` (keyed by everything that went into it),
//! so that later runs only unpack it. A [`Rootfs`] is one copy, removed on drop.
//!
//! Every command runs in a private mount namespace (`unshare --mount`), where `/proc`, a
//! small `/dev` (a tmpfs with a few device nodes, never the host's `/dev`) and the requested
//! bind mounts are mounted before the `chroot`. The mounts exist only in that namespace and
//! vanish when its last process exits, even when the test fails or is killed: nothing is ever
//! mounted in the test's own namespace, so removing a root file system cannot reach into the
//! host. As a second guard, a directory is only removed when `/proc/self/mountinfo` shows no
//! mount under it.
//!
//! [`read_final_stage`] reads the final stage of a Dockerfile (a small reader for the few
//! instructions the example image uses; the structure is checked with buildkit's own parser
//! by `tests/images/test_dockerfiles.py`) so that the test runs the Dockerfile's own steps.
//!
//! All of this needs root (CI runs as root); [`require_root`] fails with a clear message.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::process::run_with_timeout;
use crate::require_tool;

/// PATH of a container process (Docker's default).
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Bumped when the way the cached root file system is made changes.
const RECIPE_VERSION: &str = "3";

/// Time limits for the slow steps of building the cache.
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const ROOT_STEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

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

/// Removes what killed test processes left in the cache directory: `run-PID-*` and
/// `build-PID-*` root file systems and `.*.partial-PID` tarballs of processes that are gone.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = if let Some(rest) = name
            .strip_prefix("run-")
            .or_else(|| name.strip_prefix("build-"))
        {
            rest.split('-').next()
        } else if name.starts_with('.') {
            name.rsplit_once(".partial-").map(|(_, p)| p)
        } else {
            None
        };
        let Some(pid) = pid.and_then(|p| p.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if !gone {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            remove_tree_without_mounts(&path);
        } else {
            let _ = fs::remove_file(&path);
        }
    }
}

/// A Debian archive to bootstrap from.
#[derive(Debug, Clone)]
pub struct DebianSource {
    pub mirror: String,
    pub suite: String,
}

/// The Debian mirror apt uses on this machine (from `/etc/apt/sources.list` and
/// `/etc/apt/sources.list.d/*.list|*.sources`), and its suite. `KELOS_DEBIAN_MIRROR` and
/// `KELOS_DEBIAN_SUITE` override; the defaults are `http://deb.debian.org/debian` and
/// `bookworm`.
pub fn debian_source() -> DebianSource {
    let mut found: Option<DebianSource> = None;
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        let entries = if f.extension().is_some_and(|e| e == "sources") {
            deb822_entries(&text)
        } else {
            one_line_entries(&text)
        };
        if let Some(e) = entries.into_iter().find(is_debian_archive) {
            found = Some(e);
            break;
        }
    }
    let found = found.unwrap_or_else(|| DebianSource {
        mirror: "http://deb.debian.org/debian".into(),
        suite: "bookworm".into(),
    });
    DebianSource {
        mirror: env_or("KELOS_DEBIAN_MIRROR", found.mirror),
        suite: env_or("KELOS_DEBIAN_SUITE", found.suite),
    }
}

fn env_or(var: &str, default: String) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or(default)
}

/// A main Debian archive (not security, not updates, not a third-party repository).
fn is_debian_archive(e: &DebianSource) -> bool {
    let m = e.mirror.trim_end_matches('/');
    (m.ends_with("/debian") || m.ends_with("/debian-archive/debian"))
        && !e.suite.contains('-')
        && !e.suite.contains('/')
}

fn one_line_entries(text: &str) -> Vec<DebianSource> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().filter(|w| !w.starts_with('['));
            if w.next()? != "deb" {
                return None;
            }
            let (mirror, suite) = (w.next()?, w.next()?);
            Some(DebianSource {
                mirror: mirror.into(),
                suite: suite.into(),
            })
        })
        .collect()
}

fn deb822_entries(text: &str) -> Vec<DebianSource> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
        };
        if field("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            continue;
        }
        if !field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb")) {
            continue;
        }
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        for uri in uris.split_whitespace() {
            for suite in suites.split_whitespace() {
                out.push(DebianSource {
                    mirror: uri.into(),
                    suite: suite.into(),
                });
            }
        }
    }
    out
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

/// What goes into a cached root file system: a minimal Debian, then `root_steps` run as root
/// with `/bin/sh -c` (an image's distribution layers).
#[derive(Debug, Clone)]
pub struct RootfsRecipe {
    pub source: DebianSource,
    pub arch: String,
    pub root_steps: Vec<String>,
}

impl RootfsRecipe {
    /// File name of the cached tarball: readable parts plus a hash of the whole recipe.
    fn cache_name(&self) -> String {
        let mut key = format!(
            "v{RECIPE_VERSION}\n{}\n{}\n{}\n",
            self.source.mirror, self.source.suite, self.arch
        );
        for s in [DPKG_EXCLUDES, APT_CLEAN, SLIM, ENTER] {
            key.push_str(s);
        }
        for s in &self.root_steps {
            key.push_str(s);
            key.push('\n');
        }
        format!(
            "debian-{}-{}-{:016x}.tar",
            self.source.suite,
            self.arch,
            fnv1a64(key.as_bytes())
        )
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A fresh copy of `recipe`'s root file system: unpacked from the cache, or, when it is not
/// cached yet, the one just built (and cached). Prints what it did and how long it took
/// (visible with `--nocapture`).
pub fn rootfs_for(recipe: &RootfsRecipe) -> Rootfs {
    match build_cached_rootfs(recipe) {
        Cached::Hit(tarball) => Rootfs::unpack(&tarball),
        Cached::Built(rootfs) => rootfs,
    }
}

/// The cached tarball of `recipe`'s root file system (`tar --numeric-owner` of its root),
/// built first when it is not cached yet: what an image importer reads.
pub fn rootfs_tarball(recipe: &RootfsRecipe) -> PathBuf {
    match build_cached_rootfs(recipe) {
        Cached::Hit(tarball) => tarball,
        Cached::Built(_build) => cache_dir().join(recipe.cache_name()),
    }
}

/// How long a cached tarball of another recipe (same suite and architecture) is kept
/// unused: the tests use several recipes side by side (with and without an image's
/// distribution steps), which must not evict each other.
const UNUSED_RECIPE_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

enum Cached {
    Hit(PathBuf),
    /// Just built and cached: the build directory itself, as good as a fresh copy.
    Built(Rootfs),
}

fn build_cached_rootfs(recipe: &RootfsRecipe) -> Cached {
    require_root("building a Debian root file system");
    let dir = cache_dir();
    remove_leftovers(&dir);
    let tarball = dir.join(recipe.cache_name());
    if tarball.is_file() {
        eprintln!("images: root file system cached: {}", tarball.display());
        // Marks it used (see UNUSED_RECIPE_KEPT).
        if let Ok(f) = fs::OpenOptions::new().write(true).open(&tarball) {
            let _ = f.set_modified(SystemTime::now());
        }
        return Cached::Hit(tarball);
    }
    // A recipe with steps starts from the bare one's tarball (built first, and cached, when
    // missing): one debootstrap serves every recipe. Before the lock, which it takes too.
    let bare = (!recipe.root_steps.is_empty()).then(|| {
        rootfs_tarball(&RootfsRecipe {
            root_steps: Vec::new(),
            ..recipe.clone()
        })
    });
    // One builder at a time (another test process may be building the same one).
    let _lock = FileLock::acquire(&dir.join(".lock"));
    if tarball.is_file() {
        return Cached::Hit(tarball);
    }
    require_system_tool("chroot", "coreutils");
    require_tool("unshare");
    require_tool("tar");

    let started = Instant::now();
    let build = match &bare {
        Some(bare) => {
            let build = Rootfs::create_empty_in(&dir, "build");
            build.unpack_into(bare);
            eprintln!("images: starting from {}", bare.display());
            build
        }
        None => debootstrap_into(&dir, recipe, started),
    };

    // What a container runtime provides: name resolution; and what Debian's container
    // images have: no service starts from package scripts.
    let resolv = build.host_path("/etc/resolv.conf");
    let _ = fs::remove_file(&resolv);
    if let Ok(text) = fs::read("/etc/resolv.conf") {
        fs::write(&resolv, text).expect("write resolv.conf");
    }
    let policy = build.host_path("/usr/sbin/policy-rc.d");
    fs::write(&policy, b"#!/bin/sh\nexit 101\n").expect("write policy-rc.d");
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o755)).expect("chmod policy-rc.d");
    // Like Ubuntu's minimized container images: no documentation, manuals or message
    // catalogues; no package files kept after apt runs. Smaller, so faster to unpack.
    fs::write(
        build.host_path("/etc/dpkg/dpkg.cfg.d/excludes"),
        DPKG_EXCLUDES,
    )
    .expect("write dpkg excludes");
    fs::write(
        build.host_path("/etc/apt/apt.conf.d/docker-clean"),
        APT_CLEAN,
    )
    .expect("write apt docker-clean");
    let mut steps = vec![SLIM.to_string()];
    steps.extend(recipe.root_steps.iter().cloned());
    steps.push(SLIM.to_string());

    for step in &steps {
        let t = Instant::now();
        let mut env = root_env();
        for var in [
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
        ] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.to_string(), v));
            }
        }
        let out = build.run(&RunSpec {
            user: None,
            env,
            cwd: "/".into(),
            argv: vec!["/bin/sh".into(), "-c".into(), step.clone()],
            stdin: Vec::new(),
            timeout: ROOT_STEP_TIMEOUT,
        });
        assert!(
            out.status.success(),
            "image step failed in the root file system ({}): RUN {step}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 30),
            tail(&String::from_utf8_lossy(&out.stderr), 30)
        );
        eprintln!("images: RUN {} ({:.1?})", one_line(step), t.elapsed());
    }

    let partial = dir.join(format!(
        ".{}.partial-{}",
        recipe.cache_name(),
        std::process::id()
    ));
    let mut tar = Command::new("tar");
    tar.args(["--numeric-owner", "-cpf"])
        .arg(&partial)
        .arg("-C")
        .arg(build.path())
        .arg(".");
    let out = run_with_timeout(tar, b"", Duration::from_secs(600));
    assert!(
        out.status.success(),
        "tar of the root file system failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&partial, &tarball).expect("rename the cached tarball into place");
    // Other recipes' tarballs that have not been used for a while are of no more use.
    let prefix = format!("debian-{}-{}-", recipe.source.suite, recipe.arch);
    for e in fs::read_dir(&dir).expect("read cache dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let unused = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNUSED_RECIPE_KEPT);
        if name.starts_with(&prefix) && name.ends_with(".tar") && e.path() != tarball && unused {
            let _ = fs::remove_file(e.path());
        }
    }
    eprintln!(
        "images: root file system built and cached in {:.1?}: {}",
        started.elapsed(),
        tarball.display()
    );
    Cached::Built(build)
}

/// A new build directory in `dir` holding a minimal Debian made by debootstrap.
fn debootstrap_into(dir: &Path, recipe: &RootfsRecipe, started: Instant) -> Rootfs {
    let debootstrap = require_system_tool("debootstrap", "debootstrap");
    let build = Rootfs::create_empty_in(dir, "build");
    eprintln!(
        "images: debootstrap --variant=minbase --arch={} {} {} (cold cache: a minute or two)",
        recipe.arch, recipe.source.suite, recipe.source.mirror
    );
    // In its own mount namespace: debootstrap mounts /proc, /sys and (in some environments)
    // binds host devices into the target; they must not outlive it in ours.
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--"])
        .arg(&debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--arch={}", recipe.arch))
        .arg(&recipe.source.suite)
        .arg(build.path())
        .arg(&recipe.source.mirror)
        .current_dir("/");
    let out = run_with_timeout(cmd, b"", DEBOOTSTRAP_TIMEOUT);
    if !out.status.success() {
        let log = fs::read_to_string(build.path().join("debootstrap/debootstrap.log"))
            .unwrap_or_default();
        panic!(
            "debootstrap failed ({}); is {} reachable? (set KELOS_DEBIAN_MIRROR to another \
             mirror)\n--- output (tail) ---\n{}\n--- stderr (tail) ---\n{}\n\
             --- debootstrap.log (tail) ---\n{}",
            out.status,
            recipe.source.mirror,
            tail(&String::from_utf8_lossy(&out.stdout), 30),
            tail(&String::from_utf8_lossy(&out.stderr), 30),
            tail(&log, 30)
        );
    }
    eprintln!("images: debootstrap done in {:.1?}", started.elapsed());
    build
}

/// dpkg configuration of Ubuntu's minimized images (what `ubuntu:24.04` has).
const DPKG_EXCLUDES: &str = "path-exclude=/usr/share/man/*
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/locale/*/LC_MESSAGES/*.mo
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/groff/*
";

/// apt configuration of Debian's and Ubuntu's container images: no package files kept.
const APT_CLEAN: &str = r#"DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"#;

/// Removes what [`DPKG_EXCLUDES`] keeps out, from packages installed before it applied
/// (debootstrap's), and apt's downloaded packages.
const SLIM: &str = "set -e; apt-get clean; \
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete; \
find /usr/share/doc -mindepth 1 -type d -empty -delete; \
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/* /usr/share/groff/*; \
find /usr/share/locale -name '*.mo' -delete";

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

/// Sets up the namespace's mounts, then `chroot`s (and drops to the user). Arguments:
/// root, binds (lines of `ro|rw<TAB>source<TAB>target`), user (`root` or `UID:GID`), cwd,
/// then the command as `env -i` arguments.
const ENTER: &str = r#"set -eu
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
    fn unpack_into(&self, tarball: &Path) {
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
    fn create_empty_in(parent: &Path, kind: &str) -> Rootfs {
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
fn remove_tree_without_mounts(dir: &Path) {
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

/// An exclusive `flock` held until drop.
struct FileLock(#[allow(dead_code)] fs::File);

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        use std::os::unix::io::AsRawFd;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        FileLock(f)
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn one_line(s: &str) -> String {
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

/// One instruction of a Dockerfile's final stage, as the chroot test runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `RUN [--mount=type=bind,source=S,target=T]... command` (shell form).
    Run {
        binds: Vec<(String, String)>,
        command: String,
    },
    /// `COPY --from=STAGE SRC... DEST`.
    CopyFrom {
        stage: String,
        sources: Vec<String>,
        dest: String,
    },
    /// `USER uid[:gid]`.
    User(String),
    /// `WORKDIR dir`.
    Workdir(String),
    /// `ENV k=v ...`.
    Env(Vec<(String, String)>),
}

impl Step {
    /// For `COPY --from`: (source, destination file) pairs, with a destination directory
    /// (ending in `/`, or several sources) resolved to `dir/basename`.
    pub fn copied_files(&self) -> Vec<(String, String)> {
        let Step::CopyFrom { sources, dest, .. } = self else {
            return Vec::new();
        };
        let into_dir = dest.ends_with('/') || sources.len() > 1;
        sources
            .iter()
            .map(|s| {
                let d = if into_dir {
                    let base = s.rsplit('/').next().unwrap_or(s);
                    format!("{}/{base}", dest.trim_end_matches('/'))
                } else {
                    dest.clone()
                };
                (s.clone(), d)
            })
            .collect()
    }
}

/// The final stage of a Dockerfile: its base image and its steps. Panics on an instruction
/// the chroot test cannot run (so a new instruction is never silently skipped).
#[derive(Debug, Clone)]
pub struct FinalStage {
    pub base: String,
    pub steps: Vec<Step>,
}

impl FinalStage {
    /// Where the helpers come in: the index of the first `COPY --from`.
    pub fn first_copy(&self) -> usize {
        self.steps
            .iter()
            .position(|s| matches!(s, Step::CopyFrom { .. }))
            .expect("the image copies the helpers")
    }

    /// The plain `RUN` steps before the helpers: the distribution layers that a
    /// [`RootfsRecipe`] caches. Anything else there is a panic.
    pub fn distribution_steps(&self) -> Vec<String> {
        self.steps[..self.first_copy()]
            .iter()
            .map(|s| match s {
                Step::Run { binds, command } if binds.is_empty() => command.clone(),
                other => panic!(
                    "a root fs recipe caches only plain RUN steps before the helpers: {other:?}"
                ),
            })
            .collect()
    }
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

/// Reads the final stage of `dockerfile` (comments and line continuations handled; shell
/// form only).
pub fn read_final_stage(dockerfile: &Path) -> FinalStage {
    let text = fs::read_to_string(dockerfile)
        .unwrap_or_else(|e| panic!("read {}: {e}", dockerfile.display()));
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if current.is_empty() && trimmed.is_empty() {
            continue;
        }
        let (body, continued) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line.trim_end(), false),
        };
        current.push_str(body);
        if continued {
            current.push(' ');
        } else {
            instructions.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        instructions.push(current);
    }

    let mut stage: Option<FinalStage> = None;
    // Global `ARG NAME=default`s (before the first FROM), which a FROM may name.
    let mut global_args: Vec<(String, String)> = Vec::new();
    for ins in instructions {
        let ins = ins.trim();
        let (word, rest) = ins.split_once(char::is_whitespace).unwrap_or((ins, ""));
        let rest = rest.trim();
        let word = word.to_ascii_uppercase();
        if word == "ARG" && stage.is_none() {
            for a in rest.split_whitespace() {
                let (k, v) = a.split_once('=').unwrap_or((a, ""));
                global_args.push((k.to_string(), v.trim_matches('"').to_string()));
            }
            continue;
        }
        if word == "FROM" {
            let mut base = rest
                .split_whitespace()
                .find(|w| !w.starts_with("--"))
                .unwrap_or("")
                .to_string();
            for (k, v) in &global_args {
                base = base
                    .replace(&format!("${{{k}}}"), v)
                    .replace(&format!("${k}"), v);
            }
            stage = Some(FinalStage {
                base,
                steps: Vec::new(),
            });
            continue;
        }
        let Some(stage) = stage.as_mut() else {
            continue;
        };
        let step = match word.as_str() {
            "RUN" => {
                assert!(
                    !rest.starts_with('['),
                    "RUN in exec form is not supported: {ins}"
                );
                let (flags, command) = split_flags(rest);
                let binds = flags
                    .iter()
                    .map(|f| {
                        let m = f.strip_prefix("--mount=").unwrap_or_else(|| {
                            panic!("RUN flag {f} is not supported by the chroot test")
                        });
                        let opt = |k: &str| {
                            m.split(',')
                                .find_map(|kv| kv.strip_prefix(&format!("{k}=")[..]))
                                .map(str::to_string)
                        };
                        assert_eq!(
                            opt("type").as_deref(),
                            Some("bind"),
                            "RUN {f}: only type=bind"
                        );
                        assert!(
                            opt("from").is_none(),
                            "RUN {f}: only binds from the context"
                        );
                        let source = opt("source").or_else(|| opt("src")).expect("bind source");
                        let target = opt("target")
                            .or_else(|| opt("dst"))
                            .or_else(|| opt("destination"))
                            .expect("bind target");
                        (source, target)
                    })
                    .collect();
                Step::Run {
                    binds,
                    command: command.to_string(),
                }
            }
            "COPY" => {
                assert!(
                    !rest.starts_with('['),
                    "COPY in JSON form is not supported: {ins}"
                );
                let (flags, args) = split_flags(rest);
                let mut stage_name = None;
                for f in &flags {
                    if let Some(s) = f.strip_prefix("--from=") {
                        stage_name = Some(s.to_string());
                    } else if !f.starts_with("--chmod=") && !f.starts_with("--link") {
                        panic!("COPY flag {f} is not supported by the chroot test");
                    }
                }
                let stage_name = stage_name.unwrap_or_else(|| {
                    panic!("COPY from the build context is not supported by the chroot test: {ins}")
                });
                let mut words: Vec<String> = args.split_whitespace().map(str::to_string).collect();
                let dest = words.pop().expect("COPY destination");
                assert!(!words.is_empty(), "COPY without a source: {ins}");
                Step::CopyFrom {
                    stage: stage_name,
                    sources: words,
                    dest,
                }
            }
            "USER" => Step::User(rest.to_string()),
            "WORKDIR" => Step::Workdir(rest.to_string()),
            "ENV" => Step::Env(
                rest.split_whitespace()
                    .map(|kv| {
                        let (k, v) = kv
                            .split_once('=')
                            .unwrap_or_else(|| panic!("ENV {kv}: only the k=v form is supported"));
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect(),
            ),
            "LABEL" | "EXPOSE" | "STOPSIGNAL" | "HEALTHCHECK" | "CMD" | "ENTRYPOINT" => continue,
            other => {
                panic!("Dockerfile instruction {other} is not supported by the chroot test: {ins}")
            }
        };
        stage.steps.push(step);
    }
    stage.unwrap_or_else(|| panic!("{}: no FROM", dockerfile.display()))
}

/// Splits leading `--flag` words off `rest`.
fn split_flags(rest: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        flags.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    (flags, rest)
}

/// `tool` in PATH (absolute entries only), if it is there.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    crate::find_in_path(tool)
}
