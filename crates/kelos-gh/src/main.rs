//! kelos-gh: installed as `gh` ahead of the real gh in PATH. Puts the token
//! that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE` into the variables gh
//! reads for `GH_HOST`, then `exec`s the real gh with every argument
//! untouched (same PID, signals, terminal and exit status).
//!
//! No argument is ever interpreted: everything after `argv[0]` belongs to gh.
//! All decisions live in `kelos_token` (the provider `GITHUB`, `decision`,
//! `real_gh`) and the start, the token it hands gh, the search for the real
//! gh and the exec in its `launch` (shared with kelos-glab): this file
//! chooses the provider.
//!
//! The C runtime calls `main` directly (`no_main`): std's start-up would set
//! SIGPIPE to ignored and reopen closed standard descriptors on /dev/null,
//! and std's exec would then set SIGPIPE back to the default, so gh would not
//! inherit exactly what its caller gave. Skipping it also keeps the wrapper's
//! cost to little more than one exec.
#![cfg_attr(not(test), no_main)]

use std::ffi::{c_char, c_int};

use kelos_token::env::c_args;
use kelos_token::gh::WRAPPER_STAMP;
use kelos_token::launch::Launch;
use kelos_token::GITHUB;

// See git-credential-kelos: the arena spares musl's allocator its syscalls.
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

const PROGRAM: &str = "kelos-gh";

/// Kept in the binary so that `git-credential-kelos doctor` can tell this
/// wrapper from the real gh, and which version and commit it is (`--version`
/// belongs to gh).
#[used]
static STAMP: [u8; WRAPPER_STAMP.len()] = WRAPPER_STAMP;

#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes argc entries of argv, and nothing in this
    // single-threaded process changes its environment.
    let (args, (launch, mut tracer)) = unsafe { (c_args(argc, argv), Launch::start(PROGRAM)) };
    let exports = launch.cli_exports(&GITHUB, &mut tracer);
    launch.exec_cli(PROGRAM, &GITHUB, args, exports.as_ref(), tracer)
}
