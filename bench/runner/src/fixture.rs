//! The scratch world every run shares: a token file in kubelet's
//! atomic-writer layout (and a plain one), git's request on a file for stdin,
//! an isolated gh config, and the wrappers installed as `gh` in directories
//! of their own.
//!
//! Every binary that is timed runs from a fresh copy in this directory (a
//! new file, new inode, written just before the run), never from where it
//! was built or installed: the same bytes measured 9-10% slower run from an
//! older file than from a fresh copy, which would bias any comparison of a
//! just-built binary with an old one (the floor, /usr/bin/gh).

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// What git sends a helper for `git credential fill` of https://github.com.
pub const REQUEST: &[u8] = b"protocol=https\nhost=github.com\n\n";

/// The GitLab instance of the GitLab rows, as Kelos's GitLab provider sets
/// it: plain http on a port, so kelos-glab's host entry is in play.
pub const GITLAB_HOST: &str = "http://gitlab-webservice-default.gitlab.svc:8181";

/// What git sends for that instance.
pub const GITLAB_REQUEST: &[u8] =
    b"protocol=http\nhost=gitlab-webservice-default.gitlab.svc:8181\n\n";

/// Shaped like an installation token (`ghs_` + 36); not a real one.
pub const TOKEN: &str = "ghs_BenchBenchBenchBenchBench0123456789";

pub struct Fixture {
    pub root: PathBuf,
    /// The request, opened afresh as stdin for every run.
    pub input: PathBuf,
    /// The GitLab request ([`GITLAB_REQUEST`]), for the GitLab rows.
    pub gitlab_input: PathBuf,
    /// `GLAB_CONFIG_DIR` of the kelos-glab rows.
    pub glab_config: PathBuf,
    /// Holds `glab` = kelos-glab, ahead of `noop_real_dir` (which holds
    /// `glab` = the floor) in its PATH.
    pub noop_glab_wrap_dir: PathBuf,
    /// `<dir>/GITHUB_TOKEN -> ..data/GITHUB_TOKEN`, `..data -> ..<generation>`.
    pub token_file: PathBuf,
    /// A plain regular file holding the same token.
    pub plain_token_file: PathBuf,
    pub home: PathBuf,
    pub gh_config: PathBuf,
    /// Holds `gh` = a copy of kelos-gh; first in PATH.
    pub kelos_gh_dir: PathBuf,
    /// Kelos's shell wrapper as an executable `gh` (it execs `/usr/bin/gh`,
    /// or the `--gh` given).
    pub shell_gh: PathBuf,
    /// Holds `gh` = kelos-gh, ahead of `noop_real_dir` in its PATH.
    pub noop_wrap_dir: PathBuf,
    /// Holds `gh` = the floor binary.
    pub noop_real_dir: PathBuf,
    /// Kelos's shell wrapper rewritten to exec the floor binary.
    pub shell_noop: PathBuf,
    /// Fresh copies of the helper, the floors and the real gh.
    pub helper: PathBuf,
    pub noop: PathBuf,
    pub bare_noop: PathBuf,
    pub real_gh: PathBuf,
    /// Holds `gh` = the fresh copy of the real gh; in PATH after the wrapper.
    pub real_gh_dir: PathBuf,
}

pub struct Sources<'a> {
    pub helper: &'a Path,
    pub kelos_gh: &'a Path,
    pub kelos_glab: &'a Path,
    pub noop: &'a Path,
    pub bare_noop: &'a Path,
    pub shell_wrapper: &'a Path,
    pub real_gh: &'a Path,
}

impl Fixture {
    pub fn create(root: &Path, src: &Sources<'_>) -> io::Result<Fixture> {
        if root.exists() {
            fs::remove_dir_all(root)?;
        }
        fs::create_dir_all(root)?;
        let root = fs::canonicalize(root)?;
        let dir = |name: &str| -> io::Result<PathBuf> {
            let d = root.join(name);
            fs::create_dir_all(&d)?;
            Ok(d)
        };

        let bins = dir("bin")?;
        let helper = bins.join("git-credential-kelos");
        install(src.helper, &helper)?;
        let noop = bins.join("kelos-bench-noop");
        install(src.noop, &noop)?;
        let bare_noop = bins.join("kelos-bench-noop-bare");
        install(src.bare_noop, &bare_noop)?;
        let real_gh_dir = dir("real-gh")?;
        let real_gh = real_gh_dir.join("gh");
        install(src.real_gh, &real_gh)?;

        let input = root.join("request");
        fs::write(&input, REQUEST)?;
        let gitlab_input = root.join("gitlab-request");
        fs::write(&gitlab_input, GITLAB_REQUEST)?;
        let glab_config = dir("glab-config")?;

        // kubelet's atomic writer.
        let token_dir = dir("github-token")?;
        let generation = "..2026_11_23_10_00_00.123456789";
        fs::create_dir(token_dir.join(generation))?;
        fs::write(
            token_dir.join(generation).join("GITHUB_TOKEN"),
            format!("{TOKEN}\n"),
        )?;
        symlink(generation, token_dir.join("..data"))?;
        symlink("..data/GITHUB_TOKEN", token_dir.join("GITHUB_TOKEN"))?;
        let token_file = token_dir.join("GITHUB_TOKEN");

        let plain_token_file = dir("plain-token")?.join("GITHUB_TOKEN");
        fs::write(&plain_token_file, format!("{TOKEN}\n"))?;

        let home = dir("home")?;
        let gh_config = dir("gh-config")?;

        let kelos_gh_dir = dir("kelos-gh")?;
        install(src.kelos_gh, &kelos_gh_dir.join("gh"))?;

        let wrapper = fs::read_to_string(src.shell_wrapper)?;
        let exec_line = "exec /usr/bin/gh \"$@\"";
        if !wrapper.contains(exec_line) {
            return Err(io::Error::other(format!(
                "{} has no line `{exec_line}`",
                src.shell_wrapper.display()
            )));
        }
        let shell_gh = dir("shell-wrapper")?.join("gh");
        write_script(
            &shell_gh,
            &wrapper.replace(exec_line, &format!("exec {} \"$@\"", real_gh.display())),
        )?;

        let noop_wrap_dir = dir("noop-wrap")?;
        let noop_real_dir = dir("noop-real")?;
        install(src.kelos_gh, &noop_wrap_dir.join("gh"))?;
        install(src.noop, &noop_real_dir.join("gh"))?;
        install(src.noop, &noop_real_dir.join("glab"))?;
        let noop_glab_wrap_dir = dir("noop-glab-wrap")?;
        install(src.kelos_glab, &noop_glab_wrap_dir.join("glab"))?;
        let shell_noop = dir("shell-noop")?.join("gh");
        write_script(
            &shell_noop,
            &wrapper.replace(
                exec_line,
                &format!("exec {} \"$@\"", noop_real_dir.join("gh").display()),
            ),
        )?;

        Ok(Fixture {
            root,
            input,
            gitlab_input,
            glab_config,
            noop_glab_wrap_dir,
            token_file,
            plain_token_file,
            home,
            gh_config,
            kelos_gh_dir,
            shell_gh,
            noop_wrap_dir,
            noop_real_dir,
            shell_noop,
            helper,
            noop,
            bare_noop,
            real_gh,
            real_gh_dir,
        })
    }
}

impl Fixture {
    /// A fresh copy of `from` (another build to compare), as `bin/<name>`.
    pub fn fresh_copy(&self, name: &str, from: &Path) -> io::Result<PathBuf> {
        let to = self.root.join("bin").join(name);
        install(from, &to)?;
        Ok(to)
    }

    /// A new directory `name` holding `from` as an executable `gh`.
    pub fn install_gh(&self, name: &str, from: &Path) -> io::Result<PathBuf> {
        let dir = self.root.join(name);
        fs::create_dir_all(&dir)?;
        install(from, &dir.join("gh"))?;
        Ok(dir)
    }
}

fn install(from: &Path, to: &Path) -> io::Result<()> {
    fs::copy(from, to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
}

fn write_script(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}
