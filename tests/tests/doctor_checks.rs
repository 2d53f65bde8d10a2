//! `git-credential-kelos doctor`, each check on its ok, warn and fail paths. Every report is
//! run as text and as JSON and cross-checked ([`kelos_e2e::doctor_report`]); the pod:
//! [`kelos_e2e::pod`] (every run of the helper checked for tokens, in full and in
//! five-character pieces: the masked form shows at most the last four).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use kelos_e2e::doctor_report::CHECK_IDS;
use kelos_e2e::doctor_report::{without_durations, Check};
use kelos_e2e::pod::keys::*;
use kelos_e2e::pod::{assert_masked, healthy, helper_pod, unix_now, TOKEN_FILE_VAR};
use kelos_e2e::secrets::secret_token;
use kelos_e2e::{make_plain_file, TempDir};

#[test]
fn doctor_healthy_setup_is_all_ok() {
    let (fx, vol, token) = healthy();
    let d = fx.doctor(&[]);
    assert_eq!(d.result, "ok", "{}", d.text);
    assert_eq!(d.code, 0);
    // Every check the contract names, in its order; token.mode only when the mode is wrong,
    // gitlab.token and glab only when a GitLab setting is in play.
    let every_but_mode: Vec<&str> = CHECK_IDS
        .iter()
        .copied()
        .filter(|id| !["token.mode", "gitlab.token", "glab"].contains(id))
        .collect();
    assert_eq!(d.ids(), every_but_mode, "{}", d.text);
    for c in &d.checks {
        assert_eq!(c.level, "ok", "{}: {}", c.id, d.text);
    }
    let file = d.check("token.file");
    assert!(
        file.message.contains(vol.token_path().to_str().unwrap()),
        "{}",
        d.text
    );
    assert!(file.message.contains("kubelet"), "{}", d.text);
    assert!(
        file.message.contains(vol.current_generation().unwrap()),
        "names the generation: {}",
        d.text
    );
    assert!(d.find("token.mode").is_none(), "0400 is not world-readable");
    assert_masked(&d.check("token.valid").message, &token);
    assert!(d.check("host").message.contains("github.com"));
    assert!(d.check("gh.vars").message.contains("GH_TOKEN"));
    assert!(d.check("git").message.contains("git version"));
    assert!(d.check("git.helper").message.contains("kelos"));
    let gh = d.check("gh");
    assert!(
        gh.message.contains(fx.wrappers[0].gh().to_str().unwrap()),
        "{}",
        d.text
    );
    assert!(
        gh.message.contains("gh version 2.99.0"),
        "real gh's version: {}",
        d.text
    );

    // --no-token-ok changes nothing when there is a token.
    // (Moments apart: "in 1h00m" may have become "in 59m".)
    let d2 = fx.doctor(&["--no-token-ok"]);
    let timeless = |cs: &[Check]| -> Vec<(String, String, String)> {
        cs.iter()
            .map(|c| (c.id.clone(), c.level.clone(), without_durations(&c.message)))
            .collect()
    };
    assert_eq!(timeless(&d2.checks), timeless(&d.checks));
}

#[test]
fn doctor_plain_file_warns_token_file() {
    let (mut fx, _vol, _token) = healthy();
    let dir = TempDir::new("kelos-e2e-plain");
    let path = dir.join("GITHUB_TOKEN");
    let token = secret_token();
    fx.secret(&token);
    make_plain_file(&path, format!("{token}\n").as_bytes());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    fx.set(TOKEN_FILE_VAR, &path);
    let d = fx.doctor(&[]);
    d.assert_only("token.file", "warn");
    let c = d.check("token.file");
    assert!(c.message.contains("plain file"), "{}", d.text);
    assert!(c.fix.as_deref().unwrap().contains("subPath"), "{}", d.text);
    assert_masked(&d.check("token.valid").message, &token);
}

#[test]
fn doctor_world_readable_token_warns_token_mode() {
    let (fx, vol, _token) = healthy();
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o644)).unwrap();
    let d = fx.doctor(&[]);
    d.only("token.mode", "warn");
    assert!(d.check("token.mode").message.contains("0644"), "{}", d.text);
    assert_eq!(d.code, 0);
    // Group-readable (0440, fsGroup) is fine.
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o440)).unwrap();
    assert!(fx.doctor(&[]).find("token.mode").is_none());
}

#[test]
fn doctor_expired_token_fails_token_expiry() {
    let (fx, mut vol, token) = healthy();
    vol.publish(token.as_bytes(), Some("946684800")); // 2000-01-01
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    let d = fx.doctor(&[]);
    d.assert_only("token.expiry", "fail");
    let c = d.check("token.expiry");
    assert!(c.message.contains("expired"), "{}", d.text);
    assert!(c.message.contains("2000-01-01T00:00:00Z"), "{}", d.text);
    c.assert_fix_says("refresher", &d.text);
    // --no-token-ok is about a missing token, not an expired one.
    assert_eq!(fx.doctor(&["--no-token-ok"]).level("token.expiry"), "fail");
}

#[test]
fn doctor_token_expiring_within_five_minutes_warns() {
    let (fx, mut vol, token) = healthy();
    vol.publish(token.as_bytes(), Some(&(unix_now() + 120).to_string()));
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    let d = fx.doctor(&[]);
    d.only("token.expiry", "warn");
    assert_eq!(d.code, 0);
    d.assert_says("token.expiry", "expires");

    // Ten minutes out is fine; no expiry file is fine (git just cannot tell).
    vol.publish(token.as_bytes(), Some(&(unix_now() + 600).to_string()));
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(fx.doctor(&[]).level("token.expiry"), "ok");
    vol.publish(token.as_bytes(), None);
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    let d = fx.doctor(&[]);
    assert_eq!(d.level("token.expiry"), "ok");
    d.assert_says("token.expiry", "unknown");

    // An expiry file that says nothing usable: warn.
    vol.publish(token.as_bytes(), Some("next tuesday"));
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    fx.doctor(&[]).only("token.expiry", "warn");
}

#[test]
fn doctor_missing_token_file_fails_and_no_token_ok_warns() {
    let (mut fx, _vol, _token) = healthy();
    let dir = TempDir::new("kelos-e2e-missing");
    let path = dir.join("GITHUB_TOKEN");
    fx.set(TOKEN_FILE_VAR, &path);
    let d = fx.doctor(&[]);
    assert_eq!(d.level("token.file"), "fail", "{}", d.text);
    d.assert_says("token.file", "does not exist");
    assert!(d
        .check("token.file")
        .message
        .contains(path.to_str().unwrap()));
    assert_eq!(d.level("token.fallback"), "fail", "{}", d.text);
    assert!(d.find("token.valid").is_none());
    assert!(d.find("token.expiry").is_none());
    assert_eq!(d.result, "fail");
    assert_ne!(d.code, 0);

    // Image build time: a warning, exit 0 when nothing else fails.
    let d = fx.doctor(&["--no-token-ok"]);
    assert_eq!(d.level("token.file"), "warn", "{}", d.text);
    assert_eq!(d.level("token.fallback"), "warn", "{}", d.text);
    assert_eq!(d.result, "warn", "{}", d.text);
    assert_eq!(d.code, 0);

    // ...but not when something else fails.
    fx.kelos_ok(&["unconfigure"]);
    let d = fx.doctor(&["--no-token-ok"]);
    assert_eq!(d.level("git.helper"), "fail", "{}", d.text);
    assert_ne!(d.code, 0);
}

#[test]
fn doctor_invalid_token_file_fails_token_valid() {
    let (fx, mut vol, _token) = healthy();
    vol.publish(b"two words\n", Some(&(unix_now() + 3600).to_string()));
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    let d = fx.doctor(&[]);
    assert_eq!(d.level("token.file"), "ok", "{}", d.text);
    assert_eq!(d.level("token.valid"), "fail", "{}", d.text);
    assert_eq!(d.level("token.fallback"), "fail", "{}", d.text);
    assert_ne!(d.code, 0);
    let d = fx.doctor(&["--no-token-ok"]);
    assert_eq!(d.level("token.valid"), "warn", "{}", d.text);
    assert_eq!(d.code, 0);
}

#[test]
fn doctor_fallback_in_use_warns_naming_variable_only() {
    let (mut fx, _vol, _token) = healthy();
    let dir = TempDir::new("kelos-e2e-fallback");
    fx.set(TOKEN_FILE_VAR, dir.join("GITHUB_TOKEN")); // missing
    let fallback = secret_token();
    fx.secret(&fallback);
    fx.set("GH_TOKEN", &fallback);
    let d = fx.doctor(&["--no-token-ok"]);
    let c = d.check("token.fallback");
    assert_eq!(c.level, "warn", "{}", d.text);
    assert!(
        c.message.contains("GH_TOKEN"),
        "names the variable: {}",
        d.text
    );
    assert_masked(&c.message, &fallback);
    assert!(c.fix.is_some());
    assert_eq!(d.code, 0);
    // Without --no-token-ok the missing file itself still fails.
    let d = fx.doctor(&[]);
    assert_eq!(d.level("token.fallback"), "warn", "{}", d.text);
    assert_eq!(d.level("token.file"), "fail", "{}", d.text);

    // While the file is valid the fallback is named but unused: ok.
    let (mut fx2, _vol2, _t2) = healthy();
    let other = secret_token();
    fx2.secret(&other);
    fx2.set("GITHUB_TOKEN", &other);
    let d = fx2.doctor(&[]);
    let c = d.check("token.fallback");
    assert_eq!(c.level, "ok", "{}", d.text);
    assert!(c.message.contains("GITHUB_TOKEN"), "{}", d.text);
    assert_eq!(d.result, "ok");
}

#[test]
fn doctor_no_token_at_all_fails() {
    let (mut fx, _vol, _token) = healthy();
    fx.unset(TOKEN_FILE_VAR);
    let d = fx.doctor(&[]);
    let file = d.check("token.file");
    assert_eq!(file.level, "fail", "{}", d.text);
    assert!(file.message.contains(TOKEN_FILE_VAR), "{}", d.text);
    let fb = d.check("token.fallback");
    assert_eq!(fb.level, "fail", "{}", d.text);
    assert!(fb.message.contains("no token"), "{}", d.text);
    assert!(d.find("token.valid").is_none() && d.find("token.expiry").is_none());
    assert_ne!(d.code, 0);

    let d = fx.doctor(&["--no-token-ok"]);
    assert_eq!(d.level("token.file"), "warn");
    assert_eq!(d.level("token.fallback"), "warn");
    assert_eq!(d.result, "warn");
    assert_eq!(d.code, 0);

    // A fallback variable holding an invalid value is no token either, and is not shown.
    let bad = format!("{} {}", secret_token(), secret_token());
    for part in bad.split(' ') {
        fx.secret(part);
    }
    fx.set("GH_TOKEN", &bad);
    let d = fx.doctor(&[]);
    assert_eq!(d.level("token.fallback"), "fail", "{}", d.text);
    d.assert_says("token.fallback", "GH_TOKEN");
}

#[test]
fn doctor_wrapper_without_real_gh_fails() {
    let mut fx = helper_pod();
    let _vol = fx.volume(Some(&(unix_now() + 3600).to_string()));
    fx.kelos_ok(&["configure"]);
    fx.add_wrapper();
    let d = fx.doctor(&[]);
    d.only("gh", "fail");
    assert_ne!(d.code, 0);
    let c = d.check("gh");
    assert!(c.message.contains("wrapper"), "{}", d.text);
    c.assert_fix_says("KELOS_GH_PATH", &d.text);

    // A real gh *before* the wrapper does not count: gh resolves to it (not the wrapper).
    let mut fx2 = helper_pod();
    let _vol2 = fx2.volume(Some(&(unix_now() + 3600).to_string()));
    fx2.kelos_ok(&["configure"]);
    fx2.add_plain_gh();
    fx2.add_wrapper();
    fx2.doctor(&[]).only("gh", "warn");

    // KELOS_GH_PATH names the real gh: ok.
    let real = fx.add_plain_gh();
    fx.path.pop();
    fx.set("KELOS_GH_PATH", &real);
    fx.doctor(&[]).only("gh", "ok");
}

#[test]
fn doctor_gh_not_the_wrapper_warns() {
    let mut fx = helper_pod();
    let _vol = fx.volume(Some(&(unix_now() + 3600).to_string()));
    fx.kelos_ok(&["configure"]);
    let real = fx.add_plain_gh();
    let d = fx.doctor(&[]);
    d.only("gh", "warn");
    assert_eq!(d.code, 0);
    let c = d.check("gh");
    assert!(c.message.contains(real.to_str().unwrap()), "{}", d.text);
    assert!(c.fix.as_deref().unwrap().contains("kelos-gh"), "{}", d.text);
}

#[test]
fn doctor_no_gh_in_path_warns() {
    let mut fx = helper_pod();
    let _vol = fx.volume(Some(&(unix_now() + 3600).to_string()));
    fx.kelos_ok(&["configure"]);
    let d = fx.doctor(&[]);
    d.only("gh", "warn");
    assert_eq!(d.code, 0);
}

#[test]
fn doctor_helper_not_configured_fails() {
    let (fx, _vol, _token) = healthy();
    fx.kelos_ok(&["unconfigure"]);
    let d = fx.doctor(&[]);
    d.only("git.helper", "fail");
    assert_ne!(d.code, 0);
    let c = d.check("git.helper");
    assert!(c.message.contains("github.com"), "{}", d.text);
    c.assert_fix_says("git-credential-kelos configure", &d.text);
    // A kelos entry for another host does not count.
    fx.kelos_ok(&["configure", "--host", GHE]);
    fx.doctor(&[]).only("git.helper", "fail");
}

#[test]
fn doctor_another_helper_first_warns() {
    let (fx, _vol, _token) = healthy();
    fx.kelos_ok(&["unconfigure"]);
    // kelos added to the list without the reset: the inherited helper runs first.
    fx.git_ok(&["config", "--global", "credential.helper", "cache"]);
    fx.git_ok(&["config", "--global", GITHUB, "kelos"]);
    let d = fx.doctor(&[]);
    d.only("git.helper", "warn");
    assert_eq!(d.code, 0);
    let c = d.check("git.helper");
    assert!(
        c.message.contains("cache"),
        "names the other helper: {}",
        d.text
    );
    c.assert_fix_says("configure", &d.text);

    // configure puts kelos first.
    fx.kelos_ok(&["configure"]);
    fx.doctor(&[]).only("git.helper", "ok");
    // Even a plain `credential.helper = kelos` as the only helper is ok.
    fx.kelos_ok(&["unconfigure"]);
    fx.git_ok(&["config", "--global", "--unset-all", GITHUB]);
    fx.git_ok(&["config", "--global", "credential.helper", "kelos"]);
    fx.doctor(&[]).only("git.helper", "ok");
}

#[test]
fn doctor_checks_each_host_given() {
    let (mut fx, _vol, _token) = healthy();
    fx.kelos_ok(&["configure", "--host", GHE]);
    let d = fx.doctor(&["--host", GHE]);
    assert_eq!(d.result, "ok", "{}", d.text);
    assert!(d.check("host").message.contains(GHE), "{}", d.text);
    let d = fx.doctor(&["--host", "github.com", "--host", GHE]);
    let helpers: Vec<&Check> = d.checks.iter().filter(|c| c.id == "git.helper").collect();
    assert_eq!(
        helpers.len(),
        2,
        "one git.helper check per host:\n{}",
        d.text
    );
    assert!(helpers.iter().all(|c| c.level == "ok"), "{}", d.text);

    fx.kelos_ok(&["unconfigure", "--host", GHE]);
    let d = fx.doctor(&["--host", "github.com", "--host", GHE]);
    let failing: Vec<&Check> = d
        .checks
        .iter()
        .filter(|c| c.id == "git.helper" && c.level == "fail")
        .collect();
    assert_eq!(failing.len(), 1, "{}", d.text);
    assert!(failing[0].message.contains(GHE), "{}", d.text);
    assert!(
        failing[0].fix.as_deref().unwrap().contains(GHE),
        "{}",
        d.text
    );

    // GH_HOST is the default host, and the host check says so.
    fx.kelos_ok(&["configure", "--host", GHE]);
    fx.set("GH_HOST", GHE);
    let d = fx.doctor(&[]);
    assert_eq!(d.result, "ok", "{}", d.text);
    assert!(d.check("host").message.contains("GH_HOST"), "{}", d.text);
    d.assert_says("gh.vars", "GH_ENTERPRISE_TOKEN");
}

#[test]
fn doctor_gh_host_not_a_host_warns_gh_vars() {
    let (mut fx, _vol, _token) = healthy();
    fx.set("GH_HOST", "not a host");
    let d = fx.doctor(&["--host", "github.com"]);
    d.only("gh.vars", "warn");
    assert!(d.check("gh.vars").message.contains("GH_HOST"), "{}", d.text);
}

#[test]
fn doctor_without_git_fails_git() {
    let (mut fx, _vol, _token) = healthy();
    fx.path.retain(|d| !d.ends_with("git-only"));
    let d = fx.doctor(&[]);
    d.only("git", "fail");
    assert!(d.find("git.helper").is_none(), "{}", d.text);
    assert!(d
        .check("git")
        .fix
        .as_deref()
        .unwrap()
        .contains("install git"));
    assert_ne!(d.code, 0);
}
