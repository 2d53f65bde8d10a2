//! `configure` / `unconfigure` as transactions on one git config file, against the real git:
//! `--helper PATH`, concurrent runs, faults (a failing write, a stale lock, a full disk, a
//! kill), the layouts doctor detects, and a property: configure then unconfigure gives back
//! the file byte for byte.
//!
//! Every command runs with a cleared environment: an isolated HOME, `GIT_CONFIG_GLOBAL` in
//! it, no system config, and a PATH of temp directories (one holding only `git`, then, when
//! a test wants git to find `kelos` by name, `KELOS_BIN_DIR`).

use kelos_e2e::{assert_contains, text};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kelos_e2e::gh_api::write_executable;
use kelos_e2e::gh_api::EXEC_LOCK;
use kelos_e2e::pod::{run_exec_locked, Pod};
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::{attr, bin, require_tool, TokenVolume, HELPER};
use proptest::prelude::*;
use serde_json::Value;

const GITHUB: &str = "credential.https://github.com.helper";
const GIST: &str = "credential.https://gist.github.com.helper";

/// The pod of these suites: PATH holds only `git` (git cannot find `kelos` by name) until
/// a test asks for `KELOS_BIN_DIR` ([`Pod::with_bin_dir`]); no LANG; no system config.
fn pod() -> Pod {
    Pod::new("kelos-e2e-cfgtx")
}

/// `git config --file FILE --get-all KEY` (empty when unset).
fn get_all(env: &Pod, file: &Path, key: &str) -> Vec<String> {
    env.get_all(&["--file", file.to_str().unwrap()], key)
        .unwrap_or_default()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// `--helper PATH` writes that path (shell-quoted: git runs an absolute path through the
/// shell) instead of `kelos`; git then runs it although the binary is not in PATH, and
/// `unconfigure --helper PATH` gives the file back as it was.
#[test]
fn helper_path_is_written_run_by_git_and_removed_exactly() {
    let mut env = pod();
    let dir = env.root.join("kelos bin");
    fs::create_dir(&dir).unwrap();
    let helper = dir.join(HELPER);
    fs::copy(bin(HELPER), &helper).unwrap();
    let helper_arg = helper.to_str().unwrap().to_owned();
    // git runs a value starting with `/` through the shell as it is: a path with a space
    // is a `!` command with the path quoted.
    let quoted = format!("!'{helper_arg}'");
    let file = env.root.join("cfg");
    let original = "[user]\n\tname = someone\n";
    fs::write(&file, original).unwrap();
    let file_arg = file.to_str().unwrap().to_owned();

    let configure = ["configure", "--file", &file_arg, "--helper", &helper_arg];
    env.kelos_ok(&configure);
    assert_eq!(get_all(&env, &file, GITHUB), strings(&["", &quoted]));
    assert_eq!(get_all(&env, &file, GIST), strings(&["", &quoted]));
    env.kelos_ok(&configure);
    assert_eq!(
        get_all(&env, &file, GITHUB),
        strings(&["", &quoted]),
        "idempotent"
    );

    // git runs it from the path: no `git-credential-kelos` in PATH.
    let mut vol = TokenVolume::new();
    vol.publish(b"ghp_helperPathToken0001", None);
    env.set("KELOS_GITHUB_TOKEN_FILE", vol.token_path());
    env.set("GIT_CONFIG_GLOBAL", &file);
    let fill = env.git(
        &["credential", "fill"],
        b"protocol=https\nhost=github.com\n\n",
    );
    assert!(fill.status.success(), "fill: {}", text(&fill.stderr));
    assert_eq!(
        attr(&fill.stdout, "password").as_deref(),
        Some("ghp_helperPathToken0001")
    );

    // Another host: the path, then --host.
    env.kelos_ok(&[
        "--host",
        "ghe.example.com",
        "configure",
        "--file",
        &file_arg,
        "--helper",
        &helper_arg,
    ]);
    assert_eq!(
        get_all(&env, &file, "credential.https://ghe.example.com.helper"),
        strings(&["", &format!("{quoted} --host ghe.example.com")])
    );
    env.kelos_ok(&[
        "--host",
        "ghe.example.com",
        "unconfigure",
        "--file",
        &file_arg,
        "--helper",
        &helper_arg,
    ]);

    // unconfigure without --helper removes `kelos`, not the path.
    env.kelos_ok(&["unconfigure", "--file", &file_arg]);
    assert_eq!(get_all(&env, &file, GITHUB), strings(&["", &quoted]));
    env.kelos_ok(&["unconfigure", "--file", &file_arg, "--helper", &helper_arg]);
    assert_eq!(get_all(&env, &file, GITHUB), Vec::<String>::new());
    assert_eq!(get_all(&env, &file, GIST), Vec::<String>::new());

    // --exclusive with a path, in the global scope.
    env.kelos_ok(&["configure", "--exclusive", "--helper", &helper_arg]);
    assert_eq!(
        get_all(&env, &file, "credential.helper"),
        strings(&["", &quoted])
    );
    env.kelos_ok(&["unconfigure", "--exclusive", "--helper", &helper_arg]);
    assert_eq!(
        get_all(&env, &file, "credential.helper"),
        Vec::<String>::new()
    );
}

/// A relative `--helper` is refused before anything is written, naming the option and the
/// fix.
#[test]
fn helper_path_must_be_absolute() {
    let env = pod();
    let file = env.root.join("cfg");
    let file_arg = file.to_str().unwrap();
    for relative in [
        "git-credential-kelos",
        "bin/git-credential-kelos",
        "./x",
        "~/x",
    ] {
        for command in ["configure", "unconfigure"] {
            let out = env.kelos(&[command, "--file", file_arg, "--helper", relative]);
            assert!(!out.status.success(), "{command} --helper {relative:?}");
            let err = text(&out.stderr);
            assert!(
                err.contains("--helper") && err.contains("absolute"),
                "{command} --helper {relative:?}: {err}"
            );
            assert!(!file.exists(), "nothing written for --helper {relative:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The states a file may be in while configure, unconfigure and --exclusive run on it.
// ---------------------------------------------------------------------------------------

/// A user's file: a plain helper, a scoped one, a comment, other keys.
const USER_FILE: &str = "# my settings\n[user]\n\tname = Someone\n[credential]\n\thelper = store\n[credential \"https://gitlab.example.com\"]\n\thelper = other\n";

/// `USER_FILE` written at `ROOT/cfg`.
fn user_file(env: &Pod) -> PathBuf {
    let file = env.root.join("cfg");
    fs::write(&file, USER_FILE).unwrap();
    file
}

/// Whether `listed` (`git config --list` of the file) is one state of the transactions:
/// every key configure owns holds nothing or exactly one reset and kelos; the plain list is
/// the user's, or the user's then one reset and kelos; the user's lines all there.
fn one_state(listed: &str) -> Result<(), String> {
    let values = |key: &str| -> Vec<&str> {
        listed
            .lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    for key in [GITHUB, GIST] {
        let v = values(key);
        if !(v.is_empty() || v == ["", "kelos"]) {
            return Err(format!("{key} = {v:?}"));
        }
    }
    let plain = values("credential.helper");
    if !(plain == ["store"] || plain == ["store", "", "kelos"]) {
        return Err(format!("credential.helper = {plain:?}"));
    }
    for line in [
        "user.name=Someone",
        "credential.https://gitlab.example.com.helper=other",
    ] {
        if !listed.lines().any(|l| l == line) {
            return Err(format!("{line} is missing"));
        }
    }
    Ok(())
}

/// Every distinct content the file had while `work` ran (read as a reader would, in a loop).
fn snapshots_during(file: &Path, work: impl FnOnce()) -> BTreeSet<Vec<u8>> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (seen, stop, file) = (seen.clone(), stop.clone(), file.to_path_buf());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(bytes) = fs::read(&file) {
                    seen.lock().unwrap().insert(bytes);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    work();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.insert(fs::read(file).unwrap());
    seen
}

/// Each snapshot parses with git and is one state of the transactions.
fn assert_states(env: &Pod, snapshots: &BTreeSet<Vec<u8>>) {
    let check = env.root.join("snapshot");
    for bytes in snapshots {
        fs::write(&check, bytes).unwrap();
        let out = env.git(
            &["config", "--file", check.to_str().unwrap(), "--list"],
            b"",
        );
        assert!(
            out.status.success(),
            "a snapshot git cannot parse ({}):\n{}",
            text(&out.stderr),
            text(bytes)
        );
        if let Err(e) = one_state(&text(&out.stdout)) {
            panic!(
                "a snapshot that is no state of the transactions: {e}:\n{}",
                text(bytes)
            );
        }
    }
}

/// `runs` processes at once on one file: configure, unconfigure, both with --exclusive,
/// and a plain `git config` writer. Every run of the helper exits 0 (a lock held by a live
/// writer is waited for); git's own writer exits 0 or says it could not lock; every content
/// the file had is one state of the transactions.
fn concurrent(runs: usize) {
    let env = pod();
    let file = user_file(&env);
    let f = file.to_str().unwrap().to_owned();
    let helper = bin(HELPER);
    let git = env.git_dir.join("git");
    let started = Instant::now();
    let mut outcomes: Vec<(String, Output)> = Vec::new();
    let snapshots = snapshots_during(&file, || {
        let children: Vec<(String, std::process::Child)> = (0..runs)
            .map(|i| {
                let (program, args): (&Path, Vec<String>) = match i % 5 {
                    0 => (
                        &helper,
                        vec!["configure".into(), "--file".into(), f.clone()],
                    ),
                    1 => (
                        &helper,
                        vec!["unconfigure".into(), "--file".into(), f.clone()],
                    ),
                    2 => (
                        &helper,
                        vec![
                            "configure".into(),
                            "--exclusive".into(),
                            "--file".into(),
                            f.clone(),
                        ],
                    ),
                    3 => (
                        &helper,
                        vec![
                            "unconfigure".into(),
                            "--exclusive".into(),
                            "--file".into(),
                            f.clone(),
                        ],
                    ),
                    _ => (
                        &git,
                        vec![
                            "config".into(),
                            "--file".into(),
                            f.clone(),
                            "user.email".into(),
                            format!("u{i}@example.com"),
                        ],
                    ),
                };
                let mut c = env.command(program);
                c.args(&args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
                (
                    format!("{} {args:?}", program.display()),
                    c.spawn().expect("spawn"),
                )
            })
            .collect();
        for (label, child) in children {
            outcomes.push((label, child.wait_with_output().expect("wait")));
        }
    });
    let elapsed = started.elapsed();
    let mut git_lock_failures = 0;
    for (label, out) in &outcomes {
        if label.contains(HELPER) {
            assert!(
                out.status.success(),
                "{label} failed ({}): {}",
                out.status,
                text(&out.stderr)
            );
        } else if !out.status.success() {
            assert_contains(
                &out.stderr,
                "could not lock config file",
                &format!("{label}: "),
            );
            git_lock_failures += 1;
        }
    }
    assert!(
        !Path::new(&format!("{f}.lock")).exists(),
        "no lock left behind"
    );
    assert_states(&env, &snapshots);
    eprintln!(
        "{runs} runs: {} distinct contents seen, all one state; {elapsed:?}; git's own writer \
         could not lock {git_lock_failures} of {} times",
        snapshots.len(),
        runs / 5
    );
}

#[test]
fn ten_concurrent_runs_each_succeed_and_leave_one_state() {
    concurrent(10);
}

#[test]
fn fifty_concurrent_runs_each_succeed_and_leave_one_state() {
    concurrent(50);
}

/// A lock held by a live writer is waited for; one left behind by a killed writer is named
/// with its path and the command that removes it, after a bounded wait, and nothing is
/// written.
#[test]
fn a_live_lock_is_waited_for_and_a_stale_one_named() {
    let env = pod();
    let file = user_file(&env);
    let f = file.to_str().unwrap();
    let lock = env.root.join("cfg.lock");

    // Live: released after a second.
    fs::write(&lock, b"").unwrap();
    let release = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            fs::remove_file(lock).unwrap();
        })
    };
    let out = env.kelos(&["configure", "--file", f]);
    release.join().unwrap();
    assert!(
        out.status.success(),
        "waited for the live lock: {}",
        text(&out.stderr)
    );
    assert_eq!(get_all(&env, &file, GITHUB), strings(&["", "kelos"]));

    // Stale: never released.
    let before = fs::read(&file).unwrap();
    fs::write(&lock, b"").unwrap();
    let started = Instant::now();
    let out = env.kelos(&["unconfigure", "--file", f]);
    let waited = started.elapsed();
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(2), "an exit status, not a signal");
    let err = text(&out.stderr);
    let lock_s = lock.to_str().unwrap();
    assert!(err.contains(lock_s), "names the lock: {err}");
    assert!(
        err.contains(&format!("rm {lock_s}")),
        "the command that removes it: {err}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "a bounded wait: {waited:?}"
    );
    assert_eq!(fs::read(&file).unwrap(), before, "nothing written");
    assert!(lock.exists(), "someone else's lock is not removed");
    eprintln!("stale lock reported after {waited:?}");
}

/// A `git` ahead of the real one on PATH that fails its `n`-th call (0: never) and counts.
fn failing_git(env: &mut Pod, n: usize) -> PathBuf {
    let dir = env.root.join(format!("failing-git-{n}"));
    fs::create_dir_all(&dir).unwrap();
    let count = dir.join("count");
    fs::write(&count, "0").unwrap();
    let real = require_tool("git");
    write_executable(
        &dir.join("git"),
        format!(
            "#!/bin/sh\nn=$(($('{cat}' '{c}') + 1)); echo $n > '{c}'\nif [ $n -eq {n} ]; then echo 'fatal: injected failure' >&2; exit 128; fi\nexec '{g}' \"$@\"\n",
            c = count.display(),
            cat = require_tool("cat").display(),
            g = real.display()
        )
        .as_bytes(),
    );
    env.prepend_path(dir);
    count
}

/// git failing at each of its calls in turn: the file is as it was, byte for byte, or holds
/// the whole change; never a reset without kelos; no lock is left.
#[test]
fn a_git_failing_at_each_call_leaves_the_file_whole() {
    for args in [
        &["configure"][..],
        &["configure", "--exclusive"][..],
        &["unconfigure"][..],
    ] {
        // How many calls a run makes.
        let mut env = pod();
        let file = env.root.join("cfg");
        let seed = |env: &Pod| {
            fs::write(&file, USER_FILE).unwrap();
            if args[0] == "unconfigure" {
                let out = env.kelos(&["configure", "--file", file.to_str().unwrap()]);
                assert!(out.status.success());
            }
        };
        seed(&env);
        let count = failing_git(&mut env, 0);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--file", file.to_str().unwrap()]);
        let clean = env.kelos(&all);
        assert!(clean.status.success(), "{}", text(&clean.stderr));
        let calls: usize = fs::read_to_string(&count).unwrap().trim().parse().unwrap();
        let done = fs::read(&file).unwrap();
        assert!(calls >= 1);
        for n in 1..=calls {
            let mut env = pod();
            let file2 = env.root.join("cfg");
            fs::write(&file2, USER_FILE).unwrap();
            if args[0] == "unconfigure" {
                assert!(env
                    .kelos(&["configure", "--file", file2.to_str().unwrap()])
                    .status
                    .success());
            }
            let before = fs::read(&file2).unwrap();
            failing_git(&mut env, n);
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--file", file2.to_str().unwrap()]);
            let out = env.kelos(&all);
            let after = fs::read(&file2).unwrap();
            let expected_done =
                text(&done).replace(file.to_str().unwrap(), file2.to_str().unwrap());
            assert!(
                after == before || after == expected_done.as_bytes(),
                "{args:?} with git failing at call {n} of {calls} (exit {}): the file is neither \
                 as it was nor complete:\n{}",
                out.status,
                text(&after)
            );
            if !out.status.success() {
                assert_eq!(out.status.code(), Some(2));
                assert!(
                    text(&out.stderr).contains("injected failure")
                        || text(&out.stderr).contains("git"),
                    "{}",
                    text(&out.stderr)
                );
                assert_eq!(after, before, "a failed run changes nothing");
            }
            assert!(
                !env.root.join("cfg.lock").exists(),
                "no lock left (call {n})"
            );
        }
    }
}

/// Killed (SIGKILL) while the `hang`-th git it started has not returned, for each call in
/// turn: the file is as it was, byte for byte; the next run names the lock the killed one
/// left, and after `rm` it works.
#[test]
fn killed_mid_run_leaves_the_file_as_it_was() {
    for hang in 1..=4 {
        let mut env = pod();
        let file = user_file(&env);
        let before = fs::read(&file).unwrap();
        let dir = env.root.join("slow-git");
        fs::create_dir(&dir).unwrap();
        let marker = dir.join("waiting");
        let count = dir.join("count");
        fs::write(&count, "0").unwrap();
        write_executable(
            &dir.join("git"),
            format!(
                "#!/bin/sh\nn=$(($('{cat}' '{c}') + 1)); echo $n > '{c}'\nif [ $n -eq {hang} ]; then : > '{m}'; exec '{sleep}' 30; fi\nexec '{g}' \"$@\"\n",
                c = count.display(),
                cat = require_tool("cat").display(),
                sleep = require_tool("sleep").display(),
                m = marker.display(),
                g = require_tool("git").display()
            )
            .as_bytes(),
        );
        env.prepend_path(dir);
        let mut c = env.command(&bin(HELPER));
        c.args(["configure", "--file", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = {
            let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
            c.spawn().unwrap()
        };
        let started = Instant::now();
        let mut killed = false;
        loop {
            if marker.exists() {
                child.kill().unwrap();
                assert_eq!(child.wait().unwrap().signal(), Some(9));
                killed = true;
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "call {hang}: {status}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "call {hang}: hung"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let env = pod();
        let lock = file.with_file_name("cfg.lock");
        if killed {
            assert_eq!(
                fs::read(&file).unwrap(),
                before,
                "killed at git call {hang}: byte for byte as it was"
            );
            if lock.exists() {
                let out = env.kelos(&["configure", "--file", file.to_str().unwrap()]);
                assert_contains(&out.stderr, &format!("rm {}", lock.display()), "");
                fs::remove_file(&lock).unwrap();
            }
        }
        let out = env.kelos(&["configure", "--file", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(get_all(&env, &file, GITHUB), strings(&["", "kelos"]));
        assert_eq!(get_all(&env, &file, GIST), strings(&["", "kelos"]));
    }
}

/// A tiny tmpfs mounted in the test's own temp dir (unmounted on drop).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn new(at: PathBuf, size: &str) -> Tmpfs {
        fs::create_dir_all(&at).unwrap();
        let out = Command::new(require_tool("mount"))
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs failed (the test needs root, as deps.sh and the CI run it): {}",
            text(&out.stderr)
        );
        Tmpfs { dir: at }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// A full disk: the change is not written, the file is as it was, no lock is left, and the
/// message says why; with space again, the same command works.
#[test]
fn a_full_disk_leaves_the_file_as_it_was() {
    let env = pod();
    let fs_ = Tmpfs::new(env.root.join("tiny"), "64k");
    let file = fs_.dir.join("cfg");
    // A file that fills most of a page, then the rest of the disk filled up to `free`
    // bytes: each size in turn, so that each write of the change meets the end of the disk.
    let mut user = USER_FILE.to_owned();
    while user.len() < 4000 {
        user.push_str("# padding padding padding padding padding padding padding\n");
    }
    for free_pages in 0..3usize {
        fs::write(&file, &user).unwrap();
        let filler = fs_.dir.join("filler");
        let _ = fs::remove_file(&filler);
        // Fill to the end, then free `free_pages` pages.
        let mut f = fs::File::create(&filler).unwrap();
        let page = vec![0u8; 4096];
        use std::io::Write;
        while f.write_all(&page).is_ok() {}
        drop(f);
        let len = fs::metadata(&filler).unwrap().len();
        let keep = len.saturating_sub(4096 * free_pages as u64);
        fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(keep)
            .unwrap();
        let before = fs::read(&file).unwrap();
        for args in [&["configure"][..], &["configure", "--exclusive"][..]] {
            let mut all = args.to_vec();
            all.extend(["--file", file.to_str().unwrap()]);
            let out = env.kelos(&all);
            let after = fs::read(&file).unwrap();
            if out.status.success() {
                // There was room: the whole change.
                assert_ne!(after, before, "{args:?}");
                let listed = env.git(&["config", "--file", file.to_str().unwrap(), "--list"], b"");
                assert!(listed.status.success());
                // Undo, for the next case.
                let mut undo = all.clone();
                undo[0] = "unconfigure";
                assert!(env.kelos(&undo).status.success());
            } else {
                assert_eq!(out.status.code(), Some(2));
                assert_contains(&out.stderr, "No space left", "");
                assert_contains(&out.stderr, "nothing was changed", "");
            }
            assert_eq!(
                fs::read(&file).unwrap(),
                before,
                "{args:?} with {free_pages} pages free"
            );
            assert!(!fs_.dir.join("cfg.lock").exists(), "no lock left");
        }
    }
    fs::remove_file(fs_.dir.join("filler")).unwrap();
    let out = env.kelos(&["configure", "--file", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// stdout closed (`| true`) or full (`>/dev/full`): the change is made in full, the run ends
/// with exit status 2 and a message, not a signal or a panic.
#[test]
fn a_closed_or_full_stdout_never_cuts_the_change_short() {
    for target in ["closed pipe", "/dev/full"] {
        let env = pod();
        let file = user_file(&env);
        let mut c = env.command(&bin(HELPER));
        c.args(["configure", "--file", file.to_str().unwrap()])
            .stderr(Stdio::piped());
        if target == "/dev/full" {
            c.stdout(
                fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        } else {
            let mut fds = [0; 2];
            // SAFETY: pipe(2) into an array we own; the read end is closed at once.
            unsafe {
                assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
                libc::close(fds[0]);
            }
            // SAFETY: the write end is ours, handed over once.
            c.stdout(unsafe { <Stdio as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) });
        }
        let out = {
            let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
            c.output().unwrap()
        };
        assert_eq!(
            out.status.code(),
            Some(2),
            "{target}: {} {}",
            out.status,
            text(&out.stderr)
        );
        assert_contains(&out.stderr, "stdout", &format!("{target}: "));
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{target}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            get_all(&env, &file, GITHUB),
            strings(&["", "kelos"]),
            "{target}"
        );
        assert_eq!(
            get_all(&env, &file, GIST),
            strings(&["", "kelos"]),
            "{target}"
        );
    }
}

/// A person's own helper between the reset and kelos: unconfigure still finds and removes
/// kelos (and the reset before it), keeping theirs.
#[test]
fn unconfigure_finds_kelos_after_a_hand_edit() {
    let env = pod();
    let file = user_file(&env);
    let f = file.to_str().unwrap();
    env.kelos_ok(&["configure", "--file", f]);
    let edited = text(&fs::read(&file).unwrap()).replacen(
        "\thelper = \n\thelper = kelos\n",
        "\thelper = \n\thelper = mine\n\thelper = kelos\n",
        1,
    );
    fs::write(&file, &edited).unwrap();
    let out = env.kelos_ok(&["unconfigure", "--file", f]);
    assert!(
        !text(&out.stdout).contains(&format!("{GITHUB}: already")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(get_all(&env, &file, GITHUB), strings(&["mine"]));
    assert_eq!(get_all(&env, &file, GIST), Vec::<String>::new());
}

/// Sections git matches for https://github.com whatever their case and default port count
/// as that URL: configure comes after them, and unconfigure removes a reset and kelos
/// written in any of them.
#[test]
fn case_and_default_port_variants_are_the_same_url() {
    let env = pod();
    let file = env.root.join("cfg");
    let variant = "[credential \"HTTPS://GitHub.com:443/\"]\n\thelper = \n\thelper = kelos\n[credential \"https://GIST.github.com\"]\n\thelper = \n\thelper = kelos\n";
    fs::write(&file, variant).unwrap();
    let f = file.to_str().unwrap();
    let out = env.kelos_ok(&["configure", "--file", f]);
    assert_contains(&out.stdout, &format!("{GITHUB}: already"), "");
    assert_eq!(fs::read(&file).unwrap(), variant.as_bytes());
    env.kelos_ok(&["unconfigure", "--file", f]);
    assert_eq!(text(&fs::read(&file).unwrap()), "");
}

// ---------------------------------------------------------------------------------------
// doctor: the culprit named for every section git matches, and fixes that work pasted.
// ---------------------------------------------------------------------------------------

const LEAK: &str = "!f() { echo username=x; echo password=leaked; }; f";

fn doctor_leak(env: &Pod) -> (String, String, Option<String>) {
    let out = env.kelos(&["doctor", "--json", "--no-token-ok"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out.stdout)));
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "git.leak")
        .expect("a git.leak check")
        .clone();
    (
        check["level"].as_str().unwrap().to_owned(),
        check["message"].as_str().unwrap().to_owned(),
        check["fix"].as_str().map(str::to_owned),
    )
}

/// Pastes `fix` into a real shell (sh -c) in the env, then doctor again: no git.leak
/// failure.
fn paste_fix_then_doctor(env: &Pod, fix: &str, layout: &str) {
    let out = env.run(Path::new("/bin/sh"), &["-c", fix], b"");
    assert!(
        out.status.success(),
        "{layout}: the printed fix failed when pasted ({}):\n{fix}\n{}",
        out.status,
        text(&out.stderr)
    );
    let (level, message, _) = doctor_leak(env);
    assert_ne!(level, "fail", "{layout}: after the fix: {message}");
}

/// A leak in a section git matches case-insensitively or with a default port: git.leak
/// names the helper, its file and key.
#[test]
fn doctor_names_the_culprit_in_case_and_port_variants() {
    for section in [
        "HTTP://GitHub.com",
        "http://github.com:80",
        "Http://GITHUB.COM:80/",
    ] {
        let env = pod().with_bin_dir();
        fs::write(
            env.gitconfig(),
            format!(
                "[credential \"{section}\"]\n\thelper = \"{}\"\n",
                LEAK.replace('"', "\\\"")
            ),
        )
        .unwrap();
        let (level, message, fix) = doctor_leak(&env);
        assert_eq!(level, "fail", "{section}: {message}");
        assert!(!message.contains("(none listed)"), "{section}: {message}");
        assert!(
            message.contains(&format!("credential.{section}.helper"))
                && message.contains(env.gitconfig().to_str().unwrap()),
            "{section}: names key and file: {message}"
        );
        paste_fix_then_doctor(&env, &fix.expect("a fix"), section);
    }
}

/// The layouts doctor detects, each with the leak where a person would have it: the fix it
/// prints, pasted into sh, leaves no git.leak failure.
#[test]
fn doctor_fixes_work_pasted_in_every_layout() {
    let leak_section = format!(
        "[credential]\n\thelper = \"{}\"\n",
        LEAK.replace('"', "\\\"")
    );
    // The dotfiles layout: ~/.gitconfig with its own helper, then an include holding the leak.
    {
        let env = pod().with_bin_dir();
        fs::write(env.home().join("local.gitconfig"), &leak_section).unwrap();
        fs::write(
            env.gitconfig(),
            "[credential]\n\thelper = store\n[include]\n\tpath = local.gitconfig\n",
        )
        .unwrap();
        let (level, message, fix) = doctor_leak(&env);
        assert_eq!(level, "fail", "dotfiles: {message}");
        paste_fix_then_doctor(&env, &fix.unwrap(), "dotfiles include");
    }
    // includeIf in the global config, for the repository doctor runs in.
    {
        let mut env = pod().with_bin_dir();
        let repo = env.root.join("repo");
        let out = env.git(&["init", "-q", repo.to_str().unwrap()], b"");
        assert!(out.status.success());
        fs::write(env.home().join("work.gitconfig"), &leak_section).unwrap();
        fs::write(
            env.gitconfig(),
            format!(
                "[includeIf \"gitdir:{}/\"]\n\tpath = work.gitconfig\n",
                repo.display()
            ),
        )
        .unwrap();
        env.cwd = Some(repo.clone());
        let (level, message, fix) = doctor_leak(&env);
        assert_eq!(level, "fail", "includeIf: {message}");
        paste_fix_then_doctor(&env, &fix.unwrap(), "includeIf");
    }
    // The controller's layout: the repository's own config, and an include from it.
    for included in [false, true] {
        let mut env = pod().with_bin_dir();
        let repo = env.root.join("repo");
        let out = env.git(&["init", "-q", repo.to_str().unwrap()], b"");
        assert!(out.status.success());
        let config = repo.join(".git/config");
        let mut text_ = fs::read_to_string(&config).unwrap();
        if included {
            fs::write(repo.join(".git/leak.gitconfig"), &leak_section).unwrap();
            text_.push_str("[include]\n\tpath = leak.gitconfig\n");
        } else {
            text_.push_str(&leak_section);
        }
        text_.push_str("[credential]\n\tusername = x-access-token\n");
        fs::write(&config, text_).unwrap();
        env.cwd = Some(repo.clone());
        let (level, message, fix) = doctor_leak(&env);
        assert_eq!(
            level, "fail",
            "repository (included: {included}): {message}"
        );
        paste_fix_then_doctor(&env, &fix.unwrap(), "repository");
    }
}

// ---------------------------------------------------------------------------------------
// The property: configure then unconfigure gives back the file byte for byte; configure
// twice is configure once.
// ---------------------------------------------------------------------------------------

/// Pieces a config file is made of: sections git matches for github.com in every spelling,
/// other sections, includes, comments, blank lines, an earlier configure's entries.
const PIECES: &[&str] = &[
    "[user]\n\tname = x\n",
    "[credential]\n\thelper = store\n",
    "[credential]\n\thelper =\n",
    "[credential \"https://github.com\"]\n\thelper = cache\n",
    "[credential \"HTTPS://GitHub.COM:443\"]\n\thelper = a\n",
    "[credential \"https://gist.github.com\"]\n\thelper = \n",
    "[credential \"https://*.github.com\"]\n\thelper = wild\n",
    "[credential \"http://github.com:80\"]\n\thelper = plain\n",
    "[credential \"https://github.com\"]\n\thelper = \n\thelper = kelos\n",
    "[credential \"https://github.com\"]\n\tusername = me\n",
    "[include]\n\tpath = x.gitconfig\n",
    "[includeIf \"gitdir:/w/\"]\n\tpath = y.gitconfig\n",
    "# a comment\n",
    "\n",
    "[core]\n\tbare = false ; why\n",
    "[Credential \"https://github.com\"] helper = inline\n",
    "[credential]\n\thelper = \"!f() { echo \\\"a;b\\\"; }; f\"\n",
    "[url \"https://github.com/\"]\n\tinsteadOf = gh:\n",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn configure_then_unconfigure_gives_the_file_back(
        pieces in prop::collection::vec(0..PIECES.len(), 0..8),
        exclusive in any::<bool>(),
        ghe in any::<bool>(),
    ) {
        let env = pod();
        let file = env.root.join("cfg");
        let original: String = pieces.iter().map(|&i| PIECES[i]).collect();
        fs::write(&file, &original).unwrap();
        let f = file.to_str().unwrap();
        let mut args = vec![];
        if ghe {
            args.extend(["--host", "ghe.example.com:8443"]);
        }
        let run = |op: &str| {
            let mut a = args.clone();
            a.extend([op, "--file", f]);
            if exclusive {
                a.push("--exclusive");
            }
            let out = env.kelos(&a);
            assert!(out.status.success(), "{a:?} on:\n{original}\n{}", text(&out.stderr));
            fs::read(&file).unwrap()
        };
        let once = run("configure");
        let twice = run("configure");
        prop_assert_eq!(&twice, &once, "configure twice = once");
        // A file already configured for one of the keys (piece 8: github.com's reset and
        // kelos) gets the others added; unconfigure then removes them all, the earlier ones
        // too: there is no telling them apart. Every other file comes back byte for byte.
        let configured_before = pieces.contains(&8) && !exclusive && !ghe;
        if once != original.as_bytes() && !configured_before {
            let back = run("unconfigure");
            prop_assert_eq!(text(&back), original.clone(), "configure then unconfigure");
        }
    }
}

/// The file git itself would write: a symlinked `~/.gitconfig` (a dotfiles checkout) stays a
/// link and its target is edited, with its mode; with only the XDG file there, `--global`
/// edits that one.
#[test]
fn global_scope_edits_the_file_git_would() {
    use std::os::unix::fs::PermissionsExt;
    // Symlink to a dotfiles checkout, mode 0600.
    let env = pod();
    let dotfiles = env.root.join("dotfiles");
    fs::create_dir(&dotfiles).unwrap();
    let real = dotfiles.join("gitconfig");
    fs::write(&real, USER_FILE).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    symlink("../dotfiles/gitconfig", env.home().join(".gitconfig")).unwrap();
    let mut c = env.command(&bin(HELPER));
    c.env_remove("GIT_CONFIG_GLOBAL").arg("configure");
    let out = run_exec_locked(c, b"", DEFAULT_TIMEOUT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fs::symlink_metadata(env.home().join(".gitconfig"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(get_all(&env, &real, GITHUB), strings(&["", "kelos"]));
    assert_eq!(
        fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Only the XDG file.
    let env = pod();
    let xdg = env.home().join(".config/git/config");
    fs::create_dir_all(xdg.parent().unwrap()).unwrap();
    fs::write(&xdg, USER_FILE).unwrap();
    let mut c = env.command(&bin(HELPER));
    c.env_remove("GIT_CONFIG_GLOBAL").arg("configure");
    let out = run_exec_locked(c, b"", DEFAULT_TIMEOUT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(get_all(&env, &xdg, GITHUB), strings(&["", "kelos"]));
    assert!(!env.gitconfig().exists(), "~/.gitconfig not created");
}

/// Without `/proc` (a chroot or build step that does not mount it, so no `/dev/fd`), git
/// checks the change on a private temporary copy instead, removed afterwards.
#[test]
fn configure_works_without_proc() {
    let env = pod();
    let file = user_file(&env);
    let tmp = env.root.join("tmp");
    fs::create_dir(&tmp).unwrap();
    let script = format!(
        "mount -t tmpfs none /proc && ! test -e /dev/fd/0 && exec '{}' configure --exclusive --file '{}'",
        bin(HELPER).display(),
        file.display()
    );
    let mut c = env.command(&require_tool("unshare"));
    c.args(["--mount", "--fork", "/bin/sh", "-c", &script])
        .env("TMPDIR", &tmp)
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", env.git_dir.display()),
        );
    let out = run_exec_locked(c, b"", DEFAULT_TIMEOUT);
    assert!(
        out.status.success(),
        "unshare --mount (root, as the tests run): {}",
        text(&out.stderr)
    );
    assert_eq!(
        get_all(&env, &file, "credential.helper"),
        strings(&["store", "", "kelos"])
    );
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "no copy left behind"
    );
}
