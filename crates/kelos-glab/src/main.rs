//! kelos-glab: installed as `glab` ahead of the real glab in PATH. Puts the
//! token that kubelet keeps fresh in `KELOS_GITLAB_TOKEN_FILE` into
//! `GITLAB_TOKEN` (and `GITLAB_ACCESS_TOKEN`, `OAUTH_TOKEN` when present),
//! makes sure glab's config has the host entry an `http://` `GITLAB_HOST`
//! needs (never a token), then `exec`s the real glab with every argument
//! untouched (same PID, signals, terminal and exit status).
//!
//! No argument is ever interpreted: everything after `argv[0]` belongs to
//! glab, `--version` too. The token, the search for the real glab and the
//! exec are kelos-gh's, in `kelos_token::launch`, for the provider `GITLAB`;
//! the host entry is this crate's library. `no_main` for the reasons
//! kelos-gh gives: glab inherits exactly what its caller gave.
#![cfg_attr(not(test), no_main)]

use std::ffi::{c_char, c_int, OsStr};

use kelos_glab::{config_path, ensure_host_entry_in_file, host_entry, not_ensured};
use kelos_token::env::c_args;
use kelos_token::gh::GLAB_WRAPPER_STAMP;
use kelos_token::gitlab_host::GitlabHost;
use kelos_token::launch::Launch;
use kelos_token::provider::GITLAB;
use kelos_token::text::say;
use kelos_token::{trace, Tracer};

// See git-credential-kelos: the arena spares musl's allocator its syscalls.
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

const PROGRAM: &str = "kelos-glab";

/// Kept in the binary so that it can be told from the real glab, and which
/// version and commit it is (`--version` belongs to glab).
#[used]
static STAMP: [u8; GLAB_WRAPPER_STAMP.len()] = GLAB_WRAPPER_STAMP;

#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes argc entries of argv, and nothing in this
    // single-threaded process changes its environment.
    let (args, (launch, mut tracer)) = unsafe { (c_args(argc, argv), Launch::start(PROGRAM)) };
    let exports = match GITLAB.instance(&launch.env) {
        Ok(instance) => {
            ensure_glab_entry(&launch, &instance, &mut tracer);
            launch.cli_exports(&GITLAB, &mut tracer)
        }
        // glab runs as it would have without the wrapper (no variable set,
        // its config untouched) and says itself what it makes of the value.
        Err(e) => {
            trace!(
                tracer,
                "{e}; environment and glab's config left as they are"
            );
            say(PROGRAM, &e);
            None
        }
    };
    launch.exec_cli(PROGRAM, &GITLAB, args, exports.as_ref(), tracer)
}

/// glab takes a host's API protocol from its config's host entry, not from
/// `GITLAB_HOST`: for an instance it would not reach by itself (plain http),
/// the entry is written (no token) before glab starts. When that fails, the
/// wrapper says why in one line and still runs glab: the call may not need
/// the entry (`glab config set`, which is how a person fixes it, or a
/// command for another host), and a wrapper that refused to run glab would
/// turn a config problem into a missing tool.
fn ensure_glab_entry(launch: &Launch<'_>, instance: &GitlabHost, tracer: &mut Tracer) {
    if !instance.needs_glab_entry() {
        trace!(tracer, "{instance}: glab needs no host entry for it");
        return;
    }
    let entry = match host_entry(instance) {
        Ok(entry) => entry,
        Err(e) => {
            say(PROGRAM, &e);
            return;
        }
    };
    let path = match config_path(|name| launch.raw_var(name).map(OsStr::to_os_string)) {
        Ok(path) => path,
        Err(e) => {
            say(PROGRAM, not_ensured(&e, &entry));
            return;
        }
    };
    match ensure_host_entry_in_file(&path, &entry) {
        Ok(outcome) => trace!(
            tracer,
            "glab's host entry for {} in {}: {outcome}",
            entry.host(),
            path.display()
        ),
        Err(e) => {
            let line = not_ensured(&e, &entry);
            trace!(tracer, "{line}");
            say(PROGRAM, line);
        }
    }
}
