//! `git-credential-kelos install DIR`, run from the static binaries: what it copies, with
//! which modes, that running it twice changes nothing, that a program running the installed
//! helper while `install` runs again never meets a missing or half-written file, and the
//! errors for a read-only, full or uncreatable directory (tmpfs mounts: root only).

use kelos_e2e::{assert_contains, text};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use kelos_e2e::chroot::{require_root, workspace_root};
use kelos_e2e::gh_api::EXEC_LOCK;
use kelos_e2e::pod::run_exec_locked;
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::{bin, TempDir, HELPER};

const SNIPPET: &str = "images/kelos-env.sh";

/// The helper, kelos-gh and kelos-glab in a directory of their own, as the helpers image
/// has them at `/`; `without` left out.
fn source_dir_without(without: &[&str]) -> TempDir {
    let dir = TempDir::new("kelos-e2e-install-src");
    // No child may be forked while an executable is being written (ETXTBSY).
    let _w = EXEC_LOCK.write().unwrap_or_else(|e| e.into_inner());
    for name in [HELPER, "kelos-gh", "kelos-glab"] {
        if !without.contains(&name) {
            fs::copy(bin(name), dir.join(name)).unwrap();
        }
    }
    dir
}

fn source_dir() -> TempDir {
    source_dir_without(&[])
}

/// What install writes from `src`: kelos-glab only when it is there (it is optional).
fn expected_names(src: &Path) -> Vec<String> {
    let mut names = vec![HELPER.to_owned(), "kelos-env.sh".into(), "kelos-gh".into()];
    if src.join("kelos-glab").is_file() {
        names.push("kelos-glab".into());
    }
    names.sort();
    names
}

/// `SRC/git-credential-kelos install DIR` with umask 077 (the modes must not follow it).
fn install(src: &Path, dir: &Path) -> Output {
    let mut c = Command::new(src.join(HELPER));
    c.arg("install").arg(dir).env_clear();
    // SAFETY: umask(2) is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    run(c)
}

/// Runs `c`, never while another test writes an executable (see `source_dir`).
fn run(c: Command) -> Output {
    run_exec_locked(c, b"", DEFAULT_TIMEOUT)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn assert_installed(src: &Path, dir: &Path) {
    assert_eq!(
        listing(dir),
        expected_names(src),
        "exactly the files, no leftovers"
    );
    for name in expected_names(src) {
        let path = dir.join(&name);
        if name == "kelos-env.sh" {
            assert_eq!(
                fs::read(&path).unwrap(),
                fs::read(workspace_root().join(SNIPPET)).unwrap(),
                "the snippet is {SNIPPET} byte for byte"
            );
            assert_eq!(mode(&path), 0o644, "{name}");
        } else {
            assert_eq!(
                fs::read(&path).unwrap(),
                fs::read(src.join(&name)).unwrap(),
                "{name}"
            );
            assert_eq!(mode(&path), 0o755, "{name}");
        }
    }
}

#[test]
fn installs_into_a_missing_directory_with_fixed_modes_and_twice_is_once() {
    let src = source_dir();
    let root = TempDir::new("kelos-e2e-install");
    let dir = root.join("a/b/kelos-bin");
    let out = install(src.path(), &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert_installed(src.path(), &dir);
    assert_eq!(
        mode(&dir),
        0o755,
        "the directory is for every container's user"
    );
    let report = text(&out.stdout);
    for name in expected_names(src.path()) {
        assert!(
            report.contains(&format!("installed {}", dir.join(&name).display())),
            "{report}"
        );
    }

    // Again: the same files, bytes and modes; nothing left behind.
    let before: Vec<Vec<u8>> = expected_names(src.path())
        .iter()
        .map(|n| fs::read(dir.join(n)).unwrap())
        .collect();
    let out = install(src.path(), &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_installed(src.path(), &dir);
    let after: Vec<Vec<u8>> = expected_names(src.path())
        .iter()
        .map(|n| fs::read(dir.join(n)).unwrap())
        .collect();
    assert_eq!(before, after);

    // The installed helper installs itself again (an init container re-run on the volume).
    let out = install(&dir, &dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_installed(src.path(), &dir);
    // It runs, and its modes let another user run it.
    let mut c = Command::new(dir.join(HELPER));
    c.arg("capability");
    let out = run(c);
    assert_eq!(text(&out.stdout), "version 0\n");
}

#[test]
fn a_running_helper_never_sees_a_half_written_file_while_install_runs_again() {
    let src = source_dir();
    let root = TempDir::new("kelos-e2e-install-race");
    let dir = root.join("kelos-bin");
    assert!(install(src.path(), &dir).status.success());
    let helper = dir.join(HELPER);
    let want = fs::read(src.join(HELPER)).unwrap();
    let snippet = fs::read(workspace_root().join(SNIPPET)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (stop, helper) = (stop.clone(), helper.clone());
        thread::spawn(move || {
            let mut runs = 0u32;
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let ran = {
                    let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
                    Command::new(&helper).arg("capability").output()
                };
                match ran {
                    Ok(o) if o.status.success() && o.stdout == b"version 0\n" => {}
                    Ok(o) => failures.push(format!("{} {:?}", o.status, text(&o.stderr))),
                    // ETXTBSY, ENOENT, ENOEXEC: the file was being written in place.
                    Err(e) => failures.push(e.to_string()),
                }
                runs += 1;
            }
            (runs, failures)
        })
    };
    let reader = {
        let (stop, dir) = (stop.clone(), dir.clone());
        let (want, snippet) = (want.clone(), snippet.clone());
        thread::spawn(move || {
            let mut reads = 0u32;
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (name, whole) in [(HELPER, &want), ("kelos-env.sh", &snippet)] {
                    match fs::read(dir.join(name)) {
                        Ok(b) if b == *whole => {}
                        Ok(b) => bad.push(format!("{name}: {} of {} bytes", b.len(), whole.len())),
                        Err(e) => bad.push(format!("{name}: {e}")),
                    }
                }
                reads += 1;
            }
            (reads, bad)
        })
    };
    let mut installs = 0;
    for _ in 0..40 {
        let out = install(src.path(), &dir);
        assert!(out.status.success(), "{}", text(&out.stderr));
        installs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, failures) = runner.join().unwrap();
    let (reads, bad) = reader.join().unwrap();
    eprintln!("{installs} installs, {runs} runs of the installed helper, {reads} reads");
    assert!(runs > 0 && reads > 0);
    assert!(failures.is_empty(), "failed runs: {failures:?}");
    assert!(bad.is_empty(), "partial reads: {bad:?}");
    assert_installed(src.path(), &dir);
}

/// kelos-glab is optional: without it beside the helper, install writes the rest; with it,
/// it is installed under its own name with the same mode.
#[test]
fn kelos_glab_is_installed_when_it_is_beside_the_helper() {
    let with = source_dir();
    let without = source_dir_without(&["kelos-glab"]);
    let root = TempDir::new("kelos-e2e-install");
    for (src, dir) in [(&with, root.join("with")), (&without, root.join("without"))] {
        let out = install(src.path(), &dir);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_installed(src.path(), &dir);
    }
    assert!(root.join("with/kelos-glab").is_file());
    assert!(!root.join("without/kelos-glab").exists());
}

#[test]
fn without_kelos_gh_beside_it_install_names_the_missing_file_and_writes_nothing() {
    let src = TempDir::new("kelos-e2e-install-lone");
    {
        // No child may be forked while an executable is being written (ETXTBSY).
        let _w = EXEC_LOCK.write().unwrap_or_else(|e| e.into_inner());
        fs::copy(bin(HELPER), src.join(HELPER)).unwrap();
    }
    let root = TempDir::new("kelos-e2e-install");
    let dir = root.join("kelos-bin");
    let out = install(src.path(), &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{} not found", src.join("kelos-gh").display())),
        "{err}"
    );
    assert!(!dir.exists(), "nothing created");
}

/// `install` exited 2 and its stderr says each of `words`; the stderr.
#[track_caller]
fn assert_refused(out: &Output, words: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for word in words {
        assert!(err.contains(word), "no {word:?} in: {err}");
    }
    err
}

/// A tmpfs mounted at `dir` (root only); unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let mut c = Command::new("mount");
        c.args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(dir);
        let out = run(c);
        assert!(out.status.success(), "mount tmpfs: {}", text(&out.stderr));
        Tmpfs(dir.to_owned())
    }

    fn remount(&self, options: &str) {
        let mut c = Command::new("mount");
        c.args(["-o", &format!("remount,{options}")]).arg(&self.0);
        let out = run(c);
        assert!(out.status.success(), "remount: {}", text(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let mut c = Command::new("umount");
        c.arg(&self.0);
        run(c);
    }
}

#[test]
fn a_read_only_full_or_uncreatable_directory_is_named_with_the_fix_and_left_as_it_was() {
    require_root("install's read-only and full-disk test (tmpfs mounts)");
    let src = source_dir();
    let root = TempDir::new("kelos-e2e-install-ro");

    // Read-only, with an earlier install in it: an error naming it, the files unchanged.
    let dir = root.join("ro");
    let mnt = Tmpfs::mount(&dir, "size=16m,mode=0755");
    assert!(install(src.path(), &dir).status.success());
    mnt.remount("ro");
    let out = install(src.path(), &dir);
    let err = assert_refused(
        &out,
        &[
            &format!("cannot write into {}", dir.display()),
            "Read-only file system",
            "mount it writable",
        ],
    );
    assert!(
        !err.contains("os error") && !err.contains("Os {"),
        "plain words: {err}"
    );
    assert_installed(src.path(), &dir);

    // Missing, under the read-only mount: cannot be created.
    let below = dir.join("sub/kelos-bin");
    let out = install(src.path(), &below);
    assert_refused(
        &out,
        &[
            &format!("cannot create {}", below.display()),
            "Read-only file system",
            "mount a writable volume there",
        ],
    );

    // Missing, under a file: cannot be created either.
    let file = root.join("plain");
    fs::write(&file, b"x").unwrap();
    let out = install(src.path(), &file.join("kelos-bin"));
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&out.stderr, "cannot create", "");
    // DIR itself a file.
    let out = install(src.path(), &file);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&out.stderr, "is not a directory", "");

    // Full: the helper does not fit; the error says so and no temporary file is left.
    let small = root.join("small");
    let _small = Tmpfs::mount(&small, "size=256k,mode=0755");
    let out = install(src.path(), &small);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("No space left on device") && err.contains("free space"),
        "{err}"
    );
    assert_eq!(
        listing(&small),
        Vec::<String>::new(),
        "no temporary file left"
    );
}

#[test]
fn a_file_left_by_a_killed_run_as_pid_1_does_not_stop_install() {
    require_root("install's PID 1 test (unshare --pid)");
    let unshare = kelos_e2e::chroot::require_system_tool("unshare", "util-linux");
    let src = source_dir();
    let root = TempDir::new("kelos-e2e-install-pid1");
    let dir = root.join("kelos-bin");
    fs::create_dir(&dir).unwrap();
    // An init container is PID 1 in its namespace; a run killed mid-write leaves its
    // temporary file in the emptyDir the restarted container gets again.
    let leftovers: Vec<String> = ["git-credential-kelos", "kelos-gh", "kelos-env.sh"]
        .iter()
        .map(|n| format!(".{n}.install-1"))
        .collect();
    for name in &leftovers {
        fs::write(dir.join(name), b"half").unwrap();
    }
    let mut c = Command::new(unshare);
    c.args(["--pid", "--fork", "--"])
        .arg(src.join(HELPER))
        .arg("install")
        .arg(&dir);
    let out = run(c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in expected_names(src.path()) {
        let want = if name == "kelos-env.sh" {
            fs::read(workspace_root().join(SNIPPET)).unwrap()
        } else {
            fs::read(src.join(&name)).unwrap()
        };
        assert_eq!(fs::read(dir.join(&name)).unwrap(), want, "{name}");
    }
}
