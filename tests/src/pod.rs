//! One pod's sandboxed environment for git and the helper, built by the suites that run
//! `configure`, `unconfigure` and `doctor` (configure_*, doctor_*, config_transactions,
//! gh_chain's doctor).
//!
//! Every command runs with a cleared environment: an isolated HOME whose global config is a
//! temp file (`GIT_CONFIG_GLOBAL`), no system config (`GIT_CONFIG_NOSYSTEM=1`, or, for
//! `--system`, `GIT_CONFIG_SYSTEM` pointing at a temp file: [`Pod::system_config`]), and a
//! PATH built by the test from temp directories: one holding only `git` (a symlink to the
//! tested git), then what the suite asks for: the binaries' directory (`KELOS_BIN_DIR`, so
//! that git finds `git-credential-kelos`), a kelos-gh copy as `gh`, a stand-in real gh. The
//! machine's own git and gh configuration is never read or written.
//!
//! Every run of the helper ([`Pod::kelos`]) is checked for the pod's tokens ([`Pod::secret`]):
//! no token, and no five characters of one, in stdout or stderr.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::doctor_report::Doctor;
use crate::gh_api::{path_of, write_executable, WrapperDir, EXEC_LOCK};
use crate::process::DEFAULT_TIMEOUT;
use crate::secrets::{assert_no_token_piece, secret_token};
use crate::{bin, require_tool, run_with_timeout, text, TempDir, TokenVolume, HELPER};

/// The variable naming the token file.
pub const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `KELOS_BIN_DIR`, the directory of the binaries under test.
pub fn bin_dir() -> PathBuf {
    bin(HELPER)
        .parent()
        .expect("the helper has a directory")
        .to_path_buf()
}

/// An isolated git + helper environment.
pub struct Pod {
    pub root: TempDir,
    /// The directory holding only `git`.
    pub git_dir: PathBuf,
    /// PATH, in order.
    pub path: Vec<PathBuf>,
    pub env: BTreeMap<String, OsString>,
    /// `Some(file)`: `GIT_CONFIG_SYSTEM=file` instead of `GIT_CONFIG_NOSYSTEM=1`.
    pub system_config: Option<PathBuf>,
    /// `LANG=C` besides `LC_ALL=C`.
    lang_c: bool,
    /// Values that must never appear in the helper's output.
    pub tokens: Vec<String>,
    /// Directories that must live as long as the pod (stand-in gh, tools, ...).
    keep: Vec<TempDir>,
    pub wrappers: Vec<WrapperDir>,
    /// Where commands run (default: HOME).
    pub cwd: Option<PathBuf>,
}

impl Pod {
    /// PATH: a directory holding only `git` (git cannot find `kelos` by name); the temp root
    /// is named `tmp_prefix.XXXX`.
    pub fn new(tmp_prefix: &str) -> Pod {
        let git = require_tool("git");
        let root = TempDir::new(tmp_prefix);
        fs::create_dir(root.join("home")).expect("mkdir home");
        let git_dir = root.join("git-only");
        fs::create_dir(&git_dir).expect("mkdir git-only");
        symlink(&git, git_dir.join("git")).expect("symlink git");
        Pod {
            path: vec![git_dir.clone()],
            git_dir,
            root,
            env: BTreeMap::new(),
            system_config: None,
            lang_c: false,
            tokens: Vec::new(),
            keep: Vec::new(),
            wrappers: Vec::new(),
            cwd: None,
        }
    }

    /// `KELOS_BIN_DIR` at the end of PATH: git finds `kelos` by name, and a pasted fix
    /// finds `git-credential-kelos`.
    pub fn with_bin_dir(mut self) -> Pod {
        self.path.push(bin_dir());
        self
    }

    /// `LANG=C` as well as `LC_ALL=C`.
    pub fn with_lang_c(mut self) -> Pod {
        self.lang_c = true;
        self
    }

    /// A directory ahead of the `git` one on PATH (a git stand-in).
    pub fn prepend_path(&mut self, dir: PathBuf) {
        self.path.insert(0, dir);
    }

    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    pub fn gitconfig(&self) -> PathBuf {
        self.home().join(".gitconfig")
    }

    pub fn set(&mut self, key: &str, value: impl Into<OsString>) -> &mut Self {
        self.env.insert(key.to_owned(), value.into());
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// A value every run of the helper is checked for.
    pub fn secret(&mut self, token: &str) {
        self.tokens.push(token.to_owned());
    }

    /// A kubelet-style volume holding a fresh token (mode 0400), expiring at `expires_at`
    /// (Unix seconds or RFC 3339); `KELOS_GITHUB_TOKEN_FILE` points at it.
    pub fn volume(&mut self, expires_at: Option<&str>) -> (TokenVolume, String) {
        let token = secret_token();
        self.secret(&token);
        let mut vol = TokenVolume::new();
        vol.publish(token.as_bytes(), expires_at);
        fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400))
            .expect("chmod token");
        self.set(TOKEN_FILE_VAR, vol.token_path());
        (vol, token)
    }

    /// A kelos-gh copy as `gh` at the end of PATH.
    pub fn add_wrapper(&mut self) {
        let w = WrapperDir::new();
        self.path.push(w.dir().to_path_buf());
        self.wrappers.push(w);
    }

    /// A directory with `tools` (symlinks to the real ones) at the end of PATH, for shell
    /// helpers that need them.
    pub fn add_tools(&mut self, tools: &[&str]) {
        let dir = TempDir::new("kelos-e2e-tools");
        for tool in tools {
            symlink(require_tool(tool), dir.join(tool)).expect("symlink tool");
        }
        self.path.push(dir.path().to_path_buf());
        self.keep.push(dir);
    }

    /// A stand-in for the real gh (a script printing a version) as `gh` at the end of PATH.
    pub fn add_plain_gh(&mut self) -> PathBuf {
        let dir = TempDir::new("kelos-e2e-realgh");
        let gh = dir.join("gh");
        write_executable(
            &gh,
            b"#!/bin/sh\necho 'gh version 2.99.0 (2099-01-01) e2e stand-in'\n",
        );
        self.path.push(dir.path().to_path_buf());
        self.keep.push(dir);
        gh
    }

    /// A command for `program` with the pod's environment (PATH = the pod's, then
    /// `path_tail`).
    pub fn command_with_path_tail(&self, program: &Path, path_tail: &[&Path]) -> Command {
        let mut dirs: Vec<&Path> = self.path.iter().map(PathBuf::as_path).collect();
        dirs.extend_from_slice(path_tail);
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", path_of(&dirs))
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("GIT_CONFIG_GLOBAL", self.gitconfig())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("LC_ALL", "C")
            .current_dir(self.cwd.clone().unwrap_or_else(|| self.home()));
        if self.lang_c {
            c.env("LANG", "C");
        }
        match &self.system_config {
            Some(file) => c.env("GIT_CONFIG_SYSTEM", file),
            None => c.env("GIT_CONFIG_NOSYSTEM", "1"),
        };
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// A command for `program` with the pod's environment.
    pub fn command(&self, program: &Path) -> Command {
        self.command_with_path_tail(program, &[])
    }

    pub fn run(&self, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.command(program);
        c.args(args);
        run_exec_locked(c, stdin, DEFAULT_TIMEOUT)
    }

    /// Checks `out` for the pod's tokens (in full and in five-character pieces).
    pub fn assert_clean(&self, what: &str, out: &Output) {
        assert_no_token_piece(&format!("{what} stdout"), &out.stdout, &self.tokens);
        assert_no_token_piece(&format!("{what} stderr"), &out.stderr, &self.tokens);
    }

    /// The helper with `args`; its output is checked for tokens.
    pub fn kelos(&self, args: &[&str]) -> Output {
        let out = self.run(&bin(HELPER), args, b"");
        self.assert_clean(&format!("{args:?}"), &out);
        out
    }

    /// The helper with `args`, which must succeed.
    pub fn kelos_ok(&self, args: &[&str]) -> Output {
        let out = self.kelos(args);
        assert!(
            out.status.success(),
            "git-credential-kelos {args:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        out
    }

    pub fn git(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run(&self.git_dir.join("git"), args, stdin)
    }

    pub fn git_ok(&self, args: &[&str]) {
        let out = self.git(args, b"");
        assert!(
            out.status.success(),
            "git {args:?} failed ({}): {}",
            out.status,
            text(&out.stderr)
        );
    }

    /// `git config <scope> --get-all key`: `None` when the key is not set.
    pub fn get_all(&self, scope: &[&str], key: &str) -> Option<Vec<String>> {
        let mut args = vec!["config"];
        args.extend_from_slice(scope);
        args.extend_from_slice(&["--null", "--get-all", key]);
        let out = self.git(&args, b"");
        match out.status.code() {
            Some(1) => None,
            Some(0) => {
                let mut values: Vec<String> = out
                    .stdout
                    .split(|b| *b == 0)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect();
                assert_eq!(values.pop().as_deref(), Some(""), "NUL-terminated values");
                Some(values)
            }
            _ => panic!(
                "git {args:?} failed ({}): {}",
                out.status,
                text(&out.stderr)
            ),
        }
    }

    /// Every entry of one scope, as `git config --list` shows them.
    pub fn list(&self, scope: &[&str]) -> String {
        let mut args = vec!["config"];
        args.extend_from_slice(scope);
        args.push("--list");
        let out = self.git(&args, b"");
        // A scope whose file does not exist lists nothing (exit 0 or an error, by version).
        text(&out.stdout)
    }

    /// `git credential fill` for `input`.
    pub fn fill(&self, input: &str) -> Output {
        self.git(&["credential", "fill"], input.as_bytes())
    }

    /// `doctor --json` and `doctor`, parsed and cross-checked.
    pub fn doctor(&self, args: &[&str]) -> Doctor {
        Doctor::run(|args| self.kelos(args), args)
    }
}

/// Runs `c` under `limit`, forked under [`EXEC_LOCK`]: no child may be forked while
/// another test writes an executable (ETXTBSY).
pub fn run_exec_locked(c: Command, stdin: &[u8], limit: Duration) -> Output {
    let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
    run_with_timeout(c, stdin, limit)
}

/// `values` as owned strings, as [`Pod::get_all`] returns them.
pub fn strs(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| v.to_string()).collect())
}

// ---------------------------------------------------------------------------------------
// The configure and doctor suites' pod
// ---------------------------------------------------------------------------------------

/// `credential.<url>.helper` keys configure writes, and the GHE host the suites use.
pub mod keys {
    pub const GITHUB: &str = "credential.https://github.com.helper";
    pub const GIST: &str = "credential.https://gist.github.com.helper";
    pub const GHE: &str = "ghe.example.com:8443";
    pub const GHE_KEY: &str = "credential.https://ghe.example.com:8443.helper";
    pub const GHE_GIST_KEY: &str = "credential.https://gist.ghe.example.com:8443.helper";
    pub const GHE_VALUE: &str = "kelos --host ghe.example.com:8443";
}

/// The pod the configure and doctor suites start from: PATH = a directory with only `git`,
/// then `KELOS_BIN_DIR`; no gh; `LANG=C`.
pub fn helper_pod() -> Pod {
    Pod::new("kelos-e2e-cfgdoc").with_bin_dir().with_lang_c()
}

/// A healthy pod: a kubelet volume (token 0400, expiry in an hour), the helper configured
/// for github.com, kelos-gh as `gh` ahead of a (stand-in) real gh.
pub fn healthy() -> (Pod, TokenVolume, String) {
    let mut fx = helper_pod();
    let (vol, token) = fx.volume(Some(&(unix_now() + 3600).to_string()));
    fx.kelos_ok(&["configure"]);
    fx.add_wrapper();
    fx.add_plain_gh();
    (fx, vol, token)
}

/// The masked token: the last four characters after `…`, and no more (the piece check in
/// [`Pod::kelos`] covers "no more").
pub fn assert_masked(message: &str, token: &str) {
    let tail: String = token.chars().skip(token.chars().count() - 4).collect();
    assert!(
        message.contains(&format!("…{tail}")),
        "the masked token (…last four) is not shown: {message}"
    );
}
