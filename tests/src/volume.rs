//! A kubelet atomic-writer style Secret volume, and hostile files to put at a token path.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::TempDir;

pub const TOKEN_FILE: &str = "GITHUB_TOKEN";
pub const EXPIRES_FILE: &str = "GITHUB_TOKEN_EXPIRES_AT";

/// A directory laid out like a Secret volume written by kubelet's atomic writer:
///
/// ```text
/// GITHUB_TOKEN            -> ..data/GITHUB_TOKEN
/// GITHUB_TOKEN_EXPIRES_AT -> ..data/GITHUB_TOKEN_EXPIRES_AT   (when the payload has it)
/// ..data                  -> ..2026_01_01_00_00_00.000000001
/// ..2026_01_01_00_00_00.000000001/GITHUB_TOKEN
/// ```
#[derive(Debug)]
pub struct TokenVolume {
    dir: TempDir,
    generation: u64,
    current: Option<String>,
}

impl Default for TokenVolume {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenVolume {
    /// An empty volume (no `..data` yet: the token path does not exist).
    pub fn new() -> TokenVolume {
        TokenVolume {
            dir: TempDir::new("kelos-e2e-volume"),
            generation: 0,
            current: None,
        }
    }

    /// A volume holding `token`.
    pub fn with_token(token: &str) -> TokenVolume {
        let mut v = TokenVolume::new();
        v.publish(token.as_bytes(), None);
        v
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/GITHUB_TOKEN`, the user-visible path (`KELOS_GITHUB_TOKEN_FILE`).
    pub fn token_path(&self) -> PathBuf {
        self.dir.join(TOKEN_FILE)
    }

    /// `<dir>/GITHUB_TOKEN_EXPIRES_AT`.
    pub fn expires_path(&self) -> PathBuf {
        self.dir.join(EXPIRES_FILE)
    }

    /// Name of the current generation directory (e.g. `..2026_01_01_00_00_00.000000003`).
    pub fn current_generation(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Publishes a new payload the way kubelet does: new generation directory, `..data_tmp`
    /// symlink, atomic rename over `..data`, user-visible symlinks, old generation removed.
    pub fn publish(&mut self, token: &[u8], expires_at: Option<&str>) {
        self.generation += 1;
        let gen_name = format!("..2026_01_01_00_00_00.{:09}", self.generation);
        let gen_dir = self.dir.join(&gen_name);
        fs::create_dir(&gen_dir).expect("create generation dir");
        write_file(&gen_dir.join(TOKEN_FILE), token);
        if let Some(exp) = expires_at {
            write_file(&gen_dir.join(EXPIRES_FILE), exp.as_bytes());
        }

        let data_tmp = self.dir.join("..data_tmp");
        let _ = fs::remove_file(&data_tmp);
        symlink(&gen_name, &data_tmp).expect("symlink ..data_tmp");
        fs::rename(&data_tmp, self.dir.join("..data")).expect("rename ..data_tmp over ..data");

        ensure_symlink(
            &self.token_path(),
            Path::new("..data").join(TOKEN_FILE).as_path(),
        );
        if expires_at.is_some() {
            ensure_symlink(
                &self.expires_path(),
                Path::new("..data").join(EXPIRES_FILE).as_path(),
            );
        } else {
            // kubelet removes user-visible links for keys no longer in the payload.
            let _ = fs::remove_file(self.expires_path());
        }

        if let Some(old) = self.current.replace(gen_name) {
            fs::remove_dir_all(self.dir.join(old)).expect("remove old generation");
        }
    }

    /// Names of the `..<generation>` directories currently present.
    pub fn generation_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir())
            .expect("read volume dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..") && n != "..data" && n != "..data_tmp")
            .collect();
        v.sort();
        v
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(bytes).expect("write");
    f.sync_all().ok();
}

fn ensure_symlink(link: &Path, target: &Path) {
    match fs::read_link(link) {
        Ok(t) if t == target => {}
        _ => {
            let _ = fs::remove_file(link);
            symlink(target, link).expect("user-visible symlink");
        }
    }
}

/// Writes a regular file with `bytes` at `path` (replacing a file there).
pub fn make_plain_file(path: &Path, bytes: &[u8]) {
    write_file(path, bytes);
}

/// Creates a directory at `path`.
pub fn make_directory(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
}

/// Creates a FIFO at `path` (nobody will ever open it for writing).
pub fn make_fifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: `c` is a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        panic!(
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
}

/// Writes a file of `size` bytes at `path`: `token` followed by newline padding (so the
/// only reason to refuse it is its size).
pub fn make_oversized_file(path: &Path, token: &str, size: usize) {
    assert!(size > token.len());
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(token.as_bytes());
    bytes.resize(size, b'\n');
    write_file(path, &bytes);
}
