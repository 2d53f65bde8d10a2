//! End-to-end tests of the commands for the agent's own processes, against the static
//! binaries: `git-credential-kelos token`, `env`, `exec` and the shell snippet
//! `images/kelos-env.sh`, with real clients (bash, dash, npm, curl).
//!
//! - A long-lived parent with a frozen environment (`GITHUB_TOKEN` and `GH_TOKEN` = the first
//!   token) starts `bash -c` children (with `BASH_ENV` = the snippet) and `exec` children
//!   across kubelet-style rotations: each sees the file's token of that moment; with a bad
//!   file, the parent's values untouched.
//! - `env --format sh` through `eval` in dash and bash for generated tokens full of
//!   shell-special characters and command payloads (a property test): the value arrives
//!   exactly, nothing is executed (marker files).
//! - The real npm (`${GITHUB_TOKEN}` in `.npmrc`) through `exec`, and the real curl with
//!   `token`, against local servers that accept only the current token, across a rotation.
//! - `exec`: PID, argv and environment byte for byte (a stand-in that records them), exit
//!   statuses 127 and 126, usage errors; no token on any stderr or trace.
//!
//! The chroot test (`bash -lc` with the snippet in /etc/profile.d) is in consumers_chroot.rs.

use kelos_e2e::{assert_contains, text};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use kelos_e2e::chroot::workspace_root;
use kelos_e2e::gh_api::{
    env_map, run, show_env, standin_hook, write_executable, FakeApi, GhPod, Ran, Standin, API_HOST,
    EXEC_LOCK, STANDIN_EXIT_VAR, STANDIN_OUT_VAR,
};
use kelos_e2e::npm_registry::{NpmRegistry, NPM_USER};
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, bin, require_tool, unique_token, TempDir, TokenVolume, HELPER,
};
use proptest::prelude::*;

// The stand-in command is this very binary: the hook runs before main and, in a process
// started with KELOS_E2E_STANDIN_OUT, records what it was given and exits.
#[used]
#[link_section = ".init_array"]
static STANDIN_HOOK: extern "C" fn() = standin_hook;

const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of the static helper (for PATH).
fn helper_dir() -> PathBuf {
    bin(HELPER).parent().expect("bin dir").to_path_buf()
}

fn snippet() -> PathBuf {
    workspace_root().join("images/kelos-env.sh")
}

/// `PATH` = the helper's directory, the tested git's, then the system's.
fn std_path() -> OsString {
    let mut p = helper_dir().into_os_string();
    p.push(":");
    p.push(kelos_e2e::git_generations::git_dir());
    p.push(":/usr/local/bin:/usr/bin:/bin");
    p
}

/// A command with a cleared environment: PATH (helper first), HOME, the token file.
fn command(program: impl AsRef<OsStr>, home: &Path, token_file: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std_path())
        .env("HOME", home)
        .env("LC_ALL", "C")
        .env(TOKEN_FILE_VAR, token_file)
        .current_dir(home);
    cmd
}

fn helper_cmd(home: &Path, token_file: &Path, args: &[&str]) -> Command {
    let mut cmd = command(bin(HELPER), home, token_file);
    cmd.args(args);
    cmd
}

// ---------------------------------------------------------------------------------------
// A long-lived parent with a frozen environment
// ---------------------------------------------------------------------------------------

const END: &str = "--kelos-e2e-end--";

/// A dash process that lives for the whole test with the environment it started with, and
/// runs the commands it is sent (one per line) as its children, like an agent's runtime
/// starting shell commands. dash reads no BASH_ENV: its own variables stay frozen.
struct Parent {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: mpsc::Receiver<Vec<u8>>,
}

impl Parent {
    fn start(mut cmd: Command) -> Parent {
        cmd.arg("-c")
            .arg(format!(
                "while IFS= read -r c; do eval \"$c\"; printf '%s\\n' '{END}'; done"
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = {
            let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
            cmd.spawn().expect("start the parent dash")
        };
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut err, &mut buf);
            let _ = tx.send(buf);
        });
        Parent {
            child,
            stdin,
            stdout,
            stderr: rx,
        }
    }

    /// Runs `line` in the parent (its children inherit its frozen environment) and returns
    /// what it printed.
    fn ask(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").expect("write to the parent");
        self.stdin.flush().unwrap();
        let mut out = String::new();
        loop {
            let mut l = String::new();
            let n = self.stdout.read_line(&mut l).expect("read from the parent");
            assert!(n > 0, "the parent exited while running {line:?}");
            if l.trim_end() == END {
                return out;
            }
            out.push_str(&l);
        }
    }

    /// Ends the parent; its whole stderr.
    fn finish(mut self) -> Vec<u8> {
        drop(self.stdin);
        let status = self.child.wait().expect("wait for the parent");
        assert!(status.success(), "the parent failed: {status}");
        self.stderr.recv_timeout(TIMEOUT).unwrap_or_default()
    }
}

const SHOW: &str = r#"printf "%s|%s\n" "${GITHUB_TOKEN-<unset>}" "${GH_TOKEN-<unset>}""#;

/// The children the parent starts, each printing `GITHUB_TOKEN|GH_TOKEN` as it sees them.
fn children() -> Vec<(&'static str, String)> {
    vec![
        ("bash -c (BASH_ENV)", format!("bash -c '{SHOW}'")),
        ("bash script (BASH_ENV)", "bash ./show.sh".to_string()),
        (
            "git-credential-kelos exec sh -c",
            format!("git-credential-kelos exec sh -c '{SHOW}'"),
        ),
        (
            "git-credential-kelos exec -- env",
            "git-credential-kelos exec -- env | grep -E '^(GITHUB|GH)_TOKEN=' | sort | \
             sed 's/^[A-Z_]*=//' | paste -sd'|' -"
                .to_string(),
        ),
    ]
}

#[test]
fn children_of_a_frozen_parent_see_the_file_s_token_of_the_moment() {
    require_tool("bash");
    require_tool("dash");
    let home = TempDir::new("kelos-e2e-consumers-parent");
    fs::write(home.join("show.sh"), format!("{SHOW}\n")).unwrap();
    let first = unique_token("ParentFirst");
    let mut vol = TokenVolume::with_token(&first);
    let mut cmd = command("dash", home.path(), &vol.token_path());
    cmd.env("GITHUB_TOKEN", &first)
        .env("GH_TOKEN", &first)
        .env("BASH_ENV", snippet());
    let mut parent = Parent::start(cmd);
    let mut secrets = vec![first.clone()];

    let check = |parent: &mut Parent, want: &str, secrets: &[String], moment: &str| {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        for (label, line) in children() {
            let got = parent.ask(&line);
            assert_eq!(
                got.trim_end(),
                format!("{want}|{want}"),
                "{moment}: {label} saw {} (want {})",
                redacted(got.as_bytes(), &secrets),
                redacted(want.as_bytes(), &secrets)
            );
        }
        // The parent itself keeps its frozen values.
        let own = parent.ask(SHOW);
        assert_eq!(
            own.trim_end(),
            format!("{first}|{first}"),
            "{moment}: the parent"
        );
    };

    check(&mut parent, &first, &secrets, "before any rotation");
    for n in 0..4 {
        let next = unique_token("ParentNext");
        vol.publish(next.as_bytes(), None);
        secrets.push(next.clone());
        check(&mut parent, &next, &secrets, &format!("after rotation {n}"));
    }
    // A bad file: every child keeps the parent's values, never an empty or stale-file one.
    for (label, bad) in [
        ("inner whitespace", &b"ghs_two words"[..]),
        ("empty", b""),
        ("two tokens", b"ghs_a\nghs_b\n"),
    ] {
        vol.publish(bad, None);
        check(&mut parent, &first, &secrets, &format!("bad file: {label}"));
    }
    let last = unique_token("ParentLast");
    vol.publish(last.as_bytes(), None);
    secrets.push(last.clone());
    check(&mut parent, &last, &secrets, "after the file is good again");
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let stderr = parent.finish();
    assert_no_token_in("the parent's and children's stderr", &stderr, &secrets);
    assert!(
        stderr.is_empty(),
        "the snippet and the helper must be silent: {}",
        redacted(&stderr, &secrets)
    );
}

// ---------------------------------------------------------------------------------------
// env --format sh through eval, for every shell-special character
// ---------------------------------------------------------------------------------------

/// Pieces of generated tokens: every shell-special character a valid token may hold, and
/// payloads that would run a command (creating a marker file) if anything were executed.
const NASTY: &[&str] = &[
    "'",
    "\"",
    "$",
    "`",
    "\\",
    ";",
    "*",
    "?",
    "[a]",
    "~",
    "#",
    "&",
    "|",
    "<",
    ">M0",
    "!",
    "{}",
    "(",
    ")",
    "'\\''",
    "$(touch${IFS}M1)",
    "`touch${IFS}M2`",
    "';touch${IFS}M3;'",
    "\";touch${IFS}M4;\"",
    "$((0))",
    "${IFS}",
    "$HOME",
    "'$(touch${IFS}M5)'",
    "\\'$(touch${IFS}M6)\\'",
    "&&touch${IFS}M7",
    "|touch${IFS}M8",
    "\\\n",
];

fn token_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(NASTY).prop_map(str::to_string),
        1 => "[!-~]{1,6}",
    ];
    proptest::collection::vec(piece, 1..14)
        .prop_map(|pieces| format!("ghs_{}", pieces.concat()))
        // A token has no whitespace (the "\\\n" piece keeps only its backslash).
        .prop_map(|t| t.replace('\n', ""))
}

struct EvalWorld {
    home: TempDir,
    scratch: TempDir,
    token_file: PathBuf,
}

impl EvalWorld {
    fn new() -> EvalWorld {
        let home = TempDir::new("kelos-e2e-eval-home");
        let scratch = TempDir::new("kelos-e2e-eval-cwd");
        let token_file = home.join("GITHUB_TOKEN");
        EvalWorld {
            home,
            scratch,
            token_file,
        }
    }

    /// `eval "$(git-credential-kelos env --set EXTRA)"` in `shell`, run in the empty scratch
    /// directory; what the shell then has in GITHUB_TOKEN, GH_TOKEN and EXTRA, NUL-separated.
    fn eval_in(&self, shell: &str, token: &str) -> Vec<Vec<u8>> {
        let mut cmd = command(shell, self.home.path(), &self.token_file);
        cmd.current_dir(self.scratch.path())
            .env("GITHUB_TOKEN", "stale")
            .env("GH_TOKEN", "")
            .arg("-c")
            .arg(
                "set -eu; eval \"$(git-credential-kelos env --set EXTRA)\"; \
                 printf '%s\\0' \"$GITHUB_TOKEN\" \"$GH_TOKEN\" \"$EXTRA\"",
            );
        let ran = run(cmd);
        assert_no_token_in(&format!("{shell} stderr"), &ran.stderr, &[token]);
        assert!(
            ran.status.success() && ran.stderr.is_empty(),
            "{shell}: {} {}",
            ran.status,
            redacted(&ran.stderr, &[token])
        );
        let leftovers: Vec<OsString> = fs::read_dir(self.scratch.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            leftovers.is_empty(),
            "{shell}: eval of env's output ran something: it left {leftovers:?}"
        );
        ran.stdout
            .split(|b| *b == 0)
            .map(<[u8]>::to_vec)
            .take(3)
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn env_sh_round_trips_through_eval_in_dash_and_bash(token in token_strategy()) {
        let world = EvalWorld::new();
        fs::write(&world.token_file, format!("{token}\n")).unwrap();
        for shell in ["dash", "bash"] {
            let got = world.eval_in(shell, &token);
            let want = vec![token.as_bytes().to_vec(); 3];
            prop_assert_eq!(got, want, "{} did not get the token back", shell);
        }
        // The same assignments as JSON: one object, the same values.
        let ran = run(helper_cmd(world.home.path(), &world.token_file, &["env", "--format", "json", "--set", "EXTRA"]));
        let v: serde_json::Value = serde_json::from_slice(&ran.stdout).expect("env --format json is JSON");
        prop_assert_eq!(v, serde_json::json!({"EXTRA": token}));
        let ran = run(helper_cmd(world.home.path(), &world.token_file, &["token", "--format", "header-json"]));
        let v: serde_json::Value = serde_json::from_slice(&ran.stdout).expect("header-json is JSON");
        prop_assert_eq!(v, serde_json::json!({"Authorization": format!("Bearer {token}")}));
    }
}

/// The shells and their own quoting are what the property test leans on: make sure the
/// marker files would show up if env's output were executed (the test can fail).
#[test]
fn the_eval_test_sees_a_command_that_runs() {
    let world = EvalWorld::new();
    let mut cmd = command("dash", world.home.path(), &world.token_file);
    cmd.current_dir(world.scratch.path())
        .arg("-c")
        .arg("eval \"export GITHUB_TOKEN=ghs_x$(touch${IFS}M1)\"");
    assert!(run(cmd).status.success());
    assert!(world.scratch.join("M1").exists());
}

#[test]
fn env_prints_nothing_without_a_valid_file_token_even_with_fallbacks() {
    let home = TempDir::new("kelos-e2e-env-nothing");
    let stale = unique_token("EnvStale");
    let scratch = TempDir::new("kelos-e2e-env-files");
    fs::create_dir(scratch.join("dir")).unwrap();
    fs::write(scratch.join("spaced"), "ghs_two words\n").unwrap();
    fs::write(scratch.join("empty"), "").unwrap();
    for (label, file) in [
        ("missing", scratch.join("missing")),
        ("directory", scratch.join("dir")),
        ("inner space", scratch.join("spaced")),
        ("empty", scratch.join("empty")),
        ("relative", PathBuf::from("relative/GITHUB_TOKEN")),
    ] {
        for format in ["sh", "json"] {
            let mut cmd = helper_cmd(home.path(), &file, &["env", "--format", format]);
            cmd.env("GITHUB_TOKEN", &stale).env("GH_TOKEN", &stale);
            let ran = run(cmd);
            assert_eq!(ran.status.code(), Some(0), "{label} {format}");
            assert!(ran.stdout.is_empty(), "{label} {format}: printed something");
            assert!(ran.stderr.is_empty(), "{label} {format}: not silent");
        }
    }
    // Unset too.
    let mut cmd = helper_cmd(home.path(), Path::new("/x"), &["env"]);
    cmd.env_remove(TOKEN_FILE_VAR).env("GH_TOKEN", &stale);
    let ran = run(cmd);
    assert!(ran.status.success() && ran.stdout.is_empty() && ran.stderr.is_empty());
}

#[test]
fn env_sets_only_present_token_variables_and_set_names() {
    let home = TempDir::new("kelos-e2e-env-names");
    let token = unique_token("EnvNames");
    let vol = TokenVolume::with_token(&token);
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&[], &[], ""),
        (
            &["GH_TOKEN", "GITHUB_TOKEN"],
            &[],
            "export GITHUB_TOKEN='T'\nexport GH_TOKEN='T'\n",
        ),
        (
            &["GITHUB_ENTERPRISE_TOKEN", "GH_ENTERPRISE_TOKEN"],
            &["--set", "NPM_TOKEN", "--set=GH_ENTERPRISE_TOKEN"],
            "export GH_ENTERPRISE_TOKEN='T'\nexport GITHUB_ENTERPRISE_TOKEN='T'\n\
             export NPM_TOKEN='T'\n",
        ),
        (
            &["GH_TOKENS", "MY_GITHUB_TOKEN"],
            &["--set", "_x1"],
            "export _x1='T'\n",
        ),
    ];
    for (present, args, want) in cases {
        let mut all = vec!["env"];
        all.extend_from_slice(args);
        let mut cmd = helper_cmd(home.path(), &vol.token_path(), &all);
        for name in *present {
            cmd.env(name, "");
        }
        let ran = run(cmd);
        assert!(ran.status.success(), "{present:?} {args:?}");
        assert_eq!(
            text(&ran.stdout).replace(&token, "T"),
            *want,
            "{present:?} {args:?}"
        );
        assert!(ran.stderr.is_empty());
    }
}

#[test]
fn set_with_an_invalid_name_is_a_usage_error() {
    let home = TempDir::new("kelos-e2e-set-invalid");
    let token = unique_token("SetInvalid");
    let vol = TokenVolume::with_token(&token);
    let standin = Standin::new();
    for bad in ["1ABC", "A-B", "A B", "", "A=B", "$X", "NAME\u{e9}"] {
        for args in [
            vec!["env", "--set", bad],
            vec!["exec", "--set", bad, "--", "gh"],
        ] {
            let mut cmd = helper_cmd(home.path(), &vol.token_path(), &args);
            cmd.env(STANDIN_OUT_VAR, standin.out());
            let ran = run(cmd);
            assert_eq!(ran.status.code(), Some(2), "{args:?}");
            assert!(ran.stdout.is_empty(), "{args:?}");
            assert!(!standin.ran(), "{args:?}: the command ran");
            assert_contains(&ran.stderr, "--set", &format!("{args:?}: "));
            assert_no_token_in("stderr", &ran.stderr, &[&token]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// exec: the stand-in records what it was given
// ---------------------------------------------------------------------------------------

struct ExecFixture {
    pod: GhPod,
    standin: Standin,
}

impl ExecFixture {
    fn new() -> ExecFixture {
        ExecFixture {
            pod: GhPod::new("Exec"),
            standin: Standin::new(),
        }
    }

    /// PATH = the stand-in's directory (its `gh`), then the system's.
    fn path(&self) -> OsString {
        let mut p = self.standin.dir().as_os_str().to_owned();
        p.push(":");
        p.push(kelos_e2e::git_generations::git_dir());
        p.push(":/usr/bin:/bin");
        p
    }

    fn vars(&self) -> BTreeMap<OsString, OsString> {
        let mut m = BTreeMap::new();
        m.insert("PATH".into(), self.path());
        m.insert("HOME".into(), self.pod.home.home().into());
        m.insert(STANDIN_OUT_VAR.into(), self.standin.out().into());
        m.insert(TOKEN_FILE_VAR.into(), self.pod.volume.token_path().into());
        m
    }

    fn run_standin(
        &self,
        mut cmd: Command,
        secrets: &[&str],
    ) -> (Ran, kelos_e2e::gh_api::StandinRecord) {
        self.standin.reset();
        cmd.current_dir(self.pod.home.home());
        let ran = run(cmd);
        assert_no_token_in("stderr", &ran.stderr, secrets);
        assert!(
            self.standin.ran(),
            "the stand-in did not run ({}): {}",
            ran.status,
            redacted(&ran.stderr, secrets)
        );
        let record = self.standin.record();
        assert_eq!(record.pid, ran.pid, "exec must keep the PID");
        (ran, record)
    }
}

fn nul_joined(args: &[OsString]) -> Vec<u8> {
    let mut v = Vec::new();
    for a in args {
        v.extend_from_slice(a.as_bytes());
        v.push(0);
    }
    v
}

#[test]
fn exec_keeps_the_pid_argv_and_every_other_variable_byte_for_byte() {
    let fx = ExecFixture::new();
    let stale = unique_token("ExecStale");
    let secrets = [fx.pod.token.as_str(), stale.as_str()];
    let args: Vec<OsString> = vec![
        "api".into(),
        "--help".into(),
        "--".into(),
        "--set".into(),
        "X".into(),
        "".into(),
        "with space".into(),
        "line\nbreak".into(),
        "ünïcødé ☃".into(),
        OsString::from_vec(b"\xff\xfe invalid \xc3(".to_vec()),
        "$HOME `id` *".into(),
        "-V".into(),
    ];
    let mut vars = fx.vars();
    vars.insert("GITHUB_TOKEN".into(), stale.clone().into());
    vars.insert("GH_ENTERPRISE_TOKEN".into(), "".into());
    vars.insert("GH_TOKENS".into(), "not-a-token-var".into());
    vars.insert("A_FIRST".into(), "1".into());
    vars.insert(
        "Z_LAST".into(),
        OsString::from_vec(b"non-utf8 \xff".to_vec()),
    );
    vars.insert("NPM_TOKEN".into(), "old-npm".into());

    // Straight to the stand-in: the environment as the kernel hands it over.
    let mut direct = Command::new(fx.standin.gh());
    direct.env_clear().envs(&vars).arg0("gh").args(&args);
    let (_, want) = fx.run_standin(direct, &secrets);

    for (label, prefix) in [
        ("exec gh", vec!["exec", "--set", "NPM_TOKEN", "gh"]),
        ("exec -- gh", vec!["exec", "--set=NPM_TOKEN", "--", "gh"]),
    ] {
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear().envs(&vars).args(&prefix).args(&args);
        let (ran, got) = fx.run_standin(cmd, &secrets);
        assert!(ran.status.success(), "{label}");
        let mut argv = vec![OsString::from("gh")];
        argv.extend(args.iter().cloned());
        assert_eq!(got.cmdline, nul_joined(&argv), "{label}: argv");
        // Every entry as it was, in order, without the refreshed names; then the names.
        let mut environ = Vec::new();
        for entry in want.environ.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            if entry.starts_with(b"GITHUB_TOKEN=")
                || entry.starts_with(b"GH_ENTERPRISE_TOKEN=")
                || entry.starts_with(b"NPM_TOKEN=")
            {
                continue;
            }
            environ.extend_from_slice(entry);
            environ.push(0);
        }
        for name in ["GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "NPM_TOKEN"] {
            environ.extend_from_slice(format!("{name}={}\0", fx.pod.token).as_bytes());
        }
        assert!(
            got.environ == environ,
            "{label}: the environment:\n{}\n---- want\n{}",
            show_env(&env_map(&got.environ), &secrets),
            show_env(&env_map(&environ), &secrets)
        );
        assert!(ran.stderr.is_empty(), "{label}: exec must be silent");
    }
}

#[test]
fn exec_without_a_valid_file_token_leaves_the_environment_exactly_as_it_was() {
    let fx = ExecFixture::new();
    let stale = unique_token("ExecUntouched");
    let scratch = TempDir::new("kelos-e2e-exec-bad");
    fs::write(scratch.join("spaced"), "ghs_two words").unwrap();
    for file in [
        scratch.join("missing"),
        scratch.join("spaced"),
        scratch.path().to_path_buf(),
    ] {
        let mut vars = fx.vars();
        vars.insert(TOKEN_FILE_VAR.into(), file.into());
        vars.insert("GITHUB_TOKEN".into(), stale.clone().into());
        vars.insert("GH_TOKEN".into(), stale.clone().into());
        let mut direct = Command::new(fx.standin.gh());
        direct.env_clear().envs(&vars).arg0("gh");
        let (_, want) = fx.run_standin(direct, &[&stale]);
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear()
            .envs(&vars)
            .args(["exec", "--set", "NPM_TOKEN", "gh"]);
        let (ran, got) = fx.run_standin(cmd, &[&stale]);
        assert!(ran.status.success());
        assert!(got.environ == want.environ, "the environment changed");
        assert!(ran.stderr.is_empty());
    }
}

#[test]
fn exec_keeps_ignored_signals_closed_descriptors_and_the_exit_status() {
    let fx = ExecFixture::new();
    for ignored in [true, false] {
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear().envs(fx.vars()).args(["exec", "gh"]);
        if ignored {
            // SAFETY: signal(2) only, between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let (_, record) = fx.run_standin(cmd, &[&fx.pod.token]);
        assert_eq!(
            record.ignores(libc::SIGPIPE),
            ignored,
            "SIGPIPE ignored: {ignored}"
        );
        assert_eq!(record.open_std_fds, [0, 1, 2]);
    }
    for fd in [0, 2] {
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear()
            .envs(fx.vars())
            .env("GH_TOKEN", "stale")
            .args(["exec", "gh"]);
        // SAFETY: close(2) only, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::close(fd);
                Ok(())
            });
        }
        let (_, record) = fx.run_standin(cmd, &[&fx.pod.token]);
        let want: Vec<i32> = [0, 1, 2].into_iter().filter(|f| *f != fd).collect();
        assert_eq!(
            record.open_std_fds, want,
            "descriptor {fd} closed by the caller"
        );
        assert_eq!(
            record.var("GH_TOKEN").as_deref(),
            Some(OsStr::new(&fx.pod.token))
        );
    }
    for code in [0, 1, 42, 126, 127, 255] {
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear()
            .envs(fx.vars())
            .env(STANDIN_EXIT_VAR, code.to_string())
            .args(["exec", "gh"]);
        let (ran, _) = fx.run_standin(cmd, &[&fx.pod.token]);
        assert_eq!(ran.status.code(), Some(code));
    }
}

#[test]
fn exec_exits_127_when_not_found_and_126_when_not_executable() {
    let fx = ExecFixture::new();
    let scratch = TempDir::new("kelos-e2e-exec-codes");
    let junk = scratch.join("junk");
    write_executable(&junk, b"\x7fELF not really an executable\n");
    let plain = scratch.join("plain");
    fs::write(&plain, "#!/bin/sh\nexit 0\n").unwrap();
    let mut path = scratch.path().as_os_str().to_owned();
    path.push(":/usr/bin:/bin");
    let cases: Vec<(Vec<OsString>, i32, &str)> = vec![
        (
            vec!["no-such-command-kelos".into()],
            127,
            "no-such-command-kelos",
        ),
        (vec![scratch.join("missing").into()], 127, "missing"),
        (vec![junk.clone().into()], 126, "junk"),
        (vec!["junk".into()], 126, "junk"),
        (vec![plain.clone().into()], 126, "plain"),
        (vec!["plain".into()], 126, "plain"),
        (vec![scratch.path().into()], 126, "kelos-e2e-exec-codes"),
    ];
    for (argv, code, named) in cases {
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear()
            .envs(fx.vars())
            .env("PATH", &path)
            .env("GH_TOKEN", "stale")
            .arg("exec")
            .args(&argv);
        let ran = run(cmd);
        assert_eq!(
            ran.status.code(),
            Some(code),
            "{argv:?}: {}",
            text(&ran.stderr)
        );
        let lines: Vec<String> = text(&ran.stderr).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 1, "{argv:?}: one line on stderr: {lines:?}");
        assert!(
            lines[0].starts_with("git-credential-kelos: ") && lines[0].contains(named),
            "{argv:?}: {lines:?}"
        );
        assert_no_token_in("stderr", &ran.stderr, &[&fx.pod.token]);
    }
    // Usage errors: no command, an option of ours misspelt, a --host that would do nothing.
    for args in [
        &["exec"][..],
        &["exec", "--sett", "X", "gh"],
        &["exec", "--set"],
        &["exec", "--host", "ghe.example.com", "gh"],
        &["--host", "ghe.example.com", "exec", "gh"],
        &["env", "--host", "ghe.example.com"],
    ] {
        let mut cmd = Command::new(bin(HELPER));
        cmd.env_clear().envs(fx.vars()).args(args);
        let ran = run(cmd);
        assert_eq!(ran.status.code(), Some(2), "{args:?}");
        assert!(!fx.standin.ran());
    }
}

#[test]
fn no_token_on_stderr_or_in_the_trace() {
    let fx = ExecFixture::new();
    let trace_dir = TempDir::new("kelos-e2e-consumers-trace");
    let trace = trace_dir.join("trace");
    let stale = unique_token("TraceStale");
    let secrets = [fx.pod.token.as_str(), stale.as_str()];
    let runs: Vec<Vec<&str>> = vec![
        vec!["env"],
        vec!["env", "--format", "json", "--set", "X"],
        vec!["token"],
        vec!["token", "--format", "header-json"],
        vec!["--host", "ghe.example.com", "token"],
        vec!["exec", "--set", "X", "gh"],
    ];
    for file_ok in [true, false] {
        for args in &runs {
            for sink in [OsString::from("1"), trace.clone().into()] {
                let mut cmd = Command::new(bin(HELPER));
                cmd.env_clear()
                    .envs(fx.vars())
                    .env("GITHUB_TOKEN", &stale)
                    .env("GH_ENTERPRISE_TOKEN", &stale)
                    .env("KELOS_CREDENTIAL_TRACE", &sink)
                    .args(args);
                if !file_ok {
                    cmd.env(TOKEN_FILE_VAR, trace_dir.join("missing"));
                }
                fx.standin.reset();
                let ran = run(cmd);
                assert_no_token_in(&format!("stderr of {args:?}"), &ran.stderr, &secrets);
                if sink == "1" {
                    assert!(
                        text(&ran.stderr).contains("git-credential-kelos["),
                        "{args:?}: tracing to stderr wrote no trace line"
                    );
                }
            }
        }
    }
    let traced = fs::read(&trace).expect("the trace file was written");
    assert_no_token_in("the trace file", &traced, &secrets);
    let traced = text(&traced);
    for want in [
        "env: setting",
        "exec: setting",
        "token: ",
        "no valid token from the file",
    ] {
        assert!(
            traced.contains(want),
            "the trace has no {want:?} line:\n{traced}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Real clients: npm and curl
// ---------------------------------------------------------------------------------------

fn npm() -> PathBuf {
    require_tool("npm")
}

#[test]
fn npm_with_github_token_in_npmrc_through_exec_follows_rotation() {
    let npm = npm();
    let home = TempDir::new("kelos-e2e-npm-home");
    let first = unique_token("NpmFirst");
    let mut vol = TokenVolume::with_token(&first);
    let registry = NpmRegistry::start(&first);
    // The agent's .npmrc: npm expands ${GITHUB_TOKEN} from its own environment.
    fs::write(
        home.join(".npmrc"),
        format!("{}:_authToken=${{GITHUB_TOKEN}}\n", registry.nerf_dart()),
    )
    .unwrap();
    let stale = unique_token("NpmStale");
    let mut secrets = vec![first.clone(), stale.clone()];
    let token_path = vol.token_path();
    let whoami = |through_exec: bool| -> Ran {
        let mut cmd = if through_exec {
            let mut c = command(bin(HELPER), home.path(), &token_path);
            c.arg("exec").arg(&npm);
            c
        } else {
            command(&npm, home.path(), &token_path)
        };
        cmd.args(["whoami", "--registry", &registry.url()])
            .env("GITHUB_TOKEN", &stale)
            .env("npm_config_cache", home.join("npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .env("NO_UPDATE_NOTIFIER", "1");
        run(cmd)
    };

    // Without exec, npm sends the frozen token and is refused: the test can fail.
    let ran = whoami(false);
    assert!(
        !ran.status.success(),
        "npm with the stale token must be refused"
    );
    assert!(registry.seen().iter().any(|r| r.sent_token && !r.accepted));

    for round in 0..3 {
        if round > 0 {
            let next = unique_token("NpmNext");
            vol.publish(next.as_bytes(), None);
            registry.accept_only(&next);
            secrets.push(next);
        }
        let before = registry.seen().len();
        let ran = whoami(true);
        let s: Vec<&str> = secrets.iter().map(String::as_str).collect();
        assert_no_token_in("npm's stderr", &ran.stderr, &s);
        assert_no_token_in("npm's stdout", &ran.stdout, &s);
        assert!(
            ran.status.success(),
            "round {round}: npm whoami through exec failed ({}):\n{}",
            ran.status,
            redacted(&ran.stderr, &s)
        );
        assert_eq!(text(&ran.stdout).trim(), NPM_USER, "round {round}");
        let seen = registry.seen();
        assert!(
            seen[before..]
                .iter()
                .any(|r| r.request_line.starts_with("GET /-/whoami") && r.accepted),
            "round {round}: the registry saw no accepted whoami: {:?}",
            &seen[before..]
        );
    }
}

#[test]
fn curl_with_token_plain_and_header_json_follow_rotation() {
    require_tool("curl");
    let home = TempDir::new("kelos-e2e-curl-home");
    let first = unique_token("CurlFirst");
    let mut vol = TokenVolume::with_token(&first);
    let api = FakeApi::start(&first);
    let mut secrets = vec![first.clone()];
    let script = format!(
        "curl -sS --fail-with-body --noproxy '' -x {proxy} \
         -H \"Authorization: Bearer $(git-credential-kelos token)\" http://{API_HOST}/user",
        proxy = api.proxy_url()
    );
    for round in 0..3 {
        let current = if round == 0 {
            first.clone()
        } else {
            let next = unique_token("CurlNext");
            vol.publish(next.as_bytes(), None);
            api.accept_only(&next);
            secrets.push(next.clone());
            next
        };
        let s: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let mut cmd = command("sh", home.path(), &vol.token_path());
        cmd.env("GITHUB_TOKEN", &first).args(["-c", &script]);
        let ran = run(cmd);
        assert_no_token_in("curl's stderr", &ran.stderr, &s);
        assert!(
            ran.status.success(),
            "round {round}: curl failed ({}): {}",
            ran.status,
            redacted(&ran.stderr, &s)
        );
        assert!(
            text(&ran.stdout).contains("\"login\":\"kelos-agent\""),
            "round {round}"
        );
        assert_eq!(
            api.seen().last().and_then(|r| r.token.clone()).as_deref(),
            Some(current.as_str()),
            "round {round}: the API did not get the current token"
        );

        let ran = run(helper_cmd(
            home.path(),
            &vol.token_path(),
            &["token", "--format", "header-json"],
        ));
        assert!(ran.status.success());
        let v: serde_json::Value =
            serde_json::from_slice(&ran.stdout).expect("header-json is one JSON object");
        assert_eq!(
            v,
            serde_json::json!({"Authorization": format!("Bearer {current}")})
        );
        assert!(ran.stdout.ends_with(b"}\n"), "one line");
        assert!(ran.stderr.is_empty());
    }
    // The stale variable alone is refused: the test can fail.
    let mut cmd = command("sh", home.path(), &vol.token_path());
    cmd.env("T", &first).args([
        "-c",
        &format!(
            "curl -sS --fail-with-body --noproxy '' -x {} -H \"Authorization: Bearer $T\" \
             http://{API_HOST}/user",
            api.proxy_url()
        ),
    ]);
    assert!(!run(cmd).status.success());
}

#[test]
fn token_without_a_token_exits_1_with_one_line_and_nothing_on_stdout() {
    let home = TempDir::new("kelos-e2e-token-none");
    let scratch = TempDir::new("kelos-e2e-token-none-files");
    let fallback = unique_token("TokenFallback");
    for format in ["plain", "header-json"] {
        let mut cmd = helper_cmd(
            home.path(),
            &scratch.join("missing"),
            &["token", "--format", format],
        );
        cmd.env_remove("GITHUB_TOKEN");
        let ran = run(cmd);
        assert_eq!(ran.status.code(), Some(1), "{format}");
        assert!(ran.stdout.is_empty(), "{format}");
        let lines: Vec<&str> = std::str::from_utf8(&ran.stderr).unwrap().lines().collect();
        assert_eq!(lines.len(), 1, "{format}: {lines:?}");
        assert!(
            lines[0].starts_with("git-credential-kelos: no token for github.com"),
            "{lines:?}"
        );
    }
    // The fallback for the host's class, like get: GH_TOKEN for github.com,
    // GH_ENTERPRISE_TOKEN for an Enterprise Server host.
    for (host, var) in [
        ("github.com", "GH_TOKEN"),
        ("ghe.example.com", "GH_ENTERPRISE_TOKEN"),
    ] {
        let mut cmd = helper_cmd(
            home.path(),
            &scratch.join("missing"),
            &["token", "--host", host],
        );
        cmd.env(var, &fallback);
        let ran = run(cmd);
        assert!(ran.status.success(), "{host}");
        assert_eq!(text(&ran.stdout), format!("{fallback}\n"), "{host}");
        assert_no_token_in("stderr", &ran.stderr, &[&fallback]);
    }
    let mut cmd = helper_cmd(
        home.path(),
        &scratch.join("missing"),
        &["token", "--host", "ghe.example.com"],
    );
    cmd.env("GH_TOKEN", &fallback);
    let ran = run(cmd);
    assert_eq!(
        ran.status.code(),
        Some(1),
        "GH_TOKEN is no fallback for an enterprise host"
    );
    assert_no_token_in("stderr", &ran.stderr, &[&fallback]);
}

#[test]
fn token_prints_an_expired_token_with_a_warning_and_env_stays_silent() {
    let home = TempDir::new("kelos-e2e-token-expired");
    let token = unique_token("Expired");
    let mut vol = TokenVolume::new();
    vol.publish(token.as_bytes(), Some("2020-01-01T00:00:00Z"));
    let ran = run(helper_cmd(home.path(), &vol.token_path(), &["token"]));
    assert!(ran.status.success());
    assert_eq!(text(&ran.stdout), format!("{token}\n"));
    let err = text(&ran.stderr);
    assert!(
        err.contains("expired at 2020-01-01T00:00:00Z") && err.contains("refresher"),
        "{err}"
    );
    assert_no_token_in("stderr", &ran.stderr, &[&token]);
    // env's callers are shells before every command: no warning there.
    let mut cmd = helper_cmd(home.path(), &vol.token_path(), &["env"]);
    cmd.env("GH_TOKEN", "stale");
    let ran = run(cmd);
    assert_eq!(text(&ran.stdout), format!("export GH_TOKEN='{token}'\n"));
    assert!(ran.stderr.is_empty());
}

#[test]
fn the_image_installs_the_snippet_verbatim() {
    // install.sh carries the snippet (an image build often has nothing else of the
    // repository): it must be images/kelos-env.sh byte for byte.
    let install = fs::read_to_string(workspace_root().join("images/install.sh")).unwrap();
    let start = install
        .find("<<'KELOS_ENV_SH'\n")
        .expect("install.sh writes the snippet from a here-document")
        + "<<'KELOS_ENV_SH'\n".len();
    let end = start
        + install[start..]
            .find("\nKELOS_ENV_SH\n")
            .expect("end of the here-document")
        + 1;
    assert_eq!(
        &install[start..end],
        fs::read_to_string(snippet()).unwrap(),
        "install.sh's copy of images/kelos-env.sh differs from it"
    );
    let dockerfile =
        fs::read_to_string(workspace_root().join("images/example-agent/Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|l| l == "ENV BASH_ENV=/etc/profile.d/kelos-env.sh"),
        "the example image does not name the snippet in BASH_ENV"
    );
}
