//! GitLab in the helper (issue 20), with the real git: a pod as Kelos's GitLab provider
//! starts it (`KELOS_GITLAB_TOKEN_FILE`, a frozen `GITLAB_TOKEN`, `GITLAB_HOST` with scheme
//! and port) clones, fetches and pushes as `oauth2` across a rotation that revokes the old
//! token at once; plain http only for the explicit `http://` host and port; a pod with both
//! providers answers each host from its own file; the controller's repository helper is
//! found by doctor and silenced by the fix it prints; bash and dash refresh `GITLAB_TOKEN`
//! through the snippet.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kelos_e2e::git_generations::test_git;
use kelos_e2e::gitlab_api::unique_gitlab_token;
use kelos_e2e::pod::{helper_pod, unix_now, Pod};
use kelos_e2e::secrets::{assert_no_token_piece, secret_token};
use kelos_e2e::{
    attr, bin, require_tool, run_with_timeout, text, unique_token, GitSandbox, SmartHttpServer,
    TempDir, TokenVolume, HELPER,
};

const GITLAB_FILE_VAR: &str = "KELOS_GITLAB_TOKEN_FILE";
const GITHUB_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";

/// A sandbox whose only helper is `git-credential-kelos`, set up as Kelos's GitLab pod:
/// the volume's file, a frozen `GITLAB_TOKEN` and `GITLAB_HOST` = `http://127.0.0.1:PORT`.
fn gitlab_pod(vol: &TokenVolume, frozen: &str, server: &SmartHttpServer) -> GitSandbox {
    let mut sb = GitSandbox::new(&[]);
    let glab_config = sb.home().join(".glab-config");
    sb.set_env(GITLAB_FILE_VAR, vol.token_path())
        .set_env("GITLAB_TOKEN", frozen)
        .set_env("GITLAB_HOST", format!("http://{}", server.host()))
        .set_env("GLAB_CONFIG_DIR", glab_config)
        .secret(frozen);
    sb
}

fn commit_in(sb: &GitSandbox, dir: &Path, name: &str) -> String {
    fs::write(dir.join(name), format!("{name}\n")).unwrap();
    sb.git_ok(dir, &["add", name], &[]);
    sb.git_ok(dir, &["commit", "-q", "-m", name], &[]);
    text(&sb.git_ok(dir, &["rev-parse", "HEAD"], &[]).stdout)
        .trim()
        .to_owned()
}

/// `git credential fill` for `protocol://host`: (username, password) when git got both.
fn fill(sb: &GitSandbox, protocol: &str, host: &str) -> Option<(String, String)> {
    let out = sb.credential_fill(&format!("protocol={protocol}\nhost={host}\n\n"));
    if !out.status.success() {
        return None;
    }
    Some((
        attr(&out.stdout, "username")?,
        attr(&out.stdout, "password")?,
    ))
}

#[test]
fn gitlab_clone_fetch_push_as_oauth2_across_a_rotation_with_a_frozen_revoked_token() {
    let (first, second) = (unique_gitlab_token("First"), unique_gitlab_token("Second"));
    let mut vol = TokenVolume::with_token(&first);
    let server = SmartHttpServer::start(&[&first]);
    server.require_username("oauth2");
    let mut sb = gitlab_pod(&vol, &first, &server);
    sb.secret(&first).secret(&second);
    let secrets = [first.as_str(), second.as_str()];
    let work = sb.home().join("work");
    sb.git_ok(
        sb.home(),
        &["clone", "-q", &server.url(), work.to_str().unwrap()],
        &secrets,
    );
    let c1 = commit_in(&sb, &work, "one.txt");
    sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"], &secrets);
    assert_eq!(server.main_head(), c1);
    assert!(
        server
            .presented()
            .iter()
            .all(|(u, p)| u == "oauth2" && *p == first),
        "before the rotation: oauth2 and the file's token, every time"
    );

    // GitLab's rotation API revokes the old token at once; GITLAB_TOKEN stays frozen on it.
    vol.publish(second.as_bytes(), None);
    server.set_accepted(&[&second]);
    server.reset_counters();
    sb.git_ok(&work, &["fetch", "-q", "origin"], &secrets);
    let c2 = commit_in(&sb, &work, "two.txt");
    sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"], &secrets);
    assert_eq!(server.main_head(), c2);
    assert_eq!(server.auth_failures(), 0, "{:?}", server.log());
    let presented = server.presented();
    assert!(
        !presented.is_empty(),
        "git authenticated after the rotation"
    );
    assert!(
        presented.iter().all(|(u, p)| u == "oauth2" && *p == second),
        "after the rotation only oauth2 and the new token are presented (values redacted)"
    );
    // An expiry file next to the token: the helper sends it with the answer,
    // and git passes it on from 2.41 (Debian 12's 2.39 drops it).
    let at = unix_now() + 3600;
    vol.publish(second.as_bytes(), Some(&at.to_string()));
    let request = format!("protocol=http\nhost={}\n\n", server.host());
    let direct = sb.helper(&["get"], request.as_bytes());
    assert_eq!(
        attr(&direct.stdout, "password_expiry_utc"),
        Some(at.to_string())
    );
    let out = sb.credential_fill(&request);
    assert_eq!(
        attr(&out.stdout, "password_expiry_utc"),
        test_git().passes_expiry().then(|| at.to_string())
    );
}

#[test]
fn gitlab_plain_http_only_for_the_explicit_host_and_port_and_the_request_s_username() {
    let token = unique_gitlab_token("Http");
    let vol = TokenVolume::with_token(&token);
    let server = SmartHttpServer::start(&[&token]);
    let mut sb = gitlab_pod(&vol, "glpat-frozenButNeverAskedFor000", &server);
    sb.secret(&token);
    let port = server.port();
    let answered = |sb: &GitSandbox, protocol: &str, host: &str| fill(sb, protocol, host);
    let want = Some(("oauth2".to_owned(), token.clone()));
    assert!(answered(&sb, "http", &format!("127.0.0.1:{port}")) == want);
    // The same host over https (on https's port) is GitLab's too.
    assert!(answered(&sb, "https", "127.0.0.1") == want);
    for (protocol, host) in [
        ("http", "127.0.0.1".to_owned()),
        ("http", format!("127.0.0.1:{}", port.wrapping_add(1).max(1))),
        ("https", format!("127.0.0.1:{port}")),
        ("http", format!("localhost:{port}")),
        ("https", "gitlab.com".to_owned()),
        ("http", "github.com".to_owned()),
    ] {
        assert!(
            answered(&sb, protocol, &host).is_none(),
            "{protocol}://{host} must get nothing"
        );
    }
    // The request's own username goes back.
    let out = sb.credential_fill(&format!(
        "protocol=http\nhost=127.0.0.1:{port}\nusername=someone\n\n"
    ));
    assert_eq!(attr(&out.stdout, "username").as_deref(), Some("someone"));
    // A bare GITLAB_HOST (or https://) answers https only.
    sb.set_env("GITLAB_HOST", format!("127.0.0.1:{port}"));
    assert!(answered(&sb, "http", &format!("127.0.0.1:{port}")).is_none());
    assert!(answered(&sb, "https", &format!("127.0.0.1:{port}")) == want);
    // A malformed GITLAB_HOST: one line naming it, no answer.
    sb.set_env("GITLAB_HOST", "ssh://127.0.0.1");
    let out = sb.helper(&["get"], b"protocol=https\nhost=127.0.0.1\n\n");
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("git-credential-kelos: GITLAB_HOST=\"ssh://127.0.0.1\" has the scheme"),
        "{err}"
    );
}

#[test]
fn gitlab_and_github_in_one_pod_each_host_from_its_own_file() {
    let (gl, gh) = (unique_gitlab_token("Lab"), unique_token("Hub"));
    let gl_vol = TokenVolume::with_token(&gl);
    let gh_vol = TokenVolume::with_token(&gh);
    let gitlab = SmartHttpServer::start(&[&gl]);
    gitlab.require_username("oauth2");
    let github = SmartHttpServer::start(&[&gh]);
    let mut sb = gitlab_pod(&gl_vol, "glpat-frozenAndStale00000000000", &gitlab);
    sb.use_token_file(&gh_vol)
        .set_env("GH_HOST", github.host())
        .set_env("GITHUB_TOKEN", "ghs_frozenAndStale000000000")
        .secret(&gl)
        .secret(&gh);
    let secrets = [gl.as_str(), gh.as_str()];
    for (server, dir) in [(&gitlab, "from-gitlab"), (&github, "from-github")] {
        let work = sb.home().join(dir);
        sb.git_ok(
            sb.home(),
            &["clone", "-q", &server.url(), work.to_str().unwrap()],
            &secrets,
        );
        let c = commit_in(&sb, &work, "x.txt");
        sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"], &secrets);
        assert_eq!(server.main_head(), c);
    }
    assert!(
        gitlab
            .presented()
            .iter()
            .all(|(u, p)| u == "oauth2" && *p == gl),
        "GitLab's server saw only oauth2 and GitLab's token"
    );
    assert!(
        github
            .presented()
            .iter()
            .all(|(u, p)| u == "x-access-token" && *p == gh),
        "GitHub's server saw only x-access-token and GitHub's token"
    );
    assert_eq!(gitlab.auth_failures() + github.auth_failures(), 0);
    // Each host's answer from its own file; hosts neither variable names get nothing.
    let want_gh = Some(("x-access-token".to_owned(), gh.clone()));
    assert!(fill(&sb, "http", &github.host()) == want_gh);
    let want_gl = Some(("oauth2".to_owned(), gl.clone()));
    assert!(fill(&sb, "http", &gitlab.host()) == want_gl);
    assert!(fill(&sb, "https", "github.com").is_none());
    assert!(fill(&sb, "https", "gitlab.com").is_none());
    // Without GitLab's file, GitLab's host gets GitLab's frozen variable, never GitHub's file.
    sb.remove_env(GITLAB_FILE_VAR);
    let got = fill(&sb, "http", &gitlab.host()).map(|(_, p)| p);
    assert!(got.as_deref() == Some("glpat-frozenAndStale00000000000"));
    // token --host picks the provider by host.
    sb.set_env(GITLAB_FILE_VAR, gl_vol.token_path());
    let out = sb.helper(&["token", "--host", &gitlab.host()], b"");
    assert!(
        text(&out.stdout).trim() == gl,
        "token --host GITLAB gives GitLab's token"
    );
    let out = sb.helper(&["token", "--host", &github.host()], b"");
    assert!(
        text(&out.stdout).trim() == gh,
        "token --host GH gives GitHub's token"
    );
}

/// The helper Kelos's GitLab controller writes into /workspace/repo/.git/config, verbatim.
const GITLAB_CONTROLLER_HELPER: &str = r#"!f() { if [ -r "/kelos/gitlab-token/GITLAB_TOKEN" ]; then echo "password=$(cat "/kelos/gitlab-token/GITLAB_TOKEN")"; else echo "password=$GITLAB_TOKEN"; fi; }; f"#;

fn run_fix(fx: &mut Pod, fix: &str) {
    let cwd = fx.cwd.take();
    let out = fx.run(Path::new("/bin/sh"), &["-c", fix], b"");
    fx.cwd = cwd;
    assert_no_token_piece("the fix's output", &out.stdout, &fx.tokens);
    assert_no_token_piece("the fix's output", &out.stderr, &fx.tokens);
    assert!(
        out.status.success(),
        "the printed fix `{fix}` failed: {}",
        text(&out.stderr)
    );
}

fn fill_password(fx: &Pod, protocol: &str, host: &str) -> Option<String> {
    let out = fx.fill(&format!("protocol={protocol}\nhost={host}\n\n"));
    attr(&out.stdout, "password").filter(|p| !p.is_empty())
}

#[test]
fn gitlab_controller_s_repository_helper_is_the_leak_and_the_printed_fix_silences_it() {
    let mut fx = helper_pod();
    fx.add_tools(&["cat"]);
    let (token, frozen) = (secret_token(), secret_token());
    fx.secret(&token);
    fx.secret(&frozen);
    let vol = TokenVolume::with_token(&token);
    let server = SmartHttpServer::start(&[&token]);
    server.require_username("oauth2");
    let host = server.host();
    fx.set(GITLAB_FILE_VAR, vol.token_path())
        .set("GITLAB_TOKEN", &frozen)
        .set("GITLAB_HOST", format!("http://{host}"));
    fx.kelos_ok(&["configure"]);
    let repo = fx.home().join("repo");
    fx.git_ok(&["clone", "-q", &server.url(), repo.to_str().unwrap()]);
    fx.cwd = Some(repo.clone());
    // What the controller does in /workspace/repo.
    let _ = fx.git(&["config", "--unset-all", "credential.helper"], b"");
    fx.git_ok(&[
        "config",
        "--add",
        "credential.helper",
        GITLAB_CONTROLLER_HELPER,
    ]);
    fx.git_ok(&["config", "credential.username", "oauth2"]);
    assert!(
        fill_password(&fx, "https", "evil.example.com").as_deref() == Some(frozen.as_str()),
        "the controller's helper answers any host with the frozen GITLAB_TOKEN"
    );

    let d = fx.doctor(&[]);
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    for word in [
        "local config",
        repo.join(".git/config").to_str().unwrap(),
        r#"echo "password=$GITLAB_TOKEN""#,
    ] {
        assert!(leak.message.contains(word), "{word:?} not in:\n{}", d.text);
    }
    // A GitLab workspace (no GitHub variable): GitLab's checks, none of GitHub's or gh's.
    d.assert_says(
        "host",
        &format!("answering for http://{host} (GitLab, from GITLAB_HOST)"),
    );
    for absent in ["token.file", "token.fallback", "gh.vars", "gh"] {
        assert!(
            d.find(absent).is_none(),
            "{absent} in a GitLab pod:\n{}",
            d.text
        );
    }
    assert_eq!(d.level("gitlab.token"), "ok", "{}", d.text);
    d.assert_says("gitlab.token", vol.token_path().to_str().unwrap());
    // The file gone: the frozen GITLAB_TOKEN is named, with what to mount.
    fx.unset(GITLAB_FILE_VAR);
    let frozen_only = fx.doctor(&[]);
    assert_eq!(
        frozen_only.level("gitlab.token"),
        "warn",
        "{}",
        frozen_only.text
    );
    frozen_only.assert_says("gitlab.token", "using GITLAB_TOKEN (frozen at start-up)");
    fx.set(GITLAB_FILE_VAR, vol.token_path());
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
    assert_eq!(fill_password(&fx, "https", "evil.example.com"), None);
    assert_eq!(
        fill_password(&fx, "https", "kelos-doctor-probe.invalid"),
        None
    );
    assert!(
        fill_password(&fx, "http", &host).as_deref() == Some(token.as_str()),
        "the GitLab host gets the file's token after the fix"
    );
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "ok", "{}", d.text);
    // git itself, through kelos alone, as oauth2.
    fx.git_ok(&["fetch", "-q", "origin"]);
    assert_eq!(server.auth_failures(), 0, "{:?}", server.log());
    assert!(server.presented().iter().all(|(u, _)| u == "oauth2"));
}

/// `SHELL -c '. kelos-env.sh; printf ...'` with the GitLab file, frozen variables and PATH
/// holding the helper.
fn snippet_run(shell: &Path, home: &Path, vars: &[(&str, &str)]) -> Output {
    let snippet = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../images/kelos-env.sh");
    let helper_dir = bin(HELPER).parent().unwrap().to_path_buf();
    let mut c = Command::new(shell);
    c.env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", helper_dir.display()))
        .env("HOME", home)
        .current_dir(home)
        .args([
            "-c",
            &format!(
                ". {}; printf '%s|%s|%s|%s' \"$GITLAB_TOKEN\" \"${{OAUTH_TOKEN-unset}}\" \
                 \"${{GITLAB_ACCESS_TOKEN-unset}}\" \"$GITHUB_TOKEN\"",
                snippet.display()
            ),
        ]);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_with_timeout(c, b"", std::time::Duration::from_secs(30))
}

#[test]
fn gitlab_bash_and_dash_refresh_gitlab_token_through_the_snippet() {
    let home = TempDir::new("kelos-e2e-gitlab-snippet");
    let (a, b) = (unique_gitlab_token("ShellA"), unique_gitlab_token("ShellB"));
    let gh = unique_token("ShellHub");
    let mut vol = TokenVolume::with_token(&a);
    let gh_vol = TokenVolume::with_token(&gh);
    let (gl_path, gh_path) = (vol.token_path(), gh_vol.token_path());
    let vars = [
        (GITLAB_FILE_VAR, gl_path.to_str().unwrap()),
        (GITHUB_FILE_VAR, gh_path.to_str().unwrap()),
        ("GITLAB_TOKEN", "glpat-frozen0000000000000000"),
        ("OAUTH_TOKEN", "frozen-oauth"),
        ("GITHUB_TOKEN", "ghs_frozen"),
    ];
    for shell in ["bash", "dash"] {
        let shell = require_tool(shell);
        for token in [&a, &b] {
            vol.publish(token.as_bytes(), None);
            let out = snippet_run(&shell, home.path(), &vars);
            assert!(
                out.status.success(),
                "{}: {}",
                shell.display(),
                text(&out.stderr)
            );
            let got = text(&out.stdout);
            let want = format!("{token}|{token}|unset|{gh}");
            assert!(
                got == want,
                "{}: GITLAB_TOKEN and OAUTH_TOKEN from GitLab's file, GITHUB_TOKEN from \
                 GitHub's, GITLAB_ACCESS_TOKEN not created (values redacted)",
                shell.display()
            );
        }
    }
}

#[test]
fn gitlab_configure_unconfigure_and_exclusive_cover_the_instance_s_urls() {
    let mut fx = helper_pod();
    let token = secret_token();
    fx.secret(&token);
    let vol = TokenVolume::with_token(&token);
    let server = SmartHttpServer::start(&[&token]);
    server.require_username("oauth2");
    let host = server.host();
    fx.set(GITLAB_FILE_VAR, vol.token_path())
        .set("GITLAB_HOST", format!("http://{host}/gitlab"));
    let http_key = format!("credential.http://{host}.helper");
    let https_key = "credential.https://127.0.0.1.helper";
    let value = format!("kelos --host {host}");
    let out = text(&fx.kelos_ok(&["configure"]).stdout);
    for key in [http_key.as_str(), https_key] {
        assert!(out.contains(&format!("{key}: configured in")), "{out}");
        assert_eq!(
            fx.get_all(&["--global"], key),
            Some(vec![String::new(), value.clone()]),
            "{key}"
        );
    }
    // A GitLab workspace with no GitHub variable: nothing for github.com.
    assert_eq!(
        fx.get_all(&["--global"], "credential.https://github.com.helper"),
        None
    );
    // git, through what configure wrote: clone and push as oauth2 with the file's token.
    let repo = fx.home().join("repo");
    fx.git_ok(&["clone", "-q", &server.url(), repo.to_str().unwrap()]);
    assert!(
        fill_password(&fx, "http", &host).as_deref() == Some(token.as_str()),
        "the http URL on its port gets the file's token"
    );
    assert!(server.presented().iter().all(|(u, _)| u == "oauth2"));
    // Again: nothing changes.
    let before = fs::read(fx.gitconfig()).unwrap();
    let out = text(&fx.kelos_ok(&["configure"]).stdout);
    assert!(out.contains("already configured"), "{out}");
    assert!(fs::read(fx.gitconfig()).unwrap() == before);
    // unconfigure takes both away.
    fx.kelos_ok(&["unconfigure"]);
    for key in [http_key.as_str(), https_key] {
        assert_eq!(fx.get_all(&["--global"], key), None, "{key}");
    }
    // --exclusive: one plain helper for GitLab's host (no GitHub variable in this pod).
    fx.kelos_ok(&["configure", "--exclusive"]);
    assert_eq!(
        fx.get_all(&["--global"], "credential.helper"),
        Some(vec![String::new(), format!("kelos --host {host}")])
    );
    assert!(fill_password(&fx, "http", &host).as_deref() == Some(token.as_str()));
    assert_eq!(fill_password(&fx, "http", "127.0.0.1"), None);
    fx.kelos_ok(&["unconfigure", "--exclusive"]);
    assert_eq!(fx.get_all(&["--global"], "credential.helper"), None);
    // --helper PATH: the path in every value.
    let helper = bin(HELPER);
    fx.kelos_ok(&["configure", "--helper", helper.to_str().unwrap()]);
    assert_eq!(
        fx.get_all(&["--global"], &http_key),
        Some(vec![
            String::new(),
            format!("{} --host {host}", helper.display())
        ])
    );
}

#[test]
fn gitlab_exec_env_and_token_refresh_each_provider_s_variables_from_its_own_file() {
    let (gl, gh) = (unique_gitlab_token("ExecLab"), unique_token("ExecHub"));
    let gl_vol = TokenVolume::with_token(&gl);
    let gh_vol = TokenVolume::with_token(&gh);
    let mut sb = GitSandbox::new(&[]);
    sb.set_env(GITLAB_FILE_VAR, gl_vol.token_path())
        .use_token_file(&gh_vol)
        .set_env("GITLAB_TOKEN", "glpat-frozen0000000000000000")
        .set_env("GITLAB_ACCESS_TOKEN", "glpat-frozenAccess0000000000")
        .set_env("GH_TOKEN", "ghs_frozen")
        .secret(&gl)
        .secret(&gh);
    let out = sb.helper(
        &[
            "exec",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s|%s' \"$GITLAB_TOKEN\" \"$GITLAB_ACCESS_TOKEN\" \
             \"${OAUTH_TOKEN-unset}\" \"$GH_TOKEN\"",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout) == format!("{gl}|{gl}|unset|{gh}"),
        "exec: GitLab's variables from GitLab's file, GitHub's from GitHub's (redacted)"
    );
    let out = sb.helper(&["env", "--format", "json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("env's JSON");
    assert!(json["GITLAB_TOKEN"] == gl.as_str() && json["GITLAB_ACCESS_TOKEN"] == gl.as_str());
    assert!(json["GH_TOKEN"] == gh.as_str());
    assert!(json.get("OAUTH_TOKEN").is_none() && json.get("GITHUB_TOKEN").is_none());
    // token --host for GitLab's default host (GITLAB_HOST unset: gitlab.com).
    let out = sb.helper(&["token", "--host", "gitlab.com"], b"");
    assert!(
        text(&out.stdout).trim() == gl,
        "token --host gitlab.com: GitLab's file"
    );
    let out = sb.helper(&["token", "--host", "github.com"], b"");
    assert!(
        text(&out.stdout).trim() == gh,
        "token --host github.com: GitHub's file"
    );
}

#[test]
fn gitlab_an_empty_file_mid_rotation_never_blanks_gitlab_token() {
    let token = unique_gitlab_token("Empty");
    let mut vol = TokenVolume::with_token(&token);
    let mut sb = GitSandbox::new(&[]);
    sb.set_env(GITLAB_FILE_VAR, vol.token_path())
        .set_env("GITLAB_TOKEN", "glpat-frozenStillThere000000000")
        .set_env("GITLAB_HOST", "https://gitlab.example.com")
        .secret(&token);
    // A writer that truncates and rewrites: the file reads empty.
    vol.publish(b"", None);
    let out = sb.helper(&["env"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("GITLAB_TOKEN"),
        "an empty file sets nothing: {}",
        text(&out.stdout)
    );
    // get falls back to the frozen variable, as for GitHub, and says nothing of the file's.
    let got = fill(&sb, "https", "gitlab.example.com");
    assert!(got == Some(("oauth2".into(), "glpat-frozenStillThere000000000".into())));
    // The file back: its token again.
    vol.publish(token.as_bytes(), None);
    let out = sb.helper(&["env"], b"");
    assert!(text(&out.stdout) == format!("export GITLAB_TOKEN='{token}'\n"));
}
