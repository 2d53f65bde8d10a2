//! An isolated git environment with git-credential-kelos configured as the only helper.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::pod::TOKEN_FILE_VAR;
use crate::process::{run_with_timeout, DEFAULT_TIMEOUT};
use crate::secrets::{assert_no_token_in, redacted, unique_token};
use crate::{bin, require_tool, TempDir, TokenVolume, HELPER};

/// Variables that must never leak from the developer's environment into a test. The
/// environment is cleared entirely; this list documents what that protects against and lets
/// tests check it.
pub const SCRUBBED: &[&str] = &[
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "GH_HOST",
    "KELOS_GITHUB_TOKEN_FILE",
    "KELOS_GH_PATH",
    "KELOS_CREDENTIAL_TRACE",
];

pub struct GitSandbox {
    home: TempDir,
    helper: PathBuf,
    env: BTreeMap<String, String>,
    timeout: Duration,
    /// Values no run's stderr may hold (checked on every run).
    secrets: Vec<String>,
}

impl GitSandbox {
    /// A sandbox whose git uses `git-credential-kelos <helper_args>` as its only helper.
    pub fn new(helper_args: &[&str]) -> GitSandbox {
        require_tool("git");
        let helper = bin(HELPER);
        let helper_str = helper.to_str().expect("helper path is UTF-8").to_string();
        assert!(
            helper_str
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)),
            "the helper path {helper_str:?} has characters the shell would interpret; \
             use a plain KELOS_BIN_DIR"
        );
        let sb = GitSandbox {
            home: TempDir::new("kelos-e2e-home"),
            helper,
            env: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            secrets: Vec::new(),
        };
        std::fs::write(sb.gitconfig(), b"").expect("create .gitconfig");
        let mut value = helper_str;
        for a in helper_args {
            assert!(!a.contains([' ', '\'', '"', '\\', '$', '`', ';', '&', '|']));
            value.push(' ');
            value.push_str(a);
        }
        sb.config(&["credential.helper", ""]);
        sb.config(&["--add", "credential.helper", &value]);
        sb.config(&["user.name", "Kelos E2E"]);
        sb.config(&["user.email", "e2e@kelos.invalid"]);
        sb.config(&["init.defaultBranch", "main"]);
        sb.config(&["advice.detachedHead", "false"]);
        sb
    }

    fn config(&self, args: &[&str]) {
        let mut c = self.git_command();
        c.arg("config").arg("--global").args(args);
        let out = run_with_timeout(c, b"", self.timeout);
        assert!(
            out.status.success(),
            "git config --global {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn gitconfig(&self) -> PathBuf {
        self.home.join(".gitconfig")
    }

    /// Absolute path of the helper binary under test.
    pub fn helper_path(&self) -> &Path {
        &self.helper
    }

    /// Sets a variable for every command this sandbox runs (git and helper).
    pub fn set_env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        let v = value
            .as_ref()
            .to_str()
            .expect("UTF-8 env value")
            .to_string();
        self.env.insert(key.to_string(), v);
        self
    }

    pub fn remove_env(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// `KELOS_GITHUB_TOKEN_FILE` = the volume's token path.
    pub fn use_token_file(&mut self, vol: &TokenVolume) -> &mut Self {
        self.set_env(TOKEN_FILE_VAR, vol.token_path())
    }

    /// A value no run's stderr (git's or the helper's) may hold: every run checks it.
    pub fn secret(&mut self, token: &str) -> &mut Self {
        self.secrets.push(token.to_owned());
        self
    }

    pub fn set_timeout(&mut self, t: Duration) -> &mut Self {
        self.timeout = t;
        self
    }

    /// A `Command` for `program` with the sandbox's environment: cleared, then PATH, HOME,
    /// git isolation, and what the test set.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        c.env("PATH", crate::git_generations::test_path());
        if let Some(t) = std::env::var_os("TMPDIR") {
            c.env("TMPDIR", t);
        }
        c.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.gitconfig())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .current_dir(self.home());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn git_command(&self) -> Command {
        self.command("git")
    }

    /// Runs git with `args` in `dir`, returning its output.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = self.git_command();
        c.current_dir(dir).args(args);
        self.run(c, b"")
    }

    /// Runs `c` under the sandbox's time limit; its stderr must hold none of the secrets.
    fn run(&self, c: Command, input: &[u8]) -> Output {
        let what = format!("stderr of {:?}", c.get_program());
        let out = run_with_timeout(c, input, self.timeout);
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert_no_token_in(&what, &out.stderr, &secrets);
        out
    }

    /// Runs git and panics (with redacted stderr) unless it succeeds.
    pub fn git_ok(&self, dir: &Path, args: &[&str], secrets: &[&str]) -> Output {
        let out = self.git_in(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed ({}):\n{}",
            out.status,
            redacted(&out.stderr, secrets)
        );
        out
    }

    /// `git credential fill` with `input` on stdin.
    pub fn credential_fill(&self, input: &str) -> Output {
        self.credential("fill", input.as_bytes())
    }

    /// `git credential <op>` (fill, approve, reject) with `input` on stdin.
    pub fn credential(&self, op: &str, input: &[u8]) -> Output {
        let mut c = self.git_command();
        c.arg("credential").arg(op);
        self.run(c, input)
    }

    /// Runs the helper binary directly: `git-credential-kelos <args>` with `input`.
    pub fn helper(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self.command(&self.helper);
        c.args(args);
        self.run(c, input)
    }
}

/// A token volume holding a fresh token, and a sandbox whose `KELOS_GITHUB_TOKEN_FILE`
/// points at it; no run's stderr may hold the token.
pub struct TokenSandbox {
    pub vol: TokenVolume,
    pub sb: GitSandbox,
    pub token: String,
}

impl TokenSandbox {
    /// The sandbox uses `git-credential-kelos <helper_args>` as its only helper.
    pub fn new(helper_args: &[&str]) -> TokenSandbox {
        let token = unique_token("File");
        let vol = TokenVolume::with_token(&token);
        let mut sb = GitSandbox::new(helper_args);
        sb.use_token_file(&vol).secret(&token);
        TokenSandbox { vol, sb, token }
    }
}

impl TokenSandbox {
    /// git's `credential fill` output `out` answered with the file's token: git succeeded
    /// and its stderr holds no token. The failure shows `what`, never the token.
    #[track_caller]
    pub fn assert_filled(&self, out: &Output, what: &str) {
        assert_no_token_in("git stderr", &out.stderr, &[&self.token]);
        assert!(
            out.status.success(),
            "{what}: git got no credential: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            crate::attr(&out.stdout, "password").as_deref() == Some(self.token.as_str()),
            "{what}: the password is not the file's token (value redacted)"
        );
    }
}
