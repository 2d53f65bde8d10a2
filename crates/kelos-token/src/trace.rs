//! Tracing through `KELOS_CREDENTIAL_TRACE`: `1`/`true` → stderr, an
//! absolute path → appended to that file.
//!
//! Two rules hold for every line, whatever a caller formats into it:
//! - **No secret**: each line passes through [`crate::redact`] before it is
//!   written, with every value the tracer was told of ([`Tracer::hide`]:
//!   the token variables' values from the start, then the token and the
//!   username and password of git's request) as known secrets. A
//!   [`crate::Token`] has no `Display` besides.
//! - **Tracing never changes what git or gh get**: the sink is opened
//!   without blocking and kept only when it is a regular file that is not
//!   this process's stdout (a FIFO, a device, `/dev/stdout` are refused);
//!   any failure to open or write it is silent.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::{EnvSnapshot, TOKEN_VARS, TRACE_VAR};
use crate::redact::redact_values;

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
/// that is not where the answer goes (`stdout`, when it is known).
pub fn file_sink_allowed(is_regular: bool, sink: FileKey, stdout: Option<FileKey>) -> bool {
    is_regular && stdout != Some(sink)
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
    /// Values masked in every line.
    secrets: Vec<String>,
}

impl Tracer {
    pub fn off(program: &'static str) -> Tracer {
        Tracer {
            program,
            sink: None,
            secrets: Vec::new(),
        }
    }

    /// Opens the trace sink that `KELOS_CREDENTIAL_TRACE` names, if it can
    /// be used (see the module's rules); otherwise tracing stays off,
    /// silently: a broken trace must never break git or gh.
    pub fn from_env(env: &EnvSnapshot, program: &'static str) -> Tracer {
        let sink = match trace_setting(env) {
            TraceSetting::Off | TraceSetting::Invalid => None,
            TraceSetting::Stderr => {
                let is_tty = unsafe { libc::isatty(2) } == 1;
                stderr_sink_allowed(fd_key(2), fd_key(1), is_tty).then_some(Sink::Stderr)
            }
            TraceSetting::File(path) => open_file_sink(&path).map(Sink::File),
        };
        let mut tracer = Tracer {
            program,
            sink,
            secrets: Vec::new(),
        };
        if tracer.enabled() {
            for name in TOKEN_VARS {
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
    /// processes appending to one file do not interleave.
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
            redact_values(&message.to_string(), &secrets)
        );
        let _ = match sink {
            Sink::Stderr => std::io::stderr().write_all(text.as_bytes()),
            Sink::File(f) => f.write_all(text.as_bytes()),
        };
    }
}

/// Opens the trace file for appending without blocking (a FIFO with no
/// reader fails at once, one with a reader is refused below) and keeps it
/// only if [`file_sink_allowed`].
fn open_file_sink(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    file_sink_allowed(meta.is_file(), FileKey::of(&meta), fd_key(1)).then_some(file)
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
#[macro_export]
macro_rules! trace {
    ($tracer:expr, $($arg:tt)*) => {
        if $tracer.enabled() {
            $tracer.line(format_args!($($arg)*));
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
        assert!(file_sink_allowed(true, a, Some(b)));
        assert!(file_sink_allowed(true, a, None));
        assert!(
            !file_sink_allowed(true, a, Some(a)),
            "the trace file is stdout"
        );
        assert!(!file_sink_allowed(false, a, Some(b)), "a FIFO or device");
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
}
