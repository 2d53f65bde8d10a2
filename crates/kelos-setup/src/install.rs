//! `install DIR`: copies this binary, `kelos-gh`, `kelos-glab` (when beside
//! it) and the shell snippet into DIR. It is how an init container running
//! the helpers image (`FROM scratch`: no shell, no `cp`) fills an `emptyDir`
//! for the pod's other containers.
//!
//! Each file is written under a temporary name in DIR, synced, and renamed
//! over its final name: a container that runs `DIR/git-credential-kelos`
//! while `install` runs again gets the old file or the new one, never a
//! half-written one. Running it twice gives the same files.
//!
//! The snippet is built into the binary (`images/kelos-env.sh`, 1.5 KB):
//! the repository keeps one copy, the snippet installed always speaks the
//! `env` command of the binary installed with it, and `install` works
//! wherever the binary runs (the helpers image, a release archive,
//! `/usr/local/bin`). It sits in read-only data that git's calls never
//! touch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `images/kelos-env.sh`, as the repository has it.
pub const SNIPPET: &str = include_str!("../../../images/kelos-env.sh");

pub const SNIPPET_NAME: &str = "kelos-env.sh";
const HELPER_NAME: &str = "git-credential-kelos";
const GH_NAME: &str = "kelos-gh";
const GLAB_NAME: &str = "kelos-glab";

/// Where one installed file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file beside this binary (or the binary itself).
    File(PathBuf),
    /// The snippet built into this binary.
    Snippet,
}

/// One file `install` writes: its name in DIR, its bytes' source and mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    pub source: Source,
    pub mode: u32,
}

/// What `install` writes, given this binary's path and which of the
/// wrappers are beside it. `kelos-gh` is required: an image or archive
/// without it is broken, and the pod would get no gh wrapper. `kelos-glab`
/// is installed when it is there.
pub fn plan(exe: &Path, beside: impl Fn(&str) -> bool) -> Result<Vec<Item>> {
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut items = vec![Item {
        name: HELPER_NAME,
        source: Source::File(exe.to_owned()),
        mode: 0o755,
    }];
    if !beside(GH_NAME) {
        bail!(
            "{} not found beside this binary: install copies the helpers from one directory \
             (the helpers image's /, or a release's dist/<target>/); put {GH_NAME} there",
            dir.join(GH_NAME).display()
        );
    }
    items.push(Item {
        name: GH_NAME,
        source: Source::File(dir.join(GH_NAME)),
        mode: 0o755,
    });
    if beside(GLAB_NAME) {
        items.push(Item {
            name: GLAB_NAME,
            source: Source::File(dir.join(GLAB_NAME)),
            mode: 0o755,
        });
    }
    items.push(Item {
        name: SNIPPET_NAME,
        source: Source::Snippet,
        mode: 0o644,
    });
    Ok(items)
}

/// Installs into `dir`; returns the paths written, in order.
pub fn install(dir: &Path) -> Result<Vec<(PathBuf, u32)>> {
    if dir.as_os_str().is_empty() {
        bail!("install needs a directory: `git-credential-kelos install /kelos-bin`");
    }
    let exe = std::env::current_exe()
        .context("cannot find this binary's own path (/proc/self/exe): is /proc mounted?")?;
    let beside_dir = exe.parent().unwrap_or(Path::new("/")).to_owned();
    let items = plan(&exe, |name| beside_dir.join(name).is_file())?;
    prepare_dir(dir)?;
    let mut written = Vec::new();
    for item in &items {
        let target = dir.join(item.name);
        write_atomically(dir, item, &target)?;
        written.push((target, item.mode));
    }
    // The renames are durable before anyone is told they happened.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(written)
}

/// A new file in `dir` for `name`'s next version, under a name no other run
/// uses: the PID alone is not enough, since an init container is often PID 1
/// in its namespace, and a killed run leaves its file behind in the
/// `emptyDir` that the restarted container gets again.
fn create_temporary(dir: &Path, name: &str) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last = None;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.install-{pid}-{nanos:08x}{attempt:x}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(write_error(dir, &e)),
        }
    }
    Err(write_error(
        dir,
        &last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    ))
}

/// Creates `dir` when missing; refuses what is not a directory.
fn prepare_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!(
            "{} exists and is not a directory: give install a directory (e.g. an emptyDir mounted at /kelos-bin)",
            dir.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!(
                    "cannot create {}: {}: create it first, or mount a writable volume there (an emptyDir)",
                    dir.display(),
                    plain_io_error(&e)
                )
            })?;
            // create_dir_all honours the umask; the directory is for every
            // container's user.
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => bail!(
            "cannot create {}: a part of that path is a file, not a directory: choose a path under a directory",
            dir.display()
        ),
        Err(e) => bail!(
            "cannot use {}: {}: check that it exists and this user ({}) may enter it",
            dir.display(),
            plain_io_error(&e),
            // SAFETY: getuid(2) cannot fail.
            unsafe { libc::getuid() }
        ),
    }
}

/// Writes `item` to a new temporary file in `dir` (same file system, so the
/// rename is atomic), syncs it, sets its mode, then renames it over `target`.
/// On any error the temporary file is removed and `target` is as it was.
fn write_atomically(dir: &Path, item: &Item, target: &Path) -> Result<()> {
    let (tmp, mut out) = create_temporary(dir, item.name)?;
    let result = (|| -> Result<()> {
        match &item.source {
            Source::Snippet => out
                .write_all(SNIPPET.as_bytes())
                .map_err(|e| write_error(dir, &e))?,
            Source::File(path) => {
                let mut input =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                io::copy(&mut input, &mut out).map_err(|e| write_error(dir, &e))?;
            }
        }
        // The mode is set on the open file, whatever the umask is.
        out.set_permissions(fs::Permissions::from_mode(item.mode))
            .map_err(|e| write_error(dir, &e))?;
        out.sync_all().map_err(|e| write_error(dir, &e))?;
        drop(out);
        fs::rename(&tmp, target).map_err(|e| write_error(dir, &e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_error(dir: &Path, e: &io::Error) -> anyhow::Error {
    let fix = match e.raw_os_error() {
        Some(libc::EROFS) => {
            "mount it writable (an emptyDir without readOnly: true), or choose another directory"
        }
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "run install as a user who may write there, or choose another directory"
        }
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "free space there (the files are about 3 MB)",
        _ => "choose a writable directory",
    };
    anyhow::anyhow!(
        "cannot write into {}: {}: {fix}; nothing there was changed",
        dir.display(),
        plain_io_error(e)
    )
}

/// An I/O error in words, without Rust's debug text.
fn plain_io_error(e: &io::Error) -> String {
    let text = e.to_string();
    // "Read-only file system (os error 30)" → "Read-only file system".
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The lines `install` prints when it is done.
pub fn report(written: &[(PathBuf, u32)]) -> String {
    written
        .iter()
        .map(|(path, mode)| format!("installed {} (mode {mode:04o})\n", path.display()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_needs_kelos_gh_and_takes_glab_when_there() {
        let exe = Path::new("/x/git-credential-kelos");
        let err = plan(exe, |_| false).unwrap_err().to_string();
        assert!(err.contains("/x/kelos-gh not found"), "{err}");
        let names = |beside: &[&str]| -> Vec<&'static str> {
            let beside = beside.to_vec();
            plan(exe, |n| beside.contains(&n))
                .unwrap()
                .iter()
                .map(|i| i.name)
                .collect()
        };
        assert_eq!(
            names(&["kelos-gh"]),
            ["git-credential-kelos", "kelos-gh", "kelos-env.sh"]
        );
        assert_eq!(
            names(&["kelos-gh", "kelos-glab"]),
            [
                "git-credential-kelos",
                "kelos-gh",
                "kelos-glab",
                "kelos-env.sh"
            ]
        );
        let modes: Vec<u32> = plan(exe, |_| true)
            .unwrap()
            .iter()
            .map(|i| i.mode)
            .collect();
        assert_eq!(modes, [0o755, 0o755, 0o755, 0o644]);
    }

    #[test]
    fn the_snippet_is_the_repositorys() {
        assert!(SNIPPET.starts_with("# kelos-env.sh"));
        assert!(SNIPPET.contains("git-credential-kelos env"));
    }

    #[test]
    fn io_errors_in_words() {
        let e = io::Error::from_raw_os_error(libc::EROFS);
        assert_eq!(plain_io_error(&e), "Read-only file system");
    }
}
