//! End-to-end tests of chains of `kelos-gh` copies (the static binary, copied: each copy its
//! own inode) under PATHs that repeat entries and link copies: every chain ends, at the real
//! gh (Debian's, from PATH) or at exit 127, at once; and `doctor` follows the same chain to
//! the same end, never running a wrapper, in bounded time.
//!
//! Before the PATH walk counted each file at its first appearance only, two copies and a
//! repeated entry (`/a:/b:/a:/usr/bin`) made each copy exec the other forever: these tests
//! run every binary under a time limit, so that loop is a failure, not a hang.

use kelos_e2e::pod::run_exec_locked;
use kelos_e2e::text;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kelos_e2e::gh_api::{
    path_of, real_gh, standin_hook, write_executable, GhPod, Standin, StandinRecord, WrapperDir,
    EXEC_LOCK, STANDIN_OUT_VAR,
};
use kelos_e2e::pod::{unix_now, Pod, TOKEN_FILE_VAR};
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, bin, require_tool, run_with_timeout, unique_token, TempDir, TokenVolume,
    HELPER,
};
use serde_json::Value;

// The stand-in gh is this very binary: the hook runs before main and, in a process started
// with KELOS_E2E_STANDIN_OUT, records what it was given and exits.
#[used]
#[link_section = ".init_array"]
static STANDIN_HOOK: extern "C" fn() = standin_hook;

/// A chain that works ends in milliseconds; the old loop never did.
const LIMIT: Duration = Duration::from_secs(10);

/// Runs `cmd` (no stdin) under [`LIMIT`]; a run past it is killed and fails the test.
fn run_limited(cmd: Command) -> Output {
    // No child may be forked while another test writes an executable (ETXTBSY).
    let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
    run_with_timeout(cmd, b"", LIMIT)
}

fn real_gh_dir() -> PathBuf {
    real_gh()
        .parent()
        .expect("gh has a directory")
        .to_path_buf()
}

/// The real gh's own `--version` (the control).
fn real_gh_version() -> String {
    let out = run_limited({
        let mut c = Command::new(real_gh());
        c.arg("--version");
        c
    });
    assert!(out.status.success(), "gh --version: {}", out.status);
    text(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The `running ...` trace lines of a trace file, in order: one per exec of the chain.
fn running_lines(trace: &Path) -> Vec<String> {
    fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(": running "))
        .map(str::to_string)
        .collect()
}

/// Two copies of the wrapper (A and B, distinct inodes), a gh home and a token file.
struct Chain {
    pod: GhPod,
    a: WrapperDir,
    b: WrapperDir,
    logs: TempDir,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            pod: GhPod::new("Chain"),
            a: WrapperDir::new(),
            b: WrapperDir::new(),
            logs: TempDir::new("kelos-e2e-chain-trace"),
        }
    }

    /// `program args...` with PATH = `dirs`, the token file set, traced to `trace`.
    fn command(&self, program: &Path, dirs: &[&Path], args: &[&str], trace: &Path) -> Command {
        let mut cmd = self.pod.command(program, path_of(dirs));
        cmd.env("KELOS_CREDENTIAL_TRACE", trace).args(args);
        cmd
    }

    /// Runs it under the time limit; nothing it writes (stderr, the trace) holds the token.
    fn run(&self, program: &Path, dirs: &[&Path], args: &[&str], trace: &str) -> Ran {
        let trace = self.logs.join(trace);
        let out = run_limited(self.command(program, dirs, args, &trace));
        self.clean(&out, &trace);
        Ran {
            out,
            running: running_lines(&trace),
        }
    }

    fn clean(&self, out: &Output, trace: &Path) {
        assert_no_token_in("stderr", &out.stderr, &[&self.pod.token]);
        let log = fs::read(trace).unwrap_or_default();
        assert_no_token_in("trace file", &log, &[&self.pod.token]);
    }
}

struct Ran {
    out: Output,
    running: Vec<String>,
}

impl Ran {
    fn stderr(&self, token: &str) -> String {
        redacted(&self.out.stderr, &[token])
    }

    /// It succeeded; the failure shows `what`, its status and its stderr (redacted).
    #[track_caller]
    fn assert_ok(&self, what: &str, token: &str) {
        assert!(
            self.out.status.success(),
            "{what}: {} {}",
            self.out.status,
            self.stderr(token)
        );
    }
}

// ---------------------------------------------------------------------------------------
// With the real gh
// ---------------------------------------------------------------------------------------

#[test]
fn two_copies_and_a_repeated_entry_reach_the_real_gh() {
    let version = real_gh_version(); // panics with `apt-get install gh` when gh is missing
    let fx = Chain::new();
    let real = real_gh_dir();
    // /a:/b:/a:/usr/bin, started as A (as a shell finds it) and as B.
    let dirs = [fx.a.dir(), fx.b.dir(), fx.a.dir(), &real];
    for (name, program, hops) in [("a", fx.a.gh(), 2), ("b", fx.b.gh(), 1)] {
        let ran = fx.run(program, &dirs, &["--version"], &format!("{name}.log"));
        ran.assert_ok(&format!("started as {name}"), &fx.pod.token);
        assert_eq!(text(&ran.out.stdout).lines().next(), Some(version.as_str()));
        assert_eq!(ran.running.len(), hops, "{name}: {:#?}", ran.running);
        let last = ran.running.last().expect("a running line");
        assert!(
            last.contains(&format!("running {}", real_gh().display())),
            "{name}: {:#?}",
            ran.running
        );
    }

    // The token reaches gh through the chain.
    let ran = fx.run(fx.a.gh(), &dirs, &["auth", "token"], "auth.log");
    assert!(ran.out.status.success(), "{}", ran.stderr(&fx.pod.token));
    assert!(
        text(&ran.out.stdout).trim_end() == fx.pod.token,
        "gh auth token did not print the file's token (value redacted)"
    );
}

#[test]
fn two_copies_and_a_repeated_entry_without_a_real_gh_exit_127_at_once() {
    let fx = Chain::new();
    let empty = TempDir::new("kelos-e2e-chain-empty");
    let dirs = [fx.a.dir(), fx.b.dir(), fx.a.dir(), empty.path()];
    for (name, program) in [("a", fx.a.gh()), ("b", fx.b.gh())] {
        let started = Instant::now();
        let ran = fx.run(program, &dirs, &["--version"], &format!("{name}.log"));
        assert!(started.elapsed() < LIMIT);
        assert_eq!(
            ran.out.status.code(),
            Some(127),
            "started as {name}: {}",
            ran.stderr(&fx.pod.token)
        );
        assert!(ran.out.stdout.is_empty());
        // A runs B, which finds nothing: one message, from B, telling what it searched.
        let stderr = ran.stderr(&fx.pod.token);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains(": running "))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        let line = lines[0];
        assert!(line.starts_with("kelos-gh: "), "{line}");
        assert!(line.contains("KELOS_GH_PATH"), "{line}");
        assert!(!line.contains("no absolute entry"), "untruthful: {line}");
        let b = fx.b.dir().display();
        assert!(
            line.contains(&format!("after this wrapper's own entry {b}")),
            "{line}"
        );
        assert!(
            line.contains(&format!(
                "{}: comes earlier in PATH than this wrapper",
                fx.a.gh().display()
            )),
            "{line}"
        );
        assert!(
            line.contains(&format!("{}: no gh", empty.path().display())),
            "{line}"
        );
    }
}

#[test]
fn a_real_gh_between_two_repeats_of_the_wrappers_entry_is_found() {
    // /usr/local/bin:/usr/bin:/usr/local/bin, as shell profiles make it.
    let version = real_gh_version();
    let fx = Chain::new();
    let real = real_gh_dir();
    let layouts: [&[&Path]; 3] = [
        &[fx.a.dir(), &real, fx.a.dir()],
        &[fx.a.dir(), fx.a.dir(), &real, fx.a.dir(), &real],
        &[fx.a.dir(), &real, fx.b.dir(), fx.a.dir(), fx.b.dir()],
    ];
    for (i, dirs) in layouts.iter().enumerate() {
        let ran = fx.run(fx.a.gh(), dirs, &["--version"], &format!("{i}.log"));
        ran.assert_ok(&format!("layout {i}"), &fx.pod.token);
        assert_eq!(text(&ran.out.stdout).lines().next(), Some(version.as_str()));
        assert_eq!(ran.running.len(), 1, "layout {i}: {:#?}", ran.running);
    }
}

// ---------------------------------------------------------------------------------------
// With the stand-in gh: every exec of the chain observed
// ---------------------------------------------------------------------------------------

#[test]
fn copies_links_and_repeats_end_at_the_first_real_gh_after_the_start_in_one_process() {
    let fx = Chain::new();
    let c = WrapperDir::new();
    let standin = Standin::new();
    let links = TempDir::new("kelos-e2e-chain-links");
    let (sym, hard) = (links.join("sym"), links.join("hard"));
    fs::create_dir(&sym).unwrap();
    fs::create_dir(&hard).unwrap();
    symlink(fx.b.gh(), sym.join("gh")).unwrap(); // B again
    let hard_gh = hard.join("gh");
    fs::hard_link(fx.a.gh(), &hard_gh).unwrap(); // A again
    let empty = TempDir::new("kelos-e2e-chain-empty");
    let outside_copy = WrapperDir::new(); // a copy in no PATH entry

    let (a, b, s) = (fx.a.dir(), fx.b.dir(), standin.dir());
    let cases: Vec<(&str, &Path, Vec<&Path>, usize)> = vec![
        ("A, /a:/b:/a:S", fx.a.gh(), vec![a, b, a, s], 2),
        ("B, /a:/b:/a:S", fx.b.gh(), vec![a, b, a, s], 1),
        (
            "C, /c:/a:/sym:/b:/c:/a:S:/b",
            c.gh(),
            vec![c.dir(), a, &sym, b, c.dir(), a, s, b],
            3,
        ),
        (
            "hard link of A, /hard:/c:/a:/b:/hard:S",
            &hard_gh,
            vec![&hard, c.dir(), a, b, &hard, s],
            3,
        ),
        (
            "a copy in no entry, /b:/a:/b:S",
            outside_copy.gh(),
            vec![b, a, b, s],
            3,
        ),
        (
            "A, /s:/b:/a:/s:/b:/empty:/s: S and B come before A, so 127",
            fx.a.gh(),
            vec![s, b, a, s, b, empty.path(), s],
            0,
        ),
    ];
    for (i, (label, program, dirs, hops)) in cases.into_iter().enumerate() {
        standin.reset();
        let trace = format!("{i}.log");
        let mut cmd = fx.command(program, &dirs, &["x"], &fx.logs.join(&trace));
        cmd.env(STANDIN_OUT_VAR, standin.out());
        let started = Instant::now();
        let out = run_limited(cmd);
        assert!(started.elapsed() < LIMIT);
        let trace = fx.logs.join(&trace);
        fx.clean(&out, &trace);
        let running = running_lines(&trace);
        // Each hop lands on a strictly later first appearance: at most files + 1 execs.
        assert!(running.len() <= 6, "{label}: {running:#?}");
        if hops == 0 {
            assert_eq!(out.status.code(), Some(127), "{label}");
            assert!(!standin.ran(), "{label}: the stand-in before the start ran");
            continue;
        }
        assert!(
            out.status.success(),
            "{label}: {} {}",
            out.status,
            redacted(&out.stderr, &[&fx.pod.token])
        );
        assert_eq!(running.len(), hops, "{label}: {running:#?}");
        let record: StandinRecord = standin.record();
        assert_eq!(
            record.argv(),
            [OsStr::new("gh"), OsStr::new("x")],
            "{label}"
        );
        assert!(
            record.var("GH_TOKEN") == Some(OsString::from(&fx.pod.token)),
            "{label}: the stand-in did not get the file's token (value redacted)"
        );
    }
}

// ---------------------------------------------------------------------------------------
// doctor follows the same chain
// ---------------------------------------------------------------------------------------

/// A healthy pod for doctor (token file with an expiry, git configured for kelos, the helper
/// in PATH) whose PATH ends with `gh_dirs`.
struct DoctorFx {
    pod: Pod,
    token: String,
    _volume: TokenVolume,
}

impl DoctorFx {
    fn new() -> DoctorFx {
        let pod = Pod::new("kelos-e2e-chain-doctor").with_bin_dir();
        let token = unique_token("Doctor");
        let mut volume = TokenVolume::new();
        volume.publish(token.as_bytes(), Some(&(unix_now() + 3600).to_string()));
        let mut fx = DoctorFx {
            pod,
            token,
            _volume: volume,
        };
        fx.pod.set(TOKEN_FILE_VAR, fx._volume.token_path());
        let out = run_limited(fx.command(&[], &["configure"]));
        assert!(out.status.success(), "configure: {}", text(&out.stderr));
        fx
    }

    /// The helper with `args`, PATH = the pod's (git, the helper), then `gh_dirs`.
    fn command(&self, gh_dirs: &[&Path], args: &[&str]) -> Command {
        let mut c = self.pod.command_with_path_tail(&bin(HELPER), gh_dirs);
        c.args(args);
        c
    }

    /// `doctor --json` with PATH ending in `gh_dirs`: exit code and the `gh` check; every
    /// other check must not fail (so a failure is the chain's).
    fn doctor(&self, gh_dirs: &[&Path], limit: Duration) -> (Option<i32>, Value, Duration) {
        let started = Instant::now();
        let out = run_exec_locked(self.command(gh_dirs, &["doctor", "--json"]), b"", limit);
        let took = started.elapsed();
        assert_no_token_in("doctor stdout", &out.stdout, &[&self.token]);
        assert_no_token_in("doctor stderr", &out.stderr, &[&self.token]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out.stdout)));
        let checks = v["checks"].as_array().expect("checks").clone();
        for c in &checks {
            if c["id"] != "gh" {
                assert_ne!(c["level"], "fail", "{c}");
            }
        }
        let gh = checks
            .into_iter()
            .find(|c| c["id"] == "gh")
            .unwrap_or_else(|| panic!("no gh check: {v}"));
        (out.status.code(), gh, took)
    }
}

/// What doctor shows of the kelos-gh under test: the version and commit its stamp carries
/// (after its marker), the commit cut to 12 digits. (That the stamp names the commit built
/// from is tests/tests/release.rs's.)
fn wrapper_stamp() -> String {
    const MARKER: &[u8] = b"kelos-gh wrapper marker\0";
    let bytes = fs::read(bin("kelos-gh")).unwrap();
    let at = bytes
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .expect("kelos-gh carries its marker")
        + MARKER.len();
    let end = bytes[at..].iter().position(|&b| b == 0).unwrap() + at;
    let stamp = String::from_utf8(bytes[at..end].to_vec()).unwrap();
    let prefix = format!("kelos-gh {} (", env!("CARGO_PKG_VERSION"));
    assert!(stamp.starts_with(&prefix), "kelos-gh's stamp: {stamp:?}");
    match stamp.strip_prefix(&format!("{prefix}commit ")) {
        Some(id) => format!("{prefix}commit {})", &id[..12]),
        None => stamp,
    }
}

#[test]
fn doctor_names_the_real_gh_at_the_end_of_a_chain_of_copies() {
    let version = real_gh_version();
    let stamp = wrapper_stamp();
    let fx = DoctorFx::new();
    let (a, b) = (WrapperDir::new(), WrapperDir::new());
    let real = real_gh_dir();
    // Without a repeat (/a:/b:/usr/bin) the second copy used to be named as the real gh;
    // with one (/a:/b:/a:/usr/bin) doctor used to hang running it.
    let layouts: [&[&Path]; 2] = [
        &[a.dir(), b.dir(), &real],
        &[a.dir(), b.dir(), a.dir(), &real],
    ];
    for dirs in layouts {
        let (code, gh, _) = fx.doctor(dirs, LIMIT);
        let message = gh["message"].as_str().unwrap();
        assert_eq!(gh["level"], "ok", "{gh}");
        assert_eq!(code, Some(0), "{gh}");
        assert_eq!(
            message,
            format!(
                "gh in PATH is the kelos-gh wrapper {} ({stamp}) → {} (another kelos-gh copy: \
                 {stamp}) → real gh {} ({version})",
                a.gh().display(),
                b.gh().display(),
                real_gh().display()
            )
        );
    }
}

#[test]
fn doctor_fails_quickly_on_a_chain_of_copies_without_a_real_gh() {
    let stamp = wrapper_stamp();
    let fx = DoctorFx::new();
    let (a, b) = (WrapperDir::new(), WrapperDir::new());
    let empty = TempDir::new("kelos-e2e-chain-empty");
    let (code, gh, took) = fx.doctor(&[a.dir(), b.dir(), a.dir(), empty.path()], LIMIT);
    assert_eq!(code, Some(1), "{gh}");
    assert_eq!(gh["level"], "fail", "{gh}");
    assert!(took < Duration::from_secs(5), "doctor took {took:?}");
    let message = gh["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "gh in PATH is the kelos-gh wrapper {} ({stamp}) → {} (another kelos-gh copy: \
             {stamp}), which finds no real gh",
            a.gh().display(),
            b.gh().display()
        )),
        "{message}"
    );
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
    assert!(
        gh["fix"].as_str().unwrap().contains("KELOS_GH_PATH"),
        "{gh}"
    );
}

#[test]
fn doctor_stops_waiting_for_a_gh_version_that_hangs() {
    let fx = DoctorFx::new();
    let a = WrapperDir::new();
    let slow = TempDir::new("kelos-e2e-chain-slowgh");
    // doctor's PATH has no sleep: name it.
    let script = format!("#!/bin/sh\nexec {} 60\n", require_tool("sleep").display());
    write_executable(&slow.join("gh"), script.as_bytes());
    let (code, gh, took) = fx.doctor(&[a.dir(), slow.path()], Duration::from_secs(30));
    assert!(took < Duration::from_secs(15), "doctor took {took:?}");
    assert_eq!(gh["level"], "warn", "{gh}");
    assert_eq!(code, Some(0), "{gh}");
    let message = gh["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("real gh {}", slow.join("gh").display())),
        "{message}"
    );
    assert!(
        message.contains("did not finish within 5 s (killed)"),
        "{message}"
    );
    assert!(message.contains("killed"), "{message}");
}
