//! Running a command with stdin, captured output and a hard timeout.
//!
//! The child is put in its own process group; on timeout the whole group (git and any helper
//! it started) is killed, so a helper blocked on a FIFO cannot outlive the test.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

/// Default time limit for one git or helper invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` feeding `stdin`, returns its output. Panics if it does not finish (and close
/// its output) within `timeout`. The panic message contains no output (it could hold a
/// token).
pub fn run_with_timeout(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Output {
    let what = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pgid = child.id() as libc::pid_t;

    let mut child_in = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    thread::spawn(move || {
        // The child may exit without reading everything (EPIPE): that is fine.
        let _ = child_in.write_all(&input);
    });
    let rx = collect_output(&mut child);

    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            // SAFETY: kill(2) on the process group we created; the leader is not reaped yet,
            // so the group id cannot have been reused.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = child.wait();
            panic!(
                "{what} did not finish within {:?} (hung; killed its process group)",
                timeout
            );
        }
        Err(e) => panic!("waiting for {what}: {e}"),
    };

    let mut stdout = None;
    let mut stderr = None;
    while stdout.is_none() || stderr.is_none() {
        let left = timeout.saturating_sub(start.elapsed()) + Duration::from_millis(500);
        match rx.recv_timeout(left) {
            Ok((1, b)) => stdout = Some(b),
            Ok((_, b)) => stderr = Some(b),
            Err(_) => {
                // Something in its process group still holds the pipes open.
                // SAFETY: the group still has members (they hold our pipes), so its id
                // is still ours.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                panic!(
                    "{what} exited but a process it started kept its output open past {:?}",
                    timeout
                );
            }
        }
    }
    Output {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    }
}

/// Reads the child's stdout and stderr to their ends on two threads, so that
/// neither pipe can fill and stall it; each arrives as `(1 | 2, bytes)`.
pub fn collect_output(child: &mut Child) -> mpsc::Receiver<(u8, Vec<u8>)> {
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    for (which, mut pipe) in [
        (
            1u8,
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        ),
        (
            2u8,
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn Read + Send>,
        ),
    ] {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((which, buf));
        });
    }
    rx
}

/// Runs `cmd` (no stdin) under `timeout`; panics unless it succeeds, with `what`, its status
/// and the last `lines` lines of its stdout and stderr.
pub fn run_ok(cmd: Command, what: &str, timeout: Duration, lines: usize) -> Output {
    let out = run_with_timeout(cmd, b"", timeout);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        crate::chroot::tail(&String::from_utf8_lossy(&out.stdout), lines),
        crate::chroot::tail(&String::from_utf8_lossy(&out.stderr), lines)
    );
    out
}
