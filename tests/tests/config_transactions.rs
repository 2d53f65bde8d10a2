//! `configure` / `unconfigure` as transactions on one git config file, against the real git:
//! `--helper PATH`, concurrent runs, faults (a failing write, a stale lock, a full disk, a
//! kill), the layouts doctor detects, and a property: configure then unconfigure gives back
//! the file byte for byte.
//!
//! Every command runs with a cleared environment: an isolated HOME, `GIT_CONFIG_GLOBAL` in
//! it, no system config, and a PATH of temp directories (one holding only `git`, then, when
//! a test wants git to find `kelos` by name, `KELOS_BIN_DIR`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kelos_e2e::gh_api::{path_of, EXEC_LOCK};
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::{attr, bin, require_tool, run_with_timeout, TempDir, TokenVolume, HELPER};

const GITHUB: &str = "credential.https://github.com.helper";
const GIST: &str = "credential.https://gist.github.com.helper";

/// An isolated HOME and PATH for git and the helper.
struct Env {
    root: TempDir,
    git_dir: PathBuf,
    path: Vec<PathBuf>,
    vars: BTreeMap<String, OsString>,
    cwd: Option<PathBuf>,
}

impl Env {
    /// PATH: a directory holding only `git`: git cannot find `kelos` by name.
    fn new() -> Env {
        let root = TempDir::new("kelos-e2e-cfgtx");
        fs::create_dir(root.join("home")).expect("mkdir home");
        let git_dir = root.join("git-only");
        fs::create_dir(&git_dir).expect("mkdir git-only");
        symlink(require_tool("git"), git_dir.join("git")).expect("symlink git");
        Env {
            path: vec![git_dir.clone()],
            git_dir,
            root,
            vars: BTreeMap::new(),
            cwd: None,
        }
    }

    fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    fn gitconfig(&self) -> PathBuf {
        self.home().join(".gitconfig")
    }

    fn set(&mut self, key: &str, value: impl Into<OsString>) {
        self.vars.insert(key.to_owned(), value.into());
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
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("LC_ALL", "C")
            .current_dir(self.cwd.clone().unwrap_or_else(|| self.home()));
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    fn run(&self, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.command(program);
        c.args(args);
        let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
        run_with_timeout(c, stdin, DEFAULT_TIMEOUT)
    }

    fn kelos(&self, args: &[&str]) -> Output {
        self.run(&bin(HELPER), args, b"")
    }

    fn kelos_ok(&self, args: &[&str]) -> Output {
        let out = self.kelos(args);
        assert!(
            out.status.success(),
            "git-credential-kelos {args:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        out
    }

    fn git(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run(&self.git_dir.join("git"), args, stdin)
    }

    /// `git config --file FILE --get-all KEY` (empty when unset).
    fn get_all(&self, file: &Path, key: &str) -> Vec<String> {
        let out = self.git(
            &[
                "config",
                "--file",
                file.to_str().unwrap(),
                "--null",
                "--get-all",
                key,
            ],
            b"",
        );
        match out.status.code() {
            Some(1) => Vec::new(),
            Some(0) => {
                let mut values: Vec<String> = out
                    .stdout
                    .split(|b| *b == 0)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .collect();
                values.pop();
                values
            }
            _ => panic!("git config --get-all {key} failed: {}", text(&out.stderr)),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

/// `--helper PATH` writes that path (shell-quoted: git runs an absolute path through the
/// shell) instead of `kelos`; git then runs it although the binary is not in PATH, and
/// `unconfigure --helper PATH` gives the file back as it was.
#[test]
fn helper_path_is_written_run_by_git_and_removed_exactly() {
    let mut env = Env::new();
    let dir = env.root.join("kelos bin");
    fs::create_dir(&dir).unwrap();
    let helper = dir.join(HELPER);
    fs::copy(bin(HELPER), &helper).unwrap();
    let helper_arg = helper.to_str().unwrap().to_owned();
    // git runs a value starting with `/` through the shell as it is: a path with a space
    // is a `!` command with the path quoted.
    let quoted = format!("!'{helper_arg}'");
    let file = env.root.join("cfg");
    let original = "[user]\n\tname = someone\n";
    fs::write(&file, original).unwrap();
    let file_arg = file.to_str().unwrap().to_owned();

    let configure = ["configure", "--file", &file_arg, "--helper", &helper_arg];
    env.kelos_ok(&configure);
    assert_eq!(env.get_all(&file, GITHUB), strings(&["", &quoted]));
    assert_eq!(env.get_all(&file, GIST), strings(&["", &quoted]));
    env.kelos_ok(&configure);
    assert_eq!(
        env.get_all(&file, GITHUB),
        strings(&["", &quoted]),
        "idempotent"
    );

    // git runs it from the path: no `git-credential-kelos` in PATH.
    let mut vol = TokenVolume::new();
    vol.publish(b"ghp_helperPathToken0001", None);
    env.set("KELOS_GITHUB_TOKEN_FILE", vol.token_path());
    env.set("GIT_CONFIG_GLOBAL", &file);
    let fill = env.git(
        &["credential", "fill"],
        b"protocol=https\nhost=github.com\n\n",
    );
    assert!(fill.status.success(), "fill: {}", text(&fill.stderr));
    assert_eq!(
        attr(&fill.stdout, "password").as_deref(),
        Some("ghp_helperPathToken0001")
    );

    // Another host: the path, then --host.
    env.kelos_ok(&[
        "--host",
        "ghe.example.com",
        "configure",
        "--file",
        &file_arg,
        "--helper",
        &helper_arg,
    ]);
    assert_eq!(
        env.get_all(&file, "credential.https://ghe.example.com.helper"),
        strings(&["", &format!("{quoted} --host ghe.example.com")])
    );
    env.kelos_ok(&[
        "--host",
        "ghe.example.com",
        "unconfigure",
        "--file",
        &file_arg,
        "--helper",
        &helper_arg,
    ]);

    // unconfigure without --helper removes `kelos`, not the path.
    env.kelos_ok(&["unconfigure", "--file", &file_arg]);
    assert_eq!(env.get_all(&file, GITHUB), strings(&["", &quoted]));
    env.kelos_ok(&["unconfigure", "--file", &file_arg, "--helper", &helper_arg]);
    assert_eq!(env.get_all(&file, GITHUB), Vec::<String>::new());
    assert_eq!(env.get_all(&file, GIST), Vec::<String>::new());

    // --exclusive with a path, in the global scope.
    env.kelos_ok(&["configure", "--exclusive", "--helper", &helper_arg]);
    assert_eq!(
        env.get_all(&file, "credential.helper"),
        strings(&["", &quoted])
    );
    env.kelos_ok(&["unconfigure", "--exclusive", "--helper", &helper_arg]);
    assert_eq!(
        env.get_all(&file, "credential.helper"),
        Vec::<String>::new()
    );
}

/// A relative `--helper` is refused before anything is written, naming the option and the
/// fix.
#[test]
fn helper_path_must_be_absolute() {
    let env = Env::new();
    let file = env.root.join("cfg");
    let file_arg = file.to_str().unwrap();
    for relative in [
        "git-credential-kelos",
        "bin/git-credential-kelos",
        "./x",
        "~/x",
    ] {
        for command in ["configure", "unconfigure"] {
            let out = env.kelos(&[command, "--file", file_arg, "--helper", relative]);
            assert!(!out.status.success(), "{command} --helper {relative:?}");
            let err = text(&out.stderr);
            assert!(
                err.contains("--helper") && err.contains("absolute"),
                "{command} --helper {relative:?}: {err}"
            );
            assert!(!file.exists(), "nothing written for --helper {relative:?}");
        }
    }
}
