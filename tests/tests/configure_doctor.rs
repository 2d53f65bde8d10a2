//! `git-credential-kelos configure` / `unconfigure` against the real git, and
//! `git-credential-kelos doctor`, each check on its ok, warn and fail paths.
//!
//! Every command runs with a cleared environment: an isolated HOME whose global config is a
//! temp file (`GIT_CONFIG_GLOBAL`), no system config (`GIT_CONFIG_NOSYSTEM=1`, or, for
//! `--system`, `GIT_CONFIG_SYSTEM` pointing at a temp file), and a PATH built by the test
//! from temp directories: one holding only `git` (a symlink to the real one), the binaries'
//! directory (`KELOS_BIN_DIR`, so that git finds `git-credential-kelos`) and, when a test
//! wants one, a kelos-gh copy as `gh` and a stand-in real gh. The machine's own git and gh
//! configuration is never read or written.
//!
//! Every run of the helper is checked for tokens: no token, and no five characters of one,
//! in stdout or stderr (the masked form shows at most the last four).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kelos_e2e::gh_api::{path_of, write_executable, WrapperDir, EXEC_LOCK};
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, attr, bin, make_plain_file, require_tool, run_with_timeout,
    SmartHttpServer, TempDir, TokenVolume, HELPER,
};
use serde_json::Value;

const TOKEN_FILE_VAR: &str = "KELOS_GITHUB_TOKEN_FILE";
const GITHUB: &str = "credential.https://github.com.helper";
const GIST: &str = "credential.https://gist.github.com.helper";
const GHE: &str = "ghe.example.com:8443";
const GHE_KEY: &str = "credential.https://ghe.example.com:8443.helper";
const GHE_GIST_KEY: &str = "credential.https://gist.ghe.example.com:8443.helper";
const GHE_VALUE: &str = "kelos --host ghe.example.com:8443";

/// Every check id the contract names.
const CHECK_IDS: &[&str] = &[
    "token.file",
    "token.mode",
    "token.valid",
    "token.expiry",
    "token.fallback",
    "host",
    "gh.vars",
    "git",
    "git.helper",
    "git.leak",
    "gh",
];

/// A token the outputs are searched for, in full and in five-character pieces. Its body is
/// drawn from letters that never occur in hex or decimal (temp paths, PIDs), upper and lower
/// case mixed, so a five-character piece cannot turn up in an output by chance.
fn secret_token() -> String {
    const ALPHABET: &[u8] = b"ghjkmnpqrstuvwxyzGHJKMNPQRSTUVWXYZ";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut state = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut body = String::new();
    for _ in 0..36 {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        body.push(ALPHABET[(z % ALPHABET.len() as u64) as usize] as char);
    }
    format!("ghs_{body}")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Panics if `bytes` holds any token, or any five consecutive characters of one.
fn assert_no_token_piece(label: &str, bytes: &[u8], tokens: &[String]) {
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    assert_no_token_in(label, bytes, &refs);
    for (i, t) in tokens.iter().enumerate() {
        let chars: Vec<char> = t.chars().collect();
        for w in chars.windows(5) {
            let piece: String = w.iter().collect();
            assert!(
                !String::from_utf8_lossy(bytes).contains(&piece),
                "{label} shows five characters in a row of token #{i} (more than the last \
                 four); redacted output:\n{}",
                redacted(bytes, &refs)
            );
        }
    }
}

/// An isolated git + helper environment.
struct Fx {
    root: TempDir,
    git_dir: PathBuf,
    path: Vec<PathBuf>,
    env: BTreeMap<String, OsString>,
    /// `Some(file)`: `GIT_CONFIG_SYSTEM=file` instead of `GIT_CONFIG_NOSYSTEM=1`.
    system_config: Option<PathBuf>,
    /// Values that must never appear in the helper's output.
    tokens: Vec<String>,
    /// Directories that must live as long as the fixture (wrapper, stand-in gh, ...).
    keep: Vec<TempDir>,
    wrappers: Vec<WrapperDir>,
    /// Where commands run (default: HOME).
    cwd: Option<PathBuf>,
}

fn bin_dir() -> PathBuf {
    bin(HELPER)
        .parent()
        .expect("the helper has a directory")
        .to_path_buf()
}

impl Fx {
    /// PATH: a directory with only `git`, then `KELOS_BIN_DIR`. No gh.
    fn new() -> Fx {
        let git = require_tool("git");
        let root = TempDir::new("kelos-e2e-cfgdoc");
        fs::create_dir(root.join("home")).expect("mkdir home");
        let git_dir = root.join("git-only");
        fs::create_dir(&git_dir).expect("mkdir git-only");
        symlink(&git, git_dir.join("git")).expect("symlink git");
        Fx {
            path: vec![git_dir.clone(), bin_dir()],
            git_dir,
            root,
            env: BTreeMap::new(),
            system_config: None,
            tokens: Vec::new(),
            keep: Vec::new(),
            wrappers: Vec::new(),
            cwd: None,
        }
    }

    fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    fn gitconfig(&self) -> PathBuf {
        self.home().join(".gitconfig")
    }

    fn set(&mut self, key: &str, value: impl Into<OsString>) -> &mut Self {
        self.env.insert(key.to_owned(), value.into());
        self
    }

    fn unset(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    fn secret(&mut self, token: &str) {
        self.tokens.push(token.to_owned());
    }

    /// A kubelet-style volume holding a fresh token (mode 0400), expiring at `expires_at`
    /// (Unix seconds or RFC 3339); `KELOS_GITHUB_TOKEN_FILE` points at it.
    fn volume(&mut self, expires_at: Option<&str>) -> (TokenVolume, String) {
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
    fn add_wrapper(&mut self) {
        let w = WrapperDir::new();
        self.path.push(w.dir().to_path_buf());
        self.wrappers.push(w);
    }

    /// A directory with `tools` (symlinks to the real ones) at the end of PATH, for shell
    /// helpers that need them.
    fn add_tools(&mut self, tools: &[&str]) {
        let dir = TempDir::new("kelos-e2e-tools");
        for tool in tools {
            symlink(require_tool(tool), dir.join(tool)).expect("symlink tool");
        }
        self.path.push(dir.path().to_path_buf());
        self.keep.push(dir);
    }

    /// A stand-in for the real gh (a script printing a version) as `gh` at the end of PATH.
    fn add_plain_gh(&mut self) -> PathBuf {
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

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env(
                "PATH",
                path_of(&self.path.iter().map(PathBuf::as_path).collect::<Vec<_>>()),
            )
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("GIT_CONFIG_GLOBAL", self.gitconfig())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .current_dir(self.cwd.clone().unwrap_or_else(|| self.home()));
        match &self.system_config {
            Some(file) => c.env("GIT_CONFIG_SYSTEM", file),
            None => c.env("GIT_CONFIG_NOSYSTEM", "1"),
        };
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.command(program);
        c.args(args);
        // No child may be forked while another test writes an executable (ETXTBSY).
        let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
        run_with_timeout(c, stdin, DEFAULT_TIMEOUT)
    }

    /// The helper with `args`; its output is checked for tokens.
    fn kelos(&self, args: &[&str]) -> Output {
        let out = self.run(&bin(HELPER), args, b"");
        assert_no_token_piece(&format!("{args:?} stdout"), &out.stdout, &self.tokens);
        assert_no_token_piece(&format!("{args:?} stderr"), &out.stderr, &self.tokens);
        out
    }

    /// The helper with `args`, which must succeed.
    fn kelos_ok(&self, args: &[&str]) -> Output {
        let out = self.kelos(args);
        assert!(
            out.status.success(),
            "git-credential-kelos {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn git(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run(&self.git_dir.join("git"), args, stdin)
    }

    fn git_ok(&self, args: &[&str]) {
        let out = self.git(args, b"");
        assert!(
            out.status.success(),
            "git {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `git config <scope> --get-all key`: `None` when the key is not set.
    fn get_all(&self, scope: &[&str], key: &str) -> Option<Vec<String>> {
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
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Every entry of one scope, as `git config --list` shows them.
    fn list(&self, scope: &[&str]) -> String {
        let mut args = vec!["config"];
        args.extend_from_slice(scope);
        args.push("--list");
        let out = self.git(&args, b"");
        // A scope whose file does not exist lists nothing (exit 0 or an error, by version).
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `git credential fill` for `input`.
    fn fill(&self, input: &str) -> Output {
        self.git(&["credential", "fill"], input.as_bytes())
    }

    fn doctor(&self, args: &[&str]) -> Doctor {
        Doctor::run(self, args)
    }
}

fn strs(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| v.to_string()).collect())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------
// configure / unconfigure
// ---------------------------------------------------------------------------------------

/// The user's own entries, which configure must leave exactly as they are.
fn seed_user_config(fx: &Fx, scope: &[&str]) {
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
    let fx = Fx::new();
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
    let rest: Vec<&str> = after
        .lines()
        .filter(|l| !ours.iter().any(|o| o == l))
        .collect();
    assert_eq!(
        rest,
        before.lines().collect::<Vec<_>>(),
        "the rest is as it was"
    );

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
    let mut fx = Fx::new();
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
    let fx = Fx::new();
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
    let mut fx = Fx::new();
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
    let fx = Fx::new();
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
    let fx = Fx::new();
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
    let rest: Vec<&str> = after
        .lines()
        .filter(|l| !ours.iter().any(|o| o == l))
        .collect();
    assert_eq!(
        rest,
        before.lines().collect::<Vec<_>>(),
        "configure moved the user's helpers:\n{after}"
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
    let mut fx = Fx::new();
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
    let mut no_bin = Fx::new();
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
    let mut fx = Fx::new();
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
    let mut fx = Fx::new();
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
    let fx = Fx::new();
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
    let mut fx = Fx::new();
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

// ---------------------------------------------------------------------------------------
// doctor
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Check {
    id: String,
    level: String,
    message: String,
    fix: Option<String>,
}

/// One doctor invocation, run twice (`--json` and text) and cross-checked.
struct Doctor {
    result: String,
    checks: Vec<Check>,
    code: i32,
    /// The text report (for failure messages: it holds no token, that is checked).
    text: String,
}

/// `message` with every duration-like word (`59m`, `1h00m`, `0s`) replaced by `<t>`.
fn without_durations(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let core = word.trim_matches(|c: char| "()[],;".contains(c));
            let duration = core.chars().any(|c| c.is_ascii_digit())
                && core
                    .chars()
                    .all(|c| c.is_ascii_digit() || "dhms".contains(c));
            if duration {
                word.replace(core, "<t>")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn level_rank(level: &str) -> u8 {
    match level {
        "ok" => 0,
        "warn" => 1,
        "fail" => 2,
        other => panic!("unknown level {other:?}"),
    }
}

impl Doctor {
    fn run(fx: &Fx, args: &[&str]) -> Doctor {
        let mut json_args = vec!["doctor", "--json"];
        json_args.extend_from_slice(args);
        let mut text_args = vec!["doctor"];
        text_args.extend_from_slice(args);
        let json_out = fx.kelos(&json_args);
        let text_out = fx.kelos(&text_args);
        let report = text(&text_out.stdout);
        for out in [&json_out, &text_out] {
            assert!(
                out.stderr.is_empty(),
                "doctor wrote to stderr: {}",
                text(&out.stderr)
            );
        }

        // JSON: one object, exactly {"result", "checks": [{"id","level","message","fix"}]}.
        let v: Value = serde_json::from_slice(&json_out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor --json is not one JSON value ({e}):\n{}",
                text(&json_out.stdout)
            )
        });
        let obj = v.as_object().expect("a JSON object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["checks", "result"], "top-level keys");
        let result = obj["result"]
            .as_str()
            .expect("result is a string")
            .to_owned();
        let checks: Vec<Check> = obj["checks"]
            .as_array()
            .expect("checks is an array")
            .iter()
            .map(|c| {
                let c = c.as_object().expect("a check is an object");
                let mut keys: Vec<&str> = c.keys().map(String::as_str).collect();
                keys.sort();
                assert_eq!(keys, ["fix", "id", "level", "message"], "check keys");
                let s = |k: &str| {
                    c[k].as_str()
                        .unwrap_or_else(|| panic!("{k} is not a string: {}", c[k]))
                        .to_owned()
                };
                let fix = match &c["fix"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => panic!("fix is neither null nor a string: {other}"),
                };
                Check {
                    id: s("id"),
                    level: s("level"),
                    message: s("message"),
                    fix,
                }
            })
            .collect();
        assert!(!checks.is_empty(), "no checks");
        let worst = checks
            .iter()
            .map(|c| c.level.as_str())
            .max_by_key(|l| level_rank(l))
            .unwrap();
        assert_eq!(result, worst, "result is the worst level");
        for c in &checks {
            assert!(
                CHECK_IDS.contains(&c.id.as_str()),
                "unknown check id {:?}",
                c.id
            );
            assert!(!c.message.is_empty(), "{} has no message", c.id);
            if c.level != "ok" {
                assert!(
                    c.fix.as_deref().is_some_and(|f| !f.trim().is_empty()),
                    "{} is {} but gives no fix",
                    c.id,
                    c.level
                );
            }
            if c.id != "git.helper" {
                assert_eq!(
                    checks.iter().filter(|o| o.id == c.id).count(),
                    1,
                    "{} reported twice",
                    c.id
                );
            }
        }

        // Exit status: non-zero exactly when a check fails; the same for text and JSON.
        let code = json_out.status.code().expect("doctor exited");
        assert_eq!(
            text_out.status.code(),
            Some(code),
            "text and JSON exit alike"
        );
        assert_eq!(
            code != 0,
            result == "fail",
            "exit {code} with result {result}"
        );

        // Text: one `[level] id message` line per check, a `fix:` line under each one that
        // has a fix, and `result: X` last, agreeing with the JSON.
        let mut parsed: Vec<Check> = Vec::new();
        let mut text_result = None;
        for line in report.lines() {
            if let Some(rest) = line.strip_prefix('[') {
                let (level, rest) = rest.split_once(']').expect("`[level]`");
                let rest = rest.trim_start();
                let (id, message) = rest.split_once(' ').unwrap_or((rest, ""));
                parsed.push(Check {
                    id: id.to_owned(),
                    level: level.trim().to_owned(),
                    message: message.trim_start().to_owned(),
                    fix: None,
                });
            } else if let Some(fix) = line.trim_start().strip_prefix("fix: ") {
                let last = parsed.last_mut().expect("a fix line follows a check");
                assert!(last.fix.is_none(), "two fix lines for {}", last.id);
                last.fix = Some(fix.to_owned());
            } else if let Some(r) = line.strip_prefix("result: ") {
                text_result = Some(r.to_owned());
            } else {
                panic!("unexpected line in the text report: {line:?}\n{report}");
            }
        }
        // The two runs are moments apart: durations ("in 59m", "0s ago") may differ.
        let timeless = |cs: &[Check]| -> Vec<Check> {
            cs.iter()
                .map(|c| Check {
                    message: without_durations(&c.message),
                    ..c.clone()
                })
                .collect()
        };
        assert_eq!(
            timeless(&parsed),
            timeless(&checks),
            "text and JSON report the same checks:\n{report}"
        );
        assert_eq!(text_result.as_deref(), Some(result.as_str()), "{report}");
        assert!(report.trim_end().ends_with(&format!("result: {result}")));

        Doctor {
            result,
            checks,
            code,
            text: report,
        }
    }

    fn find(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    fn check(&self, id: &str) -> &Check {
        self.find(id)
            .unwrap_or_else(|| panic!("no {id} check in:\n{}", self.text))
    }

    fn level(&self, id: &str) -> &str {
        &self.check(id).level
    }

    fn ids(&self) -> Vec<&str> {
        self.checks.iter().map(|c| c.id.as_str()).collect()
    }

    /// Asserts `id` is at `level`, and every other check is ok.
    fn only(&self, id: &str, level: &str) {
        assert_eq!(self.level(id), level, "{id}:\n{}", self.text);
        for c in &self.checks {
            if c.id != id {
                assert_eq!(c.level, "ok", "{} should be ok:\n{}", c.id, self.text);
            }
        }
    }
}

/// A healthy pod: a kubelet volume (token 0400, expiry in an hour), the helper configured
/// for github.com, kelos-gh as `gh` ahead of a (stand-in) real gh.
fn healthy() -> (Fx, TokenVolume, String) {
    let mut fx = Fx::new();
    let (vol, token) = fx.volume(Some(&(unix_now() + 3600).to_string()));
    fx.kelos_ok(&["configure"]);
    fx.add_wrapper();
    fx.add_plain_gh();
    (fx, vol, token)
}

/// The masked token: the last four characters after `…`, and no more (the piece check in
/// `Fx::kelos` covers "no more").
fn assert_masked(message: &str, token: &str) {
    let tail: String = token.chars().skip(token.chars().count() - 4).collect();
    assert!(
        message.contains(&format!("…{tail}")),
        "the masked token (…last four) is not shown: {message}"
    );
}

#[test]
fn doctor_healthy_setup_is_all_ok() {
    let (fx, vol, token) = healthy();
    let d = fx.doctor(&[]);
    assert_eq!(d.result, "ok", "{}", d.text);
    assert_eq!(d.code, 0);
    assert_eq!(
        d.ids(),
        [
            "token.file",
            "token.valid",
            "token.expiry",
            "token.fallback",
            "host",
            "gh.vars",
            "git",
            "git.helper",
            "git.leak",
            "gh"
        ],
        "{}",
        d.text
    );
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
    d.only("token.file", "warn");
    assert_eq!(d.result, "warn");
    assert_eq!(d.code, 0);
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
    d.only("token.expiry", "fail");
    assert_eq!(d.result, "fail");
    assert_ne!(d.code, 0);
    let c = d.check("token.expiry");
    assert!(c.message.contains("expired"), "{}", d.text);
    assert!(c.message.contains("2000-01-01T00:00:00Z"), "{}", d.text);
    assert!(
        c.fix.as_deref().unwrap().contains("refresher"),
        "{}",
        d.text
    );
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
    assert!(
        d.check("token.expiry").message.contains("expires"),
        "{}",
        d.text
    );

    // Ten minutes out is fine; no expiry file is fine (git just cannot tell).
    vol.publish(token.as_bytes(), Some(&(unix_now() + 600).to_string()));
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(fx.doctor(&[]).level("token.expiry"), "ok");
    vol.publish(token.as_bytes(), None);
    fs::set_permissions(vol.token_path(), fs::Permissions::from_mode(0o400)).unwrap();
    let d = fx.doctor(&[]);
    assert_eq!(d.level("token.expiry"), "ok");
    assert!(
        d.check("token.expiry").message.contains("unknown"),
        "{}",
        d.text
    );

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
    assert!(
        d.check("token.file").message.contains("does not exist"),
        "{}",
        d.text
    );
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
    assert!(
        d.check("token.fallback").message.contains("GH_TOKEN"),
        "{}",
        d.text
    );
}

#[test]
fn doctor_wrapper_without_real_gh_fails() {
    let mut fx = Fx::new();
    let _vol = fx.volume(Some(&(unix_now() + 3600).to_string()));
    fx.kelos_ok(&["configure"]);
    fx.add_wrapper();
    let d = fx.doctor(&[]);
    d.only("gh", "fail");
    assert_ne!(d.code, 0);
    let c = d.check("gh");
    assert!(c.message.contains("wrapper"), "{}", d.text);
    assert!(
        c.fix.as_deref().unwrap().contains("KELOS_GH_PATH"),
        "{}",
        d.text
    );

    // A real gh *before* the wrapper does not count: gh resolves to it (not the wrapper).
    let mut fx2 = Fx::new();
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
    let mut fx = Fx::new();
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
    let mut fx = Fx::new();
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
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("git-credential-kelos configure"),
        "{}",
        d.text
    );
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
    assert!(
        c.fix.as_deref().unwrap().contains("configure"),
        "{}",
        d.text
    );

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
    assert!(
        d.check("gh.vars").message.contains("GH_ENTERPRISE_TOKEN"),
        "{}",
        d.text
    );
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

// ---------------------------------------------------------------------------------------
// Kelos as it runs today: the controller's helper in /workspace/repo/.git/config (issue 12)
// ---------------------------------------------------------------------------------------

/// The helper the Kelos controller writes, verbatim but for the file's path.
fn controller_helper(token_file: &Path) -> String {
    let f = token_file.display();
    format!(
        r#"!f() {{ if [ -r {f} ]; then echo "password=$(cat {f})"; else echo "password=$GITHUB_TOKEN"; fi; }}; f"#
    )
}

/// Configures the repository in the fixture's working directory exactly as the controller
/// does: `--unset-all`, `--add` its helper, the username.
fn controller_setup(fx: &mut Fx, token_file: &Path) {
    fx.add_tools(&["cat"]);
    // --unset-all exits 5 when nothing is set; the controller goes on either way.
    let out = fx.git(&["config", "--unset-all", "credential.helper"], b"");
    assert!(
        matches!(out.status.code(), Some(0 | 5)),
        "{}",
        text(&out.stderr)
    );
    fx.git_ok(&[
        "config",
        "--add",
        "credential.helper",
        &controller_helper(token_file),
    ]);
    fx.git_ok(&["config", "credential.username", "x-access-token"]);
}

/// The password `git credential fill` gives for `protocol://host` (compared by callers,
/// never printed).
fn fill_password(fx: &Fx, protocol: &str, host: &str) -> Option<String> {
    let out = fx.fill(&format!("protocol={protocol}\nhost={host}\n\n"));
    attr(&out.stdout, "password").filter(|p| !p.is_empty())
}

/// `sh -c FIX` as a person would paste it (from HOME); must succeed.
fn run_fix(fx: &mut Fx, fix: &str) {
    let cwd = fx.cwd.take();
    let out = fx.run(Path::new("/bin/sh"), &["-c", fix], b"");
    fx.cwd = cwd;
    assert_no_token_piece("the fix's stdout", &out.stdout, &fx.tokens);
    assert_no_token_piece("the fix's stderr", &out.stderr, &fx.tokens);
    assert!(
        out.status.success(),
        "the printed fix `{fix}` failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
}

fn commit_file(fx: &Fx, name: &str) -> String {
    let dir = fx.cwd.clone().expect("a repository");
    fs::write(dir.join(name), format!("{name}\n")).unwrap();
    fx.git_ok(&["add", name]);
    fx.git_ok(&[
        "-c",
        "user.name=Kelos E2E",
        "-c",
        "user.email=e2e@kelos.invalid",
        "commit",
        "-q",
        "-m",
        name,
    ]);
    let out = fx.git(&["rev-parse", "HEAD"], b"");
    text(&out.stdout).trim().to_owned()
}

/// The whole story of issue 12 in one repository: the controller's helper leaks, doctor
/// (text and JSON) says so naming it (masked) and its file, the fix it prints silences it
/// while the host keeps its token (push and fetch across a rotation), and
/// `unconfigure --exclusive --local` puts the file back byte for byte.
#[test]
fn kelos_today_doctor_finds_the_controllers_helper_and_its_fix_silences_it() {
    let mut fx = Fx::new();
    let (a, b, frozen) = (secret_token(), secret_token(), secret_token());
    for t in [&a, &b, &frozen] {
        fx.secret(t);
    }
    let mut vol = TokenVolume::new();
    vol.publish(a.as_bytes(), Some(&(unix_now() + 3600).to_string()));
    fx.set(TOKEN_FILE_VAR, vol.token_path());
    fx.set("GITHUB_TOKEN", &frozen);
    let server = SmartHttpServer::start(&[&a]);
    let host = server.host();
    fx.set("GH_HOST", &host);
    // Our system config, as the images have it.
    let system = fx.root.join("gitconfig-system");
    fs::write(&system, b"").unwrap();
    fx.system_config = Some(system);
    fx.kelos_ok(&["configure", "--system"]);
    // The init container's clone, then the controller's helper.
    let helper = bin(HELPER);
    fx.git_ok(&[
        "-c",
        "credential.helper=",
        "-c",
        &format!("credential.helper={}", helper.display()),
        "clone",
        "-q",
        &server.url(),
        "repo",
    ]);
    let repo = fx.home().join("repo");
    fx.cwd = Some(repo.clone());
    controller_setup(&mut fx, &vol.token_path());
    let config = repo.join(".git/config");
    let before = fs::read(&config).unwrap();

    // The leak the issue found: any host gets the token.
    assert!(
        fill_password(&fx, "https", "evil.example.com").as_deref() == Some(a.as_str()),
        "the controller's helper should answer any host before the fix"
    );

    let d = fx.doctor(&[]);
    assert_eq!(d.result, "fail", "{}", d.text);
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    for word in [
        "https://kelos-doctor-probe.invalid",
        "local config",
        "credential.helper in",
        config.to_str().unwrap(),
        r#"echo "password=$(cat"#,
        "(not shown)",
    ] {
        assert!(leak.message.contains(word), "{word:?} not in:\n{}", d.text);
    }
    // kelos itself is asked first for the host; the leak is the helper after it.
    assert_eq!(d.level("git.helper"), "ok", "{}", d.text);
    let fix = leak.fix.clone().expect("a fix");
    assert_eq!(
        fix,
        format!(
            "cd {} && git-credential-kelos configure --exclusive --local --host {host}",
            repo.display()
        ),
        "{}",
        d.text
    );

    run_fix(&mut fx, &fix);
    assert_eq!(
        fill_password(&fx, "https", "kelos-doctor-probe.invalid"),
        None,
        "after the fix the probe gets nothing"
    );
    assert_eq!(fill_password(&fx, "https", "evil.example.com"), None);
    assert_eq!(fill_password(&fx, "http", "evil.example.com"), None);
    assert!(
        fill_password(&fx, "https", &host).as_deref() == Some(a.as_str()),
        "https://HOST still gets the file's token"
    );
    let listed = fx.git(
        &["config", "--show-origin", "--get-all", "credential.helper"],
        b"",
    );
    let listed = text(&listed.stdout);
    let last: Vec<&str> = listed.lines().rev().take(2).collect();
    assert_eq!(
        last,
        [
            format!("file:.git/config\tkelos --host {host}").as_str(),
            "file:.git/config\t"
        ],
        "the reset and kelos come after the controller's entry:\n{listed}"
    );
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "ok", "{}", d.text);
    assert_eq!(d.level("git.helper"), "ok", "{}", d.text);
    assert!(
        d.check("git.helper").message.contains("helpers: kelos"),
        "{}",
        d.text
    );
    // Running the fix again changes nothing.
    let once = fs::read(&config).unwrap();
    run_fix(&mut fx, &fix);
    assert_eq!(fs::read(&config).unwrap(), once, "the fix is idempotent");

    // push and fetch through kelos alone, across a rotation.
    let c1 = commit_file(&fx, "one.txt");
    fx.git_ok(&["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(server.main_head(), c1);
    vol.publish(b.as_bytes(), Some(&(unix_now() + 3600).to_string()));
    server.set_accepted(&[&b]);
    server.reset_counters();
    let c2 = commit_file(&fx, "two.txt");
    fx.git_ok(&["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(server.main_head(), c2);
    fx.git_ok(&["fetch", "-q", "origin"]);
    assert_eq!(server.auth_failures(), 0, "{:?}", server.log());
    assert!(
        server.presented_passwords().iter().all(|p| *p == b),
        "after the rotation only the new token is presented"
    );

    // unconfigure --exclusive --local: the file as the controller left it, byte for byte.
    fx.kelos_ok(&["unconfigure", "--exclusive", "--local"]);
    assert!(
        fs::read(&config).unwrap() == before,
        "unconfigure --exclusive --local restores .git/config byte for byte"
    );
    assert_eq!(fx.doctor(&[]).level("git.leak"), "fail");
}

/// What the controller may do later (`--unset-all` and `--add` again) removes the reset
/// with its own entry; doctor sees the leak again, and the same fix works again.
#[test]
fn kelos_today_controller_rewriting_its_helper_is_detected_again() {
    let (mut fx, vol, token) = healthy();
    fx.git_ok(&["init", "-q", "repo"]);
    let repo = fx.home().join("repo");
    fx.cwd = Some(repo);
    controller_setup(&mut fx, &vol.token_path());
    let fix = fx.doctor(&[]).check("git.leak").fix.clone().unwrap();
    run_fix(&mut fx, &fix);
    assert_eq!(fx.doctor(&[]).level("git.leak"), "ok");
    controller_setup(&mut fx, &vol.token_path());
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "fail", "{}", d.text);
    assert_eq!(d.check("git.leak").fix.as_deref(), Some(fix.as_str()));
    run_fix(&mut fx, &fix);
    let d = fx.doctor(&[]);
    assert_eq!(d.level("git.leak"), "ok", "{}", d.text);
    assert!(fill_password(&fx, "https", "github.com").as_deref() == Some(token.as_str()));
}

/// A helper in the global or the system config that answers every host is reported
/// (both probes), with the scope's own fix; the fix silences it.
#[test]
fn kelos_today_global_and_system_helpers_that_answer_every_host_are_reported() {
    for scope in ["--global", "--system"] {
        let (mut fx, _vol, token) = healthy();
        if scope == "--system" {
            let system = fx.root.join("gitconfig-system");
            fs::write(&system, b"").unwrap();
            fx.system_config = Some(system);
        }
        let leaked = secret_token();
        fx.secret(&leaked);
        let helper = format!("!f() {{ echo password={leaked}; }}; f");
        fx.git_ok(&["config", scope, "--add", "credential.helper", &helper]);
        let d = fx.doctor(&[]);
        let leak = d.check("git.leak");
        assert_eq!(leak.level, "fail", "{scope}:\n{}", d.text);
        let name = &scope[2..];
        for word in [
            "https://kelos-doctor-probe.invalid",
            "http://github.com",
            &format!("{name} config"),
            "!f() { echo password=ghs_…",
        ] {
            assert!(
                leak.message.contains(word),
                "{scope}: {word:?} not in:\n{}",
                d.text
            );
        }
        assert_eq!(
            leak.fix.as_deref(),
            Some(format!("git-credential-kelos configure --exclusive {scope}").as_str()),
            "{}",
            d.text
        );
        run_fix(&mut fx, leak.fix.as_deref().unwrap());
        let d = fx.doctor(&[]);
        assert_eq!(d.level("git.leak"), "ok", "{scope}:\n{}", d.text);
        assert_eq!(d.result, "ok", "{scope}:\n{}", d.text);
        assert_eq!(
            fill_password(&fx, "https", "kelos-doctor-probe.invalid"),
            None
        );
        assert!(fill_password(&fx, "https", "github.com").as_deref() == Some(token.as_str()));
    }
}

/// A helper scoped to plain http for our host is found by the `http://HOST` probe.
#[test]
fn kelos_today_a_helper_for_plain_http_is_reported() {
    let (fx, _vol, _token) = healthy();
    let leaked = secret_token();
    let mut fx = fx;
    fx.secret(&leaked);
    fx.git_ok(&[
        "config",
        "--global",
        "credential.http://github.com.helper",
        &format!("!f() {{ echo password={leaked}; }}; f"),
    ]);
    let d = fx.doctor(&[]);
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    assert!(leak.message.contains("for http://github.com"), "{}", d.text);
    assert!(
        !leak
            .message
            .contains("for https://kelos-doctor-probe.invalid"),
        "{}",
        d.text
    );
    assert!(
        leak.message
            .contains("credential.http://github.com.helper in"),
        "{}",
        d.text
    );
}

/// No false alarm: kelos scoped to its host, and other helpers scoped to other hosts.
#[test]
fn kelos_today_a_correctly_scoped_setup_is_not_reported() {
    let (fx, _vol, _token) = healthy();
    let other = secret_token();
    let mut fx = fx;
    fx.secret(&other);
    fx.git_ok(&[
        "config",
        "--global",
        "credential.https://gitlab.example.com.helper",
        &format!("!f() {{ echo password={other}; }}; f"),
    ]);
    fx.git_ok(&["init", "-q", "repo"]);
    fx.cwd = Some(fx.home().join("repo"));
    fx.kelos_ok(&["configure", "--local"]);
    let d = fx.doctor(&[]);
    assert_eq!(d.result, "ok", "{}", d.text);
    assert!(
        d.check("git.leak")
            .message
            .contains("no helper answers https://kelos-doctor-probe.invalid or http://github.com"),
        "{}",
        d.text
    );
}

/// A helper that never returns: doctor still finishes within its limit, and says which
/// helper and which probe.
#[test]
fn kelos_today_a_helper_that_never_returns_is_named_and_doctor_finishes() {
    let (mut fx, _vol, _token) = healthy();
    fx.add_tools(&["sleep"]);
    fx.git_ok(&[
        "config",
        "--global",
        "--add",
        "credential.helper",
        "!f() { sleep 1000; }; f",
    ]);
    let start = std::time::Instant::now();
    let d = fx.doctor(&[]); // text and JSON: two runs
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(40),
        "two doctor runs took {took:?}"
    );
    let leak = d.check("git.leak");
    assert_eq!(leak.level, "fail", "{}", d.text);
    for word in [
        "helper `!f() { sleep 1000; }; f`",
        "never returns for https://kelos-doctor-probe.invalid (killed after 3 s)",
        "http://github.com not asked",
    ] {
        assert!(leak.message.contains(word), "{word:?} not in:\n{}", d.text);
    }
    assert_eq!(
        leak.fix.as_deref(),
        Some("git-credential-kelos configure --exclusive --global")
    );
}

// ---------------------------------------------------------------------------------------
// doctor's blind spots (issue 9, item 4)
// ---------------------------------------------------------------------------------------

/// `--json` prints exactly one JSON object in every state (`Doctor::run` checks the object,
/// its keys, the exit status and that text and JSON agree); a bad host is a failed `host`
/// check with exit 1, not an exit 2 without JSON.
#[test]
fn doctor_json_is_one_object_in_every_state() {
    type Setup = fn(&mut Fx, &mut TokenVolume) -> Vec<&'static str>;
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
            assert!(
                c.fix.as_deref().unwrap().contains("host name alone"),
                "{}",
                d.text
            );
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
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("/usr/local/bin/git-credential-kelos"),
        "{}",
        d.text
    );
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

// ---------------------------------------------------------------------------------------
// configure --exclusive / --local, and command-line misuse
// ---------------------------------------------------------------------------------------

#[test]
fn configure_exclusive_appends_reset_and_kelos_after_every_helper_and_removes_exactly_them() {
    let fx = Fx::new();
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
    assert!(
        text(&out.stdout).contains("already"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(fs::read(&file).unwrap(), once, "idempotent");
    // The user has a reset of their own: exactly ours go, byte for byte.
    let out = fx.kelos_ok(&["unconfigure", "--exclusive", "--file", f]);
    assert!(
        text(&out.stdout).contains("removed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        fx.get_all(&["--file", f], "credential.helper"),
        strs(&["cache --timeout=60", "", "other"])
    );
    assert_eq!(fx.get_all(&["--file", f], GITHUB), strs(&["store"]));
    assert_eq!(fs::read(&file).unwrap(), before, "byte for byte");
    // Without a reset of the user's own, byte for byte.
    fx.git_ok(&[
        "config",
        "--file",
        f,
        "--fixed-value",
        "--unset",
        "credential.helper",
        "",
    ]);
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
    fx.git_ok(&[
        "config",
        "--file",
        f,
        "--fixed-value",
        "--unset",
        "credential.helper",
        "other",
    ]);
    fx.git_ok(&["config", "--file", f, "--add", "credential.helper", ""]);
    fx.git_ok(&["config", "--file", f, "--add", "credential.helper", "other"]);
    // Several hosts: one entry for all of them.
    fx.kelos_ok(&[
        "configure",
        "--exclusive",
        "--file",
        f,
        "--host",
        "github.com",
        "--host",
        GHE,
    ]);
    let plain = fx.get_all(&["--file", f], "credential.helper").unwrap();
    assert_eq!(
        plain.last().map(String::as_str),
        Some("kelos --host github.com --host ghe.example.com:8443")
    );
    fx.kelos_ok(&[
        "unconfigure",
        "--exclusive",
        "--file",
        f,
        "--host",
        "github.com",
        "--host",
        GHE,
    ]);
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
    let fx = Fx::new();
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
    let mut fx = Fx::new();
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
    let fx = Fx::new();
    let out = fx.kelos(&["configure", "--file", "--system"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("a value is required for '--file <PATH>'"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !fx.home().join("--system").exists(),
        "no file named --system"
    );
    assert!(fs::read(fx.gitconfig()).map_or(true, |c| c.is_empty()));
    let out = fx.kelos(&["configure", "--sytem"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("'--system'"),
        "{}",
        text(&out.stderr)
    );
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
        assert!(
            text(&out.stdout).contains(&format!("Usage: git-credential-kelos {command}")),
            "{command} --help: {}",
            text(&out.stdout)
        );
    }
    let out = fx.kelos(&["configure", "--help"]);
    assert!(text(&out.stdout).contains("--exclusive"));
    assert!(text(&out.stdout).contains("--local"));
}

/// Under a terminal (a pseudo-terminal whose input nobody types into, as when a person runs
/// doctor and walks away), a helper that reads the terminal gets none: doctor's children
/// have no controlling terminal, so nothing can prompt, and nothing waits for an answer.
#[test]
fn kelos_today_doctor_gives_helpers_no_terminal_to_prompt_on() {
    // The system's python (a version manager's shim would need a shell in PATH).
    kelos_e2e::tools::require_listed("python3");
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("python3 not found: install it with `apt-get install python3`"));
    let (fx, _vol, _token) = healthy();
    fx.git_ok(&[
        "config",
        "--global",
        "--add",
        "credential.helper",
        "!f() { read -r x </dev/tty && echo password=$x; }; f",
    ]);
    // The child gets the terminal as its controlling terminal; the parent only reads it.
    const UNDER_A_TERMINAL: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
"#;
    let helper = bin(HELPER);
    let start = std::time::Instant::now();
    let out = fx.run(
        &python,
        &[
            "-c",
            UNDER_A_TERMINAL,
            helper.to_str().unwrap(),
            "doctor",
            "--json",
        ],
        b"",
    );
    let took = start.elapsed();
    assert_no_token_piece("doctor under a terminal", &out.stdout, &fx.tokens);
    let shown = text(&out.stdout).replace('\r', "");
    let json = shown
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON from doctor under a terminal:\n{shown}\n{}",
                text(&out.stderr)
            )
        });
    let v: Value = serde_json::from_str(json).expect("one JSON object");
    let leak = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "git.leak")
        .expect("a git.leak check");
    assert_eq!(
        leak["level"], "ok",
        "the helper found a terminal to read: {leak}"
    );
    assert!(
        took < std::time::Duration::from_secs(10),
        "doctor waited {took:?}"
    );
}
