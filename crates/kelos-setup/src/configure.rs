//! `configure` / `unconfigure`: one transaction on one git config file.
//!
//! The file is read (writers rename, so a read sees one whole version), the
//! whole change computed ([`gitconfig::plan`]) and checked with git on
//! in-memory copies (git must read the old bytes as the scanner does, and the
//! new bytes as exactly the entries planned). Then git's own lock protocol:
//! `FILE.lock` is created exclusively (so no other `git config` writer, nor
//! another run of this one, can interleave), the file is read again (changed
//! in between: planned again), the new bytes are written to the lock file,
//! synced, and renamed over the file. Any failure before the rename removes
//! the lock and leaves the file byte for byte as it was; a kill leaves at
//! most a stale lock, which the next run names. A lock held by a live writer
//! is waited for, a bounded time. What the command prints comes after the
//! file is complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::gitconfig::{exclusive_value, helper_program, parse_null_config, plan, Plan};
use crate::gitfile::scan;
use crate::quote::sh_word;
use anyhow::{anyhow, bail, Context, Result};
use kelos_token::served::Served;

/// A lock that has not changed (same file, same size and time) for this long
/// is taken for one a killed writer left behind.
const STALE_AFTER: Duration = Duration::from_secs(5);
/// However busy the file, waiting for its lock ends after this long.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How many times a run plans again outside the lock when another writer
/// changed the file in between, before it plans under the lock.
const OPTIMISTIC_TRIES: usize = 3;
/// How many symbolic links are followed to the real file (git's limit).
const MAX_SYMLINKS: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    System,
    Global,
    File(PathBuf),
    /// The repository's own config (`.git/config`) of the current directory.
    Local,
}

impl Scope {
    /// The option that names this scope on the command line (`--file PATH`
    /// with its path), for the commands doctor and the errors suggest.
    pub fn cli_args(&self) -> Vec<String> {
        match self {
            Scope::System => vec!["--system".into()],
            Scope::Global => vec!["--global".into()],
            Scope::File(path) => vec!["--file".into(), sh_word(&path.display().to_string())],
            Scope::Local => vec!["--local".into()],
        }
    }

    /// The scope whose option rewrites a config entry git lists (its
    /// `--show-scope` name and `--show-origin` file), for doctor's fixes:
    /// `None` for one no option rewrites (`command`: git's `-c` options and
    /// `GIT_CONFIG_PARAMETERS`; an unknown scope without a file).
    pub fn of_listed(scope: &str, file: Option<&Path>) -> Option<Scope> {
        match scope {
            "system" => Some(Scope::System),
            "global" => Some(Scope::Global),
            "local" => Some(Scope::Local),
            "command" => None,
            _ => file.map(|file| Scope::File(file.to_owned())),
        }
    }

    fn describe(&self, file: &Path) -> String {
        let what = match self {
            Scope::System => "the system git config",
            Scope::Global => "the global git config",
            Scope::File(_) => "git config file",
            Scope::Local => "the repository's git config",
        };
        match self {
            Scope::File(_) => format!("{what} {}", file.display()),
            _ => format!("{what} ({})", file.display()),
        }
    }

    /// The file git reads and writes for this scope, as `git config` finds
    /// it for a write.
    fn file(&self) -> Result<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Ok(match self {
            Scope::File(path) => path.clone(),
            Scope::Global => {
                if let Some(file) = var("GIT_CONFIG_GLOBAL") {
                    return Ok(PathBuf::from(file));
                }
                let Some(home) = var("HOME") else {
                    bail!("--global: HOME is not set, so there is no global git config; set HOME, or use --file PATH");
                };
                let home = PathBuf::from(home);
                let user = home.join(".gitconfig");
                let xdg = var("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".config"))
                    .join("git/config");
                // git writes ~/.gitconfig, unless only the XDG file exists.
                if File::open(&user).is_err() && File::open(&xdg).is_ok() {
                    xdg
                } else {
                    user
                }
            }
            Scope::System => match var("GIT_CONFIG_SYSTEM") {
                Some(file) => PathBuf::from(file),
                None => git_output(&["var", "GIT_CONFIG_SYSTEM"])
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/etc/gitconfig")),
            },
            Scope::Local => {
                let dir = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "the current directory".into());
                match git_output(&["rev-parse", "--git-path", "config"]) {
                    Ok(path) => PathBuf::from(path),
                    Err(_) => bail!(
                        "--local: {dir} is not inside a git repository; run it in the repository \
                         (e.g. `cd /workspace/repo && git-credential-kelos configure --local`), \
                         or choose --global, --system or --file PATH"
                    ),
                }
            }
        })
    }
}

/// `git ARGS`, its first line of output.
fn git_output(args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .context("cannot run git (is it installed and in PATH? `apt-get install git`)")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned())
}

/// The program the written helper value names: `kelos`, or with
/// `--helper PATH` that path, which must be absolute (git runs a relative
/// name as `git credential-NAME`, and a relative path from whatever
/// directory git happens to run in).
pub fn program(helper: Option<&Path>) -> Result<String> {
    let Some(path) = helper else {
        return Ok(helper_program(None));
    };
    let Some(text) = path.to_str() else {
        bail!(
            "--helper {}: the path is not valid UTF-8; give the absolute path of \
             git-credential-kelos in plain characters",
            path.display()
        );
    };
    if !path.is_absolute() {
        bail!(
            "--helper {text}: the path must be absolute (git runs it from any directory), \
             e.g. --helper /kelos-bin/git-credential-kelos"
        );
    }
    if text.chars().any(char::is_control) {
        bail!("--helper: the path contains a control character; give the absolute path of git-credential-kelos");
    }
    Ok(helper_program(Some(text)))
}

pub fn configure(scope: &Scope, hosts: &[Served], exclusive: bool, program: &str) -> Result<()> {
    change(scope, hosts, exclusive, program, true)
}

pub fn unconfigure(scope: &Scope, hosts: &[Served], exclusive: bool, program: &str) -> Result<()> {
    change(scope, hosts, exclusive, program, false)
}

fn change(
    scope: &Scope,
    hosts: &[Served],
    exclusive: bool,
    program: &str,
    add: bool,
) -> Result<()> {
    let target = resolve_symlinks(&scope.file()?)?;
    let described = scope.describe(&target);
    // git checks every write: without it, nothing is written.
    if let Err(e) = Command::new("git").arg("--version").output() {
        bail!("cannot edit {described}: cannot run git ({e}); is it installed and in PATH? `apt-get install git`");
    }
    let plan = transaction(scope, &target, &described, |bytes, file| {
        plan(bytes, file, hosts, program, exclusive, add)
    })?;
    let value = format!("{:?}", exclusive_value(program, hosts));
    let mut report = String::new();
    for (key, changed) in &plan.keys {
        let line = match (exclusive, add, changed) {
            (false, true, true) => "configured in {F}",
            (false, true, false) => "already configured in {F}",
            (false, false, true) => "unconfigured in {F}",
            (false, false, false) => "already unconfigured in {F}",
            (true, true, true) => "exclusive in {F}: an empty reset, then {V}; git runs only kelos",
            (true, true, false) => "already exclusive ({V} after an empty reset) in {F}",
            (true, false, true) => "exclusive {V} and its reset removed from {F}",
            (true, false, false) => "no exclusive {V} in {F}; nothing to remove",
        };
        report.push_str(key);
        report.push_str(": ");
        report.push_str(&line.replace("{F}", &described).replace("{V}", &value));
        report.push('\n');
    }
    print_report(&report, &target)
}

/// Writes the report once the file is complete. A closed or full stdout is
/// an error with a message (the change itself is done), never a signal or a
/// panic.
fn print_report(report: &str, target: &Path) -> Result<()> {
    // SAFETY: signal(2) with SIG_IGN; no child is started after this.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut out = io::stdout().lock();
    out.write_all(report.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            anyhow!(
                "the change to {} is complete, but what was done could not be printed: \
                 stdout: {e}",
                target.display()
            )
        })
}

/// `path` with symbolic links followed to the file git's lock protocol
/// edits (a dotfiles checkout linked as `~/.gitconfig` stays a link).
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&path)
                    .with_context(|| format!("cannot read the link {}", path.display()))?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    bail!(
        "{}: more than {MAX_SYMLINKS} symbolic links in a row; point --file at the file itself",
        path.display()
    )
}

/// Runs one change under the file's lock; returns the plan carried out.
fn transaction(
    scope: &Scope,
    target: &Path,
    described: &str,
    decide: impl Fn(&[u8], &crate::gitfile::ScannedFile) -> Plan,
) -> Result<Plan> {
    // Everything that needs git is done on a snapshot, before the lock is
    // taken: writers rename, so one read sees one whole version, and the
    // lock is then held only to compare, write and rename (a plain `git
    // config` writer, which does not wait, seldom meets it). A run with
    // nothing to do takes no lock at all.
    let mut snapshot = read_snapshot(scope, target, described)?;
    let mut plan = prepare(&snapshot, target, described, &decide)?;
    for attempt in 1.. {
        if plan.bytes.is_none() {
            return Ok(plan);
        }
        let lock = Lock::acquire(scope, target, described)?;
        let now = read_snapshot(scope, target, described)?;
        if now != snapshot {
            // Another writer came in between: plan again, outside the lock
            // a few times, then under it (so a busy file still ends).
            if attempt < OPTIMISTIC_TRIES {
                drop(lock);
                snapshot = now;
                plan = prepare(&snapshot, target, described, &decide)?;
                continue;
            }
            plan = prepare(&now, target, described, &decide)?;
            snapshot = now;
        }
        if let Some(new) = &plan.bytes {
            let mode = snapshot.as_ref().map(|(_, mode)| *mode);
            lock.write(new, mode, described, scope)?;
            lock.commit(described, scope)?;
        }
        break;
    }
    Ok(plan)
}

/// The file's bytes and mode; `None` when it does not exist.
fn read_snapshot(scope: &Scope, target: &Path, described: &str) -> Result<Option<(Vec<u8>, u32)>> {
    let mut file = match File::open(target) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read {described}: {e}{}", hint(scope)),
    };
    let mode = file
        .metadata()
        .with_context(|| format!("cannot read {described}"))?
        .permissions()
        .mode();
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes)
        .with_context(|| format!("cannot read {described}"))?;
    Ok(Some((bytes, mode)))
}

/// The plan for `snapshot`, checked with git: git must read the old bytes
/// as the scanner does, and the new bytes as exactly the entries planned.
fn prepare(
    snapshot: &Option<(Vec<u8>, u32)>,
    target: &Path,
    described: &str,
    decide: &impl Fn(&[u8], &crate::gitfile::ScannedFile) -> Plan,
) -> Result<Plan> {
    let bytes: &[u8] = snapshot.as_ref().map_or(&[], |(b, _)| b);
    let shown = sh_word(&target.display().to_string());
    let file = scan(bytes).map_err(|e| {
        anyhow!(
            "cannot edit {described}: {e}; `git config --file {shown} --list` shows what git \
             makes of it; fix the file by hand, then run this again (nothing was changed)"
        )
    })?;
    let plan = decide(bytes, &file);
    if plan.bytes.is_none() && snapshot.is_none() {
        return Ok(plan);
    }
    let scanned: Vec<(String, String)> = file
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    if git_list(bytes, described)? != scanned {
        bail!(
            "cannot edit {described} safely: git reads its entries differently from this \
             helper; run `git config --file {shown} --show-origin --list` and simplify the \
             credential sections by hand (nothing was changed)"
        );
    }
    if let Some(new) = &plan.bytes {
        if git_list(new, described)? != plan.expected {
            bail!(
                "the change to {described} did not read back as planned, so it was not \
                 installed (nothing was changed); run `git config --file {shown} --show-origin \
                 --list` to see the file"
            );
        }
    }
    Ok(plan)
}

/// `git config --file F --null --list` of `bytes`, as (key, value) pairs.
fn git_list(bytes: &[u8], described: &str) -> Result<Vec<(String, String)>> {
    let copy = ReadableCopy::new(bytes)
        .with_context(|| format!("cannot check the change to {described} (nothing was changed)"))?;
    let out = Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(&copy.path)
        .args(["--null", "--list"])
        .output()
        .with_context(|| {
            format!(
                "cannot run git to check {described} (is it installed and in PATH? \
                 `apt-get install git`)"
            )
        })?;
    if !out.status.success() {
        bail!(
            "git cannot read {described}: {} (nothing was changed)",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace(&copy.path.display().to_string(), "it")
        );
    }
    Ok(parse_null_config(&out.stdout)
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// A copy of some bytes that git can read by a path, and nobody else sees:
/// an anonymous in-memory file (`memfd_create`, inherited by git, read as
/// `/dev/fd/N`: nothing on disk, nothing left by a kill); where there is no
/// `/dev/fd` (a chroot without `/proc`), a private temporary file (0600),
/// removed on drop.
struct ReadableCopy {
    path: PathBuf,
    _file: File,
    temporary: bool,
}

impl ReadableCopy {
    fn new(bytes: &[u8]) -> io::Result<ReadableCopy> {
        // SAFETY: memfd_create(2) with a static name. Without MFD_CLOEXEC:
        // git inherits the descriptor.
        let fd = unsafe { libc::memfd_create(c"kelos-config".as_ptr(), 0) };
        if fd >= 0 {
            // SAFETY: a descriptor just created, owned by nobody else.
            let mut file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            file.write_all(bytes)?;
            let path = PathBuf::from(format!("/dev/fd/{fd}"));
            if path.exists() {
                return Ok(ReadableCopy {
                    path,
                    _file: file,
                    temporary: false,
                });
            }
        }
        let dir = std::env::temp_dir();
        for n in 0.. {
            let path = dir.join(format!(".kelos-config-{}-{n}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(mut file) => {
                    // Removed on drop, even when the write fails.
                    let written = file.write_all(bytes);
                    let copy = ReadableCopy {
                        path,
                        _file: file,
                        temporary: true,
                    };
                    return written.map(|()| copy);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 100 => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}

impl Drop for ReadableCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn hint(scope: &Scope) -> &'static str {
    match scope {
        Scope::System => {
            "; the system config is normally writable only by root: run as root, or use --global"
        }
        _ => "; check that the config file and its directory are writable",
    }
}

/// `FILE.lock`, held: created by this process, removed on drop unless
/// renamed over the file.
struct Lock {
    path: PathBuf,
    target: PathBuf,
    file: File,
    installed: bool,
}

impl Lock {
    fn acquire(scope: &Scope, target: &Path, described: &str) -> Result<Lock> {
        let mut path = target.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let started = Instant::now();
        let mut seen: Option<(u64, u64, i64, i64, u64)> = None;
        let mut unchanged_since = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(Lock {
                        path,
                        target: target.to_path_buf(),
                        file,
                        installed: false,
                    })
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == ErrorKind::NotFound => bail!(
                    "cannot write {described}: its directory {} does not exist; create it \
                     (`mkdir -p {}`) or choose another file{}",
                    target.parent().unwrap_or(Path::new("/")).display(),
                    sh_word(
                        &target
                            .parent()
                            .unwrap_or(Path::new("/"))
                            .display()
                            .to_string()
                    ),
                    hint(scope)
                ),
                Err(e) => bail!(
                    "cannot write {described}: cannot create the lock {}: {e}{}",
                    path.display(),
                    hint(scope)
                ),
            }
            // Held by someone else: wait while it keeps changing hands.
            let now = Instant::now();
            if let Ok(m) = fs::metadata(&path) {
                let id = (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size());
                if seen != Some(id) {
                    seen = Some(id);
                    unchanged_since = now;
                } else if now - unchanged_since >= STALE_AFTER {
                    bail!(
                        "cannot write {described}: the lock {} has been there for {} s without \
                         change, left by a git config writer that was killed; if no git command \
                         is running, remove it with `rm {}` and run this again (nothing was changed)",
                        path.display(),
                        STALE_AFTER.as_secs(),
                        sh_word(&path.display().to_string())
                    );
                }
            }
            if now - started >= MAX_WAIT {
                bail!(
                    "cannot write {described}: its lock {} was held by other writers for {} s \
                     without a turn for this one; run this again when they are done (nothing was changed)",
                    path.display(),
                    MAX_WAIT.as_secs()
                );
            }
            std::thread::sleep(pause + jitter(pause));
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }

    /// The new bytes into the lock file, with the old file's mode (as git
    /// does), synced to disk.
    fn write(&self, bytes: &[u8], mode: Option<u32>, described: &str, scope: &Scope) -> Result<()> {
        let fail = |e: io::Error| {
            anyhow!(
                "cannot write {described}: {}: {e}{} (nothing was changed)",
                self.path.display(),
                hint(scope)
            )
        };
        let mut file = &self.file;
        file.write_all(bytes).map_err(fail)?;
        if let Some(mode) = mode {
            file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
                .map_err(fail)?;
        }
        file.sync_all().map_err(fail)
    }

    /// Renames the lock over the file, and syncs the directory.
    fn commit(mut self, described: &str, scope: &Scope) -> Result<()> {
        fs::rename(&self.path, &self.target).map_err(|e| {
            anyhow!(
                "cannot write {described}: rename {}: {e}{} (nothing was changed)",
                self.path.display(),
                hint(scope)
            )
        })?;
        self.installed = true;
        if let Some(dir) = self.target.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.installed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Up to `pause` more, different in each process, so that waiting writers
/// do not retry in step.
fn jitter(pause: Duration) -> Duration {
    let seed = u64::from(std::process::id()).wrapping_mul(6364136223846793005);
    Duration::from_nanos((seed >> 33) % (pause.as_nanos() as u64).max(1))
}
