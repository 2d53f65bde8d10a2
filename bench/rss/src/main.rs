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
    // SAFETY: rusage is plain integers; all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable values.
        if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == pid {
            break;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            eprintln!("kelos-bench-rss: wait4: {}", io::Error::last_os_error());
            return ExitCode::from(2);
        }
    }
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let _ = writeln!(io::stdout(), "{} {exit}", usage.ru_maxrss);
    ExitCode::SUCCESS
}
