//! One timed run of a whole process: wall time from just before the spawn to
//! the return of `wait4`, plus the child's CPU time from its `rusage`. (Its
//! `ru_maxrss` is not used here: a child spawned from this process carries
//! this process's peak RSS; see kelos-bench-rss.)

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("the benchmark reads struct rusage as laid out on 64-bit Linux");

#[repr(C)]
struct Timeval {
    sec: i64,
    usec: i64,
}

/// `struct rusage` on 64-bit Linux: two timevals, then fourteen longs
/// (`ru_maxrss`, `ru_ixrss`, `ru_idrss`, `ru_isrss`, `ru_minflt`, ...).
#[repr(C)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    longs: [i64; 14],
}

const RU_MINFLT: usize = 4;

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

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
        cpu_ns: timeval_ns(&usage.utime) + timeval_ns(&usage.stime),
        minflt: u64::try_from(usage.longs[RU_MINFLT]).unwrap_or(0),
        exit: decode_status(status),
    })
}

fn reap(pid: u32) -> io::Result<(i32, Rusage)> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    let mut status = 0i32;
    let mut usage = Rusage {
        utime: Timeval { sec: 0, usec: 0 },
        stime: Timeval { sec: 0, usec: 0 },
        longs: [0; 14],
    };
    loop {
        // SAFETY: `status` and `usage` are valid, writable and laid out as
        // the kernel expects on this target (checked by the cfg above).
        let rc = unsafe { wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn timeval_ns(t: &Timeval) -> u64 {
    u64::try_from(t.sec * 1_000_000_000 + t.usec * 1_000).unwrap_or(0)
}

fn decode_status(status: i32) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}
