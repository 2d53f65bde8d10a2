//! kelos-gh: installed as `gh` ahead of the real gh in PATH. Puts the token
//! that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE` into the variables gh
//! reads for `GH_HOST`, then `exec`s the real gh with every argument
//! untouched (same PID, signals, terminal and exit status).
//!
//! No argument is ever interpreted: everything after `argv[0]` belongs to gh.
//! All decisions live in `kelos_token` (`gh`, `source`, `host`); this file
//! gathers the inputs and performs the exec.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use anyhow::{anyhow, Result};
use kelos_token::env::GH_PATH_VAR;
use kelos_token::gh::{find_real_gh, gh_host_class, stat_file, token_vars, Found, WRAPPER_MARKER};
use kelos_token::source::Origin;
use kelos_token::{lookup, trace, EnvSnapshot, Token, Tracer};

// See git-credential-kelos: the arena spares musl's allocator its syscalls.
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

const PROGRAM: &str = "kelos-gh";

/// Kept in the binary so that `git-credential-kelos doctor` can tell this
/// wrapper from the real gh.
#[used]
static MARKER: [u8; WRAPPER_MARKER.len()] = WRAPPER_MARKER;

/// Exit status when the real gh cannot be found (as a shell does).
const NOT_FOUND: u8 = 127;
/// Exit status when the real gh was found but could not be executed.
const CANNOT_EXECUTE: u8 = 126;

fn main() -> ExitCode {
    let env = EnvSnapshot::from_process();
    let mut tracer = Tracer::from_env(&env, PROGRAM);

    let exports = token_exports(&env, &mut tracer);

    let found = match locate_gh(&env) {
        Ok(found) => found,
        Err(e) => {
            trace!(tracer, "no real gh: {e:#}");
            eprintln!("{PROGRAM}: {e:#}");
            return ExitCode::from(NOT_FOUND);
        }
    };
    trace!(tracer, "running {found}");

    let path = found.into_path();
    let mut command = Command::new(&path);
    command.arg0("gh").args(std::env::args_os().skip(1));
    if let Some((names, token)) = &exports {
        for name in names {
            command.env(name, token.expose());
        }
    }
    drop(tracer);
    // Only returns on failure.
    let error = command.exec();
    eprintln!(
        "{PROGRAM}: cannot run the real gh {}: {error}",
        path.display()
    );
    ExitCode::from(CANNOT_EXECUTE)
}

/// The variables to set and the token to set them to: only a valid token
/// that came from the file. `None` leaves the environment exactly as it is.
fn token_exports(env: &EnvSnapshot, tracer: &mut Tracer) -> Option<(Vec<&'static str>, Token)> {
    let class = match gh_host_class(env) {
        Ok(class) => class,
        Err(why) => {
            trace!(tracer, "{why}; environment left as it is");
            return None;
        }
    };
    let found = lookup(env, class);
    match (found.origin, &found.token) {
        (Some(Origin::File), Some(token)) => {
            let names = token_vars(class, |name| std::env::var_os(name).is_some());
            trace!(
                tracer,
                "{class} host: setting {} to the token file's {}",
                names.join(", "),
                token.masked()
            );
            Some((names, token.clone()))
        }
        (origin, _) => {
            let mut why = found.explain();
            if let Some(Origin::Env(name)) = origin {
                why = format!("{why}; gh reads {name} itself");
            }
            trace!(
                tracer,
                "no valid token from the file, environment left as it is: {why}"
            );
            None
        }
    }
}

/// `KELOS_GH_PATH`, else the first gh in PATH after this wrapper's entry.
fn locate_gh(env: &EnvSnapshot) -> Result<Found> {
    let gh_path = env.get(GH_PATH_VAR).filter(|v| !v.is_empty());
    let this_exe = match fs::metadata("/proc/self/exe") {
        Ok(meta) => (meta.dev(), meta.ino()),
        // Without our own identity a PATH search could find ourselves and
        // loop; KELOS_GH_PATH still works (nothing can match us then).
        Err(_) if gh_path.is_some() => (u64::MAX, u64::MAX),
        Err(e) => {
            return Err(anyhow!(
                "cannot tell which file this wrapper is (/proc/self/exe: {e}), so PATH \
                 cannot be searched safely; set {GH_PATH_VAR} to the absolute path of the \
                 real gh"
            ))
        }
    };
    let path_var: Option<OsString> = std::env::var_os("PATH");
    Ok(find_real_gh(
        gh_path,
        path_var.as_deref(),
        this_exe,
        stat_file,
    )?)
}
