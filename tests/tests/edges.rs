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
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kelos_e2e::chroot::workspace_root;
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, bin, require_tool, run_with_timeout, unique_token, TempDir, TokenVolume,
    HELPER,
};
use proptest::prelude::*;

const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";
const TRACE_VAR: &str = "KELOS_CREDENTIAL_TRACE";
const GET_REQUEST: &[u8] = b"protocol=https\nhost=github.com\n\n";
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

fn run(cmd: impl std::borrow::BorrowMut<Command>, stdin: &[u8]) -> Output {
    let mut cmd = cmd;
    let cmd = std::mem::replace(cmd.borrow_mut(), Command::new("true"));
    run_with_timeout(cmd, stdin, TIMEOUT)
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
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

// ---------------------------------------------------------------------------------------
// The trace never writes into a file the binary reads
// ---------------------------------------------------------------------------------------

/// The helper with a clean environment, the token file and the trace set.
fn helper(home: &Path, token_file: &Path, trace: &OsStr) -> Command {
    let mut c = clean(bin(HELPER), home);
    c.env(TOKEN_FILE_VAR, token_file).env(TRACE_VAR, trace);
    c
}

fn password_of(out: &Output) -> Option<String> {
    kelos_e2e::attr(&out.stdout, "password")
}

#[test]
fn tracing_into_the_token_file_by_any_name_never_writes_to_it() {
    let home = TempDir::new("kelos-e2e-edges-trace-token");
    let token = unique_token("TraceTarget");
    let mut vol = TokenVolume::with_token(&token);
    vol.publish(token.as_bytes(), Some("2099-01-01T00:00:00Z"));
    let before = fs::read(vol.token_path()).unwrap();
    let expiry_before = fs::read(vol.expires_path()).unwrap();
    let resolved = fs::canonicalize(vol.token_path()).unwrap();
    let hard = home.join("hard-link");
    fs::hard_link(&resolved, &hard).unwrap();
    let soft = home.join("soft-link");
    symlink(vol.token_path(), &soft).unwrap();
    let names: Vec<(&str, PathBuf)> = vec![
        ("the same path", vol.token_path()),
        ("the resolved generation file", resolved.clone()),
        ("a hard link", hard),
        ("a symlink", soft),
        ("a path with ./", vol.dir().join(".").join("GITHUB_TOKEN")),
        ("the expiry file", vol.expires_path()),
    ];
    for (label, trace) in &names {
        // Several calls: the first must not spoil the file for the next.
        for round in 0..3 {
            let out = run(
                helper(home.path(), &vol.token_path(), trace.as_os_str()).arg("get"),
                GET_REQUEST,
            );
            assert!(out.status.success(), "{label}: {}", out.status);
            assert_eq!(
                password_of(&out).as_deref(),
                Some(token.as_str()),
                "{label}, call {round}: get gave no token; stderr {}",
                redacted(&out.stderr, &[&token])
            );
        }
        for args in [&["token"][..], &["env", "--set", "X"]] {
            let out = run(
                helper(home.path(), &vol.token_path(), trace.as_os_str()).args(args),
                b"",
            );
            assert!(
                out.status.success() && !out.stdout.is_empty(),
                "{label}: {args:?} gave nothing"
            );
        }
        assert_eq!(
            fs::read(vol.token_path()).unwrap(),
            before,
            "{label}: the token file was written to"
        );
        assert_eq!(
            fs::read(vol.expires_path()).unwrap(),
            expiry_before,
            "{label}: the expiry file was written to"
        );
    }
    // Any other file is still traced to, and holds no token.
    let other = home.join("trace.log");
    let out = run(
        helper(home.path(), &vol.token_path(), other.as_os_str()).arg("get"),
        GET_REQUEST,
    );
    assert_eq!(password_of(&out).as_deref(), Some(token.as_str()));
    let text = fs::read(&other).expect("the trace file is written");
    assert!(!text.is_empty());
    assert_no_token_in("the trace", &text, &[&token]);
}

#[test]
fn tracing_into_a_missing_token_file_never_creates_it() {
    let home = TempDir::new("kelos-e2e-edges-trace-missing");
    let token_file = home.join("GITHUB_TOKEN");
    let fallback = unique_token("Fallback");
    let out = run(
        {
            let mut c = helper(home.path(), &token_file, token_file.as_os_str());
            c.env("GITHUB_TOKEN", &fallback).arg("get");
            c
        },
        GET_REQUEST,
    );
    assert_eq!(password_of(&out).as_deref(), Some(fallback.as_str()));
    assert!(
        !token_file.exists(),
        "the trace created the token file (it would read empty from then on)"
    );
}

#[test]
fn a_relative_trace_path_gets_one_line_but_never_from_env() {
    let home = TempDir::new("kelos-e2e-edges-trace-relative");
    let token = unique_token("Relative");
    let vol = TokenVolume::with_token(&token);
    let rel = OsStr::new("trace.log");
    // The people's commands and git's get: one line, naming the rule; the answer as always.
    let out = run(
        helper(home.path(), &vol.token_path(), rel).arg("get"),
        GET_REQUEST,
    );
    assert_eq!(password_of(&out).as_deref(), Some(token.as_str()));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "get: {lines:?}");
    assert!(
        lines[0].contains("KELOS_CREDENTIAL_TRACE=trace.log") && lines[0].contains("absolute"),
        "{lines:?}"
    );
    for args in [
        &["token"][..],
        &["exec", "true"],
        &["doctor", "--no-token-ok"],
    ] {
        let out = run(helper(home.path(), &vol.token_path(), rel).args(args), b"");
        let lines: Vec<String> = stderr_lines(&out)
            .into_iter()
            .filter(|l| l.contains(TRACE_VAR))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: {}",
            redacted(&out.stderr, &[&token])
        );
        assert!(lines[0].contains("absolute"), "{args:?}: {lines:?}");
    }
    // env: silent (shells run it before every command).
    for args in [&["env"][..], &["env", "--set", "X"]] {
        let out = run(
            helper(home.path(), &vol.token_path(), rel)
                .env("GH_TOKEN", "old")
                .args(args),
            b"",
        );
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            redacted(&out.stderr, &[&token])
        );
    }
    assert!(
        !home.join("trace.log").exists(),
        "a relative trace path was written"
    );
}

#[test]
fn kelos_gh_says_the_same_line_for_a_relative_trace_path() {
    let home = TempDir::new("kelos-e2e-edges-trace-gh");
    let token = unique_token("GhRelative");
    let vol = TokenVolume::with_token(&token);
    let mut c = clean(bin("kelos-gh"), home.path());
    c.env(TOKEN_FILE_VAR, vol.token_path())
        .env(TRACE_VAR, "trace.log")
        .env("KELOS_GH_PATH", require_tool("true"))
        .arg("--version");
    let out = run(c, b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("kelos-gh: ") && lines[0].contains("absolute"),
        "{lines:?}"
    );
    assert!(!home.join("trace.log").exists());
}

#[test]
fn the_trace_never_writes_into_a_git_config_file() {
    let mut sb = kelos_e2e::GitSandbox::new(&[]);
    let token = unique_token("GitConfig");
    let vol = TokenVolume::with_token(&token);
    sb.use_token_file(&vol);
    let repo = sb.home().join("repo");
    fs::create_dir_all(repo.join("sub")).unwrap();
    let out = sb.git_in(&repo, &["init", "-q"]);
    assert!(out.status.success());
    // The dotfiles layout: ~/.gitconfig includes a file of its own.
    let included = sb.home().join("local.gitconfig");
    fs::write(&included, "[user]\n\tname = Included\n").unwrap();
    let mut global = fs::read_to_string(sb.gitconfig()).unwrap();
    global.push_str("[include]\n\tpath = local.gitconfig\n");
    fs::write(sb.gitconfig(), global).unwrap();
    // The global config (GIT_CONFIG_GLOBAL, ~/.gitconfig here), the file it includes, and
    // the repository's, while git asks the helper from below the repository's top.
    for config in [sb.gitconfig(), included, repo.join(".git/config")] {
        let before = fs::read(&config).unwrap();
        sb.set_env(TRACE_VAR, &config);
        for round in 0..2 {
            let mut c = sb.git_command();
            c.current_dir(repo.join("sub")).args(["credential", "fill"]);
            let out = run(c, GET_REQUEST);
            assert!(
                out.status.success(),
                "{}, round {round}: git failed: {}",
                config.display(),
                redacted(&out.stderr, &[&token])
            );
            assert_eq!(
                kelos_e2e::attr(&out.stdout, "password").as_deref(),
                Some(token.as_str())
            );
        }
        let out = sb.helper(&["doctor", "--no-token-ok"], b"");
        assert!(out.status.code().is_some());
        assert_eq!(
            fs::read(&config).unwrap(),
            before,
            "the trace wrote into {}",
            config.display()
        );
    }
    // configure, unconfigure and doctor trace nothing: a trace naming the file they edit
    // is never opened, so never created (an empty file) nor appended to.
    let scoped = sb.home().join("scoped.gitconfig");
    sb.set_env(TRACE_VAR, &scoped);
    let scoped_str = scoped.to_str().unwrap();
    let out = sb.helper(&["unconfigure", "--file", scoped_str], b"");
    assert!(out.status.code().is_some());
    assert!(
        !scoped.exists(),
        "unconfigure created the trace file it was given"
    );
    let out = sb.helper(&["configure", "--file", scoped_str], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&scoped).unwrap();
    assert!(
        !text.contains("git-credential-kelos["),
        "a trace line in the config:\n{text}"
    );
}

/// glab's config (`GLAB_CONFIG_DIR/config.yml`, else glab's default under `HOME`) is a file
/// kelos-glab edits and glab parses: the trace set to it is refused by every binary that
/// traces (the helper answering a GitLab host, kelos-glab, kelos-gh), which says why in one
/// line, and the file keeps every byte.
#[test]
fn the_trace_never_writes_into_glab_s_config() {
    let home = TempDir::new("kelos-e2e-edges-trace-glab");
    let token = unique_token("GlabConfig");
    let vol = TokenVolume::with_token(&token);
    // An entry glab would write for an https instance: nothing for kelos-glab to change.
    let config =
        b"git_protocol: ssh\nhosts:\n    gitlab.example.com:\n        api_protocol: https\n";
    let glab_dir = home.join("glab-config");
    for (dir_var, file) in [
        (Some(&glab_dir), glab_dir.join("config.yml")),
        (None, home.join(".config/glab-cli/config.yml")),
    ] {
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, config).unwrap();
        let with_env = |mut c: Command| {
            c.env("KELOS_GITLAB_TOKEN_FILE", vol.token_path())
                .env("GITLAB_HOST", "https://gitlab.example.com")
                .env(TOKEN_FILE_VAR, vol.token_path())
                .env(TRACE_VAR, &file);
            if let Some(dir) = dir_var {
                c.env("GLAB_CONFIG_DIR", dir);
            }
            c
        };
        let mut get = with_env(clean(bin(HELPER), home.path()));
        get.arg("get");
        let mut glab = with_env(clean(bin("kelos-glab"), home.path()));
        glab.env("KELOS_GLAB_PATH", require_tool("true"))
            .arg("--version");
        let mut gh = with_env(clean(bin("kelos-gh"), home.path()));
        gh.env("KELOS_GH_PATH", require_tool("true"))
            .arg("--version");
        let runs = [
            (
                HELPER,
                get,
                &b"protocol=https\nhost=gitlab.example.com\n\n"[..],
            ),
            ("kelos-glab", glab, b""),
            ("kelos-gh", gh, b""),
        ];
        for (program, c, stdin) in runs {
            let out = run(c, stdin);
            let what = format!("{program}, trace {}", file.display());
            assert!(
                out.status.success(),
                "{what}: {}",
                redacted(&out.stderr, &[&token])
            );
            assert_no_token_in(&what, &out.stderr, &[&token]);
            if program == HELPER {
                assert_eq!(password_of(&out).as_deref(), Some(token.as_str()), "{what}");
                assert_eq!(
                    kelos_e2e::attr(&out.stdout, "username").as_deref(),
                    Some("oauth2")
                );
            }
            assert_eq!(
                fs::read_to_string(&file).unwrap(),
                String::from_utf8_lossy(config),
                "{what} wrote into glab's config"
            );
            let lines = stderr_lines(&out);
            assert_eq!(lines.len(), 1, "{what}: {lines:?}");
            assert!(
                lines[0].starts_with(&format!(
                    "{program}: {TRACE_VAR}={} not traced to: it is a file this program, git or glab reads",
                    file.display()
                )),
                "{what}: {lines:?}"
            );
        }
        // Another file beside it is traced to, and nothing is said.
        let other = file.with_file_name("trace.log");
        let mut c = with_env(clean(bin("kelos-glab"), home.path()));
        c.env(TRACE_VAR, &other)
            .env("KELOS_GLAB_PATH", require_tool("true"))
            .arg("--version");
        let out = run(c, b"");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{:?}",
            stderr_lines(&out)
        );
        assert!(fs::read_to_string(&other).unwrap().contains("kelos-glab["));
    }
}

// ---------------------------------------------------------------------------------------
// Trace lines are plain words
// ---------------------------------------------------------------------------------------

/// Shapes of Rust debug text, which no trace line may hold. (Plain double quotes are
/// allowed: a person's `GH_HOST` is shown quoted on purpose, so that white space shows.)
const DEBUG_SHAPES: &[&str] = &[
    "Some(",
    "None",
    "Ok(",
    "Err(",
    "AtomicWriter",
    "Plain",
    " { ",
    " }",
    "\\\"",
    "\\u{",
    "'\\",
];

#[derive(Clone, Debug)]
enum FileState {
    Atomic { expiry: Option<&'static str> },
    Plain,
    Missing,
    Invalid,
    Relative,
}

fn file_state() -> impl Strategy<Value = FileState> {
    prop_oneof![
        prop_oneof![
            Just(None),
            Just(Some("2099-01-01T00:00:00Z")),
            Just(Some("1700000000")),
            Just(Some("not a date")),
        ]
        .prop_map(|expiry| FileState::Atomic { expiry }),
        Just(FileState::Plain),
        Just(FileState::Missing),
        Just(FileState::Invalid),
        Just(FileState::Relative),
    ]
}

fn request() -> impl Strategy<Value = String> {
    let protocol = prop_oneof![
        Just(Some("https")),
        Just(Some("http")),
        Just(Some("ftp")),
        Just(None),
    ];
    let host = prop_oneof![
        Just(Some("github.com")),
        Just(Some("gist.github.com")),
        Just(Some("GitHub.com.")),
        Just(Some("evil.example")),
        Just(Some("127.0.0.1:8080")),
        Just(Some("bad host")),
        Just(Some("h\u{1b}[2Jost")),
        Just(Some("x/y")),
        Just(None),
    ];
    let username = prop_oneof![
        Just(None),
        Just(Some("x-access-token")),
        Just(Some("someone")),
        Just(Some("")),
    ];
    let password = prop_oneof![Just(None), Just(Some("rejected-pw"))];
    (protocol, host, username, password).prop_map(|(p, h, u, pw)| {
        let mut r = String::new();
        for (k, v) in [
            ("protocol", p),
            ("host", h),
            ("username", u),
            ("password", pw),
        ] {
            if let Some(v) = v {
                r.push_str(&format!("{k}={v}\n"));
            }
        }
        r.push('\n');
        r
    })
}

fn assert_plain_trace(text: &str, what: &str) {
    for line in text.lines() {
        for shape in DEBUG_SHAPES {
            assert!(
                !line.contains(shape),
                "{what}: debug text {shape} in the trace line {line}"
            );
        }
        assert!(
            !line.chars().any(char::is_control),
            "{what}: a control character in the trace line {}",
            line.escape_debug()
        );
        assert!(
            line.split(' ').next().is_some_and(
                |t| t.contains('.') && t.chars().all(|c| c.is_ascii_digit() || c == '.')
            ),
            "{what}: a trace line that does not start with its time: {line}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn trace_lines_are_plain_words(
        state in file_state(),
        request in request(),
        op in prop_oneof![Just("get"), Just("erase"), Just("store"), Just("frobnicate")],
        fallback in prop_oneof![Just(None), Just(Some("GH_TOKEN")), Just(Some("GITHUB_TOKEN"))],
    ) {
        let home = TempDir::new("kelos-e2e-edges-trace-plain");
        let token = unique_token("Plain");
        let mut vol = TokenVolume::new();
        let token_file: PathBuf = match &state {
            FileState::Atomic { expiry } => {
                vol.publish(token.as_bytes(), *expiry);
                vol.token_path()
            }
            FileState::Plain => {
                let p = home.join("plain-token");
                fs::write(&p, format!("{token}\n")).unwrap();
                p
            }
            FileState::Missing => home.join("missing"),
            FileState::Invalid => {
                let p = home.join("invalid-token");
                fs::write(&p, "two words\n").unwrap();
                p
            }
            FileState::Relative => PathBuf::from("relative/token"),
        };
        let trace = home.join("trace.log");
        let runs: Vec<(Vec<&str>, &[u8])> = vec![
            (vec![op], request.as_bytes()),
            (vec!["--host", "ghe.example.com", op], request.as_bytes()),
            (vec!["token"], b""),
            (vec!["env", "--set", "X"], b""),
            (vec!["exec", "true"], b""),
        ];
        for (args, stdin) in &runs {
            let mut c = helper(home.path(), &token_file, trace.as_os_str());
            c.env("GH_TOKEN", "frozen-old").args(args);
            if let Some(name) = fallback {
                c.env(name, unique_token("Fallback"));
            }
            let out = run(c, stdin);
            prop_assert!(out.status.code().is_some(), "{args:?} was killed");
        }
        // kelos-gh, in front of a stand-in gh, for a GH_HOST of each kind.
        for gh_host in [
            "github.com",
            "acme.ghe.com",
            "ghe.example.com",
            "https://bad/",
            "bad\u{1b}[2Jhost",
        ] {
            let mut c = clean(bin("kelos-gh"), home.path());
            c.env(TOKEN_FILE_VAR, &token_file)
                .env(TRACE_VAR, &trace)
                .env("GH_HOST", gh_host)
                .env("KELOS_GH_PATH", require_tool("true"))
                .arg("--version");
            if let Some(name) = fallback {
                c.env(name, unique_token("Fallback"));
            }
            let out = run(c, b"");
            prop_assert!(out.status.success(), "kelos-gh with GH_HOST={gh_host}");
        }
        let text = fs::read_to_string(&trace).expect("the trace file is written");
        assert_plain_trace(&text, &format!("{state:?} {op} {request:?}"));
        assert_no_token_in("the trace", text.as_bytes(), &[&token]);
    }
}

// ---------------------------------------------------------------------------------------
// One stderr line for a token-file path with a newline
// ---------------------------------------------------------------------------------------

#[test]
fn a_token_file_path_with_a_newline_gives_one_stderr_line() {
    let home = TempDir::new("kelos-e2e-edges-newline");
    let path = home.join("tok\ngit-credential-kelos: forged second line");
    for (args, stdin) in [(&["get"][..], GET_REQUEST), (&["token"], b"")] {
        let mut c = clean(bin(HELPER), home.path());
        c.env(TOKEN_FILE_VAR, &path).args(args);
        let out = run(c, stdin);
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].contains("tok\\ngit-credential-kelos"), "{lines:?}");
    }
}

// ---------------------------------------------------------------------------------------
// exec of a script without #!
// ---------------------------------------------------------------------------------------

#[test]
fn exec_runs_a_script_without_a_shebang_with_bin_sh() {
    let home = TempDir::new("kelos-e2e-edges-enoexec");
    let dir = home.join("bin");
    fs::create_dir(&dir).unwrap();
    let script = dir.join("no-shebang");
    fs::write(&script, "printf '%s|' \"$0\" \"$@\"; echo; exit 7\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    // By path, and found in PATH: /bin/sh FILE ARGS, the exit status the script's.
    for (label, command, want0) in [
        ("a path", "./bin/no-shebang", "./bin/no-shebang".to_owned()),
        ("PATH", "no-shebang", script.display().to_string()),
    ] {
        let mut c = clean(bin(HELPER), home.path());
        c.env(
            "PATH",
            format!("{}:{}:/usr/bin:/bin", dir.display(), helper_dir().display()),
        )
        .args(["exec", command, "a b", "--c"]);
        let out = run(c, b"");
        assert_eq!(
            out.status.code(),
            Some(7),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{want0}|a b|--c|\n"),
            "{label}"
        );
        assert!(out.stderr.is_empty(), "{label}");
    }
    // A binary the kernel will not run (another machine's, damaged) is not given to sh:
    // its bytes would run as commands. 126 and one line, as before.
    let marker = home.join("ran");
    let binary = dir.join("binary");
    let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
    bytes.extend_from_slice(format!("\ntouch {}\n", marker.display()).as_bytes());
    fs::write(&binary, &bytes).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = clean(bin(HELPER), home.path());
    c.args(["exec", "./bin/binary"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(126));
    assert_eq!(stderr_lines(&out).len(), 1);
    assert!(!marker.exists(), "a binary was run by sh");
    // A file that is not executable is still 126, not run by sh.
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = clean(bin(HELPER), home.path());
    c.args(["exec", "./bin/no-shebang"]);
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(126));
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------
// A bare word close to a people's command
// ---------------------------------------------------------------------------------------

/// Runs the helper with `args` on a terminal (util-linux `script`): its stdin is a tty.
fn on_a_terminal(home: &Path, args: &str) -> Output {
    let script = require_tool("script");
    let mut c = clean(script, home);
    c.args(["-q", "-e", "-c"])
        .arg(format!("{} {args}", bin(HELPER).display()))
        .arg("/dev/null");
    run(c, b"")
}

#[test]
fn a_typo_at_a_terminal_names_the_command_meant() {
    let home = TempDir::new("kelos-e2e-edges-typo");
    for (word, meant) in [
        ("tokn", "token"),
        ("doctr", "doctor"),
        ("confgure", "configure"),
    ] {
        let out = on_a_terminal(home.path(), word);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{word}: {text}");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{word}: {lines:?}");
        assert!(
            lines[0].contains(&format!("`{meant}`")) && lines[0].contains(word),
            "{word}: {lines:?}"
        );
        // Without a terminal (git's calls): ignored, silent, exit 0.
        let mut c = clean(bin(HELPER), home.path());
        c.arg(word);
        let out = run(c, b"protocol=https\nhost=github.com\n\n");
        assert_eq!(out.status.code(), Some(0), "{word} from git");
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{word} from git"
        );
    }
    // A word close to nothing stays ignored even at a terminal.
    let out = on_a_terminal(home.path(), "frobnicate");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---------------------------------------------------------------------------------------
// --help lists only what a command takes
// ---------------------------------------------------------------------------------------

#[test]
fn help_lists_host_only_where_it_is_taken_and_as_often() {
    let home = TempDir::new("kelos-e2e-edges-help");
    let help = |name: &str| {
        let mut c = clean(bin(HELPER), home.path());
        c.args([name, "--help"]);
        let out = run(c, b"");
        assert!(out.status.success(), "{name} --help");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for name in ["env", "exec"] {
        let text = help(name);
        assert!(
            !text.contains("--host"),
            "{name} --help offers --host:\n{text}"
        );
    }
    let token = help("token");
    assert!(token.contains("--host <HOST>"), "{token}");
    assert!(!token.contains("repeatable"), "{token}");
    for name in ["configure", "doctor"] {
        let text = help(name);
        assert!(
            text.contains("--host <HOST>") && text.contains("repeatable"),
            "{text}"
        );
    }
    // What the help says is what the command does.
    for args in [
        &["env", "--host", "h.example"][..],
        &["exec", "--host", "h.example", "true"],
        &["token", "--host", "a.example", "--host", "b.example"],
    ] {
        let mut c = clean(bin(HELPER), home.path());
        c.args(args);
        let out = run(c, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// doctor's text output
// ---------------------------------------------------------------------------------------

#[test]
fn doctor_text_escapes_control_characters_and_masks_quoted_passwords() {
    let mut sb = kelos_e2e::GitSandbox::new(&[]);
    let token = unique_token("Doctor");
    let vol = TokenVolume::with_token(&token);
    sb.use_token_file(&vol);
    // A leaking helper whose command line holds ESC and BEL, and passwords in each quoting.
    let single = "SingleQuotedSecret1";
    let double = "DoubleQuotedSecret2";
    let mut config = fs::read(sb.gitconfig()).unwrap();
    config.extend_from_slice(
        format!(
            "[credential]\n\thelper = \"!f() {{ : \x1b]0;title\x07 \x1b[31m; \
             echo password='{single}'; echo \\\"password={double}\\\"; }}; f\"\n"
        )
        .as_bytes(),
    );
    fs::write(sb.gitconfig(), &config).unwrap();
    let out = sb.helper(&["doctor"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("git.leak"), "{text}");
    for raw in ['\x1b', '\x07'] {
        assert!(
            !out.stdout.contains(&(raw as u8)),
            "doctor wrote a raw {raw:?}:\n{}",
            text.escape_debug()
        );
    }
    assert!(text.contains("\\x1b") && text.contains("\\x07"), "{text}");
    for secret in [single, double, token.as_str()] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
}
