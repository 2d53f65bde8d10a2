//! Where the token comes from: the file first, frozen variables second.
//!
//! In two steps, every caller through both (ripgrep's low and high
//! arguments): this module reads ([`read_file`]: the file, its kubelet
//! generation, its expiry file, as a [`Reading`]); [`crate::decision`]
//! decides, purely: [`FileDecision::from_reading`] judges the file alone,
//! [`decide`] adds the frozen fallbacks of a host class. Its names are
//! re-exported here, where callers found them.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::env::{EnvSnapshot, TOKEN_FILE_VAR};
use crate::provider::{Provider, GITHUB};
use crate::token::is_blank;

pub use crate::decision::{
    choose, choose_for, decide, lookup, why_not_file, ExpiryProblem, FileDecision, FileRejection,
    FileToken, Lookup, Origin,
};

/// The most a token (or expiry) file may hold; a larger file is refused.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Pauses before re-reading a file that read empty: a writer that truncates
/// and rewrites in place leaves it empty for a moment (about 50 ms in all).
pub const EMPTY_RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(15),
    Duration::from_millis(20),
];

/// Appended to the token file's name to find its expiry.
pub const EXPIRES_AT_SUFFIX: &str = "_EXPIRES_AT";

/// Why the token file gave no usable bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// `KELOS_GITHUB_TOKEN_FILE` is unset or empty.
    #[error("{TOKEN_FILE_VAR} is not set")]
    NotConfigured,
    /// The path is not absolute; a relative path would depend on the
    /// directory git or gh happens to run in.
    #[error("is not an absolute path")]
    NotAbsolute,
    #[error("does not exist")]
    Missing,
    /// A directory, FIFO, socket or device; `kind` names which.
    #[error("is a {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("is {bytes} bytes, over the {MAX_FILE_BYTES}-byte limit")]
    TooLarge { bytes: u64 },
    #[error("cannot be read: {error}")]
    Unreadable { error: String },
}

/// How the token directory is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// kubelet's atomic writer: `NAME -> ..data/NAME`, `..data -> ..<generation>`.
    /// Both files were read from this one generation directory.
    AtomicWriter { generation: OsString },
    /// A plain file (or any other symlink): a `subPath` mount looks like this,
    /// and kubelet never updates those.
    Plain,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::AtomicWriter { generation } => write!(
                f,
                "kubelet's atomic writer, generation {}",
                generation.to_string_lossy()
            ),
            Layout::Plain => f.write_str("a plain file"),
        }
    }
}

/// What was read from disk, before any judgement of the contents.
#[derive(Clone, PartialEq, Eq)]
pub struct FileRead {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub layout: Layout,
    pub modified: Option<SystemTime>,
    pub mode: u32,
    /// The file's owner and group (kubelet: root, and the pod's `fsGroup` when set).
    pub uid: u32,
    pub gid: u32,
    /// `None` when there is no expiry file.
    pub expiry: Option<Result<Vec<u8>, FileProblem>>,
}

impl fmt::Debug for FileRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRead")
            .field("path", &self.path)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("layout", &self.layout)
            .field("modified", &self.modified)
            .finish_non_exhaustive()
    }
}

/// What was read of a provider's token file, before any judgement (the
/// low step: ripgrep's low args). A caller that reports on the file and on
/// the decision (doctor) passes this one read to both, so that they cannot
/// speak of two kubelet generations.
#[derive(Clone, Debug)]
pub struct Reading {
    pub provider: &'static Provider,
    /// The configured path, when its variable is set and not empty.
    pub path: Option<PathBuf>,
    pub read: Result<FileRead, FileProblem>,
}

/// The one read of the file the provider's variable names (read again
/// while it reads empty).
pub fn read_file(provider: &'static Provider, env: &EnvSnapshot) -> Reading {
    let path = env.non_empty(provider.token_file_var).map(PathBuf::from);
    let read = match &path {
        None => Err(FileProblem::NotConfigured),
        Some(path) => read_token_file_settled(path),
    };
    Reading {
        provider,
        path,
        read,
    }
}

/// [`read_file`] for GitHub, as a pair.
pub fn read_configured_file(env: &EnvSnapshot) -> (Option<PathBuf>, Result<FileRead, FileProblem>) {
    let Reading { path, read, .. } = read_file(&GITHUB, env);
    (path, read)
}

/// Reads the file, and reads it again a few times while it reads empty.
fn read_token_file_settled(path: &Path) -> Result<FileRead, FileProblem> {
    let mut read = read_token_file(path);
    for delay in EMPTY_RETRY_DELAYS {
        match &read {
            Ok(r) if is_blank(&r.contents) => {
                std::thread::sleep(delay);
                read = read_token_file(path);
            }
            _ => break,
        }
    }
    read
}

/// Reads the token file and, from the same kubelet generation, its expiry.
pub fn read_token_file(path: &Path) -> Result<FileRead, FileProblem> {
    if !path.is_absolute() {
        return Err(FileProblem::NotAbsolute);
    }
    // kubelet swaps `..data` to publish a generation and then deletes the old
    // directory, so a generation resolved just before a swap can vanish before
    // it is opened: resolve again. After three misses, read the visible path.
    for _ in 0..3 {
        let Some((generation, dir)) = atomic_writer_generation(path) else {
            break;
        };
        let Some(name) = path.file_name() else { break };
        let resolved = dir.join(name);
        match read_regular(&resolved) {
            Err(FileProblem::Missing) => continue,
            Err(other) => return Err(other),
            Ok((contents, meta)) => {
                let expiry = read_optional(&with_suffix(&resolved));
                return Ok(file_read(
                    path,
                    contents,
                    &meta,
                    Layout::AtomicWriter { generation },
                    expiry,
                ));
            }
        }
    }
    let (contents, meta) = read_regular(path)?;
    let expiry = read_optional(&with_suffix(path));
    Ok(file_read(path, contents, &meta, Layout::Plain, expiry))
}

fn file_read(
    path: &Path,
    contents: Vec<u8>,
    meta: &Metadata,
    layout: Layout,
    expiry: Option<Result<Vec<u8>, FileProblem>>,
) -> FileRead {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    FileRead {
        path: path.to_owned(),
        contents,
        layout,
        modified: meta.modified().ok(),
        mode: meta.permissions().mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        expiry,
    }
}

/// When `path` is kubelet's `NAME -> ..data/NAME`, the generation `..data`
/// points at now and that generation's directory.
fn atomic_writer_generation(path: &Path) -> Option<(OsString, PathBuf)> {
    let name = path.file_name()?;
    let link = fs::read_link(path).ok()?;
    if link != Path::new("..data").join(name) {
        return None;
    }
    let parent = path.parent()?;
    let generation = fs::read_link(parent.join("..data")).ok()?;
    // kubelet writes a bare relative name; anything else is not its layout.
    let mut components = generation.components();
    match (components.next(), components.next()) {
        (Some(std::path::Component::Normal(g)), None) => Some((g.to_owned(), parent.join(g))),
        _ => None,
    }
}

/// The expiry file beside the token file `path`: `<path>_EXPIRES_AT`.
pub fn with_suffix(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(EXPIRES_AT_SUFFIX);
    PathBuf::from(name)
}

fn read_optional(path: &Path) -> Option<Result<Vec<u8>, FileProblem>> {
    match read_regular(path) {
        Err(FileProblem::Missing) => None,
        other => Some(other.map(|(contents, _)| contents)),
    }
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. Anything else is
/// refused without blocking: it is checked before opening, opened
/// non-blocking (a FIFO with no writer would otherwise hang), and checked
/// again on the open descriptor in case it was swapped in between.
pub fn read_regular(path: &Path) -> Result<(Vec<u8>, Metadata), FileProblem> {
    let check = |meta: &Metadata| -> Result<(), FileProblem> {
        if !meta.is_file() {
            return Err(FileProblem::NotRegular {
                kind: file_kind(meta),
            });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(FileProblem::TooLarge { bytes: meta.len() });
        }
        Ok(())
    };
    check(&fs::metadata(path).map_err(io_problem)?)?;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_problem)?;
    let meta = file.metadata().map_err(io_problem)?;
    check(&meta)?;
    let mut contents = Vec::with_capacity(meta.len() as usize);
    read_capped(file, &mut contents)?;
    Ok((contents, meta))
}

fn read_capped(file: File, contents: &mut Vec<u8>) -> Result<(), FileProblem> {
    let read = file
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(contents)
        .map_err(io_problem)?;
    if read as u64 > MAX_FILE_BYTES {
        return Err(FileProblem::TooLarge { bytes: read as u64 });
    }
    Ok(())
}

fn io_problem(error: io::Error) -> FileProblem {
    match error.kind() {
        io::ErrorKind::NotFound => FileProblem::Missing,
        _ => FileProblem::Unreadable {
            error: error.to_string(),
        },
    }
}

pub fn file_kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else if t.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::ExpiryError;
    use crate::host::HostClass;
    use crate::token::InvalidToken;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot::from_pairs(pairs.iter().copied())
    }

    fn plain(contents: &[u8], expiry: Option<&[u8]>) -> Result<FileRead, FileProblem> {
        Ok(FileRead {
            path: PathBuf::from("/t/GITHUB_TOKEN"),
            contents: contents.to_vec(),
            layout: Layout::Plain,
            modified: None,
            mode: 0o644,
            uid: 0,
            gid: 0,
            expiry: expiry.map(|e| Ok(e.to_vec())),
        })
    }

    fn path() -> Option<PathBuf> {
        Some(PathBuf::from("/t/GITHUB_TOKEN"))
    }

    #[test]
    fn file_token_wins_over_variables() {
        let l = choose(
            path(),
            plain(b"ghs_file\n", Some(b"1795428000")),
            &env(&[("GH_TOKEN", "ghs_env")]),
            HostClass::Dotcom,
        );
        assert_eq!(l.token.unwrap().expose(), "ghs_file");
        assert_eq!(l.origin, Some(Origin::File));
        assert_eq!(l.expires_at, Some(1_795_428_000));
    }

    #[test]
    fn fallback_order_per_class() {
        let vars = [
            ("GH_TOKEN", "gh"),
            ("GITHUB_TOKEN", "github"),
            ("GH_ENTERPRISE_TOKEN", "ghe"),
            ("GITHUB_ENTERPRISE_TOKEN", "githubent"),
        ];
        let cases = [
            (HostClass::Dotcom, &vars[..], "GH_TOKEN"),
            (HostClass::Tenancy, &vars[..], "GH_TOKEN"),
            (HostClass::Local, &vars[1..], "GITHUB_TOKEN"),
            (HostClass::Enterprise, &vars[..], "GH_ENTERPRISE_TOKEN"),
            (HostClass::Enterprise, &vars[3..], "GITHUB_ENTERPRISE_TOKEN"),
            (HostClass::Enterprise, &vars[..2], "GITHUB_TOKEN"),
        ];
        for (class, vars, want) in cases {
            let l = choose(path(), plain(b"", None), &env(vars), class);
            assert_eq!(l.origin, Some(Origin::Env(want)), "{class} {vars:?}");
            assert_eq!(
                l.file_rejection,
                Some(FileRejection::Invalid(InvalidToken::Empty))
            );
            assert_eq!(l.expires_at, None);
        }
    }

    #[test]
    fn invalid_variables_are_skipped_and_reported() {
        let l = choose(
            None,
            Err(FileProblem::NotConfigured),
            &env(&[("GH_TOKEN", "two words"), ("GITHUB_TOKEN", " ghs_ok\n")]),
            HostClass::Dotcom,
        );
        assert_eq!(l.token.unwrap().expose(), "ghs_ok");
        assert_eq!(
            l.invalid_vars,
            vec![("GH_TOKEN", InvalidToken::Whitespace { at: 3 })]
        );
    }

    #[test]
    fn nothing_valid_is_explained_without_values() {
        let l = choose(
            path(),
            Err(FileProblem::Missing),
            &env(&[("GH_TOKEN", "bad token"), ("GITHUB_TOKEN", "")]),
            HostClass::Dotcom,
        );
        assert!(l.token.is_none());
        assert_eq!(
            l.explain(),
            "token file /t/GITHUB_TOKEN (KELOS_GITHUB_TOKEN_FILE) does not exist; \
             GH_TOKEN has whitespace inside it (byte 3); it must be one token on one line; \
             GITHUB_TOKEN unset or empty"
        );
    }

    #[test]
    fn bad_expiry_keeps_the_token() {
        let l = choose(
            path(),
            plain(b"ghs_x", Some(b"soon")),
            &env(&[]),
            HostClass::Dotcom,
        );
        assert!(l.token.is_some());
        assert_eq!(l.expires_at, None);
        assert_eq!(
            l.expiry_problem,
            Some(ExpiryProblem::Parse(ExpiryError::Format))
        );
    }

    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("kelos-token-test-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_token_and_expiry_from_one_generation() {
        let s = Scratch::new("gen");
        let gen1 = s.0.join("..gen1");
        fs::create_dir(&gen1).unwrap();
        fs::write(gen1.join("GITHUB_TOKEN"), "ghs_one\n").unwrap();
        fs::write(gen1.join("GITHUB_TOKEN_EXPIRES_AT"), "1000").unwrap();
        symlink("..gen1", s.0.join("..data")).unwrap();
        symlink("..data/GITHUB_TOKEN", s.0.join("GITHUB_TOKEN")).unwrap();
        symlink(
            "..data/GITHUB_TOKEN_EXPIRES_AT",
            s.0.join("GITHUB_TOKEN_EXPIRES_AT"),
        )
        .unwrap();
        let read = read_token_file(&s.0.join("GITHUB_TOKEN")).unwrap();
        assert_eq!(read.contents, b"ghs_one\n");
        assert_eq!(read.expiry, Some(Ok(b"1000".to_vec())));
        assert_eq!(
            read.layout,
            Layout::AtomicWriter {
                generation: "..gen1".into()
            }
        );
    }

    #[test]
    fn dangling_data_link_reads_as_missing() {
        let s = Scratch::new("dangling");
        symlink("..gone", s.0.join("..data")).unwrap();
        symlink("..data/GITHUB_TOKEN", s.0.join("GITHUB_TOKEN")).unwrap();
        assert_eq!(
            read_token_file(&s.0.join("GITHUB_TOKEN")),
            Err(FileProblem::Missing)
        );
    }

    #[test]
    fn refuses_what_is_not_a_small_regular_file() {
        let s = Scratch::new("kinds");
        let fifo = s.0.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(
            read_token_file(&fifo),
            Err(FileProblem::NotRegular { kind: "FIFO" })
        );
        assert_eq!(
            read_token_file(&s.0),
            Err(FileProblem::NotRegular { kind: "directory" })
        );
        assert_eq!(
            read_token_file(Path::new("/dev/null")),
            Err(FileProblem::NotRegular { kind: "device" })
        );
        let big = s.0.join("big");
        fs::write(&big, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(
            read_token_file(&big),
            Err(FileProblem::TooLarge {
                bytes: MAX_FILE_BYTES + 1
            })
        );
        let exact = s.0.join("exact");
        fs::write(&exact, vec![b'a'; MAX_FILE_BYTES as usize]).unwrap();
        assert!(read_token_file(&exact).is_ok());
        assert_eq!(
            read_token_file(Path::new("relative/GITHUB_TOKEN")),
            Err(FileProblem::NotAbsolute)
        );
    }
}
