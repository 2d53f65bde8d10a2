//! git's lock protocol for one config file: `FILE.lock` created
//! exclusively, waited for while a live writer holds it, named when a killed
//! one left it behind; the new bytes written into it, synced, and renamed
//! over the file. `configure`'s transaction is the one user.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::configure::{hint, Scope};
use crate::quote::sh_word;
use anyhow::{anyhow, bail, Result};

/// A lock that has not changed (same file, same size and time) for this long
/// is taken for one a killed writer left behind.
const STALE_AFTER: Duration = Duration::from_secs(5);
/// However busy the file, waiting for its lock ends after this long.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// `FILE.lock`, held: created by this process, removed on drop unless
/// renamed over the file.
pub(crate) struct Lock {
    path: PathBuf,
    target: PathBuf,
    file: File,
    installed: bool,
}

impl Lock {
    pub(crate) fn acquire(scope: &Scope, target: &Path, described: &str) -> Result<Lock> {
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
    pub(crate) fn write(
        &self,
        bytes: &[u8],
        mode: Option<u32>,
        described: &str,
        scope: &Scope,
    ) -> Result<()> {
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
    pub(crate) fn commit(mut self, described: &str, scope: &Scope) -> Result<()> {
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
