//! doctor's `glab` check, end to end with the real glab (Debian 13's 1.53) and kelos-glab:
//! where the glab in PATH leads (kelos-glab with its stamp's version and commit, the real
//! glab reached by `KELOS_GLAB_PATH` or the walk, its version), each way it can go wrong
//! with the fix naming what to install; and no `glab` check at all in a GitHub-only pod.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use kelos_e2e::pod::{helper_pod, Pod};
use kelos_e2e::{bin, require_tool, TempDir, TokenVolume};

/// A directory holding `name` → `target` (kept alive by the returned value).
fn dir_with(name: &str, target: &Path) -> TempDir {
    let dir = TempDir::new("kelos-e2e-doctor-glab");
    symlink(target, dir.join(name)).expect("symlink");
    dir
}

fn real_glab() -> PathBuf {
    require_tool("glab")
}

/// A GitLab pod (its token file and an https instance; no GitHub variable).
fn gitlab_pod(vol: &TokenVolume) -> Pod {
    let mut fx = helper_pod();
    fx.set("KELOS_GITLAB_TOKEN_FILE", vol.token_path())
        .set("GITLAB_HOST", "https://gitlab.example.com");
    fx
}

#[test]
fn glab_check_follows_the_glab_in_path_to_the_real_glab() {
    let vol = TokenVolume::with_token("glpat-doctorGlabCheck0123");
    let mut fx = gitlab_pod(&vol);
    let real = real_glab();

    // No glab at all: a warning naming what to install.
    let d = fx.doctor(&[]);
    let c = d.assert_check("glab", "warn", &["no glab in PATH"]);
    assert_eq!(
        c.fix.as_deref(),
        Some("install glab and kelos-glab as /usr/local/bin/glab, if agents use glab"),
        "{}",
        d.text
    );

    // The real glab alone: it would send the frozen token.
    let real_dir = dir_with("glab", &real);
    fx.path.push(real_dir.path().to_path_buf());
    let d = fx.doctor(&[]);
    let c = d.assert_check(
        "glab",
        "warn",
        &[
            &format!("glab in PATH is {}", real_dir.join("glab").display()),
            "not the kelos-glab wrapper: glab will use the frozen token",
        ],
    );
    assert_eq!(
        c.fix.as_deref(),
        Some("install kelos-glab as /usr/local/bin/glab, ahead of the real glab in PATH")
    );

    // kelos-glab as glab ahead of it: the chain, the stamp, the real glab's version.
    let wrapper_dir = dir_with("glab", &bin("kelos-glab"));
    fx.prepend_path(wrapper_dir.path().to_path_buf());
    let d = fx.doctor(&[]);
    let c = d.assert_check(
        "glab",
        "ok",
        &[
            &format!(
                "glab in PATH is the kelos-glab wrapper {} (kelos-glab {}",
                wrapper_dir.join("glab").display(),
                env!("CARGO_PKG_VERSION")
            ),
            "(commit ",
            &format!(
                "→ real glab {} (Current glab version: 1.53.0)",
                real_dir.join("glab").display()
            ),
        ],
    );
    assert_eq!(c.fix, None);

    // KELOS_GLAB_PATH names the real glab: said so.
    fx.set("KELOS_GLAB_PATH", &real);
    let d = fx.doctor(&[]);
    d.assert_check(
        "glab",
        "ok",
        &[&format!(
            "→ real glab {} (from KELOS_GLAB_PATH)",
            real.display()
        )],
    );
    // ... or something that is not there: glab would exit 127.
    fx.set("KELOS_GLAB_PATH", "/nonexistent/glab");
    let d = fx.doctor(&[]);
    let c = d.assert_check(
        "glab",
        "fail",
        &[
            "which finds no real glab (glab exits 127)",
            "KELOS_GLAB_PATH=/nonexistent/glab",
        ],
    );
    assert_eq!(
        c.fix.as_deref(),
        Some("install glab, or set KELOS_GLAB_PATH to the absolute path of the real glab")
    );
    fx.unset("KELOS_GLAB_PATH");

    // kelos-glab and no real glab after it: the walk finds none.
    fx.path.retain(|p| p != real_dir.path());
    let d = fx.doctor(&[]);
    d.assert_check(
        "glab",
        "fail",
        &["which finds no real glab (glab exits 127): KELOS_GLAB_PATH is unset"],
    );
    d.check("glab").fix.as_deref().expect("a fix");
}

#[test]
fn a_github_only_pod_has_no_glab_check_even_with_glab_in_path() {
    let mut fx = helper_pod();
    let (_vol, _token) = fx.volume(None);
    let real_dir = dir_with("glab", &real_glab());
    fx.path.push(real_dir.path().to_path_buf());
    let d = fx.doctor(&["--no-token-ok"]);
    assert!(d.find("gh").is_some(), "{}", d.text);
    assert!(d.find("glab").is_none(), "{}", d.text);
}
