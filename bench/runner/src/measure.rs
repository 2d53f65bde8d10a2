//! One timed run of a whole process: wall time from just before the spawn to
//! the return of `wait4`, plus the child's CPU time from its `rusage`. (Its
//! `ru_maxrss` is not used here: a child spawned from this process carries
//! this process's peak RSS; see kelos-bench-rss.)

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What one run cost.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Spawn to reaped, nanoseconds.
    pub wall_ns: u64,
    /// User + system CPU time of the child, nanoseconds.
    pub cpu_ns: u64,
    /// Minor page faults of the child (file pages mapped, pages zeroed or
    /// copied on first touch).
    pub minflt: u64,
    /// Exit code, or 128 + signal.
    pub exit: i32,
}

/// Runs `command` once with `stdin` from the file at `input`, stdout and
/// stderr to `sink`. The command is reused from run to run; opening the
/// input and duplicating the sink happen before the clock starts.
pub fn run_once(command: &mut Command, input: &Path, sink: &File) -> io::Result<Sample> {
    command
        .stdin(Stdio::from(File::open(input)?))
        .stdout(Stdio::from(sink.try_clone()?))
        .stderr(Stdio::from(sink.try_clone()?));
    let start = Instant::now();
    let child = command.spawn()?;
    let (status, usage) = reap(child.id())?;
    let wall = start.elapsed();
    // std never reaps a child it is not asked to; `reap` has done it.
    drop(child);
    Ok(Sample {
        wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
        cpu_ns: timeval_ns(&usage.ru_utime) + timeval_ns(&usage.ru_stime),
        minflt: u64::try_from(usage.ru_minflt).unwrap_or(0),
        exit: decode_status(status),
    })
}

fn reap(pid: u32) -> io::Result<(i32, libc::rusage)> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    let mut status = 0i32;
    // SAFETY: rusage is plain integers; all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid and writable.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn timeval_ns(t: &libc::timeval) -> u64 {
    u64::try_from(t.tv_sec * 1_000_000_000 + t.tv_usec * 1_000).unwrap_or(0)
}

fn decode_status(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}
