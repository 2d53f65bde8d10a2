//! `kelos-bench-rss PROGRAM [ARGS...]`: runs PROGRAM with this process's
//! stdin and environment, its stdout and stderr to /dev/null, reaps it with
//! `wait4` and prints `<ru_maxrss KiB> <exit status>`.
//!
//! Why a separate process: Linux carries the peak RSS of the address space a
//! child had before `execve` into its `ru_maxrss`. A child spawned with
//! vfork/`posix_spawn` had its parent's address space, a forked one a copy of
//! it, so a big parent (the benchmark runner, 2 MiB and more) would show as
//! the child's peak. This static launcher is small; what it adds is bounded
//! by the reading for the no-op floor, which the report shows.

use std::io::{self, Write};
use std::process::{Command, ExitCode, Stdio};

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("reads struct rusage as laid out on 64-bit Linux");

/// `struct rusage` on 64-bit Linux; `maxrss` (KiB) follows two timevals.
#[repr(C)]
struct Rusage {
    times: [i64; 4],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: kelos-bench-rss PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let child = match Command::new(&program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kelos-bench-rss: {}: {e}", program.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    let pid = child.id() as i32;
    let mut status = 0;
    let mut usage = Rusage {
        times: [0; 4],
        maxrss: 0,
        rest: [0; 13],
    };
    loop {
        // SAFETY: both pointers are to live, writable values of the layout
        // the kernel writes on this target.
        if unsafe { wait4(pid, &mut status, 0, &mut usage) } == pid {
            break;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            eprintln!("kelos-bench-rss: wait4: {}", io::Error::last_os_error());
            return ExitCode::from(2);
        }
    }
    let _ = usage.rest;
    let exit = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    };
    let _ = writeln!(io::stdout(), "{} {exit}", usage.maxrss);
    ExitCode::SUCCESS
}
