//! Building a root file system and keeping it: `debootstrap`, an image's root steps run
//! in it, the result kept as a tarball in the cache (keyed by everything that went into it,
//! built once under a lock, unused ones and killed runs' leftovers removed).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::process::run_with_timeout;
use crate::require_tool;

use super::*;

/// Bumped when the way the cached root file system is made changes.
const RECIPE_VERSION: &str = "3";

/// Time limits for the slow steps of building the cache.
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const ROOT_STEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

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
