//! The parts of `images/KELOS-MAINTAINERS.md`, the drop-in for Kelos's controller, that run
//! outside a pod, read from the page (page and test cannot drift): what
//! `workspaceGitCredentialConfigScript()` returns instead (`CONFIG`, run by busybox `sh` with
//! the real git and the static binary, twice, and over the inline function an older
//! controller left), the `ini` it writes, the expiry check, the `--exclusive` fix for pods as
//! they are today, and the page's values: every YAML command carries `CONFIG` and the helper
//! path, the one-line Dockerfile change, the section 8 text, no link out of the repository.
//! The pod itself (helpers image, the five call sites, the agent) runs in
//! `tests/tests/images.rs` (`kelos_pod_of_the_maintainers_page_runs_as_kelos_would`).
//!
//! The page's absolute paths (`/kelos-bin/`, `/workspace/repo`) are mapped to a temp
//! directory; nothing else is changed.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use kelos_e2e::chroot::require_system_tool;
use kelos_e2e::pod::Pod;
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::secrets::redacted;
use kelos_e2e::volume::EXPIRES_FILE;
use kelos_e2e::{
    assert_no_token_in, attr, bin, run_with_timeout, unique_token, SmartHttpServer, TokenVolume,
    HELPER,
};

const PAGE: &str = "images/KELOS-MAINTAINERS.md";
const HELPER_PATH: &str = "/kelos-bin/git-credential-kelos";

/// The harness's pod with busybox's applets first in PATH (then git), a `workspace/`, an
/// empty global config, and the helper installed into `kelos-bin/` as the init container
/// does.
fn page_pod() -> Pod {
    let busybox = require_system_tool("busybox", "busybox");
    let mut pod = Pod::new("kelos-e2e-maint");
    let bb = pod.root.join("busybox");
    fs::create_dir(&bb).unwrap();
    let out = Command::new(&busybox)
        .args(["--install", "-s"])
        .arg(&bb)
        .output()
        .unwrap();
    assert!(out.status.success(), "busybox --install: {out:?}");
    pod.prepend_path(bb);
    fs::create_dir_all(pod.root.join("workspace")).unwrap();
    // The init container: the static helper installs itself into kelos-bin.
    let out = Command::new(bin(HELPER))
        .arg("install")
        .arg(pod.root.join("kelos-bin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "install: {out:?}");
    fs::write(pod.gitconfig(), b"").unwrap();
    pod
}

/// Over https, `github.com` gets the file's `token` through the repository's helpers, and
/// another host nothing.
#[track_caller]
fn assert_only_github_answered(pod: &Pod, repo: &Path, token: &str, what: &str) {
    assert_eq!(
        attr(&pod.fill_in(repo, "evil.example.com").stdout, "password"),
        None
    );
    assert!(
        attr(&pod.fill_in(repo, "github.com").stdout, "password").as_deref() == Some(token),
        "{what}"
    );
}

/// What the page's blocks need of a pod: `path[0]` is busybox's, `path[1]` git's.
trait PagePod {
    fn map(&self, text: &str) -> String;
    fn run_clean(&self, program: &Path, args: &[&str], stdin: &[u8]) -> Output;
    fn sh(&self, block: &str) -> Output;
    fn fill_in(&self, dir: &Path, host: &str) -> Output;
}

impl PagePod for Pod {
    /// The page's text with its absolute paths mapped into the pod's directory.
    fn map(&self, text: &str) -> String {
        let r = self.root.path().display().to_string();
        text.replace("/kelos-bin/", &format!("{r}/kelos-bin/"))
            .replace("/workspace/repo", &format!("{r}/workspace/repo"))
    }

    /// [`Pod::run`], its stdout and stderr checked for the pod's tokens.
    fn run_clean(&self, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
        let out = self.run(program, args, stdin);
        let tokens: Vec<&str> = self.tokens.iter().map(String::as_str).collect();
        assert_no_token_in(&format!("{program:?} stdout"), &out.stdout, &tokens);
        assert_no_token_in(&format!("{program:?} stderr"), &out.stderr, &tokens);
        out
    }

    /// One block of the page, run by busybox's sh (`-e`: any failing line fails it).
    fn sh(&self, block: &str) -> Output {
        let script = self.map(block);
        let out = self.run_clean(&self.path[0].join("sh"), &["-ec", &script], b"");
        let tokens: Vec<&str> = self.tokens.iter().map(String::as_str).collect();
        assert!(
            out.status.success(),
            "the page's block failed ({}):\n{script}\nstderr:\n{}",
            out.status,
            redacted(&out.stderr, &tokens)
        );
        out
    }

    fn fill_in(&self, dir: &Path, host: &str) -> Output {
        let mut c = self.command(&self.path[1].join("git"));
        c.current_dir(dir).args(["credential", "fill"]);
        run_with_timeout(
            c,
            format!("protocol=https\nhost={host}\n\n").as_bytes(),
            DEFAULT_TIMEOUT,
        )
    }
}

/// The page's YAML blocks by id, as JSON values (PyYAML).
fn yaml(page: &str) -> Vec<(String, serde_json::Value)> {
    kelos_e2e::page::yaml_blocks(page)
        .into_iter()
        .map(|(id, json)| (id, serde_json::from_str(&json).unwrap()))
        .collect()
}

/// Every `sh -c` script of the page's YAML (the third word of each `command`).
fn scripts(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(cmd)) = map.get("command") {
                if cmd.len() == 3 && cmd[0] == "sh" && cmd[1] == "-c" {
                    out.push(cmd[2].as_str().unwrap().to_owned());
                }
            }
            map.values().for_each(|v| scripts(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| scripts(v, out)),
        _ => {}
    }
}

#[test]
fn the_pages_values_agree_with_each_other_and_with_this_repository() {
    let page = kelos_e2e::page::read(PAGE);
    assert!(
        !page.contains("../shared") && !page.contains("/work/"),
        "the page links out of the repository"
    );
    let sh = kelos_e2e::page::blocks(&page, "sh");
    assert_eq!(
        sh.len(),
        3,
        "the sh blocks, in order: CONFIG, expiry, --exclusive:\n{sh:#?}"
    );
    let config = sh[0].trim_end();
    assert!(config.contains(&format!(
        "configure --file /workspace/repo/.git/config --helper {HELPER_PATH}"
    )));

    // Every script of the YAML: the helper is the binary's path, never the inline function;
    // every script that writes the repository's config writes CONFIG, verbatim.
    let blocks = yaml(&page);
    let mut all = Vec::new();
    for (_, v) in &blocks {
        scripts(v, &mut all);
    }
    assert_eq!(
        all.len(),
        5,
        "task-pod's git-clone and branch-setup, commit-ref, session, pool"
    );
    for script in &all {
        assert!(
            !script.contains("!f()") && !script.contains("password="),
            "{script}"
        );
        for (i, _) in script.match_indices("credential.helper='") {
            let rest = &script[i + "credential.helper='".len()..];
            assert!(rest.starts_with(&format!("{HELPER_PATH}'")), "{script}");
        }
        let writes = script.matches("configure --file").count();
        if script.contains("/workspace/repo/.git/config") {
            assert_eq!(
                script.matches(config).count(),
                writes,
                "CONFIG verbatim in:\n{script}"
            );
        }
    }
    let commit_ref = &all[2];
    assert!(
        commit_ref.contains(
            &config
                .replace("/workspace/repo/.git/config", "\"$target/.git/config\"")
                .replace("; ", "\n")
                .replace(" && ", "\n")
                .replace("git -C /workspace/repo", "git -C \"$target\"")
        ),
        "the commit-ref lines are CONFIG with $target:\n{commit_ref}"
    );

    // The one-line change of the reference images, and section 8's text, name the image of
    // this version.
    let version = env!("CARGO_PKG_VERSION");
    let image = format!("ghcr.io/kelos-dev/kelos-credential-helpers:v{version}");
    let dockerfile = kelos_e2e::page::blocks(&page, "dockerfile");
    assert_eq!(
        dockerfile,
        [format!("COPY --from={image} /kelos-gh /usr/local/bin/gh\n")]
    );
    let markdown = kelos_e2e::page::blocks(&page, "markdown");
    assert_eq!(markdown.len(), 1);
    assert!(markdown[0].starts_with("### 8. GitHub token freshness\n"));
    assert!(markdown[0].contains(dockerfile[0].trim_end()));
    assert!(
        markdown[0].contains(HELPER_PATH)
            && markdown[0].contains("/kelos/github-token/GITHUB_TOKEN")
    );
    assert!(
        page.contains("COPY hack/agent-gh-wrapper.sh /usr/local/bin/gh"),
        "names the line replaced"
    );
    // The Secret's new key holds the annotation's value; the pod lists it.
    let secret = &blocks.iter().find(|(id, _)| id == "secret").unwrap().1;
    assert_eq!(
        secret["stringData"][EXPIRES_FILE],
        secret["metadata"]["annotations"]["kelos.dev/token-expires-at"]
    );
    // The table's values are the YAML's.
    for value in [
        format!("`{HELPER_PATH}`"),
        format!(
            "`... {} && ...`",
            config
                .split("; ")
                .nth(1)
                .unwrap()
                .split(" && ")
                .next()
                .unwrap()
        ),
    ] {
        assert!(page.contains(&value), "the table has {value}");
    }
}

#[test]
fn config_writes_the_pages_entries_idempotently_over_the_inline_function() {
    let page = kelos_e2e::page::read(PAGE);
    let sh = kelos_e2e::page::blocks(&page, "sh");
    let ini = kelos_e2e::page::blocks(&page, "ini");
    assert_eq!(ini.len(), 1);

    let mut pod = page_pod();
    let token = unique_token("Maint");
    pod.tokens.push(token.clone());
    let mut vol = TokenVolume::new();
    vol.publish(token.as_bytes(), Some("2099-01-01T00:00:00Z"));
    let file = vol.token_path().display().to_string();
    pod.set("KELOS_GITHUB_TOKEN_FILE", file.clone());

    // A repository as an older controller left it: the inline function, any host.
    let server = SmartHttpServer::start(&[&token]);
    let repo = pod.root.join("workspace/repo");
    let git = |pod: &Pod, dir: &Path, args: &[&str]| {
        let mut c = pod.command(&pod.path[1].join("git"));
        c.current_dir(dir).args(args);
        run_with_timeout(c, b"", DEFAULT_TIMEOUT)
    };
    let inline = format!(
        r#"!f() {{ if [ -r "{file}" ]; then echo "password=$(cat "{file}")"; else echo "password=$GITHUB_TOKEN"; fi; }}; f"#
    );
    let with_inline = format!("credential.helper={inline}");
    let out = git(
        &pod,
        &pod.root.join("workspace"),
        &[
            "-c",
            &with_inline,
            "-c",
            "credential.username=x-access-token",
            "clone",
            "-q",
            &server.url(),
            "repo",
        ],
    );
    assert!(
        out.status.success(),
        "clone: {}",
        redacted(&out.stderr, &[&token])
    );
    assert!(git(
        &pod,
        &repo,
        &["config", "--add", "credential.helper", &inline]
    )
    .status
    .success());
    assert!(git(
        &pod,
        &repo,
        &["config", "credential.username", "x-access-token"]
    )
    .status
    .success());
    assert!(
        attr(&pod.fill_in(&repo, "evil.example.com").stdout, "password").as_deref()
            == Some(token.as_str()),
        "the inline function answers any host"
    );

    // CONFIG, twice: the function is gone, the page's entries are there, once.
    pod.sh(&sh[0]);
    let once = fs::read_to_string(repo.join(".git/config")).unwrap();
    pod.sh(&sh[0]);
    let twice = fs::read_to_string(repo.join(".git/config")).unwrap();
    assert_eq!(once, twice, "CONFIG is idempotent");
    // git writes an empty value as `helper = ` (a trailing space the page does not show).
    let trimmed = |t: &str| t.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    let mapped = trimmed(&pod.map(&ini[0]));
    assert!(
        trimmed(&twice).contains(&mapped),
        "the page's ini is what CONFIG wrote:\n{twice}"
    );
    assert!(twice.contains("\tusername = x-access-token"), "{twice}");
    assert!(!twice.contains("password="), "{twice}");
    assert_only_github_answered(
        &pod,
        &repo,
        &token,
        "https://github.com gets the file's token",
    );

    // The expiry: git gets password_expiry_utc, doctor shows it; neither shows the token.
    let mut c = pod.command(&pod.path[0].join("sh"));
    c.current_dir(&repo).args(["-ec", &pod.map(&sh[1])]);
    let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
    assert_no_token_in("the expiry block", &out.stdout, &[&token]);
    assert_no_token_in("the expiry block", &out.stderr, &[&token]);
    let shown = String::from_utf8_lossy(&out.stdout);
    let git = kelos_e2e::git_generations::test_git();
    if git.passes_expiry() {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(shown.contains("password_expiry_utc=4070908800"), "{shown}");
        assert!(shown.contains("token.expiry"), "{shown}");
        assert!(shown.contains("2099-01-01T00:00:00Z"), "{shown}");
    } else {
        // Debian 12's git 2.39 drops password_expiry_utc: the page's grep finds no line
        // and the block stops there (`sh -e`).
        assert!(
            !out.status.success(),
            "{} passed the expiry on: {shown}",
            git.label()
        );
        assert!(!shown.contains("password_expiry_utc"), "{shown}");
    }
}

#[test]
fn the_exclusive_fix_silences_the_inline_function_of_pods_as_they_are() {
    let page = kelos_e2e::page::read(PAGE);
    let sh = kelos_e2e::page::blocks(&page, "sh");
    let mut pod = page_pod();
    let token = unique_token("MaintToday");
    pod.tokens.push(token.clone());
    let vol = TokenVolume::with_token(&token);
    let file = vol.token_path().display().to_string();
    pod.set("KELOS_GITHUB_TOKEN_FILE", file.clone());
    // The agent image of images/README.md: git-credential-kelos in PATH.
    pod.path.push(pod.root.join("kelos-bin"));
    let repo = pod.root.join("workspace/repo");
    let git = |args: &[&str]| {
        let mut c = pod.command(&pod.path[1].join("git"));
        c.current_dir(&repo).args(args);
        run_with_timeout(c, b"", DEFAULT_TIMEOUT)
    };
    fs::create_dir_all(&repo).unwrap();
    assert!(git(&["init", "-q"]).status.success());
    let inline = format!(
        r#"!f() {{ if [ -r "{file}" ]; then echo "password=$(cat "{file}")"; else echo "password=$GITHUB_TOKEN"; fi; }}; f"#
    );
    assert!(git(&["config", "--add", "credential.helper", &inline])
        .status
        .success());
    assert!(git(&["config", "credential.username", "x-access-token"])
        .status
        .success());
    let leaked = attr(&pod.fill_in(&repo, "evil.example.com").stdout, "password");
    assert!(
        leaked.as_deref() == Some(token.as_str()),
        "the inline helper answers any host"
    );
    pod.sh(&sh[2]);
    assert_only_github_answered(
        &pod,
        &repo,
        &token,
        "https://github.com still gets the file's token",
    );
}
