//! A self-removing temporary directory: `tempfile`'s, created 0700 under
//! the system temp dir, with its path resolved (macOS-style symlinked temp
//! dirs, and tests that compare paths git prints).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct TempDir {
    /// Removes the directory when dropped.
    _inner: tempfile::TempDir,
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh 0700 directory named `PREFIX-…` under the system temp dir.
    pub fn new(prefix: &str) -> TempDir {
        let inner = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir {prefix}-…: {e}"));
        let path = inner.path().canonicalize().expect("canonicalize temp dir");
        TempDir {
            _inner: inner,
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_removed_on_drop() {
        let dir = TempDir::new("kelos-e2e-selftest");
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let path = dir.path().to_path_buf();
        assert!(dir._inner.path().exists());
        drop(dir);
        assert!(!path.exists());
    }
}
