//! Tracing through `KELOS_CREDENTIAL_TRACE`: `1`/`true` → stderr, an
//! absolute path → appended to that file.
//!
//! Two rules hold for every line, whatever a caller formats into it:
//! - **No secret**: each line passes through [`crate::redact`] before it is
//!   written, with every value the tracer was told of ([`Tracer::hide`]:
//!   the token variables' values from the start, then the token and the
//!   username and password of git's request) as known secrets. A
//!   [`crate::Token`] has no `Display` besides.
//! - **Plain words**: a line is formatted only through [`trace!`], whose
//!   format string may not ask for `{:?}` (a compile error, see
//!   [`asks_for_debug`]), so no Rust debug text (`Some("https")`,
//!   `AtomicWriter { .. }`) can reach a trace; and each line has its control
//!   characters escaped ([`crate::text`]), so it is always one line.
//! - **Tracing never changes what git or gh get**: the sink is opened
//!   without blocking and kept only when it is a regular file that is not
//!   this process's stdout (a FIFO, a device, `/dev/stdout` are refused) and
//!   not a file the binary reads (the token file, its expiry file: compared
//!   by device and inode, so no other name of them, a symlink or a hard link,
//!   gets through either; and a missing token file is never created by the
//!   trace), nor a git config file (those at git's own paths, and any file
//!   that already holds git config: a repository's, an included one), nor
//!   glab's config (at glab's path, [`glab_config_file`]), which kelos-glab
//!   edits and glab parses. Refusing one of those files the binary or its
//!   neighbours read is said in one line ([`Tracer::refusal`], which the
//!   callers print where they print [`setting_problem`]); any other failure
//!   to open or write the sink is silent.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::{EnvSnapshot, TRACE_VAR};
use crate::gitlab_host::glab_config_file;
use crate::provider::PROVIDERS;
use crate::redact::redact_values;
use crate::source::with_suffix;
use crate::text::escape_controls;

/// What `KELOS_CREDENTIAL_TRACE` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceSetting {
    Off,
    Stderr,
    File(PathBuf),
    /// Set to something that is neither a switch nor an absolute path.
    Invalid,
}

/// The pure reading of the variable.
pub fn trace_setting(env: &EnvSnapshot) -> TraceSetting {
    let Some(value) = env.get(TRACE_VAR) else {
        return TraceSetting::Off;
    };
    match value.to_str() {
        Some("" | "0" | "false" | "FALSE" | "False") => TraceSetting::Off,
        Some("1" | "true" | "TRUE" | "True") => TraceSetting::Stderr,
        _ if Path::new(value).is_absolute() => TraceSetting::File(value.into()),
        _ => TraceSetting::Invalid,
    }
}

/// The one line a person gets when `KELOS_CREDENTIAL_TRACE` is set but
/// names no sink (a relative path, a word): git says as much for
/// `GIT_TRACE`. `None` when the setting is usable or off. The callers print
/// it on the people's commands and git's, never inside `env` (shells run it
/// before every command).
pub fn setting_problem(env: &EnvSnapshot) -> Option<String> {
    if trace_setting(env) != TraceSetting::Invalid {
        return None;
    }
    let value = env.get(TRACE_VAR)?.to_string_lossy();
    Some(format!(
        "{TRACE_VAR}={value} traces nowhere: a trace file's path must be absolute \
         (start with /); 1 traces to stderr"
    ))
}

/// Identity of an open file, to tell whether two descriptors lead to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

impl FileKey {
    fn of(meta: &Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Whether an opened trace file may be written to: only a regular file
/// that is not where the answer goes (`stdout`, when it is known) and not
/// one of the files the binary reads (`reads`).
pub fn file_sink_allowed(
    is_regular: bool,
    sink: FileKey,
    stdout: Option<FileKey>,
    reads: &[FileKey],
) -> bool {
    is_regular && stdout != Some(sink) && !reads.contains(&sink)
}

/// Whether a format string asks for Rust debug text (`{:?}`, `{x:?}`,
/// `{:#?}`): evaluated at compile time by [`trace!`], so that a trace line
/// can only ever be built from `Display` values, our plain words.
pub const fn asks_for_debug(format: &str) -> bool {
    let bytes = format.as_bytes();
    let mut i = 0;
    let mut in_spec = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_spec {
            if b == b'}' {
                in_spec = false;
            } else if b == b'?' {
                return true;
            }
        } else if b == b'{' {
            if i + 1 < bytes.len() && bytes[i + 1] == b'{' {
                i += 1; // `{{`, a literal brace
            } else {
                in_spec = true;
            }
        }
        i += 1;
    }
    false
}

/// Whether stderr may carry trace lines: not when it is the very stream
/// the answer goes to (`2>&1` into git's pipe), unless that is a terminal.
pub fn stderr_sink_allowed(stderr: Option<FileKey>, stdout: Option<FileKey>, is_tty: bool) -> bool {
    is_tty || stderr.is_none() || stderr != stdout
}

enum Sink {
    Stderr,
    File(File),
}

pub struct Tracer {
    program: &'static str,
    sink: Option<Sink>,
    /// Why the trace file was refused, when it is a file that is read.
    refusal: Option<String>,
    /// Values masked in every line.
    secrets: Vec<String>,
}

impl Tracer {
    pub fn off(program: &'static str) -> Tracer {
        Tracer {
            program,
            sink: None,
            refusal: None,
            secrets: Vec::new(),
        }
    }

    /// Opens the trace sink that `KELOS_CREDENTIAL_TRACE` names, if it can
    /// be used (see the module's rules); otherwise tracing stays off,
    /// silently: a broken trace must never break git or gh.
    pub fn from_env(env: &EnvSnapshot, program: &'static str) -> Tracer {
        let mut refusal = None;
        let sink = match trace_setting(env) {
            TraceSetting::Off | TraceSetting::Invalid => None,
            TraceSetting::Stderr => {
                let is_tty = unsafe { libc::isatty(2) } == 1;
                stderr_sink_allowed(fd_key(2), fd_key(1), is_tty).then_some(Sink::Stderr)
            }
            TraceSetting::File(path) => match open_file_sink(&path, &files_read(env)) {
                Ok(file) => Some(Sink::File(file)),
                Err(Refused::Read) => {
                    refusal = Some(read_file_refusal(&path));
                    None
                }
                Err(Refused::Unusable) => None,
            },
        };
        let mut tracer = Tracer {
            program,
            sink,
            refusal,
            secrets: Vec::new(),
        };
        if tracer.enabled() {
            // Every provider's token variables (GitHub's, GitLab's).
            let names = PROVIDERS.iter().flat_map(|p| p.token_vars.iter());
            for name in names {
                if let Some(value) = env.non_empty(name) {
                    tracer.hide(value.as_encoded_bytes());
                }
            }
        }
        tracer
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// The one line saying why the trace file was not traced to, when it is
    /// a file the binary, git or glab reads; `None` otherwise (a FIFO, a
    /// device, stdout are passed over silently). Said by the callers where
    /// they say [`setting_problem`] (never inside `env`).
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// Masks `value` in every later line. Costs nothing when tracing is off.
    pub fn hide(&mut self, value: &[u8]) {
        if !self.enabled() || value.is_empty() {
            return;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        if !self.secrets.contains(&value) {
            self.secrets.push(value);
            // Longest first, so that a secret holding another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Writes one line in a single `write`, so lines from concurrent
    /// processes appending to one file do not interleave. Called by
    /// [`trace!`] only, which checks the format string.
    #[doc(hidden)]
    pub fn line(&mut self, message: fmt::Arguments<'_>) {
        let Some(sink) = &mut self.sink else { return };
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let text = format!(
            "{}.{:03} {}[{}]: {}\n",
            now.as_secs(),
            now.subsec_millis(),
            self.program,
            std::process::id(),
            escape_controls(&redact_values(&message.to_string(), &secrets))
        );
        let _ = match sink {
            Sink::Stderr => std::io::stderr().write_all(text.as_bytes()),
            Sink::File(f) => f.write_all(text.as_bytes()),
        };
    }
}

/// The files the trace must never be: the token file and its expiry
/// sibling (only an absolute path is ever read), the git config files
/// git reads around this helper and glab's config (a trace line appended to
/// one would stop git or glab from parsing its config).
fn files_read(env: &EnvSnapshot) -> Vec<PathBuf> {
    // Every provider's token file (GitHub's, GitLab's).
    let mut files = Vec::new();
    for provider in PROVIDERS {
        match env.non_empty(provider.token_file_var).map(Path::new) {
            Some(token) if token.is_absolute() => {
                files.extend([token.to_owned(), with_suffix(token)])
            }
            _ => {}
        }
    }
    files.extend(git_config_files(
        env,
        std::env::current_dir().ok().as_deref(),
    ));
    files.extend(glab_config_file(|name| {
        env.non_empty(name).map(std::ffi::OsStr::to_os_string)
    }));
    files
}

/// Why a trace file was not opened: it is a file that is read (the line
/// [`read_file_refusal`] says so), or it is unusable (silently).
enum Refused {
    Read,
    Unusable,
}

/// The line for a trace file that is a file the binary, git or glab reads.
#[cold]
#[inline(never)]
fn read_file_refusal(path: &Path) -> String {
    format!(
        "{TRACE_VAR}={} not traced to: it is a file this program, git or glab reads \
         (a token file, a git or glab config), which a trace line would corrupt; \
         trace to a file of its own",
        path.display()
    )
}

/// The config files git reads, as its documentation names them: the
/// system file (`GIT_CONFIG_SYSTEM`, else /etc/gitconfig), the global ones
/// (`GIT_CONFIG_GLOBAL`, else `~/.gitconfig` and `$XDG_CONFIG_HOME/git/config`
/// or `~/.config/git/config`), `GIT_CONFIG` and `$GIT_DIR/config`, by
/// path: so that even a missing or empty one is never created or written.
/// A repository's own config, a file included from another and any other
/// config that holds something are found by their contents
/// ([`starts_like_git_config`]).
pub fn git_config_files(env: &EnvSnapshot, cwd: Option<&Path>) -> Vec<PathBuf> {
    let var = |name: &str| env.non_empty(name).map(PathBuf::from);
    let mut files = vec![var("GIT_CONFIG_SYSTEM").unwrap_or_else(|| "/etc/gitconfig".into())];
    let home = var("HOME");
    match var("GIT_CONFIG_GLOBAL") {
        Some(global) => files.push(global),
        None => {
            files.extend(home.as_ref().map(|h| h.join(".gitconfig")));
            match var("XDG_CONFIG_HOME") {
                Some(xdg) => files.push(xdg.join("git/config")),
                None => files.extend(home.as_ref().map(|h| h.join(".config/git/config"))),
            }
        }
    }
    files.extend(var("GIT_CONFIG"));
    files
        .extend(var("GIT_DIR").map(|dir| cwd.map_or(dir.clone(), |c| c.join(&dir)).join("config")));
    files
}

/// Opens the trace file for appending without blocking (a FIFO with no
/// reader fails at once, one with a reader is refused below) and keeps it
/// only if [`file_sink_allowed`], `reads` being the files the process reads.
///
/// A missing file is created with `O_EXCL`, which adds exactly the name
/// `path` in its directory and never follows a symlink: so it is refused
/// when that directory entry is one of `reads` (a token file that is missing
/// now must not be created, empty, by the trace).
fn open_file_sink(path: &Path, reads: &[PathBuf]) -> Result<File, Refused> {
    let open = |create: bool| open_for_append(path, create);
    // The files read, before and after the open: a rotation in between
    // must not let the old generation's file through.
    let mut read_keys = file_keys(reads);
    let file = match open(false) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if reads.iter().any(|r| same_entry(r, path)) {
                return Err(Refused::Read);
            }
            match open(true) {
                Ok(file) => file,
                // Created by another process in between.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    open(false).map_err(|_| Refused::Unusable)?
                }
                Err(_) => return Err(Refused::Unusable),
            }
        }
        Err(_) => return Err(Refused::Unusable),
    };
    let meta = file.metadata().map_err(|_| Refused::Unusable)?;
    if holds_git_config(path, &meta) {
        return Err(Refused::Read);
    }
    read_keys.extend(file_keys(reads));
    let key = FileKey::of(&meta);
    if read_keys.contains(&key) {
        return Err(Refused::Read);
    }
    if file_sink_allowed(meta.is_file(), key, fd_key(1), &read_keys) {
        Ok(file)
    } else {
        Err(Refused::Unusable)
    }
}

/// Whether the file already holds git config (its first line that is not
/// blank or a comment is a `[section]`): a file included from another
/// (`[include] path = ...`, the dotfiles layout) is one git reads too, and
/// a trace line appended to it would stop git from parsing it.
fn holds_git_config(path: &Path, meta: &Metadata) -> bool {
    use std::os::unix::fs::FileExt;
    if !meta.is_file() || meta.len() == 0 {
        return false;
    }
    // The sink is open for appending only: read through a descriptor of
    // its own, if it is still the same file.
    let Ok(reader) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    else {
        return false;
    };
    if reader.metadata().map(|m| FileKey::of(&m)).ok() != Some(FileKey::of(meta)) {
        return false;
    }
    let mut head = [0u8; 4096];
    let n = reader.read_at(&mut head, 0).unwrap_or(0);
    starts_like_git_config(head.get(..n).unwrap_or_default())
}

/// The pure half of [`holds_git_config`], given the file's first bytes.
pub fn starts_like_git_config(head: &[u8]) -> bool {
    head.split(|b| *b == b'\n')
        .map(|line| line.trim_ascii())
        .find(|line| !line.is_empty() && !line.starts_with(b"#") && !line.starts_with(b";"))
        .is_some_and(|line| line.starts_with(b"["))
}

/// Opens `path` for appending without blocking; `create`: a new file
/// (`O_EXCL`), mode 0600. One copy of the code for its three calls.
#[inline(never)]
fn open_for_append(path: &Path, create: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    if create {
        options.create_new(true).mode(0o600);
    }
    options.open(path)
}

/// The identities of those of `paths` that exist (symlinks followed).
#[inline(never)]
fn file_keys(paths: &[PathBuf]) -> Vec<FileKey> {
    paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| FileKey::of(&m))
        .collect()
}

/// Whether `a` and `b` name the same entry: the same name in the same
/// directory (compared by device and inode, whatever path leads to it).
fn same_entry(a: &Path, b: &Path) -> bool {
    let dir_key = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty())?;
        std::fs::metadata(parent).ok().map(|m| FileKey::of(&m))
    };
    a.file_name().is_some()
        && a.file_name() == b.file_name()
        && dir_key(a).is_some()
        && dir_key(a) == dir_key(b)
}

/// The identity of what descriptor `fd` leads to; `None` when it is closed.
fn fd_key(fd: i32) -> Option<FileKey> {
    // SAFETY: the File is only borrowed for fstat and never dropped, so the
    // descriptor is not closed.
    let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    debug_assert_eq!(file.as_raw_fd(), fd);
    file.metadata().ok().map(|m| FileKey::of(&m))
}

/// `trace!(tracer, "format", args...)`: formats only when tracing is on.
/// The format string may not ask for `{:?}`: a trace holds plain words
/// (`Display`), never Rust debug text; asking is a compile error.
#[macro_export]
macro_rules! trace {
    ($tracer:expr, $format:literal $($arg:tt)*) => {
        if $tracer.enabled() {
            const _: () = assert!(
                !$crate::trace::asks_for_debug($format),
                "trace lines are plain words: format them with Display, never as Debug"
            );
            $tracer.line(format_args!($format $($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_table() {
        let cases = [
            ("", TraceSetting::Off),
            ("0", TraceSetting::Off),
            ("false", TraceSetting::Off),
            ("1", TraceSetting::Stderr),
            ("true", TraceSetting::Stderr),
            ("/tmp/t.log", TraceSetting::File("/tmp/t.log".into())),
            ("t.log", TraceSetting::Invalid),
            ("yes", TraceSetting::Invalid),
        ];
        for (value, want) in cases {
            let env = EnvSnapshot::from_pairs([(TRACE_VAR, value)]);
            assert_eq!(trace_setting(&env), want, "{value:?}");
        }
        assert_eq!(trace_setting(&EnvSnapshot::default()), TraceSetting::Off);
    }

    #[test]
    fn sinks_never_share_the_answer_s_stream() {
        let (a, b) = (FileKey { dev: 1, ino: 2 }, FileKey { dev: 1, ino: 3 });
        let c = FileKey { dev: 2, ino: 2 };
        assert!(file_sink_allowed(true, a, Some(b), &[]));
        assert!(file_sink_allowed(true, a, None, &[b, c]));
        assert!(
            !file_sink_allowed(true, a, Some(a), &[]),
            "the trace file is stdout"
        );
        assert!(
            !file_sink_allowed(false, a, Some(b), &[]),
            "a FIFO or device"
        );
        assert!(
            !file_sink_allowed(true, a, Some(b), &[c, a]),
            "a file the binary reads"
        );
        assert!(stderr_sink_allowed(Some(a), Some(b), false));
        assert!(
            !stderr_sink_allowed(Some(a), Some(a), false),
            "2>&1 into git's pipe"
        );
        assert!(stderr_sink_allowed(Some(a), Some(a), true), "one terminal");
    }

    #[test]
    fn every_line_is_redacted_with_what_the_tracer_was_told() {
        let path = std::env::temp_dir().join(format!("kelos-trace-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let env = EnvSnapshot::from_pairs([
            (TRACE_VAR, path.to_str().unwrap()),
            ("GITHUB_TOKEN", "frozenPlainValue0123456789"),
        ]);
        let mut tracer = Tracer::from_env(&env, "test");
        assert!(tracer.enabled());
        tracer.hide(b"plainUsernameSecret");
        trace!(
            tracer,
            "user plainUsernameSecret, env frozenPlainValue0123456789, shaped \
             ghp_abcdefghijklmnopqrstuvwxyz0123"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        for secret in [
            "plainUsernameSecret",
            "frozenPlainValue0123456789",
            "ghp_abcdefghijklmnopqrstuvwxyz0123",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("shaped ghp_…0123 (34 chars)"), "{text}");
    }

    #[test]
    fn debug_specs_are_found() {
        for debug in [
            "{:?}",
            "a {x:?} b",
            "{:#?}",
            "{0:?}",
            "{:>8?}",
            "x {} {:x?}",
        ] {
            assert!(asks_for_debug(debug), "{debug}");
        }
        for plain in [
            "",
            "plain",
            "{}",
            "{x} {0} {:#}",
            "{{:?}}",
            "why? {} ok?",
            "{:>8}",
        ] {
            assert!(!asks_for_debug(plain), "{plain}");
        }
    }

    #[test]
    fn a_relative_or_odd_setting_gets_one_line_naming_the_rule() {
        for value in ["trace.log", "./t", "yes", "~/t.log"] {
            let env = EnvSnapshot::from_pairs([(TRACE_VAR, value)]);
            let line = setting_problem(&env).expect(value);
            assert!(line.contains(value) && line.contains("absolute"), "{line}");
            assert!(!line.contains('\n'));
        }
        for value in ["", "0", "1", "true", "/tmp/t.log"] {
            let env = EnvSnapshot::from_pairs([(TRACE_VAR, value)]);
            assert_eq!(setting_problem(&env), None, "{value}");
        }
        assert_eq!(setting_problem(&EnvSnapshot::default()), None);
    }

    /// A fresh directory under the temp dir, removed at the end.
    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!(
                "kelos-trace-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tracer_for(token_file: &Path, trace: &Path) -> Tracer {
        let env = EnvSnapshot::from_pairs([
            (crate::env::TOKEN_FILE_VAR, token_file.to_str().unwrap()),
            (TRACE_VAR, trace.to_str().unwrap()),
        ]);
        Tracer::from_env(&env, "test")
    }

    #[test]
    fn never_a_file_the_binary_reads_by_any_name() {
        let d = Dir::new("reads");
        let token = d.0.join("GITHUB_TOKEN");
        let expiry = d.0.join("GITHUB_TOKEN_EXPIRES_AT");
        std::fs::write(&token, "ghs_tokenValue\n").unwrap();
        std::fs::write(&expiry, "2030-01-01T00:00:00Z\n").unwrap();
        std::os::unix::fs::symlink(&token, d.0.join("link")).unwrap();
        std::fs::hard_link(&token, d.0.join("hard")).unwrap();
        std::fs::create_dir(d.0.join("sub")).unwrap();
        let names = [
            token.clone(),
            expiry.clone(),
            d.0.join("link"),
            d.0.join("hard"),
            d.0.join("sub/../GITHUB_TOKEN"),
            d.0.join("./GITHUB_TOKEN_EXPIRES_AT"),
        ];
        for trace in &names {
            let mut tracer = tracer_for(&token, trace);
            assert!(!tracer.enabled(), "traced into {}", trace.display());
            trace!(tracer, "a line");
        }
        assert_eq!(std::fs::read(&token).unwrap(), b"ghs_tokenValue\n");
        assert_eq!(std::fs::read(&expiry).unwrap(), b"2030-01-01T00:00:00Z\n");
        // Any other file still is traced to.
        let other = d.0.join("trace.log");
        let mut tracer = tracer_for(&token, &other);
        assert!(tracer.enabled());
        trace!(tracer, "a line");
        assert!(std::fs::read_to_string(&other).unwrap().contains("a line"));
    }

    #[test]
    fn never_gitlab_s_token_file_and_never_its_variables_values() {
        let d = Dir::new("gitlab");
        let token = d.0.join("GITLAB_TOKEN");
        let expiry = d.0.join("GITLAB_TOKEN_EXPIRES_AT");
        std::fs::write(&token, "glpat-tokenValue0123456789\n").unwrap();
        std::fs::write(&expiry, "2030-01-01T00:00:00Z\n").unwrap();
        let for_trace = |trace: &Path| {
            let env = EnvSnapshot::from_pairs([
                ("KELOS_GITLAB_TOKEN_FILE", token.to_str().unwrap()),
                ("GITLAB_TOKEN", "frozenGitlabValue"),
                ("OAUTH_TOKEN", "frozenOauthValue"),
                (TRACE_VAR, trace.to_str().unwrap()),
            ]);
            Tracer::from_env(&env, "test")
        };
        for trace in [&token, &expiry, &d.0.join("./GITLAB_TOKEN")] {
            let mut tracer = for_trace(trace);
            assert!(!tracer.enabled(), "traced into {}", trace.display());
            trace!(tracer, "a line");
        }
        assert_eq!(
            std::fs::read(&token).unwrap(),
            b"glpat-tokenValue0123456789\n"
        );
        let other = d.0.join("trace.log");
        let mut tracer = for_trace(&other);
        trace!(tracer, "saw frozenGitlabValue and frozenOauthValue");
        let text = std::fs::read_to_string(&other).unwrap();
        assert!(text.contains("saw "), "{text}");
        assert!(
            !text.contains("frozenGitlabValue") && !text.contains("frozenOauthValue"),
            "{text}"
        );
    }

    #[test]
    fn never_glab_s_config_wherever_glab_keeps_it_and_it_is_said_why() {
        let d = Dir::new("glab");
        let layouts = [
            (
                "GLAB_CONFIG_DIR",
                d.0.join("glab-dir"),
                d.0.join("glab-dir/config.yml"),
            ),
            (
                "XDG_CONFIG_HOME",
                d.0.join("xdg"),
                d.0.join("xdg/glab-cli/config.yml"),
            ),
            (
                "HOME",
                d.0.join("home"),
                d.0.join("home/.config/glab-cli/config.yml"),
            ),
        ];
        let config = b"hosts:\n    gitlab.svc:8181:\n        api_protocol: http\n";
        for (var, value, file) in &layouts {
            let env = |trace: &Path| {
                EnvSnapshot::from_pairs([
                    (*var, value.to_str().unwrap()),
                    (TRACE_VAR, trace.to_str().unwrap()),
                ])
            };
            // Missing: never created by the trace.
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            let tracer = Tracer::from_env(&env(file), "test");
            assert!(!tracer.enabled(), "{var}: traced into {}", file.display());
            assert!(
                !file.exists(),
                "{var}: the trace created {}",
                file.display()
            );
            // Present, by its own name and another.
            std::fs::write(file, config).unwrap();
            let other_name = file.parent().unwrap().join("./config.yml");
            for trace in [file, &other_name] {
                let mut tracer = Tracer::from_env(&env(trace), "test");
                assert!(!tracer.enabled(), "{var}: traced into {}", trace.display());
                trace!(tracer, "a line");
                let line = tracer.refusal().expect("a line says why");
                assert!(
                    line.starts_with(&format!("{TRACE_VAR}={} not traced to", trace.display()))
                        && line.contains("glab")
                        && !line.contains('\n'),
                    "{line}"
                );
            }
            assert_eq!(std::fs::read(file).unwrap(), config, "{var}");
            // Another file beside it is traced to, and nothing is said.
            let other = file.with_file_name("trace.log");
            let tracer = Tracer::from_env(&env(&other), "test");
            assert!(tracer.enabled() && tracer.refusal().is_none(), "{var}");
        }
    }

    #[test]
    fn a_missing_token_file_is_never_created_by_the_trace() {
        let d = Dir::new("missing");
        let token = d.0.join("GITHUB_TOKEN");
        std::fs::create_dir(d.0.join("sub")).unwrap();
        for trace in [
            token.clone(),
            d.0.join("GITHUB_TOKEN_EXPIRES_AT"),
            d.0.join("sub/../GITHUB_TOKEN"),
        ] {
            let tracer = tracer_for(&token, &trace);
            assert!(!tracer.enabled(), "{}", trace.display());
            assert!(!trace.exists(), "the trace created {}", trace.display());
        }
        // A dangling symlink (kubelet's NAME -> ..data/NAME before the first
        // generation) is not followed to create its target.
        std::os::unix::fs::symlink("..data/GITHUB_TOKEN", &token).unwrap();
        let tracer = tracer_for(&token, &token);
        assert!(!tracer.enabled());
        assert!(!d.0.join("..data").exists());
        // A new trace file elsewhere is created, mode 0600.
        let other = d.0.join("new.log");
        assert!(tracer_for(&token, &other).enabled());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&other).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn every_line_is_one_line_of_plain_text() {
        let d = Dir::new("plain");
        let path = d.0.join("t.log");
        let env = EnvSnapshot::from_pairs([(TRACE_VAR, path.to_str().unwrap())]);
        let mut tracer = Tracer::from_env(&env, "test");
        let host = "evil\x1b[2J\x07host\nforged line";
        trace!(tracer, "host {host}, {}", "tab\there");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.ends_with("host evil\\x1b[2J\\x07host\\nforged line, tab\\there\n"),
            "{text}"
        );
    }

    #[test]
    fn git_s_config_files_are_named_as_git_names_them() {
        let env = EnvSnapshot::from_pairs([("HOME", "/h")]);
        assert_eq!(
            git_config_files(&env, None),
            [
                PathBuf::from("/etc/gitconfig"),
                "/h/.gitconfig".into(),
                "/h/.config/git/config".into()
            ]
        );
        let env = EnvSnapshot::from_pairs([
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/x"),
            ("GIT_CONFIG_SYSTEM", "/s"),
            ("GIT_CONFIG", "/c"),
            ("GIT_DIR", "repo.git"),
        ]);
        assert_eq!(
            git_config_files(&env, Some(Path::new("/w"))),
            [
                PathBuf::from("/s"),
                "/h/.gitconfig".into(),
                "/x/git/config".into(),
                "/c".into(),
                "/w/repo.git/config".into()
            ]
        );
        let env = EnvSnapshot::from_pairs([("HOME", "/h"), ("GIT_CONFIG_GLOBAL", "/g")]);
        assert_eq!(
            git_config_files(&env, None),
            [PathBuf::from("/etc/gitconfig"), "/g".into()]
        );
    }

    #[test]
    fn never_a_git_directory_s_config() {
        let d = Dir::new("gitdir");
        let git = d.0.join("elsewhere/.git");
        std::fs::create_dir_all(git.join("objects")).unwrap();
        std::fs::create_dir_all(git.join("refs")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(git.join("config"), "[core]\n").unwrap();
        let token = d.0.join("GITHUB_TOKEN");
        assert!(!tracer_for(&token, &git.join("config")).enabled());
        assert_eq!(std::fs::read(git.join("config")).unwrap(), b"[core]\n");
        // A file named config elsewhere is just a file.
        assert!(tracer_for(&token, &d.0.join("config")).enabled());
    }

    #[test]
    fn a_file_holding_git_config_is_never_traced_to() {
        for config in [
            &b"[credential]\n\thelper = store\n"[..],
            b"\n# my settings\n; more\n  [include]\n\tpath = x\n",
        ] {
            assert!(starts_like_git_config(config));
        }
        for other in [
            &b""[..],
            b"1796534341.719 git-credential-kelos[1]: request\n",
            b"ghs_token\n",
            b"# only a comment\n",
        ] {
            assert!(!starts_like_git_config(other));
        }
        let d = Dir::new("included");
        let included = d.0.join("local.gitconfig");
        std::fs::write(&included, "[credential]\n\thelper = x\n").unwrap();
        assert!(!tracer_for(&d.0.join("GITHUB_TOKEN"), &included).enabled());
        assert_eq!(
            std::fs::read(&included).unwrap(),
            b"[credential]\n\thelper = x\n"
        );
    }
}
