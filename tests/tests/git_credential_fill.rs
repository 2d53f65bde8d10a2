//! The built `git-credential-kelos` driven by the real `git credential fill`, and invoked
//! directly for the protocol details git hides.
//!
//! Every test checks that no token reaches stderr (git's or the helper's).

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use kelos_e2e::fill_request as req;
use kelos_e2e::git_generations::test_git;
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, attr, attr_keys, helper_lines, make_directory, make_fifo,
    make_oversized_file, make_plain_file, parse_attrs, unique_token, GitSandbox, TempDir,
    TokenSandbox,
};

/// A hang on a hostile token path must be caught well before the default limit.
const HANG_LIMIT: Duration = Duration::from_secs(10);

const FUTURE_UNIX: &str = "4102444800"; // 2100-01-01T00:00:00Z
const PAST_UNIX: &str = "946684800"; // 2000-01-01T00:00:00Z

/// A token volume plus a sandbox pointing `KELOS_GITHUB_TOKEN_FILE` at it.
fn fx(helper_args: &[&str]) -> TokenSandbox {
    TokenSandbox::new(helper_args)
}

/// A sandbox whose token file is an arbitrary path in a scratch directory (contents are
/// up to the test).
fn fx_path(helper_args: &[&str]) -> (TempDir, PathBuf, GitSandbox) {
    let dir = TempDir::new("kelos-e2e-tokpath");
    let path = dir.join("GITHUB_TOKEN");
    let mut sb = GitSandbox::new(helper_args);
    sb.set_env("KELOS_GITHUB_TOKEN_FILE", &path);
    (dir, path, sb)
}

/// Names a value by its index among the secrets, never printing it.
fn which(value: Option<&str>, secrets: &[&str]) -> String {
    match value {
        None => "no value".to_string(),
        Some(v) => match secrets.iter().position(|s| *s == v) {
            Some(i) => format!("secret #{i}"),
            None => format!("another value ({} bytes)", v.len()),
        },
    }
}

/// git answered with `username` and the password `expected` (one of `secrets`).
#[track_caller]
fn assert_answered(out: &Output, username: &str, expected: &str, secrets: &[&str]) {
    assert_no_token_in("git/helper stderr", &out.stderr, secrets);
    assert!(
        out.status.success(),
        "git credential fill failed ({}); expected an answer with secret #{}; stderr:\n{}",
        out.status,
        secrets.iter().position(|s| *s == expected).unwrap_or(99),
        redacted(&out.stderr, secrets)
    );
    let got = attr(&out.stdout, "password");
    assert!(
        got.as_deref() == Some(expected),
        "password: expected secret #{}, got {}; stdout:\n{}",
        secrets.iter().position(|s| *s == expected).unwrap_or(99),
        which(got.as_deref(), secrets),
        redacted(&out.stdout, secrets)
    );
    assert_eq!(
        attr(&out.stdout, "username").as_deref(),
        Some(username),
        "username; stdout:\n{}",
        redacted(&out.stdout, secrets)
    );
}

/// `git credential fill` for `https://host` is answered with the file's token.
#[track_caller]
fn assert_answers_https(f: &TokenSandbox, host: &str, secrets: &[&str]) {
    assert_fill_https(&f.sb, host, &f.token, secrets);
}

/// Over https, each `answered` host gets the file's token, each `refused` one nothing.
#[track_caller]
fn assert_https_hosts(f: &TokenSandbox, answered: &[&str], refused: &[&str]) {
    let s = [f.token.as_str()];
    for host in answered {
        assert_answers_https(f, host, &s);
    }
    for host in refused {
        assert_nothing(&f.sb.credential_fill(&req("https", host)), &s);
    }
}

/// `git credential fill` for `https://host` is answered with `expected`.
#[track_caller]
fn assert_fill_https(sb: &GitSandbox, host: &str, expected: &str, secrets: &[&str]) {
    let out = sb.credential_fill(&req("https", host));
    assert_answered(&out, "x-access-token", expected, secrets);
}

/// git got no credential from the helper: it failed (prompts are disabled) and printed no
/// password; nothing anywhere contains a token.
#[track_caller]
fn assert_nothing(out: &Output, secrets: &[&str]) {
    assert_no_token_in("git/helper stderr", &out.stderr, secrets);
    assert_no_token_in("git stdout", &out.stdout, secrets);
    assert!(
        !out.status.success(),
        "git credential fill succeeded but the helper should have answered nothing; stdout:\n{}",
        redacted(&out.stdout, secrets)
    );
    assert!(
        attr(&out.stdout, "password").is_none(),
        "a password was printed; stdout:\n{}",
        redacted(&out.stdout, secrets)
    );
}

/// What git sends to erase `password` for `https://host`.
fn erase_request(host: &str, password: &str) -> String {
    format!("protocol=https\nhost={host}\nusername=x-access-token\npassword={password}\n\n")
}

/// The helper's `erase` with `input`: it succeeds and prints nothing on stdout.
#[track_caller]
fn erase(sb: &GitSandbox, input: &str, secrets: &[&str]) -> Output {
    let out = sb.helper(&["erase"], input.as_bytes());
    assert!(out.status.success());
    assert_helper_silent_stdout(&out, secrets);
    out
}

/// The helper itself printed nothing on stdout.
#[track_caller]
fn assert_helper_silent_stdout(out: &Output, secrets: &[&str]) {
    assert_no_token_in("helper stderr", &out.stderr, secrets);
    assert!(
        out.stdout.is_empty(),
        "helper stdout should be empty, got:\n{}",
        redacted(&out.stdout, secrets)
    );
}

// ---------------------------------------------------------------------------------------
// The happy path and rotation
// ---------------------------------------------------------------------------------------

#[test]
fn fill_answers_github_com_with_file_token() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    let out = f.sb.credential_fill(&req("https", "github.com"));
    assert_answered(&out, "x-access-token", &f.token, &s);
    assert_eq!(attr(&out.stdout, "protocol").as_deref(), Some("https"));
    assert_eq!(attr(&out.stdout, "host").as_deref(), Some("github.com"));
    assert!(
        helper_lines(&out.stderr).is_empty(),
        "a successful get should not complain: {:?}",
        helper_lines(&out.stderr)
    );
}

#[test]
fn fill_follows_kubelet_rotation() {
    let mut f = fx(&[]);
    let b = unique_token("RotB");
    let c = unique_token("RotC");
    let s = [f.token.as_str(), b.as_str(), c.as_str()];

    assert_answers_https(&f, "github.com", &s);
    f.vol.publish(b.as_bytes(), None);
    assert_eq!(f.vol.generation_dirs().len(), 1, "old generation removed");
    assert_fill_https(&f.sb, "github.com", &b, &s);
    f.vol.publish(c.as_bytes(), None);
    assert_fill_https(&f.sb, "github.com", &c, &s);
}

#[test]
fn rotation_carries_expiry_of_the_same_generation() {
    let mut f = fx(&[]);
    let b = unique_token("RotB");
    let c = unique_token("RotC");
    let s = [f.token.as_str(), b.as_str(), c.as_str()];
    f.vol
        .publish(f.token.as_bytes(), Some("2099-06-15T12:30:45Z"));
    let out = f.sb.credential_fill(&req("https", "github.com"));
    assert_answered(&out, "x-access-token", &f.token, &s);
    assert_eq!(
        attr(&out.stdout, "password_expiry_utc").as_deref(),
        expiry_as_git_shows("4085209845")
    );

    f.vol.publish(b.as_bytes(), Some(FUTURE_UNIX));
    let out = f.sb.credential_fill(&req("https", "github.com"));
    assert_answered(&out, "x-access-token", &b, &s);
    assert_eq!(
        attr(&out.stdout, "password_expiry_utc").as_deref(),
        expiry_as_git_shows(FUTURE_UNIX)
    );

    // The next payload has no expiry: none may be reported.
    f.vol.publish(c.as_bytes(), None);
    let out = f.sb.credential_fill(&req("https", "github.com"));
    assert_answered(&out, "x-access-token", &c, &s);
    assert_eq!(attr(&out.stdout, "password_expiry_utc"), None);
}

// ---------------------------------------------------------------------------------------
// Hosts and protocols
// ---------------------------------------------------------------------------------------

#[test]
fn http_github_com_gets_nothing() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    assert_nothing(&f.sb.credential_fill(&req("http", "github.com")), &s);
    assert_nothing(
        &f.sb.credential_fill("url=http://github.com/o/r.git\n\n"),
        &s,
    );
    assert_helper_silent_stdout(
        &f.sb.helper(&["get"], req("http", "github.com").as_bytes()),
        &s,
    );
}

#[test]
fn look_alike_hosts_get_nothing() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    for host in [
        "github.com.evil.com",
        "evilgithub.com",
        "github.co",
        "api.github.com.attacker.net",
        "evil.com",
        "githubXcom",
        "gist.evil.com",
        "localhost",
        "127.0.0.1",
    ] {
        let out = f.sb.credential_fill(&req("https", host));
        assert_nothing(&out, &s);
        assert_helper_silent_stdout(&f.sb.helper(&["get"], req("https", host).as_bytes()), &s);
    }
}

#[test]
fn other_ports_get_nothing() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    for host in ["github.com:8443", "github.com:443", "github.com:80"] {
        assert_nothing(&f.sb.credential_fill(&req("https", host)), &s);
    }
    assert_nothing(
        &f.sb
            .credential_fill("url=https://github.com:8443/o/r.git\n\n"),
        &s,
    );
}

#[test]
fn other_protocols_get_nothing() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    for proto in ["ftp", "ssh", "git", "HTTPS-evil", "file"] {
        assert_nothing(&f.sb.credential_fill(&req(proto, "github.com")), &s);
    }
    // No protocol at all.
    assert_nothing(&f.sb.credential_fill("host=github.com\n\n"), &s);
    assert_helper_silent_stdout(&f.sb.helper(&["get"], b"host=github.com\n\n"), &s);
}

#[test]
fn uppercase_and_trailing_dot_host_is_accepted() {
    let f = fx(&[]);
    // Only one trailing dot is stripped.
    assert_https_hosts(
        &f,
        &["GitHub.COM.", "GITHUB.COM", "github.com."],
        &["github.com.."],
    );
}

#[test]
fn ghe_host_with_port_via_flag() {
    let f = fx(&["--host", "ghe.example.com:8443"]);
    let s = [f.token.as_str()];
    assert_answers_https(&f, "ghe.example.com:8443", &s);
    assert_answered(
        &f.sb
            .credential_fill("url=https://GHE.example.com:8443/o/r.git\n\n"),
        "x-access-token",
        &f.token,
        &s,
    );
    for host in [
        "ghe.example.com",
        "ghe.example.com:9443",
        "github.com",
        "ghe.example.com.evil.com:8443",
    ] {
        assert_nothing(&f.sb.credential_fill(&req("https", host)), &s);
    }
    assert_nothing(
        &f.sb.credential_fill(&req("http", "ghe.example.com:8443")),
        &s,
    );
}

#[test]
fn ghe_host_without_port_via_flag() {
    let f = fx(&["--host", "ghe.example.com"]);
    assert_https_hosts(
        &f,
        &["ghe.example.com", "GHE.Example.COM."],
        &["ghe.example.com:8443", "github.com", "example.com"],
    );
}

#[test]
fn ghe_host_via_gh_host() {
    let mut f = fx(&[]);
    f.sb.set_env("GH_HOST", "ghe.example.com:8443");
    // GH_HOST replaces the default: github.com is no longer a configured host.
    assert_https_hosts(
        &f,
        &["ghe.example.com:8443"],
        &["github.com", "ghe.example.com"],
    );

    f.sb.set_env("GH_HOST", "ghe.example.com");
    assert_https_hosts(&f, &["ghe.example.com"], &["ghe.example.com:8443"]);
}

#[test]
fn several_host_flags_are_all_answered() {
    let f = fx(&["--host", "github.com", "--host", "ghe.example.com"]);
    assert_https_hosts(
        &f,
        &["github.com", "ghe.example.com"],
        &["ghe2.example.com"],
    );
}

#[test]
fn tenancy_host_via_flag() {
    let f = fx(&["--host", "acme.ghe.com"]);
    assert_https_hosts(
        &f,
        &["acme.ghe.com"],
        &[
            "other.ghe.com",
            "github.com",
            "acme.ghe.com.evil.com",
            "ghe.com",
        ],
    );
}

#[test]
fn gist_host_is_answered_gist_lookalike_is_not() {
    let f = fx(&[]);
    assert_https_hosts(
        &f,
        &["gist.github.com"],
        &[
            "gist.evil.com",
            "gist.github.com.evil.com",
            "gistgithub.com",
        ],
    );

    let g = fx(&["--host", "ghe.example.com"]);
    let s = [g.token.as_str()];
    assert_fill_https(&g.sb, "gist.ghe.example.com", &g.token, &s);
    assert_nothing(&g.sb.credential_fill(&req("https", "gist.github.com")), &s);
}

#[test]
fn username_in_url_is_echoed() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    assert_answered(
        &f.sb
            .credential_fill("url=https://alice@github.com/o/r.git\n\n"),
        "alice",
        &f.token,
        &s,
    );
    // Directly: the helper itself echoes the username (git would otherwise keep it anyway).
    let out = f.sb.helper(
        &["get"],
        b"protocol=https\nhost=github.com\nusername=bob\n\n",
    );
    assert_no_token_in("helper stderr", &out.stderr, &s);
    assert_eq!(attr(&out.stdout, "username").as_deref(), Some("bob"));
    assert!(attr(&out.stdout, "password").as_deref() == Some(f.token.as_str()));
}

#[test]
fn http_is_answered_only_for_loopback_hosts() {
    for host in [
        "127.0.0.1:8080",
        "localhost:3000",
        "[::1]:8080",
        "127.0.0.2",
    ] {
        let f = fx(&["--host", host]);
        let s = [f.token.as_str()];
        assert_answered(
            &f.sb.credential_fill(&req("http", host)),
            "x-access-token",
            &f.token,
            &s,
        );
        assert_answers_https(&f, host, &s);
    }
    let f = fx(&["--host", "127.0.0.1:8080"]);
    let s = [f.token.as_str()];
    assert_nothing(&f.sb.credential_fill(&req("http", "127.0.0.1:9090")), &s);
    assert_nothing(&f.sb.credential_fill(&req("http", "github.com")), &s);

    let f = fx(&["--host", "ghe.internal:8080"]);
    let s = [f.token.as_str()];
    assert_nothing(&f.sb.credential_fill(&req("http", "ghe.internal:8080")), &s);
    assert_answers_https(&f, "ghe.internal:8080", &s);
}

// ---------------------------------------------------------------------------------------
// Fallbacks
// ---------------------------------------------------------------------------------------

#[test]
fn bad_file_falls_back_to_gh_token_then_github_token() {
    let gh = unique_token("GhTok");
    let gt = unique_token("GithubTok");
    let bad_a = unique_token("BadA");
    let bad_b = unique_token("BadB");
    let contents: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("empty", Some(Vec::new())),
        ("whitespace only", Some(b"  \n\t \r\n".to_vec())),
        (
            "space inside",
            Some(format!("{bad_a} {bad_b}\n").into_bytes()),
        ),
        (
            "multi-line",
            Some(format!("{bad_a}\n{bad_b}\n").into_bytes()),
        ),
        ("tab inside", Some(format!("{bad_a}\t{bad_b}").into_bytes())),
        ("missing", None),
    ];
    let s = [gh.as_str(), gt.as_str(), bad_a.as_str(), bad_b.as_str()];
    for (what, content) in contents {
        let (_dir, path, mut sb) = fx_path(&[]);
        if let Some(c) = &content {
            make_plain_file(&path, c);
        }
        sb.set_env("GH_TOKEN", &gh).set_env("GITHUB_TOKEN", &gt);
        let out = sb.credential_fill(&req("https", "github.com"));
        assert_answered(&out, "x-access-token", &gh, &s);
        assert_no_token_in(what, &out.stderr, &s);

        sb.remove_env("GH_TOKEN");
        assert_fill_https(&sb, "github.com", &gt, &s);

        // An empty GH_TOKEN is skipped, like gh does.
        sb.set_env("GH_TOKEN", "");
        assert_fill_https(&sb, "github.com", &gt, &s);
    }
}

#[test]
fn valid_file_wins_over_environment() {
    let mut f = fx(&[]);
    let gh = unique_token("GhTok");
    let s = [f.token.as_str(), gh.as_str()];
    f.sb.set_env("GH_TOKEN", &gh).set_env("GITHUB_TOKEN", &gh);
    assert_answers_https(&f, "github.com", &s);
}

#[test]
fn unset_token_file_variable_falls_back() {
    let sb_token = unique_token("GhTok");
    let mut sb = GitSandbox::new(&[]);
    sb.set_env("GH_TOKEN", &sb_token);
    let s = [sb_token.as_str()];
    assert_fill_https(&sb, "github.com", &sb_token, &s);
    sb.set_env("KELOS_GITHUB_TOKEN_FILE", "");
    assert_fill_https(&sb, "github.com", &sb_token, &s);
}

#[test]
fn enterprise_fallback_order() {
    let ghe = unique_token("GheTok");
    let gte = unique_token("GithubEntTok");
    let gt = unique_token("GithubTok");
    let gh = unique_token("GhTok");
    let s = [ghe.as_str(), gte.as_str(), gt.as_str(), gh.as_str()];
    let (_dir, _path, mut sb) = fx_path(&["--host", "ghe.example.com"]);
    sb.set_env("GH_ENTERPRISE_TOKEN", &ghe)
        .set_env("GITHUB_ENTERPRISE_TOKEN", &gte)
        .set_env("GITHUB_TOKEN", &gt)
        .set_env("GH_TOKEN", &gh);
    let r = req("https", "ghe.example.com");
    assert_answered(&sb.credential_fill(&r), "x-access-token", &ghe, &s);
    sb.remove_env("GH_ENTERPRISE_TOKEN");
    assert_answered(&sb.credential_fill(&r), "x-access-token", &gte, &s);
    sb.remove_env("GITHUB_ENTERPRISE_TOKEN");
    assert_answered(&sb.credential_fill(&r), "x-access-token", &gt, &s);
    // GH_TOKEN is not an enterprise token.
    sb.remove_env("GITHUB_TOKEN");
    assert_nothing(&sb.credential_fill(&r), &s);
}

#[test]
fn github_com_ignores_enterprise_variables() {
    let ghe = unique_token("GheTok");
    let gte = unique_token("GithubEntTok");
    let s = [ghe.as_str(), gte.as_str()];
    let (_dir, _path, mut sb) = fx_path(&[]);
    sb.set_env("GH_ENTERPRISE_TOKEN", &ghe)
        .set_env("GITHUB_ENTERPRISE_TOKEN", &gte);
    assert_nothing(&sb.credential_fill(&req("https", "github.com")), &s);
}

#[test]
fn tenancy_fallback_uses_gh_token() {
    let gh = unique_token("GhTok");
    let gt = unique_token("GithubTok");
    let s = [gh.as_str(), gt.as_str()];
    let (_dir, _path, mut sb) = fx_path(&["--host", "acme.ghe.com"]);
    sb.set_env("GH_TOKEN", &gh).set_env("GITHUB_TOKEN", &gt);
    let r = req("https", "acme.ghe.com");
    assert_answered(&sb.credential_fill(&r), "x-access-token", &gh, &s);
    sb.remove_env("GH_TOKEN");
    assert_answered(&sb.credential_fill(&r), "x-access-token", &gt, &s);
}

#[test]
fn nothing_valid_anywhere_gives_no_answer_and_one_stderr_line() {
    let bad_a = unique_token("BadA");
    let bad_b = unique_token("BadB");
    let bad_env = unique_token("BadEnv");
    let s = [bad_a.as_str(), bad_b.as_str(), bad_env.as_str()];
    let cases: Vec<(&str, Option<Vec<u8>>, bool)> = vec![
        ("missing file, no env", None, false),
        ("empty file, no env", Some(Vec::new()), false),
        (
            "invalid file, no env",
            Some(format!("{bad_a} {bad_b}").into_bytes()),
            false,
        ),
        ("missing file, invalid env", None, true),
    ];
    for (what, content, set_bad_env) in cases {
        let (_dir, path, mut sb) = fx_path(&[]);
        if let Some(c) = &content {
            make_plain_file(&path, c);
        }
        if set_bad_env {
            sb.set_env("GH_TOKEN", format!("{bad_env} {bad_a}"));
        }
        let out = sb.credential_fill(&req("https", "github.com"));
        assert_nothing(&out, &s);
        let lines = helper_lines(&out.stderr);
        assert_eq!(
            lines.len(),
            1,
            "{what}: expected exactly one `git-credential-kelos:` line, got:\n{}",
            redacted(&out.stderr, &s)
        );

        let direct = sb.helper(&["get"], req("https", "github.com").as_bytes());
        assert!(direct.status.success(), "{what}: get must exit 0");
        assert_helper_silent_stdout(&direct, &s);
        let lines = helper_lines(&direct.stderr);
        let all: Vec<&str> = std::str::from_utf8(&direct.stderr)
            .unwrap_or("")
            .lines()
            .collect();
        assert_eq!(
            (lines.len(), all.len()),
            (1, 1),
            "{what}: direct get: exactly one stderr line, from the helper; got:\n{}",
            redacted(&direct.stderr, &s)
        );
    }
}

// ---------------------------------------------------------------------------------------
// File content handling
// ---------------------------------------------------------------------------------------

#[test]
fn surrounding_whitespace_crlf_and_bom_are_stripped() {
    let tok = unique_token("Strip");
    let s = [tok.as_str()];
    let variants: Vec<Vec<u8>> = vec![
        format!("{tok}\r\n").into_bytes(),
        format!("  {tok}  \n").into_bytes(),
        format!("\u{feff}{tok}\n").into_bytes(),
        format!("\u{feff}{tok}").into_bytes(),
        format!("\n\n\t{tok}\r\n\r\n").into_bytes(),
        tok.clone().into_bytes(),
    ];
    for v in variants {
        let (_dir, path, sb) = fx_path(&[]);
        make_plain_file(&path, &v);
        assert_fill_https(&sb, "github.com", &tok, &s);
    }
}

#[test]
fn injection_attempts_in_the_file_are_not_used() {
    let inj = unique_token("Inj");
    let gh = unique_token("GhTok");
    let s = [inj.as_str(), gh.as_str()];
    let payloads: Vec<Vec<u8>> = vec![
        format!("{inj}\nusername=evil\nhost=evil.com\n").into_bytes(),
        format!("{inj}\rpassword=x").into_bytes(),
        format!("{inj}\npassword=x\n").into_bytes(),
        format!("{inj}\0password=x").into_bytes(),
        format!("{inj}\n\nquit=1").into_bytes(),
    ];
    for p in payloads {
        let (_dir, path, mut sb) = fx_path(&[]);
        make_plain_file(&path, &p);

        // Nothing else to fall back to: nothing at all.
        let out = sb.credential_fill(&req("https", "github.com"));
        assert_nothing(&out, &s);
        let direct = sb.helper(&["get"], req("https", "github.com").as_bytes());
        assert_helper_silent_stdout(&direct, &s);

        // With a fallback: the fallback, and nothing from the file leaks into the answer.
        sb.set_env("GH_TOKEN", &gh);
        let out = sb.credential_fill(&req("https", "github.com"));
        assert_answered(&out, "x-access-token", &gh, &s);
        assert_eq!(attr(&out.stdout, "host").as_deref(), Some("github.com"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("evil"), "injected attribute in git's answer");
        let direct = sb.helper(&["get"], req("https", "github.com").as_bytes());
        assert_no_token_in("helper stderr", &direct.stderr, &s);
        let keys = attr_keys(&direct.stdout);
        assert_eq!(keys, ["username", "password"], "helper answer keys");
    }
}

#[test]
fn hostile_file_types_do_not_hang_and_fall_back() {
    let gh = unique_token("GhTok");
    let big = unique_token("Big");
    let s = [gh.as_str(), big.as_str()];
    type Maker = Box<dyn Fn(&std::path::Path)>;
    let big2 = big.clone();
    let big3 = big.clone();
    let cases: Vec<(&str, Maker)> = vec![
        ("directory", Box::new(make_directory)),
        ("fifo without writer", Box::new(make_fifo)),
        (
            "1 MiB file",
            Box::new(move |p| make_oversized_file(p, &big2, 1024 * 1024)),
        ),
        (
            "64 KiB + 1 file",
            Box::new(move |p| make_oversized_file(p, &big3, 64 * 1024 + 1)),
        ),
        (
            "dangling symlink",
            Box::new(|p| std::os::unix::fs::symlink("nowhere/GITHUB_TOKEN", p).unwrap()),
        ),
    ];
    for (what, make) in cases {
        let (dir, path, mut sb) = fx_path(&[]);
        make(&path);
        sb.set_env("GH_TOKEN", &gh).set_timeout(HANG_LIMIT);
        let start = Instant::now();
        let out = sb.credential_fill(&req("https", "github.com"));
        let took = start.elapsed();
        assert_answered(&out, "x-access-token", &gh, &s);
        assert!(took < HANG_LIMIT, "{what}: took {took:?}");

        // Also through a symlink, the way the kubelet volume presents it.
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        sb.set_env("KELOS_GITHUB_TOKEN_FILE", &link);
        assert_fill_https(&sb, "github.com", &gh, &s);
    }
}

#[test]
fn file_of_exactly_64_kib_is_read() {
    let tok = unique_token("Edge");
    let s = [tok.as_str()];
    let (_dir, path, sb) = fx_path(&[]);
    make_oversized_file(&path, &tok, 64 * 1024);
    assert_fill_https(&sb, "github.com", &tok, &s);
}

// ---------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------

/// What `git credential fill` prints of the helper's `password_expiry_utc=VALUE`: git
/// passes it on from 2.41; Debian 12's 2.39 drops it (the helper still sends it: see
/// `direct_get_with_expired_token_still_answers`).
fn expiry_as_git_shows(value: &str) -> Option<&str> {
    test_git().passes_expiry().then_some(value)
}

#[test]
fn future_expiry_is_reported_as_password_expiry_utc() {
    for exp in [
        "2100-01-01T00:00:00Z",
        "2100-01-01T01:00:00+01:00",
        "2099-12-31T19:00:00-05:00",
        "2100-01-01T00:00:00.250Z",
        FUTURE_UNIX,
    ] {
        let mut f = fx(&[]);
        let s = [f.token.as_str()];
        f.vol.publish(f.token.as_bytes(), Some(exp));
        let out = f.sb.credential_fill(&req("https", "github.com"));
        assert_answered(&out, "x-access-token", &f.token, &s);
        assert_eq!(
            attr(&out.stdout, "password_expiry_utc").as_deref(),
            expiry_as_git_shows(FUTURE_UNIX),
            "expiry {exp:?} with {}",
            test_git().label()
        );
        assert!(helper_lines(&out.stderr).is_empty());
    }
}

/// From git 2.41 an expired password is discarded; Debian 12's git 2.39 ignores
/// `password_expiry_utc` and uses it (it still authenticates). The helper says "expired"
/// to both.
#[test]
fn past_expiry_makes_git_discard_the_password_and_the_helper_says_expired() {
    for exp in ["2000-01-01T00:00:00Z", PAST_UNIX] {
        let mut f = fx(&[]);
        let s = [f.token.as_str()];
        f.vol.publish(f.token.as_bytes(), Some(exp));
        let out = f.sb.credential_fill(&req("https", "github.com"));
        if test_git().passes_expiry() {
            assert_nothing(&out, &s);
        } else {
            assert_answered(&out, "x-access-token", &f.token, &s);
            assert_eq!(attr(&out.stdout, "password_expiry_utc"), None);
        }
        let lines = helper_lines(&out.stderr);
        assert!(
            lines.iter().any(|l| l.to_lowercase().contains("expired")),
            "expected a helper line mentioning \"expired\"; stderr:\n{}",
            redacted(&out.stderr, &s)
        );
        assert_eq!(lines.len(), 1, "one line: {}", redacted(&out.stderr, &s));
    }
}

#[test]
fn direct_get_with_expired_token_still_answers() {
    let mut f = fx(&[]);
    let s = [f.token.as_str()];
    f.vol
        .publish(f.token.as_bytes(), Some("2000-01-01T00:00:00Z"));
    let out = f.sb.helper(&["get"], req("https", "github.com").as_bytes());
    assert!(out.status.success());
    assert_no_token_in("helper stderr", &out.stderr, &s);
    assert!(attr(&out.stdout, "password").as_deref() == Some(f.token.as_str()));
    assert_eq!(
        attr(&out.stdout, "username").as_deref(),
        Some("x-access-token")
    );
    assert_eq!(
        attr(&out.stdout, "password_expiry_utc").as_deref(),
        Some(PAST_UNIX)
    );
    let lines = helper_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", redacted(&out.stderr, &s));
    assert!(lines[0].to_lowercase().contains("expired"));
}

#[test]
fn unparseable_expiry_is_not_reported() {
    let mut f = fx(&[]);
    let s = [f.token.as_str()];
    f.vol.publish(f.token.as_bytes(), Some("soon"));
    let out = f.sb.credential_fill(&req("https", "github.com"));
    assert_answered(&out, "x-access-token", &f.token, &s);
    assert_eq!(attr(&out.stdout, "password_expiry_utc"), None);
}

// ---------------------------------------------------------------------------------------
// The protocol, invoking the binary directly
// ---------------------------------------------------------------------------------------

#[test]
fn capability_prints_exactly_version_0() {
    let f = fx(&[]);
    let out = f.sb.helper(&["capability"], b"");
    assert!(out.status.success());
    assert_no_token_in("stdout", &out.stdout, &[&f.token]);
    assert_no_token_in("stderr", &out.stderr, &[&f.token]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "version 0\n");
}

#[test]
fn store_is_silent() {
    let f = fx(&[]);
    let input = erase_request("github.com", &f.token);
    let out = f.sb.helper(&["store"], input.as_bytes());
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "store must be silent"
    );
}

#[test]
fn unknown_operation_is_ignored() {
    let f = fx(&[]);
    for op in ["frobnicate", "GET", "list"] {
        let out = f.sb.helper(&[op], req("https", "github.com").as_bytes());
        assert!(out.status.success(), "{op}: exit {}", out.status);
        assert_no_token_in("stderr", &out.stderr, &[&f.token]);
        assert!(out.stdout.is_empty(), "{op}: stdout not empty");
        assert!(
            out.stderr.is_empty(),
            "{op}: stderr not empty:\n{}",
            redacted(&out.stderr, &[&f.token])
        );
    }
}

#[test]
fn input_with_nul_byte_is_not_answered() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    for input in [
        &b"protocol=https\nhost=github.com\npath=o/r\0x\n\n"[..],
        &b"protocol=https\0\nhost=github.com\n\n"[..],
        &b"protocol=https\nhost=github.com\0.evil.com\n\n"[..],
    ] {
        assert_helper_silent_stdout(&f.sb.helper(&["get"], input), &s);
    }
}

#[test]
fn overlong_line_is_not_answered() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    // Control: a long but legal line does not stop the answer.
    let ok = format!(
        "protocol=https\nhost=github.com\npath={}\n\n",
        "a".repeat(60_000)
    );
    let out = f.sb.helper(&["get"], ok.as_bytes());
    assert_no_token_in("helper stderr", &out.stderr, &s);
    assert!(attr(&out.stdout, "password").as_deref() == Some(f.token.as_str()));

    let bad = format!(
        "protocol=https\nhost=github.com\npath={}\n\n",
        "a".repeat(70_000)
    );
    assert_helper_silent_stdout(&f.sb.helper(&["get"], bad.as_bytes()), &s);
}

#[test]
fn url_alone_is_answered() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    for input in [
        "url=https://github.com/o/r\n",
        "url=https://github.com/o/r\n\n",
        "url=https://github.com\n",
    ] {
        let out = f.sb.helper(&["get"], input.as_bytes());
        assert_no_token_in("helper stderr", &out.stderr, &s);
        assert!(
            attr(&out.stdout, "password").as_deref() == Some(f.token.as_str()),
            "{input:?} not answered"
        );
        assert_eq!(
            attr(&out.stdout, "username").as_deref(),
            Some("x-access-token")
        );
    }
    for input in [
        "url=https://github.com.evil.com/o/r\n",
        "url=http://github.com/o/r\n",
        "url=https://github.com:444/o/r\n",
    ] {
        assert_helper_silent_stdout(&f.sb.helper(&["get"], input.as_bytes()), &s);
    }
}

#[test]
fn attribute_order_and_unknown_attributes_do_not_matter() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    let input = "wwwauth[]=Basic realm=\"GitHub\"\ncapability[]=authtype\nhost=github.com\n\
                 foo=bar\npath=o/r.git\nprotocol=https\n\n";
    let out = f.sb.helper(&["get"], input.as_bytes());
    assert_no_token_in("helper stderr", &out.stderr, &s);
    assert!(attr(&out.stdout, "password").as_deref() == Some(f.token.as_str()));
    // Through git too.
    assert_answered(&f.sb.credential_fill(input), "x-access-token", &f.token, &s);
}

#[test]
fn answer_contains_only_allowed_attributes() {
    let mut f = fx(&[]);
    let s = [f.token.as_str()];
    f.vol.publish(f.token.as_bytes(), Some(FUTURE_UNIX));
    let out = f.sb.helper(
        &["get"],
        b"protocol=https\nhost=github.com\npath=o/r\nwwwauth[]=Basic realm=x\n\n",
    );
    assert_no_token_in("helper stderr", &out.stderr, &s);
    let attrs = parse_attrs(&out.stdout);
    assert!(!attrs.is_empty(), "no answer");
    for (k, _) in &attrs {
        assert!(
            ["username", "password", "password_expiry_utc"].contains(&k.as_str()),
            "unexpected output line with key {k:?}"
        );
    }
}

#[test]
fn erase_with_current_token_says_refused() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    let input = erase_request("github.com", &f.token);
    let out = erase(&f.sb, &input, &s);
    let lines = helper_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", redacted(&out.stderr, &s));
    assert!(
        lines[0].contains("refused"),
        "line should say the token was refused: {}",
        redacted(lines[0].as_bytes(), &s)
    );

    // Through git: `git credential reject` runs erase.
    let out = f.sb.credential("reject", input.as_bytes());
    assert_no_token_in("git stderr", &out.stderr, &s);
    assert_no_token_in("git stdout", &out.stdout, &s);
    let lines = helper_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", redacted(&out.stderr, &s));
    assert!(lines[0].contains("refused"));
}

#[test]
fn erase_with_older_token_says_rotated() {
    let mut f = fx(&[]);
    let old = f.token.clone();
    let new = unique_token("New");
    let s = [old.as_str(), new.as_str()];
    f.vol.publish(new.as_bytes(), None);
    let input =
        format!("protocol=https\nhost=github.com\nusername=x-access-token\npassword={old}\n\n");
    let out = erase(&f.sb, &input, &s);
    let lines = helper_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", redacted(&out.stderr, &s));
    assert!(
        lines[0].contains("rotated"),
        "line should say the file rotated: {}",
        redacted(lines[0].as_bytes(), &s)
    );
}

#[test]
fn erase_for_another_host_is_silent() {
    let f = fx(&[]);
    let s = [f.token.as_str()];
    let input = erase_request("evil.com", &f.token);
    let out = erase(&f.sb, &input, &s);
    assert!(
        helper_lines(&out.stderr).is_empty(),
        "{}",
        redacted(&out.stderr, &s)
    );
}

#[test]
fn get_without_token_exits_zero() {
    let (_dir, _path, sb) = fx_path(&[]);
    let out = sb.helper(&["get"], req("https", "github.com").as_bytes());
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(helper_lines(&out.stderr).len(), 1);
}

#[test]
fn trace_never_contains_the_token() {
    let mut f = fx(&[]);
    let s = [f.token.as_str()];
    f.sb.set_env("KELOS_CREDENTIAL_TRACE", "1");
    let out = f.sb.helper(&["get"], req("https", "github.com").as_bytes());
    assert_no_token_in("trace on stderr", &out.stderr, &s);
    assert!(attr(&out.stdout, "password").as_deref() == Some(f.token.as_str()));
    assert!(
        !out.stderr.is_empty(),
        "KELOS_CREDENTIAL_TRACE=1 traced nothing"
    );
    let out = f.sb.credential_fill(&req("https", "github.com"));
    assert_answered(&out, "x-access-token", &f.token, &s);

    let trace = f.sb.home().join("trace.log");
    f.sb.set_env("KELOS_CREDENTIAL_TRACE", &trace);
    let erase = format!(
        "protocol=https\nhost=github.com\nusername=x-access-token\npassword={}\n\n",
        f.token
    );
    for (op, input) in [
        ("get", req("https", "github.com")),
        ("erase", erase.clone()),
        ("store", erase.clone()),
    ] {
        let out = f.sb.helper(&[op], input.as_bytes());
        assert_no_token_in("stderr", &out.stderr, &s);
    }
    let text = std::fs::read(&trace).expect("trace file written");
    assert!(!text.is_empty(), "trace file empty");
    assert_no_token_in("trace file", &text, &s);
}

/// Started with stdout closed, the helper must not let a file it opens (the trace file, the
/// token file) become descriptor 1 and receive the answer: /dev/null takes the place.
#[test]
fn a_closed_stdout_never_sends_the_answer_into_an_opened_file() {
    use std::os::unix::process::CommandExt;
    let mut f = fx(&[]);
    let s = [f.token.as_str()];
    let trace = f.sb.home().join("closed-stdout-trace.log");
    f.sb.set_env("KELOS_CREDENTIAL_TRACE", &trace);
    let mut cmd = f.sb.command(f.sb.helper_path());
    cmd.arg("get");
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let out = kelos_e2e::run_with_timeout(cmd, req("https", "github.com").as_bytes(), HANG_LIMIT);
    assert_no_token_in("stderr", &out.stderr, &s);
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        redacted(&out.stderr, &s)
    );
    let text = std::fs::read(&trace).expect("trace file written");
    assert!(
        String::from_utf8_lossy(&text).contains("answered"),
        "the helper did not answer"
    );
    assert_no_token_in("trace file", &text, &s);
}

/// A caller may keep stdin open while it waits for the answer (git closes it,
/// other clients need not): the blank line ends the request, and the helper
/// answers without waiting for EOF.
#[test]
fn answers_at_the_blank_line_without_waiting_for_eof() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let f = fx(&[]);
    let mut child =
        f.sb.command(f.sb.helper_path())
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the helper");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(req("https", "github.com").as_bytes())
        .expect("write the request");
    stdin.flush().expect("flush");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            panic!("the helper waited for EOF after the blank line");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    assert_no_token_in("stderr", &stderr, &[&f.token]);
    assert_eq!(
        attr(&stdout, "password"),
        Some(f.token.clone()),
        "no answer"
    );
}
