//! `git-credential-kelos configure` / `unconfigure` against the real git: each scope, the
//! user's own entries kept, git answering through what configure wrote, and failures that
//! name the scope and the fix. The pod: [`kelos_e2e::pod`] (a cleared environment, every
//! run of the helper checked for tokens).

use std::fs;
use std::process::Output;

use kelos_e2e::assert_no_token_in;
use kelos_e2e::pod::keys::*;
use kelos_e2e::pod::{bin_dir, helper_pod, strs, Pod, TOKEN_FILE_VAR};
use kelos_e2e::{attr, text, TempDir};

/// `after` without the lines in `ours` is `before`, line for line.
#[track_caller]
fn assert_rest_is(after: &str, ours: &[String], before: &str, what: &str) {
    let rest: Vec<&str> = after
        .lines()
        .filter(|l| !ours.iter().any(|o| o == l))
        .collect();
    assert_eq!(rest, before.lines().collect::<Vec<_>>(), "{what}");
}

/// The user's own entries, which configure must leave exactly as they are.
fn seed_user_config(fx: &Pod, scope: &[&str]) {
    let with = |args: &[&str]| {
        let mut all = vec!["config"];
        all.extend_from_slice(scope);
        all.extend_from_slice(args);
        fx.git_ok(&all);
    };
    with(&["--add", "credential.helper", "cache --timeout=60"]);
    with(&["--add", GITHUB, "store"]);
    with(&[
        "--add",
        "credential.https://gitlab.example.com.helper",
        "other",
    ]);
    with(&["--add", "credential.https://github.com.username", "octocat"]);
    with(&["user.name", "Kelos E2E"]);
}

#[test]
fn configure_global_writes_reset_and_kelos_for_host_and_gist() {
    let fx = helper_pod();
    seed_user_config(&fx, &["--global"]);
    let before = fx.list(&["--global"]);

    let out = fx.kelos_ok(&["configure"]);
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));

    assert_eq!(
        fx.get_all(&["--global"], GITHUB),
        strs(&["store", "", "kelos"])
    );
    assert_eq!(fx.get_all(&["--global"], GIST), strs(&["", "kelos"]));
    // Nothing else changed.
    assert_eq!(
        fx.get_all(&["--global"], "credential.helper"),
        strs(&["cache --timeout=60"])
    );
    assert_eq!(
        fx.get_all(
            &["--global"],
            "credential.https://gitlab.example.com.helper"
        ),
        strs(&["other"])
    );
    assert_eq!(
        fx.get_all(&["--global"], "credential.https://github.com.username"),
        strs(&["octocat"])
    );
    assert_eq!(fx.get_all(&["--global"], "user.name"), strs(&["Kelos E2E"]));
    let after = fx.list(&["--global"]);
    let ours = [
        format!("{GITHUB}="),
        format!("{GITHUB}=kelos"),
        format!("{GIST}="),
        format!("{GIST}=kelos"),
    ];
    assert_eq!(
        after.lines().count(),
        before.lines().count() + 4,
        "exactly four entries added:\n{after}"
    );
    assert_rest_is(&after, &ours, &before, "the rest is as it was");

    // --global is the default: saying it changes nothing.
    let file = fs::read(fx.gitconfig()).expect("read .gitconfig");
    fx.kelos_ok(&["configure", "--global"]);
    assert_eq!(
        fs::read(fx.gitconfig()).unwrap(),
        file,
        "configure twice = once"
    );
    fx.kelos_ok(&["configure"]);
    assert_eq!(
        fs::read(fx.gitconfig()).unwrap(),
        file,
        "configure thrice = once"
    );

    // unconfigure removes exactly what configure added.
    fx.kelos_ok(&["unconfigure"]);
    assert_eq!(fx.get_all(&["--global"], GITHUB), strs(&["store"]));
    assert_eq!(fx.get_all(&["--global"], GIST), None);
    assert_eq!(fx.list(&["--global"]), before);
    // And twice = once.
    let file = fs::read(fx.gitconfig()).expect("read .gitconfig");
    fx.kelos_ok(&["unconfigure", "--global"]);
    assert_eq!(
        fs::read(fx.gitconfig()).unwrap(),
        file,
        "unconfigure twice = once"
    );
    assert_eq!(fx.list(&["--global"]), before);
}

#[test]
fn configure_defaults_to_gh_host() {
    let mut fx = helper_pod();
    fx.set("GH_HOST", "GHE.Example.com:8443");
    fx.kelos_ok(&["configure"]);
    assert_eq!(fx.get_all(&["--global"], GHE_KEY), strs(&["", GHE_VALUE]));
    assert_eq!(
        fx.get_all(&["--global"], GHE_GIST_KEY),
        strs(&["", GHE_VALUE])
    );
    assert_eq!(fx.get_all(&["--global"], GITHUB), None);
    assert_eq!(fx.get_all(&["--global"], GIST), None);

    // --host wins over GH_HOST.
    fx.kelos_ok(&["configure", "--host", "github.com"]);
    assert_eq!(fx.get_all(&["--global"], GITHUB), strs(&["", "kelos"]));

    fx.kelos_ok(&["unconfigure"]);
    assert_eq!(fx.get_all(&["--global"], GHE_KEY), None);
    assert_eq!(fx.get_all(&["--global"], GHE_GIST_KEY), None);
    assert_eq!(fx.get_all(&["--global"], GITHUB), strs(&["", "kelos"]));
}

#[test]
fn configure_file_scope_with_several_hosts() {
    let fx = helper_pod();
    let dir = TempDir::new("kelos-e2e-cfgfile");
    let file = dir.join("gitconfig");
    let file_s = file.to_str().expect("UTF-8 path");
    let scope = ["--file", file_s];
    seed_user_config(&fx, &scope);
    let before = fx.list(&scope);
    let args = [
        "configure",
        "--file",
        file_s,
        "--host",
        "github.com",
        "--host",
        GHE,
    ];

    fx.kelos_ok(&args);
    assert_eq!(fx.get_all(&scope, GITHUB), strs(&["store", "", "kelos"]));
    assert_eq!(fx.get_all(&scope, GIST), strs(&["", "kelos"]));
    assert_eq!(fx.get_all(&scope, GHE_KEY), strs(&["", GHE_VALUE]));
    assert_eq!(fx.get_all(&scope, GHE_GIST_KEY), strs(&["", GHE_VALUE]));
    assert_eq!(
        fx.get_all(&scope, "credential.helper"),
        strs(&["cache --timeout=60"])
    );
    assert!(
        !fx.gitconfig().exists(),
        "--file must not touch the global config"
    );

    let bytes = fs::read(&file).unwrap();
    fx.kelos_ok(&args);
    assert_eq!(fs::read(&file).unwrap(), bytes, "configure twice = once");

    let mut un = args;
    un[0] = "unconfigure";
    fx.kelos_ok(&un);
    assert_eq!(fx.list(&scope), before);
    fx.kelos_ok(&un);
    assert_eq!(fx.list(&scope), before);
    assert!(!fx.gitconfig().exists());

    // A file that does not exist yet is created.
    let fresh = dir.join("fresh.gitconfig");
    let fresh_s = fresh.to_str().unwrap();
    fx.kelos_ok(&["configure", "--file", fresh_s]);
    assert_eq!(
        fx.get_all(&["--file", fresh_s], GITHUB),
        strs(&["", "kelos"])
    );
}

#[test]
fn configure_system_scope_uses_git_config_system() {
    let mut fx = helper_pod();
    let etc = TempDir::new("kelos-e2e-etc");
    let system = etc.join("gitconfig");
    fx.system_config = Some(system.clone());
    seed_user_config(&fx, &["--system"]);
    let before = fx.list(&["--system"]);

    fx.kelos_ok(&["configure", "--system"]);
    assert_eq!(
        fx.get_all(&["--system"], GITHUB),
        strs(&["store", "", "kelos"])
    );
    assert_eq!(fx.get_all(&["--system"], GIST), strs(&["", "kelos"]));
    assert!(
        fs::read_to_string(&system).unwrap().contains("kelos"),
        "written to GIT_CONFIG_SYSTEM"
    );
    assert!(
        !fx.gitconfig().exists(),
        "--system must not touch the global config"
    );
    let bytes = fs::read(&system).unwrap();
    fx.kelos_ok(&["configure", "--system"]);
    assert_eq!(fs::read(&system).unwrap(), bytes, "configure twice = once");

    // The doctor reads the same config git does.
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.helper"), "ok", "{}", d.text);

    fx.kelos_ok(&["unconfigure", "--system"]);
    assert_eq!(fx.list(&["--system"]), before);
}

#[test]
fn unconfigure_keeps_values_the_user_added_after_configure() {
    let fx = helper_pod();
    fx.git_ok(&["config", "--global", "--add", GITHUB, "store"]);
    fx.kelos_ok(&["configure"]);
    fx.git_ok(&["config", "--global", "--add", GITHUB, "extra"]);
    assert_eq!(
        fx.get_all(&["--global"], GITHUB),
        strs(&["store", "", "kelos", "extra"])
    );
    fx.kelos_ok(&["unconfigure"]);
    assert_eq!(fx.get_all(&["--global"], GITHUB), strs(&["store", "extra"]));
    assert_eq!(fx.get_all(&["--global"], GIST), None);
}

/// The helpers git runs are all `credential.*helper` entries in file order, so moving one of
/// the user's values changes what git does even when no value changes.
#[test]
fn configure_and_unconfigure_keep_the_order_of_other_helpers() {
    let fx = helper_pod();
    let dir = TempDir::new("kelos-e2e-order");
    let file = dir.join("gitconfig");
    let file_s = file.to_str().unwrap();
    fs::write(
        &file,
        "[credential \"https://github.com\"]\n\thelper = store\n\
         [credential]\n\thelper = cache\n\
         [credential \"https://github.com\"]\n\tusername = octocat\n",
    )
    .unwrap();
    let helpers = || {
        let out = fx.git(
            &[
                "config",
                "--file",
                file_s,
                "--get-regexp",
                r"^credential\..*helper$",
            ],
            b"",
        );
        text(&out.stdout)
    };
    let before = helpers();
    assert_eq!(
        before,
        "credential.https://github.com.helper store\ncredential.helper cache\n"
    );

    fx.kelos_ok(&["configure", "--file", file_s]);
    let after = helpers();
    let ours = [
        format!("{GITHUB} "),
        format!("{GITHUB} kelos"),
        format!("{GIST} "),
        format!("{GIST} kelos"),
    ];
    assert_rest_is(
        &after,
        &ours,
        &before,
        &format!("configure moved the user's helpers:\n{after}"),
    );

    fx.kelos_ok(&["unconfigure", "--file", file_s]);
    assert_eq!(
        helpers(),
        before,
        "after unconfigure git would run the user's helpers in another order"
    );
}

#[test]
fn configured_helper_answers_git_credential_fill_for_github_com() {
    let mut fx = helper_pod();
    let (_vol, token) = fx.volume(None);
    // An inherited helper that answers every host with a stale password.
    fx.git_ok(&[
        "config",
        "--global",
        "credential.helper",
        "!f() { echo username=stale; echo password=stale-helper-password; }; f",
    ]);
    let req = |host: &str| format!("protocol=https\nhost={host}\n\n");

    // Before: the stale helper answers github.com.
    let out = fx.fill(&req("github.com"));
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some("stale-helper-password")
    );

    fx.kelos_ok(&["configure"]);
    for host in ["github.com", "gist.github.com"] {
        let out = fx.fill(&req(host));
        assert_no_token_in("git stderr", &out.stderr, &[token.as_str()]);
        assert!(out.status.success(), "fill {host}: {}", text(&out.stderr));
        assert!(
            attr(&out.stdout, "password").as_deref() == Some(token.as_str()),
            "fill {host}: the password is not the file's token"
        );
        assert_eq!(
            attr(&out.stdout, "username").as_deref(),
            Some("x-access-token")
        );
    }
    let out = fx.fill("url=https://github.com/kelos-dev/repo.git\n\n");
    assert!(attr(&out.stdout, "password").as_deref() == Some(token.as_str()));
    // Other hosts still get the inherited helper (the reset is per host).
    let out = fx.fill(&req("gitlab.example.com"));
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some("stale-helper-password")
    );

    // `kelos` is found through PATH: without KELOS_BIN_DIR there, git cannot run it.
    let mut no_bin = helper_pod();
    no_bin.path.retain(|d| *d != bin_dir());
    fs::copy(fx.gitconfig(), no_bin.gitconfig()).unwrap();
    no_bin.set(TOKEN_FILE_VAR, fx.env[TOKEN_FILE_VAR].clone());
    let out = no_bin.fill(&req("github.com"));
    assert_no_token_in("git stdout", &out.stdout, &[token.as_str()]);
    assert!(
        attr(&out.stdout, "password").is_none(),
        "answered without git-credential-kelos in PATH"
    );

    // After unconfigure, the stale helper answers again.
    fx.kelos_ok(&["unconfigure"]);
    let out = fx.fill(&req("github.com"));
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some("stale-helper-password")
    );
}

#[test]
fn configured_helper_answers_git_credential_fill_for_ghe_with_port() {
    let mut fx = helper_pod();
    let (_vol, token) = fx.volume(None);
    fx.kelos_ok(&["configure", "--host", GHE]);
    assert_eq!(fx.get_all(&["--global"], GHE_KEY), strs(&["", GHE_VALUE]));

    // GH_HOST is unset: the `--host` in the configured value is what makes it answer.
    for input in [
        format!("protocol=https\nhost={GHE}\n\n"),
        format!("protocol=https\nhost=gist.{GHE}\n\n"),
        format!("url=https://{GHE}/org/repo.git\n\n"),
    ] {
        let out = fx.fill(&input);
        assert_no_token_in("git stderr", &out.stderr, &[token.as_str()]);
        assert!(
            out.status.success(),
            "fill {input:?}: {}",
            text(&out.stderr)
        );
        assert!(
            attr(&out.stdout, "password").as_deref() == Some(token.as_str()),
            "fill {input:?}: the password is not the file's token"
        );
    }
    // The same host on another port, and github.com, are not configured: no answer.
    for host in ["ghe.example.com", "ghe.example.com:443", "github.com"] {
        let out = fx.fill(&format!("protocol=https\nhost={host}\n\n"));
        assert_no_token_in("git stdout", &out.stdout, &[token.as_str()]);
        assert!(!out.status.success(), "{host} answered");
    }
}

/// A failed configure: non-zero exit, nothing on stdout claiming success, a message on
/// stderr naming the scope (any of `scope_words`) and a fix (any of `fix_words`).
fn assert_clear_failure(out: &Output, what: &str, scope_words: &[&str], fix_words: &[&str]) {
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "{what}: succeeded; stdout: {}",
        text(&out.stdout)
    );
    assert_ne!(out.status.code(), None, "{what}: killed by a signal");
    assert!(
        scope_words.iter().any(|w| err.contains(w)),
        "{what}: the message does not name the scope ({scope_words:?}):\n{err}"
    );
    assert!(
        fix_words.iter().any(|w| err.contains(w)),
        "{what}: the message gives no fix ({fix_words:?}):\n{err}"
    );
}

#[test]
fn configure_without_git_fails_naming_scope_and_fix() {
    let mut fx = helper_pod();
    fx.path = vec![bin_dir()];
    let dir = TempDir::new("kelos-e2e-nogit");
    let file = dir.join("gitconfig");
    let file_s = file.to_str().unwrap();
    for op in ["configure", "unconfigure"] {
        for (scope, words) in [
            (vec![], vec!["global"]),
            (vec!["--global"], vec!["global"]),
            (vec!["--system"], vec!["system"]),
            (vec!["--file", file_s], vec![file_s]),
        ] {
            let mut args = vec![op];
            args.extend_from_slice(&scope);
            let out = fx.kelos(&args);
            assert_clear_failure(&out, &format!("{args:?} without git"), &words, &["install"]);
            assert!(text(&out.stderr).contains("git"), "{args:?}: names git");
        }
    }
    assert!(!file.exists());
    assert!(!fx.gitconfig().exists());
}

#[test]
fn configure_file_in_missing_directory_fails_naming_scope_and_fix() {
    let fx = helper_pod();
    let dir = TempDir::new("kelos-e2e-rofile");
    let file = dir.join("no-such-dir").join("gitconfig");
    let file_s = file.to_str().unwrap();
    let out = fx.kelos(&["configure", "--file", file_s]);
    assert_clear_failure(&out, "configure --file", &[file_s], &["writable"]);
    assert!(!file.exists());
    assert!(!fx.gitconfig().exists(), "nothing written elsewhere");
}

#[test]
fn configure_system_unwritable_fails_naming_scope_and_fix() {
    let mut fx = helper_pod();
    let etc = TempDir::new("kelos-e2e-etc");
    fx.system_config = Some(etc.join("no-such-dir").join("gitconfig"));
    for op in ["configure", "unconfigure"] {
        let out = fx.kelos(&[op, "--system"]);
        if op == "unconfigure" {
            // Nothing to remove from a config that does not exist: not an error.
            assert!(out.status.success(), "{}", text(&out.stderr));
            continue;
        }
        assert_clear_failure(
            &out,
            "configure --system",
            &["system"],
            &["--global", "root"],
        );
    }
    assert!(!fx.gitconfig().exists(), "nothing written elsewhere");
}
