//! Real `git clone` / `push` / `fetch` over smart HTTP against a local server that demands
//! Basic auth, with git-credential-kelos as the only credential helper.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use kelos_e2e::git_generations::test_git;
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, helper_lines, unique_token, GitSandbox, SmartHttpServer, TokenVolume,
};

fn check_clean(label: &str, out: &Output, secrets: &[&str]) {
    assert_no_token_in(&format!("{label}: git stderr"), &out.stderr, secrets);
    assert_no_token_in(&format!("{label}: git stdout"), &out.stdout, secrets);
}

fn commit(sb: &GitSandbox, repo: &Path, file: &str, secrets: &[&str]) -> String {
    fs::write(repo.join(file), format!("{file}\n")).unwrap();
    sb.git_ok(repo, &["add", file], secrets);
    sb.git_ok(repo, &["commit", "-q", "-m", file], secrets);
    let out = sb.git_ok(repo, &["rev-parse", "HEAD"], secrets);
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn server_diag(server: &SmartHttpServer) -> String {
    format!(
        "server: unauthenticated={} auth_failures={} served={} log={:?}",
        server.unauthenticated_requests(),
        server.auth_failures(),
        server.served_requests(),
        server.log()
    )
}

/// Two tokens, a volume holding the first, a server accepting it, and a sandbox whose
/// helper answers for the server's host from the volume (and its HOME).
fn rotating() -> (
    String,
    String,
    TokenVolume,
    SmartHttpServer,
    GitSandbox,
    PathBuf,
) {
    let a = unique_token("HttpA");
    let b = unique_token("HttpB");
    let vol = TokenVolume::with_token(&a);
    let server = SmartHttpServer::start(&[&a]);
    let mut sb = GitSandbox::new(&["--host", &server.host()]);
    sb.use_token_file(&vol);
    let home = sb.home().to_path_buf();
    (a, b, vol, server, sb, home)
}

/// A new repository at `work` with one commit, its origin `url`.
fn repo_with_a_commit(sb: &GitSandbox, work: &Path, url: &str, secrets: &[&str]) -> PathBuf {
    fs::create_dir(work).unwrap();
    sb.git_ok(work, &["init", "-q"], secrets);
    commit(sb, work, "one.txt", secrets);
    sb.git_ok(work, &["remote", "add", "origin", url], secrets);
    work.to_path_buf()
}

#[test]
fn clone_push_fetch_across_token_rotation() {
    let (a, b, mut vol, server, sb, home) = rotating();
    let s = [a.as_str(), b.as_str()];
    let url = server.url();

    // Phase 1: token A.
    let out = sb.git_ok(&home, &["clone", "-q", &url, "work"], &s);
    check_clean("clone", &out, &s);
    let work = home.join("work");
    assert!(work.join("README").is_file(), "clone has the seed commit");
    let c1 = commit(&sb, &work, "one.txt", &s);
    let out = sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"], &s);
    check_clean("push 1", &out, &s);
    assert_eq!(server.main_head(), c1, "push 1 reached the server");
    assert_eq!(server.auth_failures(), 0, "{}", server_diag(&server));
    let seen = server.presented_passwords();
    assert!(!seen.is_empty(), "credentials were sent");
    assert!(
        seen.iter().all(|p| *p == a),
        "phase 1: every presented password is token A"
    );
    assert!(server
        .presented()
        .iter()
        .all(|(u, _)| u == "x-access-token"));

    // Rotation: kubelet publishes B, the server stops accepting A.
    vol.publish(b.as_bytes(), None);
    server.set_accepted(&[&b]);
    server.reset_counters();

    let c2 = commit(&sb, &work, "two.txt", &s);
    let out = sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"], &s);
    check_clean("push 2", &out, &s);
    assert_eq!(server.main_head(), c2, "push 2 reached the server");

    // Someone else pushes (directly on disk); fetch must bring it in with token B.
    let out = sb.git_ok(&home, &["clone", "-q", &url, "other"], &s);
    check_clean("clone 2", &out, &s);
    let other = home.join("other");
    let c3 = commit(&sb, &other, "three.txt", &s);
    let out = sb.git_ok(&other, &["push", "-q", "origin", "HEAD:main"], &s);
    check_clean("push 3", &out, &s);
    let out = sb.git_ok(&work, &["fetch", "-q", "origin"], &s);
    check_clean("fetch", &out, &s);
    let out = sb.git_ok(&work, &["rev-parse", "origin/main"], &s);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), c3);

    assert_eq!(server.auth_failures(), 0, "{}", server_diag(&server));
    let seen = server.presented_passwords();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|p| *p == b),
        "after rotation every presented password is token B ({} of {} were not)",
        seen.iter().filter(|p| **p != b).count(),
        seen.len()
    );
}

/// A token the volume says expired (the refresher stopped) while the server still takes it:
/// from git 2.41 git drops it (`password_expiry_utc` in the past) and the clone fails with
/// no password sent; Debian 12's git 2.39 ignores the attribute and still authenticates.
/// Either way the helper says "expired" once.
#[test]
fn an_expired_token_is_dropped_by_a_current_git_and_still_sent_by_debians() {
    let git = test_git();
    let a = unique_token("HttpExpired");
    let s = [a.as_str()];
    let mut vol = TokenVolume::with_token(&a);
    vol.publish(a.as_bytes(), Some("2000-01-01T00:00:00Z"));
    let server = SmartHttpServer::start(&[&a]);
    let mut sb = GitSandbox::new(&["--host", &server.host()]);
    sb.use_token_file(&vol);
    let home = sb.home().to_path_buf();

    let out = sb.git_in(&home, &["clone", "-q", &server.url(), "work"]);
    check_clean("clone", &out, &s);
    let expired_lines = helper_lines(&out.stderr)
        .iter()
        .filter(|l| l.to_lowercase().contains("expired"))
        .count();
    assert!(
        expired_lines >= 1,
        "the helper says the token expired; stderr:\n{}",
        redacted(&out.stderr, &s)
    );
    if git.passes_expiry() {
        assert!(
            !out.status.success(),
            "{} must drop the expired password; {}",
            git.label(),
            server_diag(&server)
        );
        assert!(
            server.presented_passwords().is_empty(),
            "{} sent the expired password; {}",
            git.label(),
            server_diag(&server)
        );
    } else {
        assert!(
            out.status.success(),
            "{} ignores password_expiry_utc and authenticates; stderr:\n{}",
            git.label(),
            redacted(&out.stderr, &s)
        );
        assert!(home.join("work/README").is_file());
        assert!(server.presented_passwords().iter().all(|p| *p == a));
        assert_eq!(server.auth_failures(), 0, "{}", server_diag(&server));
    }
}

#[test]
fn server_refusing_the_token_fails_and_helper_reports_refused() {
    let a = unique_token("HttpA");
    let other = unique_token("HttpOther");
    let s = [a.as_str(), other.as_str()];
    let vol = TokenVolume::with_token(&a);
    let server = SmartHttpServer::start(&[&other]);
    let mut sb = GitSandbox::new(&["--host", &server.host()]);
    sb.use_token_file(&vol);
    let home = sb.home().to_path_buf();

    // A local repository whose origin is the server.
    let work = repo_with_a_commit(&sb, &home.join("work"), &server.url(), &s);

    let out = sb.git_in(&work, &["push", "origin", "HEAD:refs/heads/feature"]);
    check_clean("push", &out, &s);
    assert!(!out.status.success(), "push must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Authentication failed"),
        "git reports an auth failure; stderr:\n{}",
        redacted(&out.stderr, &s)
    );
    let lines = helper_lines(&out.stderr);
    assert_eq!(
        lines.len(),
        1,
        "one helper line (from erase); stderr:\n{}",
        redacted(&out.stderr, &s)
    );
    assert!(
        lines[0].contains("refused"),
        "erase says the current token was refused: {}",
        redacted(lines[0].as_bytes(), &s)
    );
    assert!(server.auth_failures() >= 1, "{}", server_diag(&server));
    assert!(
        server.presented_passwords().iter().all(|p| *p == a),
        "only the helper's token was presented"
    );
    assert_eq!(server.served_requests(), 0, "{}", server_diag(&server));
}

#[test]
fn helper_for_another_host_sends_no_credentials() {
    let a = unique_token("HttpA");
    let s = [a.as_str()];
    let vol = TokenVolume::with_token(&a);
    let server = SmartHttpServer::start(&[&a]);
    // Configured for a different port on the same address, and for github.com.
    let wrong = format!("127.0.0.1:{}", server.port().wrapping_add(1).max(1));
    let mut sb = GitSandbox::new(&["--host", &wrong, "--host", "github.com"]);
    sb.use_token_file(&vol);
    let home = sb.home().to_path_buf();

    let out = sb.git_in(&home, &["clone", &server.url(), "work"]);
    check_clean("clone", &out, &s);
    assert!(!out.status.success(), "clone must fail without credentials");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("terminal prompts disabled"),
        "git had to ask for a username; stderr:\n{}",
        redacted(&out.stderr, &s)
    );

    let work = repo_with_a_commit(&sb, &home.join("work2"), &server.url(), &s);
    let out = sb.git_in(&work, &["push", "origin", "HEAD:main"]);
    check_clean("push", &out, &s);
    assert!(!out.status.success(), "push must fail without credentials");

    assert!(
        server.presented().is_empty(),
        "no credentials may be sent to an unconfigured host"
    );
    assert_eq!(server.auth_failures(), 0);
    assert!(
        server.unauthenticated_requests() >= 2,
        "{}",
        server_diag(&server)
    );
    assert_eq!(server.served_requests(), 0);
}

/// A push larger than git's `http.postBuffer` is sent with a chunked request body (and
/// a probe request first): the credential must work for that path too.
#[test]
fn large_push_uses_the_rotated_token() {
    let (a, b, mut vol, server, sb, home) = rotating();
    let s = [a.as_str(), b.as_str()];
    sb.git_ok(&home, &["clone", "-q", &server.url(), "work"], &s);
    let work = home.join("work");

    vol.publish(b.as_bytes(), None);
    server.set_accepted(&[&b]);
    server.reset_counters();

    // 3 MiB of incompressible bytes (xorshift), well over the 1 MiB default postBuffer.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let blob: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(work.join("big.bin"), &blob).unwrap();
    sb.git_ok(&work, &["add", "big.bin"], &s);
    sb.git_ok(&work, &["commit", "-q", "-m", "big"], &s);
    let head = sb.git_ok(&work, &["rev-parse", "HEAD"], &s);
    let out = sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"], &s);
    check_clean("large push", &out, &s);
    assert_eq!(
        server.main_head(),
        String::from_utf8_lossy(&head.stdout).trim(),
        "{}",
        server_diag(&server)
    );
    assert_eq!(server.auth_failures(), 0, "{}", server_diag(&server));
    assert!(server.presented_passwords().iter().all(|p| *p == b));
    assert!(
        server.chunked_requests() >= 1,
        "the pack was expected to travel as a chunked body; {}",
        server_diag(&server)
    );
}
