//! End-to-end tests of `kelos-glab`, the glab wrapper: with the real glab 1.53 against the
//! GitLab API stand-in (tests/src/gitlab_api.rs) over http on a non-standard port and over
//! https, across a rotation that revokes the old token at once while `GITLAB_TOKEN` stays
//! frozen at the old one; and with a compiled stand-in glab that records its PID, argv and
//! environment exactly (the harness of the kelos-gh suite, `kelos_e2e::gh_api`).
//!
//! Every test with the real glab runs its control too: the same call without the wrapper
//! (the real glab alone, as in a pod without Kelos's helpers) fails.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use kelos_e2e::gh_api::{
    env_map, install_wrapper_as, path_of, run, show_env, standin_hook, Ran, Standin, StandinRecord,
    STANDIN_EXIT_VAR, STANDIN_OUT_VAR, STANDIN_SIGNAL_VAR,
};
use kelos_e2e::gitlab_api::{unique_gitlab_token, GitLabApi, GlabHome, USER_JSON};
use kelos_e2e::secrets::{contains, redacted};
use kelos_e2e::{assert_no_token_in, require_tool, text, TempDir, TokenVolume};

// The stand-in glab is this very binary (see kelos_e2e::gh_api).
#[used]
#[link_section = ".init_array"]
static STANDIN_HOOK: extern "C" fn() = standin_hook;

const WRAPPER: &str = "kelos-glab";
const TOKEN_FILE_VAR: &str = "KELOS_GITLAB_TOKEN_FILE";

/// A pod as Kelos's GitLab provider starts one: a glab home (`GLAB_CONFIG_DIR` inside it),
/// a token volume, and the wrapper as `glab` in a directory of its own, first in PATH.
struct GlabPod {
    home: GlabHome,
    volume: TokenVolume,
    wrapper_dir: TempDir,
    wrapper: PathBuf,
}

impl GlabPod {
    fn new(token: &str) -> GlabPod {
        let wrapper_dir = TempDir::new("kelos-e2e-glab-wrapper");
        let wrapper = install_wrapper_as(wrapper_dir.path(), WRAPPER, "glab");
        GlabPod {
            home: GlabHome::new(),
            volume: TokenVolume::with_token(token),
            wrapper_dir,
            wrapper,
        }
    }

    /// kubelet's rotation of the Secret volume.
    fn rotate(&mut self, token: &str) {
        self.volume.publish(token.as_bytes(), None);
    }

    /// `program` in the pod's environment: PATH = the wrapper's directory, `then`, the tested
    /// git's PATH; the token file, `GITLAB_HOST`, and `GITLAB_TOKEN` frozen at `frozen`.
    fn command(&self, program: &Path, then: &[&Path], host: &str, frozen: &str) -> Command {
        let mut dirs = vec![self.wrapper_dir.path()];
        dirs.extend_from_slice(then);
        let mut path = path_of(&dirs);
        path.push(":");
        path.push(kelos_e2e::git_generations::test_path());
        let mut c = self.home.command(program);
        c.env("PATH", path)
            .env(TOKEN_FILE_VAR, self.volume.token_path())
            .env("GITLAB_HOST", host)
            .env("GITLAB_TOKEN", frozen);
        c
    }

    /// `glab args` through the wrapper, the real glab after it in PATH.
    fn wrapped(&self, host: &str, frozen: &str, args: &[&str]) -> Command {
        let real = real_glab();
        let mut c = self.command(&self.wrapper, &[real.parent().unwrap()], host, frozen);
        c.args(args);
        c
    }

    /// The control: the real glab alone, same environment.
    fn direct(&self, host: &str, frozen: &str, args: &[&str]) -> Command {
        let real = real_glab();
        let mut c = self.command(&real, &[real.parent().unwrap()], host, frozen);
        c.args(args);
        c
    }
}

fn real_glab() -> PathBuf {
    require_tool("glab")
}

/// Runs `c`; its stdout and stderr must hold none of `secrets`.
fn run_clean(c: Command, secrets: &[&str]) -> Ran {
    let out = run(c);
    assert_no_token_in("stdout", &out.stdout, secrets);
    assert_no_token_in("stderr", &out.stderr, secrets);
    out
}

#[track_caller]
fn assert_ok(out: &Ran, what: &str, api: &GitLabApi) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {} (stand-in: {:?})",
        out.status,
        text(&out.stderr),
        api.request_log()
    );
}

/// No token of `tokens`, nothing token-shaped (`glpat-`), and no non-empty `token:` key in
/// any file under the glab home (`GLAB_CONFIG_DIR` is inside it).
fn assert_nothing_token_shaped_on_disk(home: &GlabHome, tokens: &[&str]) {
    let files = home.files();
    assert!(
        files.iter().any(|(p, _, _)| p == &home.config_file()),
        "no {}",
        home.config_file().display()
    );
    for (path, bytes, _) in &files {
        let label = path.display().to_string();
        assert_no_token_in(&label, bytes, tokens);
        assert!(!contains(bytes, b"glpat-"), "{label} holds a glpat- string");
        for line in text(bytes).lines() {
            if let Some(value) = line.trim_start().strip_prefix("token:") {
                assert!(
                    value.trim().is_empty(),
                    "{label} stores a token: {}",
                    redacted(line.as_bytes(), tokens)
                );
            }
        }
    }
}

/// The config file's bytes, inode, mode and modification time.
fn config_state(home: &GlabHome) -> (Vec<u8>, u64, u32, i64, i64) {
    let meta = fs::metadata(home.config_file()).expect("glab's config");
    (
        fs::read(home.config_file()).unwrap(),
        meta.ino(),
        meta.mode() & 0o7777,
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

// ---------------------------------------------------------------------------------------
// With the real glab 1.53
// ---------------------------------------------------------------------------------------

/// `GITLAB_HOST=http://127.0.0.1:PORT` as in the PR's own test: the real glab alone speaks
/// TLS to the plain port; through the wrapper, `glab api user` calls http and sends the
/// file's token, before and after a rotation that revokes the old one while `GITLAB_TOKEN`
/// stays frozen; nothing token-shaped is on disk; a second run changes no byte nor mtime of
/// glab's config. The real glab alone, once the entry exists, sends the frozen token: 401.
#[test]
fn glab_api_user_over_http_on_a_port_sends_the_current_token_across_a_rotation() {
    let (old, new) = (
        unique_gitlab_token("HttpOld"),
        unique_gitlab_token("HttpNew"),
    );
    let secrets = [old.as_str(), new.as_str()];
    let api = GitLabApi::start(&[&old]);
    let mut pod = GlabPod::new(&old);
    let host = api.base_url();
    assert!(host.starts_with("http://127.0.0.1:"), "{host}");

    // Control: the real glab alone calls https on the plain port.
    let out = run_clean(pod.direct(&host, &old, &["api", "user"]), &secrets);
    assert!(!out.status.success(), "the real glab alone reached {host}");
    assert_eq!(api.tls_handshakes(), 1, "{}", text(&out.stderr));
    assert!(api.requests().is_empty(), "{:?}", api.request_log());

    // Through the wrapper: http, the file's token.
    api.reset();
    let out = run_clean(pod.wrapped(&host, &old, &["api", "user"]), &secrets);
    assert_ok(&out, "glab api user through kelos-glab", &api);
    assert_eq!(text(&out.stdout).trim(), USER_JSON);
    assert_eq!(
        out.stderr,
        b"",
        "the wrapper said something: {}",
        text(&out.stderr)
    );
    assert_eq!(api.request_log(), ["GET /api/v4/user PRIVATE-TOKEN -> 200"]);
    assert!(
        api.presented_tokens() == [old.as_str()],
        "not the file's token"
    );
    assert_eq!(api.tls_handshakes(), 0);

    // The rotation: the file gets the new token, GitLab revokes the old one at once;
    // GITLAB_TOKEN in the environment stays the old one.
    pod.rotate(&new);
    api.set_accepted(&[&new]);
    api.reset();
    let out = run_clean(pod.wrapped(&host, &old, &["api", "user"]), &secrets);
    assert_ok(&out, "glab api user after the rotation", &api);
    assert_eq!(text(&out.stdout).trim(), USER_JSON);
    assert!(
        api.presented_tokens() == [new.as_str()],
        "the stand-in saw another token than the current one ({:?})",
        api.request_log()
    );
    assert_eq!(api.auth_failures(), 0);

    // Control after the rotation: the real glab alone (the host entry exists now) sends the
    // frozen, revoked token.
    api.reset();
    let out = run_clean(pod.direct(&host, &old, &["api", "user"]), &secrets);
    assert!(!out.status.success(), "the revoked token was accepted");
    assert!(api.presented_tokens() == [old.as_str()]);
    assert_eq!(api.auth_failures(), 1);

    assert_nothing_token_shaped_on_disk(&pod.home, &secrets);
    let config = config_state(&pod.home);
    assert_eq!(config.2, 0o600, "glab requires its config to be 0600");
    // glab's default config (its first run, the control) and the entry at the end of hosts.
    let entry = format!(
        "    {h}:\n        api_protocol: http\n        api_host: {h}\n        git_protocol: http\n",
        h = api.host()
    );
    assert!(text(&config.0).ends_with(&entry), "{}", text(&config.0));

    // A second run: the entry is there, not a byte nor a time changes.
    api.reset();
    let out = run_clean(pod.wrapped(&host, &old, &["api", "user"]), &secrets);
    assert_ok(&out, "the second run", &api);
    assert!(api.presented_tokens() == [new.as_str()]);
    assert_eq!(
        config_state(&pod.home),
        config,
        "the second run changed glab's config"
    );
}

/// Over https on a port (the stand-in behind TLS, trusted by `SSL_CERT_FILE`): glab needs
/// no host entry, so the wrapper writes none; it sends the file's token after a rotation,
/// where the real glab alone sends the frozen, revoked one. Nothing token-shaped on disk.
#[test]
fn glab_api_user_over_https_sends_the_current_token_after_a_rotation() {
    let (old, new) = (unique_gitlab_token("TlsOld"), unique_gitlab_token("TlsNew"));
    let secrets = [old.as_str(), new.as_str()];
    let api = GitLabApi::start_https(&[&old]);
    let cert = api.ca_cert().expect("a certificate").to_path_buf();
    let mut pod = GlabPod::new(&old);
    let host = api.base_url();
    assert!(host.starts_with("https://127.0.0.1:"), "{host}");
    let with_cert = |mut c: Command| {
        c.env("SSL_CERT_FILE", &cert);
        c
    };

    let out = run_clean(
        with_cert(pod.wrapped(&host, &old, &["api", "user"])),
        &secrets,
    );
    assert_ok(&out, "glab api user over https through kelos-glab", &api);
    assert_eq!(text(&out.stdout).trim(), USER_JSON);

    pod.rotate(&new);
    api.set_accepted(&[&new]);
    api.reset();
    let out = run_clean(
        with_cert(pod.wrapped(&host, &old, &["api", "user"])),
        &secrets,
    );
    assert_ok(&out, "glab api user over https after the rotation", &api);
    assert_eq!(text(&out.stdout).trim(), USER_JSON);
    assert_eq!(out.stderr, b"", "{}", text(&out.stderr));
    assert!(
        api.presented_tokens() == [new.as_str()],
        "not the current token only: {:?}",
        api.request_log()
    );

    // Control: the real glab alone sends the frozen token.
    api.reset();
    let out = run_clean(
        with_cert(pod.direct(&host, &old, &["api", "user"])),
        &secrets,
    );
    assert!(!out.status.success(), "the revoked token was accepted");
    assert!(api.presented_tokens() == [old.as_str()]);
    assert_eq!(api.auth_failures(), 1);

    // glab wrote its own default config on its first run; the wrapper added no entry.
    let config = text(&fs::read(pod.home.config_file()).unwrap());
    assert!(
        !config.contains(&api.host()),
        "an entry for https: {config}"
    );
    assert_nothing_token_shaped_on_disk(&pod.home, &secrets);
}

/// A config glab and its user wrote (glab's defaults, a global key, another host with a
/// token stored by `glab config set`): the wrapper adds the entry and keeps every line of it,
/// in order; glab still reads the other host's token and the global key. A second run
/// changes nothing.
#[test]
fn another_host_and_every_key_are_kept() {
    let token = unique_gitlab_token("Keep");
    let stored = unique_gitlab_token("Stored");
    let secrets = [token.as_str(), stored.as_str()];
    let api = GitLabApi::start(&[&token]);
    let pod = GlabPod::new(&token);
    pod.home
        .config_set("gitlab.example.com", "token", stored.as_str());
    pod.home
        .config_set("gitlab.example.com", "api_protocol", "https");
    let mut c = pod.home.command(&real_glab());
    c.args(["config", "set", "--global", "git_protocol", "ssh"]);
    assert!(
        run_clean(c, &secrets).status.success(),
        "glab config set --global git_protocol ssh"
    );
    let before = fs::read_to_string(pod.home.config_file()).unwrap();
    let host = api.base_url();

    // Control: the real glab alone cannot reach the instance.
    let out = run_clean(pod.direct(&host, &token, &["api", "user"]), &secrets);
    assert!(!out.status.success());
    assert!(api.requests().is_empty());

    let out = run_clean(pod.wrapped(&host, &token, &["api", "user"]), &secrets);
    assert_ok(&out, "glab api user", &api);
    let after = fs::read_to_string(pod.home.config_file()).unwrap();
    let mut rest = after.lines();
    for line in before.lines() {
        assert!(
            rest.any(|l| l == line),
            "a line of the config was lost or moved: {}\n--- after:\n{}",
            redacted(line.as_bytes(), &secrets),
            redacted(after.as_bytes(), &secrets)
        );
    }
    assert_eq!(
        after.lines().count(),
        before.lines().count() + 4,
        "{}",
        redacted(after.as_bytes(), &secrets)
    );
    let get = |args: &[&str]| -> String {
        let mut c = pod.home.command(&real_glab());
        c.args(["config", "get"]).args(args);
        text(&run_clean(c, &[&token]).stdout).trim().to_string()
    };
    assert!(
        get(&["--host", "gitlab.example.com", "token"]) == stored,
        "the other host's token"
    );
    assert_eq!(get(&["git_protocol"]), "ssh");
    assert_eq!(get(&["--host", &api.host(), "api_protocol"]), "http");
    assert_eq!(get(&["--host", &api.host(), "git_protocol"]), "http");

    let state = config_state(&pod.home);
    let out = run_clean(pod.wrapped(&host, &token, &["api", "user"]), &secrets);
    assert_ok(&out, "the second run", &api);
    assert_eq!(
        config_state(&pod.home),
        state,
        "the second run changed the config"
    );
    assert_no_token_in(
        "glab's config",
        &fs::read(pod.home.config_file()).unwrap(),
        &[&token],
    );
}

/// `--version` is glab's: the wrapper's output is the real glab's, byte for byte. The
/// wrapper's own version and commit are in its stamp (what `doctor` can read).
#[test]
fn version_passes_through_to_glab() {
    let token = unique_gitlab_token("Version");
    let pod = GlabPod::new(&token);
    let host = "https://gitlab.example.com";
    let wrapped = run_clean(pod.wrapped(host, &token, &["--version"]), &[&token]);
    let direct = run_clean(pod.direct(host, &token, &["--version"]), &[&token]);
    assert!(wrapped.status.success(), "{}", text(&wrapped.stderr));
    assert!(
        text(&wrapped.stdout).contains("1.53"),
        "{}",
        text(&wrapped.stdout)
    );
    assert_eq!(wrapped.stdout, direct.stdout);
    assert_eq!(wrapped.status.code(), direct.status.code());
    let bytes = fs::read(&pod.wrapper).unwrap();
    let stamp = format!(
        "kelos-glab wrapper marker\0kelos-glab {} (",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        contains(&bytes, stamp.as_bytes()),
        "no kelos-glab stamp in the wrapper"
    );
}

// ---------------------------------------------------------------------------------------
// With the stand-in glab
// ---------------------------------------------------------------------------------------

struct Fixture {
    pod: GlabPod,
    token: String,
    standin: Standin,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let token = unique_gitlab_token(tag);
        Fixture {
            pod: GlabPod::new(&token),
            token,
            standin: Standin::named("glab"),
        }
    }

    /// `program` (the wrapper, or the stand-in directly for a control) with the stand-in
    /// after the wrapper in PATH, `GITLAB_HOST` = `host`, no token variable.
    fn command(&self, program: &Path, host: &str) -> Command {
        let mut c = self
            .pod
            .command(program, &[self.standin.dir()], host, "unused");
        c.env_remove("GITLAB_TOKEN")
            .env(STANDIN_OUT_VAR, self.standin.out());
        c
    }

    fn wrapped(&self, host: &str) -> Command {
        self.command(&self.pod.wrapper, host)
    }

    /// Runs `c` through to the stand-in: it ran in the same process, as glab; no token on
    /// stderr.
    fn through(&self, c: Command, secrets: &[&str]) -> (Ran, StandinRecord) {
        self.standin.reset();
        let ran = run_clean(c, secrets);
        assert!(
            self.standin.ran(),
            "the stand-in glab did not run ({:?}): {}",
            ran.status,
            redacted(&ran.stderr, secrets)
        );
        let record = self.standin.record();
        assert_eq!(record.pid, ran.pid, "not the same process");
        // `glab` through the wrapper (exactly: see the exec test), its path in a control.
        let argv0 = record.argv().first().cloned().unwrap_or_default();
        assert_eq!(Path::new(&argv0).file_name(), Some(OsStr::new("glab")));
        (ran, record)
    }
}

const HTTP_HOST: &str = "http://gitlab-webservice-default.gitlab.svc:8181";

#[test]
fn exec_keeps_the_pid_argv_and_exit_status_and_death_by_signal() {
    let fx = Fixture::new("Exec");
    let (ran, record) = fx.through(fx.wrapped(HTTP_HOST), &[&fx.token]);
    assert!(ran.status.success());
    assert_eq!(record.cmdline, b"glab\0");
    for code in [0, 1, 2, 42, 126, 127, 255] {
        let mut c = fx.wrapped(HTTP_HOST);
        c.env(STANDIN_EXIT_VAR, code.to_string());
        let (ran, _) = fx.through(c, &[&fx.token]);
        assert_eq!(ran.status.code(), Some(code), "exit {code}");
    }
    for sig in [libc::SIGTERM, libc::SIGKILL, libc::SIGUSR1] {
        let mut c = fx.wrapped(HTTP_HOST);
        c.env(STANDIN_SIGNAL_VAR, sig.to_string());
        let (ran, _) = fx.through(c, &[&fx.token]);
        assert_eq!(ran.status.signal(), Some(sig), "killed by signal {sig}");
    }
}

/// An ignored SIGPIPE stays ignored, a default one default, a closed stdin closed; every
/// argument arrives byte for byte, `--version` and `--help` included.
#[test]
fn exec_keeps_signals_descriptors_and_arguments() {
    let fx = Fixture::new("Args");
    for ignored in [true, false] {
        let mut c = fx.wrapped(HTTP_HOST);
        if ignored {
            // SAFETY: signal(2) only, between fork and exec.
            unsafe {
                c.pre_exec(|| {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let (_, record) = fx.through(c, &[&fx.token]);
        assert_eq!(record.ignores(libc::SIGPIPE), ignored);
        assert_eq!(record.open_std_fds, [0, 1, 2]);
    }
    let mut c = fx.wrapped(HTTP_HOST);
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let (_, record) = fx.through(c, &[&fx.token]);
    assert_eq!(record.open_std_fds, [1, 2], "stdin closed by the caller");

    let args: Vec<OsString> = vec![
        "api".into(),
        "with space".into(),
        "".into(),
        "line\nbreak".into(),
        "ünïcødé ☃".into(),
        OsString::from_vec(b"\xff\xfe invalid \xc3(".to_vec()),
        "--version".into(),
        "--help".into(),
        "--".into(),
        "$HOME `id` *".into(),
    ];
    let mut c = fx.wrapped(HTTP_HOST);
    c.args(&args);
    let (_, record) = fx.through(c, &[&fx.token]);
    let mut want = b"glab\0".to_vec();
    for a in &args {
        want.extend_from_slice(a.as_bytes());
        want.push(0);
    }
    assert_eq!(record.cmdline, want);
}

/// `GITLAB_TOKEN` is set to the file's token (a stale one replaced, duplicates too);
/// `GITLAB_ACCESS_TOKEN` and `OAUTH_TOKEN` are refreshed when present and never added; a
/// GitHub variable is not touched. The control (the stand-in run directly) keeps the stale
/// values.
#[test]
fn the_file_token_goes_into_glabs_variables() {
    let fx = Fixture::new("Vars");
    let stale = unique_gitlab_token("Stale");
    let secrets = [fx.token.as_str(), stale.as_str()];

    let (_, record) = fx.through(fx.wrapped(HTTP_HOST), &secrets);
    let env = record.env();
    assert!(record.var("GITLAB_TOKEN") == Some(fx.token.clone().into()));
    for absent in ["GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN", "GH_TOKEN"] {
        assert!(!env.contains_key(OsStr::new(absent)), "{absent} was added");
    }

    let with_stale = |program: &Path| {
        let mut c = fx.command(program, HTTP_HOST);
        c.env("GITLAB_TOKEN", &stale)
            .env("GITLAB_ACCESS_TOKEN", &stale)
            .env("OAUTH_TOKEN", &stale)
            .env("GH_TOKEN", &stale);
        c
    };
    let (_, record) = fx.through(with_stale(&fx.pod.wrapper), &secrets);
    for name in ["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"] {
        assert!(
            record.var(name) == Some(fx.token.clone().into()),
            "{name} not refreshed: {}",
            show_env(&record.env(), &secrets)
        );
    }
    assert!(
        record.var("GH_TOKEN") == Some(stale.clone().into()),
        "GH_TOKEN touched"
    );
    // Each name once.
    let entries = record
        .environ
        .split(|b| *b == 0)
        .filter(|e| e.starts_with(b"GITLAB_TOKEN="));
    assert_eq!(entries.count(), 1);

    // Control: without the wrapper, glab would read the stale token.
    let (_, record) = fx.through(with_stale(&fx.standin.dir().join("glab")), &secrets);
    assert!(record.var("GITLAB_TOKEN") == Some(stale.clone().into()));
}

/// A token file that reads empty (mid-rotation) or is missing never blanks a variable: the
/// environment reaches glab exactly as it came.
#[test]
fn without_a_valid_file_token_the_environment_is_exactly_untouched() {
    let mut fx = Fixture::new("Empty");
    let stale = unique_gitlab_token("Frozen");
    let secrets = [fx.token.as_str(), stale.as_str()];
    let command = |fx: &Fixture| {
        let mut c = fx.wrapped(HTTP_HOST);
        c.env("GITLAB_TOKEN", &stale).env("OAUTH_TOKEN", "");
        c
    };
    let (_, with_file) = fx.through(command(&fx), &secrets);
    fx.pod.volume.publish(b"", None);
    let (_, empty) = fx.through(command(&fx), &secrets);
    assert!(empty.var("GITLAB_TOKEN") == Some(stale.clone().into()));
    assert_eq!(empty.var("OAUTH_TOKEN").as_deref(), Some(OsStr::new("")));
    // Exactly as given: what the stand-in got directly.
    let standin = fx.standin.dir().join("glab");
    let mut control = fx.command(&standin, HTTP_HOST);
    control.env("GITLAB_TOKEN", &stale).env("OAUTH_TOKEN", "");
    let (_, control) = fx.through(control, &secrets);
    assert_eq!(
        env_map(&empty.environ),
        env_map(&control.environ),
        "the wrapper changed the environment"
    );
    assert_ne!(env_map(&with_file.environ), env_map(&control.environ));

    let mut c = command(&fx);
    c.env(TOKEN_FILE_VAR, fx.pod.volume.dir().join("missing"));
    let (_, missing) = fx.through(c, &secrets);
    assert!(missing.var("GITLAB_TOKEN") == Some(stale.clone().into()));
}

/// A malformed `GITLAB_HOST` is one line naming it; glab runs untouched: no variable set, no
/// config written.
#[test]
fn a_malformed_gitlab_host_is_one_line_and_glab_runs_untouched() {
    let fx = Fixture::new("BadHost");
    for bad in [
        "http://a b:8181",
        "ssh://gitlab.example.com",
        "http://oauth2:glpat-secretSECRET12345@h",
    ] {
        let (ran, record) = fx.through(fx.wrapped(bad), &[&fx.token, "glpat-secretSECRET12345"]);
        assert!(ran.status.success());
        let lines: Vec<String> = text(&ran.stderr).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("kelos-glab: GITLAB_HOST=\""),
            "{lines:?}"
        );
        assert!(
            lines[0].contains("set GITLAB_HOST to the instance's base URL"),
            "{lines:?}"
        );
        assert_eq!(
            record.var("GITLAB_TOKEN"),
            None,
            "{bad}: a variable was set"
        );
        assert!(
            !fx.pod.home.config_dir().exists(),
            "{bad}: glab's config was written"
        );
    }
}

/// glab's config that cannot be edited for certain (a tab), or is a directory: one line
/// naming the file and the fix, the file untouched, and glab still runs with the token.
#[test]
fn a_config_it_cannot_edit_is_one_line_and_glab_still_runs() {
    let fx = Fixture::new("BadConfig");
    let dir = fx.pod.home.config_dir();
    fs::create_dir_all(&dir).unwrap();
    let file = fx.pod.home.config_file();
    let original = "hosts:\n\tgitlab.com:\n";
    fs::write(&file, original).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let before = config_state(&fx.pod.home);
    let (ran, record) = fx.through(fx.wrapped(HTTP_HOST), &[&fx.token]);
    assert!(ran.status.success());
    let lines: Vec<String> = text(&ran.stderr).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "kelos-glab: glab's host entry for gitlab-webservice-default.gitlab.svc:8181 not written: {}, line 2: a tab character",
            file.display()
        )),
        "{lines:?}"
    );
    assert!(lines[0].contains("glab config set --host"), "{lines:?}");
    assert_eq!(config_state(&fx.pod.home), before, "the file was changed");
    assert!(record.var("GITLAB_TOKEN") == Some(fx.token.clone().into()));

    fs::remove_file(&file).unwrap();
    fs::create_dir(&file).unwrap();
    let (ran, _) = fx.through(fx.wrapped(HTTP_HOST), &[&fx.token]);
    let lines: Vec<String> = text(&ran.stderr).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("is not a regular file"), "{lines:?}");
    assert!(file.is_dir());
}

/// `KELOS_GLAB_PATH` wins over PATH; without any glab, 127 and a line naming what was
/// searched and `KELOS_GLAB_PATH`.
#[test]
fn kelos_glab_path_wins_and_no_glab_is_127() {
    let fx = Fixture::new("Path");
    let other = Standin::named("glab");
    let mut c = fx.wrapped(HTTP_HOST);
    c.env("KELOS_GLAB_PATH", other.dir().join("glab"))
        .env(STANDIN_OUT_VAR, other.out());
    let out = run_clean(c, &[&fx.token]);
    assert!(out.status.success());
    assert!(
        other.ran() && !fx.standin.ran(),
        "not the KELOS_GLAB_PATH glab"
    );

    let mut c = fx.pod.home.command(&fx.pod.wrapper);
    c.env("PATH", fx.pod.wrapper_dir.path())
        .env(TOKEN_FILE_VAR, fx.pod.volume.token_path());
    let out = run_clean(c, &[&fx.token]);
    assert_eq!(out.status.code(), Some(127));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("kelos-glab: cannot find the real glab: KELOS_GLAB_PATH is unset"),
        "{stderr}"
    );
    assert!(stderr.contains("set KELOS_GLAB_PATH to the absolute path of the real glab"));
}

/// The trace names the variables, the host entry and the chosen glab, never the token.
#[test]
fn the_trace_names_what_it_did_never_the_token() {
    let fx = Fixture::new("Trace");
    let trace = fx.pod.home.home().join("trace");
    let mut c = fx.wrapped(HTTP_HOST);
    c.env("KELOS_CREDENTIAL_TRACE", &trace);
    fx.through(c, &[&fx.token]);
    let written = fs::read(&trace).expect("the trace file");
    assert_no_token_in("the trace", &written, &[&fx.token]);
    let written = text(&written);
    for want in [
        "setting GITLAB_TOKEN to the token file's",
        "glab's host entry for gitlab-webservice-default.gitlab.svc:8181 in",
        "running ",
    ] {
        assert!(written.contains(want), "no {want:?} in:\n{written}");
    }
}

/// A lock left by a killed run (`config.yml.lock`): after the wait, one line naming the lock
/// file and the fix; the config untouched, and glab still runs with the token.
#[test]
fn a_stale_lock_is_one_line_and_glab_still_runs() {
    let fx = Fixture::new("Lock");
    let dir = fx.pod.home.config_dir();
    fs::create_dir_all(&dir).unwrap();
    let lock = dir.join("config.yml.lock");
    fs::write(&lock, b"").unwrap();
    let (ran, record) = fx.through(fx.wrapped(HTTP_HOST), &[&fx.token]);
    assert!(ran.status.success());
    let lines: Vec<String> = text(&ran.stderr).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "kelos-glab: glab's host entry for gitlab-webservice-default.gitlab.svc:8181 not written: {} exists",
            lock.display()
        )),
        "{lines:?}"
    );
    assert!(lines[0].contains("remove that file"), "{lines:?}");
    assert!(
        !fx.pod.home.config_file().exists(),
        "the config was written"
    );
    assert!(lock.exists(), "the lock was removed");
    assert!(record.var("GITLAB_TOKEN") == Some(fx.token.clone().into()));
}
