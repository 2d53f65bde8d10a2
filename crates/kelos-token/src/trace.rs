//! Tracing through `KELOS_CREDENTIAL_TRACE`: `1`/`true` → stderr, an
//! absolute path → appended to that file. Callers pass only values that are
//! safe to show; a [`crate::Token`] has no `Display`, so it cannot be
//! formatted into a trace line by accident.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::{EnvSnapshot, TRACE_VAR};

/// What `KELOS_CREDENTIAL_TRACE` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceSetting {
    Off,
    Stderr,
    File(std::path::PathBuf),
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

enum Sink {
    Stderr,
    File(File),
}

pub struct Tracer {
    program: &'static str,
    sink: Option<Sink>,
}

impl Tracer {
    pub fn off(program: &'static str) -> Tracer {
        Tracer {
            program,
            sink: None,
        }
    }

    /// Opens the trace sink. A setting that cannot be honoured is reported
    /// once on stderr and tracing stays off: a broken trace must never break
    /// git or gh.
    pub fn from_env(env: &EnvSnapshot, program: &'static str) -> Tracer {
        let sink = match trace_setting(env) {
            TraceSetting::Off => None,
            TraceSetting::Stderr => Some(Sink::Stderr),
            TraceSetting::Invalid => {
                eprintln!(
                    "{program}: {TRACE_VAR} is neither 1/true nor an absolute path; tracing is off"
                );
                None
            }
            TraceSetting::File(path) => match OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => Some(Sink::File(file)),
                Err(e) => {
                    eprintln!(
                        "{program}: cannot open trace file {} ({TRACE_VAR}): {e}; tracing is off",
                        path.display()
                    );
                    None
                }
            },
        };
        Tracer { program, sink }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes one line in a single `write`, so lines from concurrent
    /// processes appending to one file do not interleave.
    pub fn line(&mut self, message: fmt::Arguments<'_>) {
        let Some(sink) = &mut self.sink else { return };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let text = format!(
            "{}.{:03} {}[{}]: {}\n",
            now.as_secs(),
            now.subsec_millis(),
            self.program,
            std::process::id(),
            message
        );
        let _ = match sink {
            Sink::Stderr => std::io::stderr().write_all(text.as_bytes()),
            Sink::File(f) => f.write_all(text.as_bytes()),
        };
    }
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
}
