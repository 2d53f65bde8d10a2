//! Running a child (git, gh) that must never hang or prompt the caller:
//! stdin is the given bytes or nothing (`/dev/null`), stdout and stderr are
//! captured (bounded), the child runs in a session of its own (so it has no
//! controlling terminal to prompt on, and its whole process group can be
//! killed), and it is given a deadline, after which its group is killed.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// At most this much of stdout and of stderr is kept.
const MAX_OUTPUT: usize = 1 << 20;

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
                write!(f, "did not finish within {} (killed)", show_limit(*limit))
            }
            ChildError::Wait(e) => write!(f, "could not be waited for: {e}"),
        }
    }
}

impl std::error::Error for ChildError {}

/// A time limit as messages show it: `3 s`, `0.3 s` (tenths; integer
/// arithmetic, which keeps float formatting out of the binary).
pub fn show_limit(limit: Duration) -> String {
    let ms = limit.as_millis();
    match (ms / 1000, ms % 1000 / 100) {
        (secs, 0) => format!("{secs} s"),
        (secs, tenths) => format!("{secs}.{tenths} s"),
    }
}

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
///
/// One thread and one `poll(2)` loop feed stdin and drain stdout and
/// stderr (no helper threads: they would cost the binary their code), so
/// that no pipe can fill and stall the child. SIGPIPE is blocked while the
/// request is written (a child that exits without reading it must not end
/// doctor); a SIGPIPE that came meanwhile is taken before it is unblocked.
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
    let _sigpipe = SigpipeBlocked::new();
    let mut input = Input {
        pipe: child
            .stdin
            .take()
            .filter(|_| stdin.is_some_and(|b| !b.is_empty())),
        bytes: stdin.unwrap_or_default(),
        written: 0,
    };
    let mut out = Output::new(child.stdout.take());
    let mut err = Output::new(child.stderr.take());
    for fd in [input.fd(), out.fd(), err.fd()].into_iter().flatten() {
        set_nonblocking(fd);
    }
    let mut status = None;
    loop {
        if status.is_none() {
            match child.try_wait() {
                Ok(done) => status = done,
                Err(e) => {
                    kill_group(&mut child);
                    return Err(ChildError::Wait(e));
                }
            }
        }
        if let Some(status) = status {
            if out.pipe.is_none() && err.pipe.is_none() {
                return Ok(Finished {
                    status,
                    stdout: out.kept,
                    stderr: err.kept,
                });
            }
        }
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            // The child, or something it started that keeps its pipes open.
            signal_group(child.id());
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(ChildError::TimedOut(limit));
        }
        // Until the child is reaped, wake every few milliseconds to look.
        let wait = if status.is_none() {
            left.min(Duration::from_millis(5))
        } else {
            left
        };
        let mut fds: Vec<libc::pollfd> = [
            (input.fd(), libc::POLLOUT),
            (out.fd(), libc::POLLIN),
            (err.fd(), libc::POLLIN),
        ]
        .into_iter()
        .map(|(fd, events)| libc::pollfd {
            fd: fd.unwrap_or(-1),
            events,
            revents: 0,
        })
        .collect();
        // SAFETY: poll(2) on an array we own; negative fds are ignored.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis().max(1) as libc::c_int,
            )
        };
        if fds[0].revents != 0 {
            input.feed();
        }
        if fds[1].revents != 0 {
            out.drain();
        }
        if fds[2].revents != 0 {
            err.drain();
        }
    }
}

/// The request for the child's stdin; the pipe closes once it is written
/// (or the child stopped reading).
struct Input<'a> {
    pipe: Option<ChildStdin>,
    bytes: &'a [u8],
    written: usize,
}

impl Input<'_> {
    fn fd(&self) -> Option<RawFd> {
        self.pipe.as_ref().map(AsRawFd::as_raw_fd)
    }

    fn feed(&mut self) {
        let Some(pipe) = &mut self.pipe else { return };
        match pipe.write(&self.bytes[self.written..]) {
            Ok(n) => self.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => self.written = self.bytes.len(),
        }
        if self.written >= self.bytes.len() {
            self.pipe = None;
        }
    }
}

/// One of the child's output pipes: at most [`MAX_OUTPUT`] is kept, the
/// rest read and dropped, so the writer never blocks.
struct Output<R> {
    pipe: Option<R>,
    kept: Vec<u8>,
}

impl<R: Read + AsRawFd> Output<R> {
    fn new(pipe: Option<R>) -> Self {
        Output {
            pipe,
            kept: Vec::new(),
        }
    }

    fn fd(&self) -> Option<RawFd> {
        self.pipe.as_ref().map(AsRawFd::as_raw_fd)
    }

    fn drain(&mut self) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.pipe = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pipe = None;
                    return;
                }
            }
        }
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl(2) on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// SIGPIPE blocked for this thread while it lives; one that arrived
/// meanwhile is taken (not delivered) before the old mask comes back.
struct SigpipeBlocked {
    old: libc::sigset_t,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: sigset operations on values we own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigpipeBlocked { old }
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: as above; sigtimedwait with a zero timeout only takes a
        // pending SIGPIPE, it never waits.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if libc::sigismember(&pending, libc::SIGPIPE) == 1
                && libc::sigismember(&self.old, libc::SIGPIPE) == 0
            {
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_words() {
        assert_eq!(show_limit(Duration::from_secs(3)), "3 s");
        assert_eq!(show_limit(Duration::from_millis(300)), "0.3 s");
        assert_eq!(show_limit(Duration::from_millis(2500)), "2.5 s");
    }

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
    fn a_child_that_never_reads_its_input_neither_blocks_nor_kills_the_caller() {
        let big = vec![b'x'; 1 << 20];
        let done = run(&mut sh("exit 0"), Some(&big), Duration::from_secs(10)).unwrap();
        assert_eq!(done.status.code(), Some(0));
        let done = run(&mut sh("head -c 10"), Some(&big), Duration::from_secs(10)).unwrap();
        assert_eq!(done.stdout, b"xxxxxxxxxx");
    }

    #[test]
    fn output_is_kept_up_to_its_bound_and_the_rest_drained() {
        let done = run(
            &mut sh("head -c 3000000 /dev/zero; echo e >&2"),
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(done.stdout.len(), MAX_OUTPUT);
        assert_eq!(done.stderr, b"e\n");
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
