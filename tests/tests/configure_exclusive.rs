//! `configure --exclusive` / `--local`, and command-line misuse, against the real git. The
//! pod: [`kelos_e2e::pod`] (a cleared environment, every run of the helper checked for
//! tokens).

use std::fs;

use kelos_e2e::pod::keys::*;
use kelos_e2e::pod::{helper_pod, strs, Pod};
use kelos_e2e::{assert_contains, text, TempDir};

/// `git config --file F --fixed-value --unset credential.helper VALUE`.
fn unset_helper(fx: &Pod, f: &str, value: &str) {
    fx.git_ok(&[
        "config",
        "--file",
        f,
        "--fixed-value",
        "--unset",
        "credential.helper",
        value,
    ]);
}

#[test]
fn configure_exclusive_appends_reset_and_kelos_after_every_helper_and_removes_exactly_them() {
    let fx = helper_pod();
    let dir = TempDir::new("kelos-e2e-excl");
    let file = dir.join("config");
    let f = file.to_str().unwrap();
    // The user's scoped sections first, then the plain [credential] section.
    fx.git_ok(&["config", "--file", f, "--add", GITHUB, "store"]);
    fx.git_ok(&[
        "config",
        "--file",
        f,
        "credential.https://github.com.username",
        "octocat",
    ]);
    fx.git_ok(&[
        "config",
        "--file",
        f,
        "--add",
        "credential.helper",
        "cache --timeout=60",
    ]);
    fx.git_ok(&["config", "--file", f, "--add", "credential.helper", ""]);
    fx.git_ok(&["config", "--file", f, "--add", "credential.helper", "other"]);
    fx.git_ok(&["config", "--file", f, "user.name", "Kelos E2E"]);
    let before = fs::read(&file).unwrap();
    fx.kelos_ok(&["configure", "--exclusive", "--file", f]);
    let plain = fx.get_all(&["--file", f], "credential.helper").unwrap();
    assert_eq!(
        plain,
        strs(&["cache --timeout=60", "", "other", "", "kelos"]).unwrap()
    );
    // Only the plain list changed, and git now runs only kelos, for any host.
    assert_eq!(
        fx.get_all(&["--file", f], GITHUB),
        strs(&["store"]),
        "the user's scoped entries stay"
    );
    let once = fs::read(&file).unwrap();
    let out = fx.kelos_ok(&["configure", "--exclusive", "--file", f]);
    assert_contains(&out.stdout, "already", "");
    assert_eq!(fs::read(&file).unwrap(), once, "idempotent");
    // The user has a reset of their own: exactly ours go, byte for byte.
    let out = fx.kelos_ok(&["unconfigure", "--exclusive", "--file", f]);
    assert_contains(&out.stdout, "removed", "");
    assert_eq!(
        fx.get_all(&["--file", f], "credential.helper"),
        strs(&["cache --timeout=60", "", "other"])
    );
    assert_eq!(fx.get_all(&["--file", f], GITHUB), strs(&["store"]));
    assert_eq!(fs::read(&file).unwrap(), before, "byte for byte");
    // Without a reset of the user's own, byte for byte.
    unset_helper(&fx, f, "");
    let before = fs::read(&file).unwrap();
    fx.kelos_ok(&["configure", "--exclusive", "--file", f]);
    assert_ne!(fs::read(&file).unwrap(), before);
    let out = fx.kelos_ok(&["unconfigure", "--exclusive", "--file", f]);
    assert!(
        !text(&out.stdout).contains("rewritten"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(fs::read(&file).unwrap(), before, "byte for byte");
    unset_helper(&fx, f, "other");
    fx.git_ok(&["config", "--file", f, "--add", "credential.helper", ""]);
    fx.git_ok(&["config", "--file", f, "--add", "credential.helper", "other"]);
    // Several hosts: one entry for all of them.
    let two_hosts = ["--file", f, "--host", "github.com", "--host", GHE];
    fx.kelos_ok(&[&["configure", "--exclusive"][..], &two_hosts].concat());
    let plain = fx.get_all(&["--file", f], "credential.helper").unwrap();
    assert_eq!(
        plain.last().map(String::as_str),
        Some("kelos --host github.com --host ghe.example.com:8443")
    );
    fx.kelos_ok(&[&["unconfigure", "--exclusive"][..], &two_hosts].concat());
    // The reset is not unique here (the user has one too): still exactly ours goes.
    assert_eq!(
        fx.get_all(&["--file", f], "credential.helper"),
        strs(&["cache --timeout=60", "", "other"])
    );
    let out = fx.kelos_ok(&["unconfigure", "--exclusive", "--file", f]);
    assert!(text(&out.stdout).contains("nothing to remove"));
}

/// A `[credential "URL"]` section after the file's `[credential]` section (or an include):
/// `--exclusive` writes its reset and kelos in a new section at the end of the file, after
/// them, so git runs only kelos; unconfigure gives the file back byte for byte.
#[test]
fn configure_exclusive_comes_after_a_later_section() {
    let fx = helper_pod();
    let dir = TempDir::new("kelos-e2e-excl");
    let file = dir.join("config");
    let f = file.to_str().unwrap();
    fx.git_ok(&["config", "--file", f, "credential.helper", "first"]);
    fx.git_ok(&[
        "config",
        "--file",
        f,
        "credential.https://a.example.helper",
        "scoped",
    ]);
    fx.git_ok(&["config", "--file", f, "include.path", "other.gitconfig"]);
    let before = fs::read(&file).unwrap();
    fx.kelos_ok(&["configure", "--exclusive", "--file", f]);
    let listed = fx.list(&["--file", f]);
    assert!(
        listed.ends_with(
            "include.path=other.gitconfig\ncredential.helper=\ncredential.helper=kelos\n"
        ),
        "{listed}"
    );
    fx.kelos_ok(&["unconfigure", "--exclusive", "--file", f]);
    assert_eq!(fs::read(&file).unwrap(), before, "byte for byte");
}

#[test]
fn configure_local_edits_the_repository_and_is_an_error_outside_one() {
    let mut fx = helper_pod();
    for command in ["configure", "unconfigure"] {
        for extra in [&[][..], &["--exclusive"]] {
            let mut args = vec![command, "--local"];
            args.extend_from_slice(extra);
            let out = fx.kelos(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = text(&out.stderr);
            assert!(
                err.contains("not inside a git repository"),
                "{args:?}: {err}"
            );
            assert!(err.contains("--global"), "{args:?}: {err}");
        }
    }
    fx.git_ok(&["init", "-q", "repo"]);
    let repo = fx.home().join("repo");
    fx.cwd = Some(repo.join("sub"));
    fs::create_dir(repo.join("sub")).unwrap();
    fx.kelos_ok(&["configure", "--local"]);
    assert_eq!(fx.get_all(&["--local"], GITHUB), strs(&["", "kelos"]));
    assert_eq!(fx.get_all(&["--global"], GITHUB), None, "global untouched");
    fx.kelos_ok(&["unconfigure", "--local"]);
    assert_eq!(fx.get_all(&["--local"], GITHUB), None);
}

#[test]
fn cli_misuse_is_an_error_that_names_it_and_every_help_works() {
    let fx = helper_pod();
    let out = fx.kelos(&["configure", "--file", "--system"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&out.stderr, "a value is required for '--file <PATH>'", "");
    assert!(
        !fx.home().join("--system").exists(),
        "no file named --system"
    );
    assert!(fs::read(fx.gitconfig()).map_or(true, |c| c.is_empty()));
    let out = fx.kelos(&["configure", "--sytem"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&out.stderr, "'--system'", "");
    let out = fx.kelos(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Usage: git-credential-kelos"));
    for command in [
        "configure",
        "unconfigure",
        "doctor",
        "get",
        "store",
        "erase",
        "capability",
    ] {
        let out = fx.kelos(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command} --help");
        assert_contains(
            &out.stdout,
            &format!("Usage: git-credential-kelos {command}"),
            &format!("{command} --help: "),
        );
    }
    let out = fx.kelos(&["configure", "--help"]);
    assert!(text(&out.stdout).contains("--exclusive"));
    assert!(text(&out.stdout).contains("--local"));
}
