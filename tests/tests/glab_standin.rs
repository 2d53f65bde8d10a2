//! The ground the GitLab suites stand on, proven with the real glab 1.53 and the real git:
//! the GitLab API stand-in (tests/src/gitlab_api.rs) over http on a port and over https, the
//! host entry that makes glab use http (written by glab itself here, without a token), and
//! the smart-HTTP git server requiring `oauth2:<current token>`.
//!
//! No kelos binary runs here: these tests pin what glab and git do, which the product's
//! GitLab tests then rely on.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use kelos_e2e::gitlab_api::{unique_gitlab_token, GitLabApi, GlabHome, TokenHeader, USER_JSON};
use kelos_e2e::process::{run_with_timeout, DEFAULT_TIMEOUT};
use kelos_e2e::secrets::{contains, redacted};
use kelos_e2e::{assert_no_token_in, require_tool, SmartHttpServer, TempDir};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `glab api user` with `GITLAB_HOST` and `GITLAB_TOKEN` (plus `extra`), in `home`.
fn glab_api_user(home: &GlabHome, host: &str, token: &str, extra: &[(&str, &Path)]) -> Output {
    glab(home, &["api", "user"], host, token, extra)
}

fn glab(
    home: &GlabHome,
    args: &[&str],
    host: &str,
    token: &str,
    extra: &[(&str, &Path)],
) -> Output {
    let mut c = home.command(&require_tool("glab"));
    c.args(args)
        .env("GITLAB_HOST", host)
        .env("GITLAB_TOKEN", token);
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
    assert_no_token_in("glab stdout", &out.stdout, &[token]);
    assert_no_token_in("glab stderr", &out.stderr, &[token]);
    out
}

/// No token of `tokens`, and nothing token-shaped (`glpat-`, a non-empty `token:` key),
/// in any file under the glab home (`GLAB_CONFIG_DIR` is inside it).
fn assert_nothing_token_shaped_on_disk(home: &GlabHome, tokens: &[&str]) {
    let files = home.files();
    assert!(
        files.iter().any(|(p, _, _)| p == &home.config_file()),
        "glab wrote no {}",
        home.config_file().display()
    );
    for (path, bytes, _) in &files {
        let label = path.display().to_string();
        assert_no_token_in(&label, bytes, tokens);
        assert!(!contains(bytes, b"glpat-"), "{label} holds a glpat- string");
        for line in text(bytes).lines() {
            let line = line.trim_start();
            if let Some(value) = line.strip_prefix("token:") {
                assert!(
                    value.trim().is_empty(),
                    "{label} stores a token: {}",
                    redacted(line.as_bytes(), tokens)
                );
            }
        }
    }
}

/// glab 1.53 takes the API protocol from its config's host entry, not from `GITLAB_HOST`:
/// with only `GITLAB_HOST=http://127.0.0.1:PORT` it speaks TLS to the plain port and fails;
/// after `glab config set --host 127.0.0.1:PORT api_protocol http` (and `api_host`,
/// `git_protocol`) it calls http and sends `GITLAB_TOKEN` as `PRIVATE-TOKEN`, and nothing
/// token-shaped is on disk. The stand-in accepts only the current token: a rotation revokes
/// the old one at once, as GitLab's rotation API does.
#[test]
fn glab_uses_http_on_a_port_only_with_its_host_entry_and_sends_the_environment_token() {
    let (old, new) = (unique_gitlab_token("Old"), unique_gitlab_token("New"));
    let api = GitLabApi::start(&[&old]);
    let home = GlabHome::new();

    // (a) GITLAB_HOST alone: https to the plain port.
    let out = glab_api_user(&home, &api.base_url(), &old, &[]);
    assert!(
        !out.status.success(),
        "glab api user succeeded over http without a host entry"
    );
    let https_url = format!("https://{}/api/v4/user", api.host());
    assert!(
        text(&out.stderr).contains(&https_url),
        "glab did not call {https_url}: {}",
        text(&out.stderr)
    );
    assert_eq!(
        api.tls_handshakes(),
        1,
        "one TLS handshake on the plain port"
    );
    assert!(api.requests().is_empty(), "{:?}", api.request_log());

    // (b) the host entry, written by glab without a token.
    home.register_http_host(&api.host());
    let config = fs::read_to_string(home.config_file()).expect("config.yml");
    let entry = format!(
        "hosts:\n    gitlab.com:\n        # What protocol to use to access the API endpoint. Supported values: http, https.\n        api_protocol: https\n        # Configure host for API endpoint. Defaults to the host itself.\n        api_host: gitlab.com\n        # Your GitLab access token. To get one, read https://docs.gitlab.com/ee/user/profile/personal_access_tokens.html\n        token:\n    {host}:\n        api_protocol: http\n        api_host: {host}\n        git_protocol: http\n",
        host = api.host()
    );
    assert!(
        config.ends_with(&entry),
        "config.yml glab wrote ends otherwise:\n{config}"
    );
    println!("config.yml as glab 1.53 writes it:\n{config}");
    let modes: Vec<(String, u32)> = home
        .files()
        .into_iter()
        .map(|(p, _, mode)| {
            (
                p.strip_prefix(home.home()).unwrap().display().to_string(),
                mode,
            )
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("glab-config/aliases.yml".to_string(), 0o600),
            ("glab-config/config.yml".to_string(), 0o600)
        ],
        "what glab keeps on disk"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(home.config_dir())
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o750,
        "GLAB_CONFIG_DIR's mode"
    );

    let out = glab_api_user(&home, &api.base_url(), &old, &[]);
    assert!(
        out.status.success(),
        "glab api user over http: {}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        USER_JSON,
        "glab api user prints the body"
    );
    let requests = api.requests();
    assert_eq!(api.request_log(), ["GET /api/v4/user PRIVATE-TOKEN -> 200"]);
    assert_eq!(requests[0].host.as_deref(), Some(api.host().as_str()));
    let agent = requests[0].user_agent.clone().unwrap_or_default();
    assert!(agent.starts_with("glab/v1.53."), "User-Agent: {agent}");
    assert!(
        api.presented_tokens() == [old.as_str()],
        "not the one token sent"
    );

    // glab auth status for that host: the same one call.
    api.reset();
    let out = glab(
        &home,
        &["auth", "status", "--hostname", &api.host()],
        &api.base_url(),
        &old,
        &[],
    );
    assert!(
        out.status.success(),
        "glab auth status: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(&format!("Logged in to {} as kelos-agent", api.host())),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(api.request_log(), ["GET /api/v4/user PRIVATE-TOKEN -> 200"]);

    // A rotation: the old token is refused at once (and glab says so), the new one works.
    api.reset();
    api.set_accepted(&[&new]);
    let out = glab_api_user(&home, &api.base_url(), &old, &[]);
    assert!(!out.status.success(), "a revoked token was accepted");
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    assert_eq!(api.auth_failures(), 1);
    let out = glab_api_user(&home, &api.base_url(), &new, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        api.presented_tokens() == [old.as_str(), new.as_str()],
        "not the old token, then the new one"
    );
    assert_eq!(api.auth_failures(), 1, "{:?}", api.request_log());

    assert_nothing_token_shaped_on_disk(&home, &[&old, &new]);
    assert_eq!(
        fs::read_to_string(home.config_file()).unwrap(),
        config,
        "glab's API calls rewrote its config"
    );
}

/// What a writer of glab's config may rely on: glab 1.53 reads a config.yml that holds
/// nothing but the host entry (the defaults are not needed) and never rewrites it (same
/// bytes, same mtime; it writes its default config only when there is none), and it refuses
/// a config.yml whose mode is not 0600 (exit status 2, naming the file and the fix).
#[test]
fn glab_reads_a_config_holding_only_the_host_entry_and_requires_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let token = unique_gitlab_token("Minimal");
    let api = GitLabApi::start(&[&token]);
    let home = GlabHome::new();
    fs::create_dir(home.config_dir()).unwrap();
    let minimal = format!(
        "hosts:\n    {host}:\n        api_protocol: http\n        api_host: {host}\n        git_protocol: http\n",
        host = api.host()
    );
    fs::write(home.config_file(), &minimal).unwrap();
    fs::set_permissions(home.config_file(), fs::Permissions::from_mode(0o600)).unwrap();
    let mtime = || {
        fs::metadata(home.config_file())
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = mtime();

    for _ in 0..2 {
        let out = glab_api_user(&home, &api.base_url(), &token, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(api.request_log().len(), 2, "{:?}", api.request_log());
    assert_eq!(fs::read_to_string(home.config_file()).unwrap(), minimal);
    assert_eq!(mtime(), before, "glab rewrote its config");
    let names: Vec<String> = home
        .files()
        .into_iter()
        .map(|(p, _, _)| p.strip_prefix(home.home()).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["glab-config/config.yml"], "glab wrote more files");

    api.reset();
    fs::set_permissions(home.config_file(), fs::Permissions::from_mode(0o644)).unwrap();
    let out = glab_api_user(&home, &api.base_url(), &token, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let expected = format!(
        "{} has the permissions 644, but glab requires 600.",
        home.config_file().display()
    );
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
    assert!(api.requests().is_empty(), "{:?}", api.request_log());
}

/// glab sends the token of each of its three variables as `PRIVATE-TOKEN`.
#[test]
fn glab_sends_each_environment_token_as_private_token() {
    let token = unique_gitlab_token("Env");
    let api = GitLabApi::start(&[&token]);
    let home = GlabHome::new();
    home.register_http_host(&api.host());
    for var in ["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"] {
        api.reset();
        let mut c = home.command(&require_tool("glab"));
        c.args(["api", "user"])
            .env("GITLAB_HOST", api.base_url())
            .env(var, &token);
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert_no_token_in("glab stderr", &out.stderr, &[&token]);
        assert!(out.status.success(), "{var}: {}", text(&out.stderr));
        let requests = api.requests();
        assert_eq!(requests.len(), 1, "{var}: {:?}", api.request_log());
        let presented = requests[0].presented.clone().expect("a token");
        assert_eq!(presented.header, TokenHeader::PrivateToken, "{var}");
        assert!(presented.token == token, "{var}: another token was sent");
    }
    assert_nothing_token_shaped_on_disk(&home, &[&token]);
}

/// The stand-in itself: `Authorization: Bearer` is accepted like `PRIVATE-TOKEN`; anything
/// else (another scheme, a wrong or missing token) is a 401 and counted.
#[test]
fn the_standin_takes_a_bearer_token_too_and_counts_failures() {
    use std::io::{Read, Write};
    let token = unique_gitlab_token("Bearer");
    let api = GitLabApi::start(&[&token]);
    let ask = |auth: &str| -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", api.port())).unwrap();
        write!(
            s,
            "GET /api/v4/user HTTP/1.1\r\nHost: {}\r\n{auth}\r\n",
            api.host()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(
        ask(&format!("Authorization: Bearer {token}\r\n")),
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        ask(&format!("PRIVATE-TOKEN: {token}\r\n")),
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        ask(&format!("Authorization: token {token}\r\n")),
        "HTTP/1.1 401 Unauthorized"
    );
    assert_eq!(
        ask("PRIVATE-TOKEN: glpat-wrong\r\n"),
        "HTTP/1.1 401 Unauthorized"
    );
    assert_eq!(ask(""), "HTTP/1.1 401 Unauthorized");
    assert_eq!(
        api.request_log(),
        [
            "GET /api/v4/user Authorization: Bearer -> 200",
            "GET /api/v4/user PRIVATE-TOKEN -> 200",
            "GET /api/v4/user no token -> 401",
            "GET /api/v4/user PRIVATE-TOKEN -> 401",
            "GET /api/v4/user no token -> 401",
        ]
    );
    assert_eq!(api.auth_failures(), 1);
    assert_eq!(api.unauthenticated_requests(), 2);
}

/// Over https on a port, glab needs no host entry (https is its default, the port comes from
/// `GITLAB_HOST`), only trust in the stand-in's certificate: `SSL_CERT_FILE`, or the host's
/// `ca_cert` key. Without it, glab fails and the stand-in sees nothing.
#[test]
fn glab_over_https_trusts_the_standin_by_ssl_cert_file_or_its_ca_cert_key() {
    let token = unique_gitlab_token("Tls");
    let api = GitLabApi::start_https(&[&token]);
    let cert = api
        .ca_cert()
        .expect("https has a certificate")
        .to_path_buf();
    assert!(api.base_url().starts_with("https://127.0.0.1:"));

    let untrusting = GlabHome::new();
    let out = glab_api_user(&untrusting, &api.base_url(), &token, &[]);
    assert!(
        !out.status.success(),
        "glab trusted a self-signed certificate"
    );
    assert!(
        text(&out.stderr).contains("certificate signed by unknown authority"),
        "{}",
        text(&out.stderr)
    );
    assert!(api.requests().is_empty(), "{:?}", api.request_log());

    let by_env = GlabHome::new();
    let out = glab_api_user(
        &by_env,
        &api.base_url(),
        &token,
        &[("SSL_CERT_FILE", &cert)],
    );
    assert!(out.status.success(), "SSL_CERT_FILE: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), USER_JSON);
    assert_eq!(api.request_log(), ["GET /api/v4/user PRIVATE-TOKEN -> 200"]);
    assert!(
        !text(&fs::read(by_env.config_file()).unwrap()).contains(&api.host()),
        "https on a port needed no host entry"
    );

    api.reset();
    let by_config = GlabHome::new();
    by_config.config_set(&api.host(), "ca_cert", cert.to_str().unwrap());
    let out = glab_api_user(&by_config, &api.base_url(), &token, &[]);
    assert!(out.status.success(), "ca_cert: {}", text(&out.stderr));
    assert_eq!(api.request_log(), ["GET /api/v4/user PRIVATE-TOKEN -> 200"]);
    assert_eq!(
        api.tls_handshakes(),
        0,
        "TLS ended in front of the stand-in"
    );

    for home in [&untrusting, &by_env, &by_config] {
        assert_nothing_token_shaped_on_disk(home, &[&token]);
    }
}

/// A git isolated from the machine's config, whose only credential helper is the kind Kelos's
/// controller writes: a shell one-liner printing `username=$KELOS_E2E_GIT_USERNAME` and the
/// token file's content.
struct PlainGit {
    home: TempDir,
}

impl PlainGit {
    fn new(token_file: &Path) -> PlainGit {
        let home = TempDir::new("kelos-e2e-plain-git");
        let helper = format!(
            "!f() {{ test \"$1\" = get || exit 0; echo \"username=$KELOS_E2E_GIT_USERNAME\"; \
             printf 'password=%s\\n' \"$(cat '{}')\"; }}; f",
            token_file.display()
        );
        let config = format!(
            "[credential]\n\thelper = \"{}\"\n[user]\n\tname = Kelos E2E\n\temail = e2e@kelos.invalid\n[init]\n\tdefaultBranch = main\n",
            helper.replace('\\', "\\\\").replace('"', "\\\"")
        );
        fs::write(home.join(".gitconfig"), config).unwrap();
        PlainGit { home }
    }

    fn git(&self, dir: &Path, username: &str, args: &[&str]) -> Output {
        let mut c = Command::new(require_tool("git"));
        c.env_clear()
            .env("PATH", kelos_e2e::git_generations::test_path())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env("KELOS_E2E_GIT_USERNAME", username)
            .current_dir(dir)
            .args(args);
        run_with_timeout(c, b"", DEFAULT_TIMEOUT)
    }
}

/// The smart-HTTP server with `require_username("oauth2")` serves git only as
/// `oauth2:<current token>`: another username (GitHub's `x-access-token`) with the right
/// token, and the revoked token with `oauth2`, are auth failures. Clone, fetch and push go
/// through across a rotation.
#[test]
fn git_clones_fetches_and_pushes_only_as_oauth2_with_the_current_token() {
    let (old, new) = (unique_gitlab_token("GitOld"), unique_gitlab_token("GitNew"));
    let server = SmartHttpServer::start(&[&old]);
    server.require_username("oauth2");
    let volume = TempDir::new("kelos-e2e-gitlab-token");
    let token_file = volume.join("GITLAB_TOKEN");
    fs::write(&token_file, &old).unwrap();
    let git = PlainGit::new(&token_file);
    let work = TempDir::new("kelos-e2e-gitlab-work");
    let secrets = [old.as_str(), new.as_str()];
    let ok = |out: &Output, what: &str| {
        assert_no_token_in(&format!("{what}: git stderr"), &out.stderr, &secrets);
        assert!(
            out.status.success(),
            "{what} failed: {} (server: failures={} log={:?})",
            text(&out.stderr),
            server.auth_failures(),
            server.log()
        );
    };

    // Another username with the current token: refused.
    let out = git.git(
        work.path(),
        "x-access-token",
        &["clone", "-q", &server.url(), "refused"],
    );
    assert_no_token_in("git stderr", &out.stderr, &secrets);
    assert!(
        !out.status.success(),
        "a clone as x-access-token went through"
    );
    assert_eq!(server.auth_failures(), 1);
    assert_eq!(server.served_requests(), 0);

    server.reset_counters();
    let out = git.git(
        work.path(),
        "oauth2",
        &["clone", "-q", &server.url(), "repo"],
    );
    ok(&out, "clone as oauth2");
    let repo = work.join("repo");
    assert_eq!(server.auth_failures(), 0);

    // Rotation: the file gets the new token, the server revokes the old one at once.
    fs::write(&token_file, &new).unwrap();
    server.set_accepted(&[&new]);
    let out = git.git(&repo, "oauth2", &["fetch", "-q", "origin"]);
    ok(&out, "fetch after the rotation");
    fs::write(repo.join("file"), "x\n").unwrap();
    ok(&git.git(&repo, "oauth2", &["add", "file"]), "add");
    ok(
        &git.git(&repo, "oauth2", &["commit", "-q", "-m", "x"]),
        "commit",
    );
    let out = git.git(&repo, "oauth2", &["push", "-q", "origin", "main"]);
    ok(&out, "push after the rotation");
    let head = git.git(&repo, "oauth2", &["rev-parse", "HEAD"]);
    assert_eq!(
        text(&head.stdout).trim(),
        server.main_head(),
        "the push arrived"
    );
    assert_eq!(server.auth_failures(), 0);
    let presented = server.presented();
    assert!(!presented.is_empty());
    assert!(
        presented
            .iter()
            .all(|(user, pass)| user == "oauth2" && (pass == &old || pass == &new)),
        "{}",
        redacted(format!("{presented:?}").as_bytes(), &secrets)
    );

    // The revoked token, even as oauth2: refused.
    server.reset_counters();
    fs::write(&token_file, &old).unwrap();
    let out = git.git(&repo, "oauth2", &["fetch", "-q", "origin"]);
    assert_no_token_in("git stderr", &out.stderr, &secrets);
    assert!(
        !out.status.success(),
        "a fetch with the revoked token went through"
    );
    assert_eq!(server.auth_failures(), 1);
    assert_eq!(server.served_requests(), 0);
}
