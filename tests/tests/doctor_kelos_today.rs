//! Kelos as it runs today: the controller's helper in /workspace/repo/.git/config (issue
//! 12). doctor finds every helper that would answer a host it should not, names it masked,
//! and prints a fix that works pasted; helpers that never return or read a terminal cannot
//! hold it up. The pod: [`kelos_e2e::pod`].

use std::fs;
use std::path::{Path, PathBuf};

use kelos_e2e::pod::{healthy, helper_pod, unix_now, Pod, TOKEN_FILE_VAR};
use kelos_e2e::secrets::{assert_no_token_piece, secret_token};
use kelos_e2e::{attr, bin, text, SmartHttpServer, TokenVolume, HELPER};
use serde_json::Value;

/// A helper for `key` in the global config that answers a fresh token (a secret of the
/// pod's, checked for in every output); the token.
fn global_helper_answering_a_token(fx: &mut Pod, key: &str) -> String {
    let token = secret_token();
    fx.secret(&token);
    fx.git_ok(&[
        "config",
        "--global",
        key,
        &format!("!f() {{ echo password={token}; }}; f"),
    ]);
    token
}

/// The helper the Kelos controller writes, verbatim but for the file's path.
fn controller_helper(token_file: &Path) -> String {
    let f = token_file.display();
    format!(
        r#"!f() {{ if [ -r {f} ]; then echo "password=$(cat {f})"; else echo "password=$GITHUB_TOKEN"; fi; }}; f"#
    )
}

/// Configures the repository in the fixture's working directory exactly as the controller
/// does: `--unset-all`, `--add` its helper, the username.
fn controller_setup(fx: &mut Pod, token_file: &Path) {
    fx.add_tools(&["cat"]);
    // --unset-all exits 5 when nothing is set; the controller goes on either way.
    let out = fx.git(&["config", "--unset-all", "credential.helper"], b"");
    assert!(
        matches!(out.status.code(), Some(0 | 5)),
        "{}",
        text(&out.stderr)
    );
    fx.git_ok(&[
        "config",
        "--add",
        "credential.helper",
        &controller_helper(token_file),
    ]);
    fx.git_ok(&["config", "credential.username", "x-access-token"]);
}

/// The password `git credential fill` gives for `protocol://host` (compared by callers,
/// never printed).
fn fill_password(fx: &Pod, protocol: &str, host: &str) -> Option<String> {
    let out = fx.fill(&format!("protocol={protocol}\nhost={host}\n\n"));
    attr(&out.stdout, "password").filter(|p| !p.is_empty())
}

/// `sh -c FIX` as a person would paste it (from HOME); must succeed.
fn run_fix(fx: &mut Pod, fix: &str) {
    let cwd = fx.cwd.take();
    let out = fx.run(Path::new("/bin/sh"), &["-c", fix], b"");
    fx.cwd = cwd;
    assert_no_token_piece("the fix's stdout", &out.stdout, &fx.tokens);
    assert_no_token_piece("the fix's stderr", &out.stderr, &fx.tokens);
    assert!(
        out.status.success(),
        "the printed fix `{fix}` failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
}

fn commit_file(fx: &Pod, name: &str) -> String {
    let dir = fx.cwd.clone().expect("a repository");
    fs::write(dir.join(name), format!("{name}\n")).unwrap();
    fx.git_ok(&["add", name]);
    fx.git_ok(&[
        "-c",
        "user.name=Kelos E2E",
        "-c",
        "user.email=e2e@kelos.invalid",
        "commit",
        "-q",
        "-m",
        name,
    ]);
    let out = fx.git(&["rev-parse", "HEAD"], b"");
    text(&out.stdout).trim().to_owned()
}

/// The whole story of issue 12 in one repository: the controller's helper leaks, doctor
/// (text and JSON) says so naming it (masked) and its file, the fix it prints silences it
/// while the host keeps its token (push and fetch across a rotation), and
/// `unconfigure --exclusive --local` puts the file back byte for byte.
#[test]
fn kelos_today_doctor_finds_the_controllers_helper_and_its_fix_silences_it() {
    let mut fx = helper_pod();
    let (a, b, frozen) = (secret_token(), secret_token(), secret_token());
    for t in [&a, &b, &frozen] {
        fx.secret(t);
    }
    let mut vol = TokenVolume::new();
    vol.publish(a.as_bytes(), Some(&(unix_now() + 3600).to_string()));
    fx.set(TOKEN_FILE_VAR, vol.token_path());
    fx.set("GITHUB_TOKEN", &frozen);
    let server = SmartHttpServer::start(&[&a]);
    let host = server.host();
    fx.set("GH_HOST", &host);
    // Our system config, as the images have it.
    let system = fx.root.join("gitconfig-system");
    fs::write(&system, b"").unwrap();
    fx.system_config = Some(system);
    fx.kelos_ok(&["configure", "--system"]);
    // The init container's clone, then the controller's helper.
    let helper = bin(HELPER);
    fx.git_ok(&[
        "-c",
        "credential.helper=",
        "-c",
        &format!("credential.helper={}", helper.display()),
        "clone",
        "-q",
        &server.url(),
        "repo",
    ]);
    let repo = fx.home().join("repo");
    fx.cwd = Some(repo.clone());
    controller_setup(&mut fx, &vol.token_path());
    let config = repo.join(".git/config");
    let before = fs::read(&config).unwrap();

    // The leak the issue found: any host gets the token.
    assert!(
        fill_password(&fx, "https", "evil.example.com").as_deref() == Some(a.as_str()),
        "the controller's helper should answer any host before the fix"
    );

    let d = fx.doctor(&[]);
    assert_eq!(d.result, "fail", "{}", d.text);
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    for word in [
        "https://kelos-doctor-probe.invalid",
        "local config",
        "credential.helper in",
        config.to_str().unwrap(),
        r#"echo "password=$(cat"#,
        "(not shown)",
    ] {
        assert!(leak.message.contains(word), "{word:?} not in:\n{}", d.text);
    }
    // kelos itself is asked first for the host; the leak is the helper after it.
    assert_eq!(d.level("git.helper"), "ok", "{}", d.text);
    let fix = leak.fix.clone().expect("a fix");
    assert_eq!(
        fix,
        format!(
            "cd {} && git-credential-kelos configure --exclusive --local --host {host}",
            repo.display()
        ),
        "{}",
        d.text
    );

    run_fix(&mut fx, &fix);
    assert_eq!(
        fill_password(&fx, "https", "kelos-doctor-probe.invalid"),
        None,
        "after the fix the probe gets nothing"
    );
    assert_eq!(fill_password(&fx, "https", "evil.example.com"), None);
    assert_eq!(fill_password(&fx, "http", "evil.example.com"), None);
    assert!(
        fill_password(&fx, "https", &host).as_deref() == Some(a.as_str()),
        "https://HOST still gets the file's token"
    );
    let listed = fx.git(
        &["config", "--show-origin", "--get-all", "credential.helper"],
        b"",
    );
    let listed = text(&listed.stdout);
    let last: Vec<&str> = listed.lines().rev().take(2).collect();
    assert_eq!(
        last,
        [
            format!("file:.git/config\tkelos --host {host}").as_str(),
            "file:.git/config\t"
        ],
        "the reset and kelos come after the controller's entry:\n{listed}"
    );
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "ok", "{}", d.text);
    assert_eq!(d.level("git.helper"), "ok", "{}", d.text);
    d.assert_says("git.helper", "helpers: kelos");
    // Running the fix again changes nothing.
    let once = fs::read(&config).unwrap();
    run_fix(&mut fx, &fix);
    assert_eq!(fs::read(&config).unwrap(), once, "the fix is idempotent");

    // push and fetch through kelos alone, across a rotation.
    let c1 = commit_file(&fx, "one.txt");
    fx.git_ok(&["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(server.main_head(), c1);
    vol.publish(b.as_bytes(), Some(&(unix_now() + 3600).to_string()));
    server.set_accepted(&[&b]);
    server.reset_counters();
    let c2 = commit_file(&fx, "two.txt");
    fx.git_ok(&["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(server.main_head(), c2);
    fx.git_ok(&["fetch", "-q", "origin"]);
    assert_eq!(server.auth_failures(), 0, "{:?}", server.log());
    assert!(
        server.presented_passwords().iter().all(|p| *p == b),
        "after the rotation only the new token is presented"
    );

    // unconfigure --exclusive --local: the file as the controller left it, byte for byte.
    fx.kelos_ok(&["unconfigure", "--exclusive", "--local"]);
    assert!(
        fs::read(&config).unwrap() == before,
        "unconfigure --exclusive --local restores .git/config byte for byte"
    );
    assert_eq!(fx.doctor(&[]).level("git.leak"), "fail");
}

/// What the controller may do later (`--unset-all` and `--add` again) removes the reset
/// with its own entry; doctor sees the leak again, and the same fix works again.
#[test]
fn kelos_today_controller_rewriting_its_helper_is_detected_again() {
    let (mut fx, vol, token) = healthy();
    fx.git_ok(&["init", "-q", "repo"]);
    let repo = fx.home().join("repo");
    fx.cwd = Some(repo);
    controller_setup(&mut fx, &vol.token_path());
    let fix = fx.doctor(&[]).check("git.leak").fix.clone().unwrap();
    run_fix(&mut fx, &fix);
    assert_eq!(fx.doctor(&[]).level("git.leak"), "ok");
    controller_setup(&mut fx, &vol.token_path());
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "fail", "{}", d.text);
    assert_eq!(d.check("git.leak").fix.as_deref(), Some(fix.as_str()));
    run_fix(&mut fx, &fix);
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "ok", "{}", d.text);
    assert!(fill_password(&fx, "https", "github.com").as_deref() == Some(token.as_str()));
}

/// A helper in the global or the system config that answers every host is reported
/// (both probes), with the scope's own fix; the fix silences it.
#[test]
fn kelos_today_global_and_system_helpers_that_answer_every_host_are_reported() {
    for scope in ["--global", "--system"] {
        let (mut fx, _vol, token) = healthy();
        if scope == "--system" {
            let system = fx.root.join("gitconfig-system");
            fs::write(&system, b"").unwrap();
            fx.system_config = Some(system);
        }
        let leaked = secret_token();
        fx.secret(&leaked);
        let helper = format!("!f() {{ echo password={leaked}; }}; f");
        fx.git_ok(&["config", scope, "--add", "credential.helper", &helper]);
        let d = fx.doctor(&[]);
        let leak = d.check("git.leak");
        assert_eq!(leak.level, "fail", "{scope}:\n{}", d.text);
        let name = &scope[2..];
        for word in [
            "https://kelos-doctor-probe.invalid",
            "http://github.com",
            &format!("{name} config"),
            "!f() { echo password=ghs_…",
        ] {
            assert!(
                leak.message.contains(word),
                "{scope}: {word:?} not in:\n{}",
                d.text
            );
        }
        assert_eq!(
            leak.fix.as_deref(),
            Some(format!("git-credential-kelos configure --exclusive {scope}").as_str()),
            "{}",
            d.text
        );
        run_fix(&mut fx, leak.fix.as_deref().unwrap());
        let d = fx.doctor(&[]);
        assert_eq!(d.level("git.leak"), "ok", "{scope}:\n{}", d.text);
        assert_eq!(d.result, "ok", "{scope}:\n{}", d.text);
        assert_eq!(
            fill_password(&fx, "https", "kelos-doctor-probe.invalid"),
            None
        );
        assert!(fill_password(&fx, "https", "github.com").as_deref() == Some(token.as_str()));
    }
}

/// A helper scoped to plain http for our host is found by the `http://HOST` probe.
#[test]
fn kelos_today_a_helper_for_plain_http_is_reported() {
    let (mut fx, _vol, _token) = healthy();
    let _leaked = global_helper_answering_a_token(&mut fx, "credential.http://github.com.helper");
    let d = fx.doctor(&[]);
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    assert!(leak.message.contains("for http://github.com"), "{}", d.text);
    assert!(
        !leak
            .message
            .contains("for https://kelos-doctor-probe.invalid"),
        "{}",
        d.text
    );
    assert!(
        leak.message
            .contains("credential.http://github.com.helper in"),
        "{}",
        d.text
    );
}

/// No false alarm: kelos scoped to its host, and other helpers scoped to other hosts.
#[test]
fn kelos_today_a_correctly_scoped_setup_is_not_reported() {
    let (mut fx, _vol, _token) = healthy();
    let _other =
        global_helper_answering_a_token(&mut fx, "credential.https://gitlab.example.com.helper");
    fx.git_ok(&["init", "-q", "repo"]);
    fx.cwd = Some(fx.home().join("repo"));
    fx.kelos_ok(&["configure", "--local"]);
    let d = fx.doctor(&[]);
    assert_eq!(d.result, "ok", "{}", d.text);
    d.assert_says(
        "git.leak",
        "no helper answers https://kelos-doctor-probe.invalid or http://github.com",
    );
}

/// A helper that never returns: doctor still finishes within its limit, and says which
/// helper and which probe.
#[test]
fn kelos_today_a_helper_that_never_returns_is_named_and_doctor_finishes() {
    let (mut fx, _vol, _token) = healthy();
    fx.add_tools(&["sleep"]);
    fx.git_ok(&[
        "config",
        "--global",
        "--add",
        "credential.helper",
        "!f() { sleep 1000; }; f",
    ]);
    let start = std::time::Instant::now();
    let d = fx.doctor(&[]); // text and JSON: two runs
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(40),
        "two doctor runs took {took:?}"
    );
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    for word in [
        "helper `!f() { sleep 1000; }; f`",
        "never returns for https://kelos-doctor-probe.invalid (killed after 3 s)",
        "http://github.com not asked",
    ] {
        assert!(leak.message.contains(word), "{word:?} not in:\n{}", d.text);
    }
    assert_eq!(
        leak.fix.as_deref(),
        Some("git-credential-kelos configure --exclusive --global")
    );
}

/// Under a terminal (a pseudo-terminal whose input nobody types into, as when a person runs
/// doctor and walks away), a helper that reads the terminal gets none: doctor's children
/// have no controlling terminal, so nothing can prompt, and nothing waits for an answer.
#[test]
fn kelos_today_doctor_gives_helpers_no_terminal_to_prompt_on() {
    // The system's python (a version manager's shim would need a shell in PATH).
    kelos_e2e::tools::require_listed("python3");
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("python3 not found: install it with `apt-get install python3`"));
    let (fx, _vol, _token) = healthy();
    fx.git_ok(&[
        "config",
        "--global",
        "--add",
        "credential.helper",
        "!f() { read -r x </dev/tty && echo password=$x; }; f",
    ]);
    // The child gets the terminal as its controlling terminal; the parent only reads it.
    const UNDER_A_TERMINAL: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
"#;
    let helper = bin(HELPER);
    let start = std::time::Instant::now();
    let out = fx.run(
        &python,
        &[
            "-c",
            UNDER_A_TERMINAL,
            helper.to_str().unwrap(),
            "doctor",
            "--json",
        ],
        b"",
    );
    let took = start.elapsed();
    assert_no_token_piece("doctor under a terminal", &out.stdout, &fx.tokens);
    let shown = text(&out.stdout).replace('\r', "");
    let json = shown
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON from doctor under a terminal:\n{shown}\n{}",
                text(&out.stderr)
            )
        });
    let v: Value = serde_json::from_str(json).expect("one JSON object");
    let leak = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "git.leak")
        .expect("a git.leak check");
    assert_eq!(
        leak["level"], "ok",
        "the helper found a terminal to read: {leak}"
    );
    assert!(
        took < std::time::Duration::from_secs(10),
        "doctor waited {took:?}"
    );
}
