//! Running a child (git, gh) that must never hang or prompt the caller:
//! stdin is the given bytes or nothing (`/dev/null`), stdout and stderr are
//! captured (bounded), the child runs in a session of its own (so it has no
//! controlling terminal to prompt on, and its whole process group can be
//! killed), and it is given a deadline, after which its group is killed.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// At most this much of stdout and of stderr is kept.
const MAX_OUTPUT: u64 = 1 << 20;

/// How a child that ran to its end ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a child gave no [`Finished`].
#[derive(Debug)]
pub enum ChildError {
    /// It could not be started (not found, not executable, ...).
    Spawn(io::Error),
    /// It did not end within the limit; its process group was killed.
    TimedOut(Duration),
    /// Waiting for it failed.
    Wait(io::Error),
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Spawn(e) => write!(f, "cannot be started: {e}"),
            ChildError::TimedOut(limit) => {
                write!(
                    f,
                    "did not finish within {} s (killed)",
                    limit.as_secs_f32()
                )
            }
            ChildError::Wait(e) => write!(f, "could not be waited for: {e}"),
        }
    }
}

impl std::error::Error for ChildError {}

/// A point in time after which no child may run any more.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    /// The most any one child is given.
    each: Duration,
}

impl Deadline {
    /// `total` from now, at most `each` per child.
    pub fn new(total: Duration, each: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + total,
            each,
        }
    }

    /// What the next child is given: `each`, or what is left if less.
    pub fn next_limit(&self) -> Duration {
        self.at
            .saturating_duration_since(Instant::now())
            .min(self.each)
    }

    pub fn passed(&self) -> bool {
        self.next_limit().is_zero()
    }
}

/// Runs `cmd` with `stdin` (`None`: `/dev/null`) and a time limit.
pub fn run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    limit: Duration,
) -> Result<Finished, ChildError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // SAFETY: setsid(2) is async-signal-safe and touches no memory; in a
    // fresh child it cannot fail (the child is never a group leader).
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(ChildError::Spawn)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        // The child may exit without reading it all: that is fine.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let output = collect(&mut child);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_group(&mut child);
                return Err(ChildError::Wait(e));
            }
        }
        if start.elapsed() >= limit {
            kill_group(&mut child);
            return Err(ChildError::TimedOut(limit));
        }
        thread::sleep(Duration::from_millis(2));
    };
    // Something the child started may still hold the pipes open: wait for
    // them only until the limit, then kill the group and take what came.
    let mut stdout = None;
    let mut stderr = None;
    while stdout.is_none() || stderr.is_none() {
        let left = limit.saturating_sub(start.elapsed());
        match output.recv_timeout(left) {
            Ok((1, bytes)) => stdout = Some(bytes),
            Ok((_, bytes)) => stderr = Some(bytes),
            Err(_) => {
                signal_group(child.id());
                return Err(ChildError::TimedOut(limit));
            }
        }
    }
    Ok(Finished {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    })
}

fn kill_group(child: &mut Child) {
    signal_group(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

fn signal_group(pid: u32) {
    // SAFETY: kill(2) on the process group the child leads (setsid made its
    // group id its pid); until it is reaped the id cannot be reused.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// Reads stdout and stderr to their ends (bounded) on two threads, so that
/// neither pipe can fill and stall the child; each arrives as `(1 | 2, bytes)`.
fn collect(child: &mut Child) -> mpsc::Receiver<(u8, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    let pipes: [(u8, Option<Box<dyn Read + Send>>); 2] = [
        (1, child.stdout.take().map(|p| Box::new(p) as _)),
        (2, child.stderr.take().map(|p| Box::new(p) as _)),
    ];
    for (which, pipe) in pipes {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = pipe {
                let mut pipe = pipe.take(MAX_OUTPUT);
                let _ = pipe.read_to_end(&mut buf);
                // Drain the rest unkept, so the writer never blocks.
                let _ = io::copy(pipe.get_mut(), &mut io::sink());
            }
            let _ = tx.send((which, buf));
        });
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn captures_output_and_status() {
        let done = run(
            &mut sh("cat; echo err >&2; exit 3"),
            Some(b"in\n"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(done.stdout, b"in\n");
        assert_eq!(done.stderr, b"err\n");
        assert_eq!(done.status.code(), Some(3));
    }

    #[test]
    fn stdin_is_empty_and_there_is_no_terminal() {
        let done = run(
            &mut sh("cat; if (: </dev/tty) 2>/dev/null; then echo tty; else echo none; fi"),
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(done.stdout, b"none\n");
    }

    #[test]
    fn a_child_that_never_ends_is_killed_with_its_children() {
        let start = Instant::now();
        let err = run(
            &mut sh("sleep 100 & sleep 100; wait"),
            None,
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(matches!(err, ChildError::TimedOut(_)), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // A grandchild that keeps the pipes open after its parent ended.
        let start = Instant::now();
        let err = run(&mut sh("sleep 100 &"), None, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, ChildError::TimedOut(_)), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(
            &mut Command::new("/nonexistent/x"),
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, ChildError::Spawn(_)), "{err}");
    }

    #[test]
    fn the_deadline_bounds_each_limit() {
        let d = Deadline::new(Duration::from_secs(100), Duration::from_secs(3));
        assert_eq!(d.next_limit(), Duration::from_secs(3));
        let d = Deadline::new(Duration::ZERO, Duration::from_secs(3));
        assert!(d.passed());
    }
}
