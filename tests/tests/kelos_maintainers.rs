//! Runs every command of `images/KELOS-MAINTAINERS.md`, the drop-in for Kelos's controller,
//! as the page has it (read from the page, so page and test cannot drift): the init
//! container's copy (busybox `cp`), the init container's clone (`busybox sh`, the real git,
//! the static binary, from the local smart-HTTP server), what the controller writes into the
//! repository instead of its inline function, and the expiry check.
//!
//! The page's absolute paths (`/kelos-bin/`, `/opt/kelos/`, `/workspace/repo`) are mapped to
//! a temp directory and `https://github.com/OWNER/REPO.git` to the local server; nothing else
//! is changed. The root-fs (chroot) variant of the clone is not run here.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kelos_e2e::chroot::{require_system_tool, workspace_root};
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::secrets::redacted;
use kelos_e2e::volume::EXPIRES_FILE;
use kelos_e2e::{
    assert_no_token_in, attr, bin, require_tool, run_with_timeout, unique_token, SmartHttpServer,
    TempDir, TokenVolume, HELPER,
};

const PAGE: &str = "images/KELOS-MAINTAINERS.md";
const REPO_URL: &str = "https://github.com/OWNER/REPO.git";

/// The page's fenced blocks of `lang`, in order.
fn blocks(page: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (Some(_), Some("")) => out.push(current.take().unwrap()),
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block in {PAGE}");
    out
}

struct Pod {
    root: TempDir,
    /// busybox applets, then git; for the agent, the helpers' directory too.
    path: Vec<PathBuf>,
    env: Vec<(String, String)>,
    tokens: Vec<String>,
}

impl Pod {
    fn new() -> Pod {
        let busybox = require_system_tool("busybox", "busybox");
        let git = require_tool("git");
        let root = TempDir::new("kelos-e2e-maint");
        let bb = root.join("busybox");
        fs::create_dir(&bb).unwrap();
        let out = Command::new(&busybox)
            .args(["--install", "-s"])
            .arg(&bb)
            .output()
            .unwrap();
        assert!(out.status.success(), "busybox --install: {out:?}");
        let git_dir = root.join("git-only");
        fs::create_dir(&git_dir).unwrap();
        symlink(&git, git_dir.join("git")).unwrap();
        for dir in ["kelos-bin", "opt/kelos", "workspace", "home"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        // The init image of the page's Dockerfile: the binaries under /opt/kelos/.
        for name in [HELPER, "kelos-gh"] {
            fs::copy(bin(name), root.join("opt/kelos").join(name)).unwrap();
        }
        fs::write(root.join("home/.gitconfig"), b"").unwrap();
        Pod {
            path: vec![bb, git_dir],
            env: Vec::new(),
            tokens: Vec::new(),
            root,
        }
    }

    /// The page's text with its absolute paths mapped into the pod's directory.
    fn map(&self, text: &str) -> String {
        let r = self.root.path().display().to_string();
        text.replace("/kelos-bin/", &format!("{r}/kelos-bin/"))
            .replace("/opt/kelos/", &format!("{r}/opt/kelos/"))
            .replace("/workspace/repo", &format!("{r}/workspace/repo"))
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let path: Vec<String> = self.path.iter().map(|p| p.display().to_string()).collect();
        c.env_clear()
            .env("PATH", path.join(":"))
            .env("HOME", self.root.join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.root.join("home/.gitconfig"))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .current_dir(self.root.join("home"));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.command(program);
        c.args(args);
        let out = run_with_timeout(c, stdin, DEFAULT_TIMEOUT);
        let tokens: Vec<&str> = self.tokens.iter().map(String::as_str).collect();
        assert_no_token_in(&format!("{program:?} stdout"), &out.stdout, &tokens);
        assert_no_token_in(&format!("{program:?} stderr"), &out.stderr, &tokens);
        out
    }

    /// One block of the page, run by busybox's sh (`-e`: any failing line fails it).
    fn sh(&self, block: &str) -> Output {
        let script = self.map(block);
        let out = self.run(&self.path[0].join("sh"), &["-ec", &script], b"");
        let tokens: Vec<&str> = self.tokens.iter().map(String::as_str).collect();
        assert!(
            out.status.success(),
            "the page's block failed ({}):\n{script}\nstderr:\n{}",
            out.status,
            redacted(&out.stderr, &tokens)
        );
        out
    }

    fn fill(&self, dir: &Path, host: &str) -> Output {
        let mut c = self.command(&self.path[1].join("git"));
        c.current_dir(dir).args(["credential", "fill"]);
        run_with_timeout(
            c,
            format!("protocol=https\nhost={host}\n\n").as_bytes(),
            DEFAULT_TIMEOUT,
        )
    }
}

#[test]
fn every_command_of_the_maintainers_page_runs() {
    let page = fs::read_to_string(workspace_root().join(PAGE)).expect("read the page");
    let sh = blocks(&page, "sh");
    assert_eq!(
        sh.len(),
        5,
        "the sh blocks this test runs, in order:\n{sh:#?}"
    );
    let yaml = blocks(&page, "yaml");
    let dockerfile = blocks(&page, "dockerfile");
    assert_eq!(dockerfile.len(), 1);
    assert!(
        dockerfile[0].contains("/git-credential-kelos /kelos-gh /opt/kelos/"),
        "{dockerfile:?}"
    );
    assert!(
        page.contains(&format!("{EXPIRES_FILE}: ")),
        "the page names the Secret key {EXPIRES_FILE}"
    );

    let mut pod = Pod::new();
    let token = unique_token("Maint");
    pod.tokens.push(token.clone());
    let mut vol = TokenVolume::new();
    vol.publish(token.as_bytes(), Some("2099-01-01T00:00:00Z"));
    pod.env.push((
        "KELOS_GITHUB_TOKEN_FILE".into(),
        vol.token_path().display().to_string(),
    ));

    // 1. The first init container: the `command:` of the kelos-helpers container, run as
    //    busybox runs it.
    let command = yaml[0]
        .lines()
        .find_map(|l| l.trim().strip_prefix("command: "))
        .expect("the init container's command");
    let argv: Vec<String> = serde_json::from_str(&pod.map(command)).expect("a JSON array");
    let program = pod.path[0].join(&argv[0]);
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let out = pod.run(&program, &args, b"");
    assert!(out.status.success(), "{argv:?}: {out:?}");
    let copied = pod.root.join("kelos-bin").join(HELPER);
    assert_eq!(
        fs::read(&copied).unwrap(),
        fs::read(bin(HELPER)).unwrap(),
        "the helper is in the shared volume"
    );
    assert!(fs::metadata(&copied).unwrap().permissions().mode() & 0o111 != 0);
    assert!(pod.root.join("kelos-bin/kelos-gh").is_file());

    // 2. The second init container's clone, through the static binary, from the local
    //    smart-HTTP server standing in for GitHub (GH_HOST names it, as for Enterprise).
    let server = SmartHttpServer::start(&[&token]);
    let clone = sh
        .iter()
        .find(|b| b.contains(" clone "))
        .expect("the clone block");
    pod.env.push(("GH_HOST".into(), server.host()));
    pod.sh(&clone.replace(REPO_URL, &server.url()));
    pod.env.retain(|(k, _)| k != "GH_HOST");
    let repo = pod.root.join("workspace/repo");
    assert!(
        repo.join("README").is_file(),
        "the clone has the seed commit"
    );
    assert_eq!(server.auth_failures(), 0, "{:?}", server.log());
    assert!(
        !server.presented_passwords().is_empty()
            && server.presented_passwords().iter().all(|p| *p == token),
        "the clone presented the file's token"
    );

    // 3. The agent container, where git-credential-kelos is in PATH: what the controller
    //    writes instead of its inline function.
    pod.path.push(bin(HELPER).parent().unwrap().to_path_buf());
    pod.sh(&sh[0]);
    let out = pod.fill(&repo, "github.com");
    assert!(
        attr(&out.stdout, "password").as_deref() == Some(token.as_str()),
        "https://github.com gets the file's token"
    );
    assert_eq!(
        attr(&pod.fill(&repo, "evil.example.com").stdout, "password"),
        None
    );
    let config = repo.join(".git/config");
    let written = fs::read(&config).unwrap();
    // The idempotent command writes the same entries (and gist's), twice is once.
    pod.sh(&sh[1]);
    let once = fs::read(&config).unwrap();
    pod.sh(&sh[1]);
    assert_eq!(
        fs::read(&config).unwrap(),
        once,
        "configure --local is idempotent"
    );
    let text = String::from_utf8_lossy(&once).into_owned();
    assert!(
        text.starts_with(String::from_utf8_lossy(&written).as_ref()),
        "configure --local added to the page's entries, changed none:\n{text}"
    );
    assert!(
        text.contains("[credential \"https://gist.github.com\"]"),
        "{text}"
    );
    assert_eq!(
        attr(&pod.fill(&repo, "evil.example.com").stdout, "password"),
        None
    );

    // 4. The expiry: git gets password_expiry_utc, doctor shows it; neither shows the token.
    let mut c = pod.command(&pod.path[0].join("sh"));
    c.current_dir(&repo).args(["-ec", &pod.map(&sh[3])]);
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

    // 5. As it is today: the controller's inline helper in the repository answers any host;
    //    the page's command silences it, and the token's host still gets the token.
    let git = |args: &[&str]| {
        let mut c = pod.command(&pod.path[1].join("git"));
        c.current_dir(&repo).args(args);
        run_with_timeout(c, b"", DEFAULT_TIMEOUT)
    };
    let file = vol.token_path().display().to_string();
    let inline = format!(
        r#"!f() {{ if [ -r {file} ]; then echo "password=$(cat {file})"; else echo "password=$GITHUB_TOKEN"; fi; }}; f"#
    );
    git(&["config", "--unset-all", "credential.helper"]);
    assert!(git(&["config", "--add", "credential.helper", &inline])
        .status
        .success());
    let leaked = attr(&pod.fill(&repo, "evil.example.com").stdout, "password");
    assert!(
        leaked.as_deref() == Some(token.as_str()),
        "the inline helper answers any host"
    );
    pod.sh(&sh[4]);
    assert_eq!(
        attr(&pod.fill(&repo, "evil.example.com").stdout, "password"),
        None
    );
    assert!(
        attr(&pod.fill(&repo, "github.com").stdout, "password").as_deref() == Some(token.as_str()),
        "https://github.com still gets the file's token"
    );
}
