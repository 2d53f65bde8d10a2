//! One soak operation: a command with stdin closed, stdout and stderr captured, and a hard
//! time limit. Unlike [`crate::process::run_with_timeout`], a hang is a result (counted by
//! the soak), not a panic.
//!
//! The child gets its own process group. The end of the operation is when both pipes close
//! (the command and everything it started are gone); no polling. When the limit passes first,
//! the whole group is killed and the operation is reported as hung.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::process::collect_output;

/// What one operation did.
#[derive(Debug)]
pub struct Ran {
    /// `None` when the operation hung and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
    /// Killed for exceeding the limit (or for a descendant holding the output open).
    pub hung: bool,
    /// The command could not be started at all.
    pub spawn_error: Option<String>,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs `cmd` with stdin from /dev/null, at most `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                status: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
                elapsed: start.elapsed(),
                hung: false,
                spawn_error: Some(format!("cannot start {:?}: {e}", cmd.get_program())),
            }
        }
    };
    let pgid = child.id() as libc::pid_t;
    let rx = collect_output(&mut child);

    let mut stdout = None;
    let mut stderr = None;
    let mut hung = false;
    while stdout.is_none() || stderr.is_none() {
        let left = limit.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok((1, b)) => stdout = Some(b),
            Ok((_, b)) => stderr = Some(b),
            Err(_) => {
                // Past the limit with the output still open: the command, or something it
                // started, is stuck. The leader is not reaped yet, so the group id is ours.
                hung = true;
                // SAFETY: kill(2) on the process group this function created.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                break;
            }
        }
    }
    let status = child.wait().ok();
    if hung {
        // Collect what was written before the kill (the pipes close now).
        while stdout.is_none() || stderr.is_none() {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok((1, b)) => stdout = Some(b),
                Ok((_, b)) => stderr = Some(b),
                Err(_) => break,
            }
        }
    }
    Ran {
        status: if hung { None } else { status },
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
        elapsed: start.elapsed(),
        hung,
        spawn_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 3"]);
        let r = run(c, Duration::from_secs(10));
        assert!(!r.hung);
        assert_eq!(r.status.and_then(|s| s.code()), Some(3));
        assert_eq!(r.stdout, b"out\n");
        assert_eq!(r.stderr, b"err\n");
    }

    #[test]
    fn a_hang_is_killed_and_reported() {
        let mut c = Command::new("sh");
        c.args(["-c", "sleep 30 & wait"]);
        let r = run(c, Duration::from_millis(300));
        assert!(r.hung);
        assert!(r.status.is_none());
        assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
    }
}
