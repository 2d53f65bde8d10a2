//! doctor's blind spots (issue 9, item 4): one JSON object in every state, a helper git
//! cannot run, tokens in helper command lines masked. The pod: [`kelos_e2e::pod`].

use std::ffi::OsString;
use std::fs;

use kelos_e2e::pod::keys::*;
use kelos_e2e::pod::{bin_dir, healthy, Pod, TOKEN_FILE_VAR};
use kelos_e2e::secrets::secret_token;
use kelos_e2e::TokenVolume;

/// `--json` prints exactly one JSON object in every state (`Doctor::run` checks the object,
/// its keys, the exit status and that text and JSON agree); a bad host is a failed `host`
/// check with exit 1, not an exit 2 without JSON.
#[test]
fn doctor_json_is_one_object_in_every_state() {
    type Setup = fn(&mut Pod, &mut TokenVolume) -> Vec<&'static str>;
    let cases: &[(&str, Setup, &str, &str, &str)] = &[
        (
            "GH_HOST with a scheme",
            |fx, _| {
                fx.set("GH_HOST", "https://ghe.corp.example");
                vec![]
            },
            "host",
            "fail",
            "is a URL (https://...)",
        ),
        (
            "GH_HOST not UTF-8",
            |fx, _| {
                use std::os::unix::ffi::OsStringExt;
                fx.set("GH_HOST", OsString::from_vec(b"gh\xffe.example".to_vec()));
                vec![]
            },
            "host",
            "fail",
            "is not UTF-8",
        ),
        (
            "--host with white space",
            |_, _| vec!["--host", "ghe example.com"],
            "host",
            "fail",
            "--host \"ghe example.com\" contains white space",
        ),
        (
            "no token file",
            |fx, _| {
                fx.unset(TOKEN_FILE_VAR);
                vec![]
            },
            "token.file",
            "fail",
            "is not set",
        ),
        (
            "bad token file",
            |_, vol| {
                vol.publish(b"two words\n", None);
                vec![]
            },
            "token.valid",
            "fail",
            "has whitespace inside it",
        ),
        (
            "no git in PATH",
            |fx, _| {
                fx.path.retain(|d| !d.ends_with("git-only"));
                vec![]
            },
            "git",
            "fail",
            "cannot run git",
        ),
        (
            "a broken global config",
            |fx, _| {
                fs::write(fx.gitconfig(), b"[credential\n\thelper = kelos\n").unwrap();
                vec![]
            },
            "git",
            "fail",
            "fatal: bad config line 1 in file",
        ),
        (
            "no gh in PATH",
            |fx, _| {
                fx.path.truncate(2);
                vec![]
            },
            "gh",
            "warn",
            "no gh in PATH",
        ),
    ];
    for (name, setup, id, level, words) in cases {
        let (mut fx, mut vol, _token) = healthy();
        let args = setup(&mut fx, &mut vol);
        let d = fx.doctor(&args);
        let c = d
            .find(id)
            .unwrap_or_else(|| panic!("{name}: no {id} check:\n{}", d.text));
        assert_eq!(c.level, *level, "{name}:\n{}", d.text);
        assert!(
            c.message.contains(words),
            "{name}: {words:?} not in:\n{}",
            d.text
        );
        if *id == "host" {
            assert_eq!(d.code, 1, "{name}: a bad host is exit 1:\n{}", d.text);
            c.assert_fix_says("host name alone", &d.text);
        }
    }
}

/// git configured to run `kelos` while `git-credential-kelos` is not in PATH: git says
/// "not a git command" and gets no token; doctor says so with the fix.
#[test]
fn doctor_git_helper_fails_when_git_cannot_run_kelos() {
    let (mut fx, _vol, _token) = healthy();
    let bins = bin_dir();
    fx.path.retain(|d| *d != bins);
    let d = fx.doctor(&[]);
    let c = d.check("git.helper");
    assert_eq!(c.level, "fail", "{}", d.text);
    assert!(c.message.contains("cannot run it"), "{}", d.text);
    assert!(c.message.contains("not a git command"), "{}", d.text);
    assert!(c.message.contains("not in PATH"), "{}", d.text);
    c.assert_fix_says("/usr/local/bin/git-credential-kelos", &d.text);
    assert_ne!(d.code, 0);
}

/// A token hard-coded in a helper's command line (a known token, a GitHub-shaped one, a
/// URL password, a `password=` value) is masked in every line doctor prints.
#[test]
fn doctor_masks_tokens_in_helper_command_lines() {
    let (mut fx, _vol, _token) = healthy();
    let known = secret_token()[4..].to_owned(); // no gh*_ shape: known only as GITHUB_TOKEN
    let shaped = format!("ghp_{}", &secret_token()[4..]);
    let url_pw = secret_token()[4..].to_owned();
    let pw = secret_token()[4..].to_owned();
    for t in [&known, &shaped, &url_pw, &pw] {
        fx.secret(t);
    }
    fx.set("GITHUB_TOKEN", &known);
    for helper in [
        format!("!/bin/true --token {known}"),
        format!("!/bin/true {shaped}"),
        format!("!/bin/true https://u:{url_pw}@example.com/x"),
        format!("!/bin/true password={pw}"),
    ] {
        fx.git_ok(&["config", "--global", "--add", GITHUB, &helper]);
    }
    let d = fx.doctor(&[]); // every output is checked for five characters of each token
    let c = d.check("git.helper");
    assert!(c.message.contains("--token …"), "{}", d.text);
    assert!(c.message.contains("ghp_…"), "{}", d.text);
    assert!(c.message.contains("https://u:…"), "{}", d.text);
    assert!(c.message.contains("password=…"), "{}", d.text);
}
