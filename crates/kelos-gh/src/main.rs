//! kelos-gh: installed as `gh` ahead of the real gh in PATH. Puts the token
//! that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE` into the variables gh
//! reads for `GH_HOST`, then `exec`s the real gh with every argument
//! untouched (same PID, signals, terminal and exit status).
//!
//! No argument is ever interpreted: everything after `argv[0]` belongs to gh.
//! All decisions live in `kelos_token` (`gh`, `source`, `host`); this file
//! gathers the inputs and performs the exec.
//!
//! The C runtime calls `main` directly (`no_main`): std's start-up would set
//! SIGPIPE to ignored and reopen closed standard descriptors on /dev/null,
//! and std's exec would then set SIGPIPE back to the default, so gh would not
//! inherit exactly what its caller gave. Skipping it also keeps the wrapper's
//! cost to little more than one exec.
#![cfg_attr(not(test), no_main)]

use std::borrow::Cow;
use std::ffi::{c_char, c_int, CStr, CString, OsStr};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::ptr;

use anyhow::{anyhow, Result};
use kelos_token::env::{c_args, process_environ, split_entry, GH_PATH_VAR};
use kelos_token::gh::{
    exec_environment, find_real_gh, gh_path_value, stat_file, token_vars, Found, WRAPPER_STAMP,
};
use kelos_token::host::gh_host;
use kelos_token::source::Origin;
use kelos_token::text::say;
use kelos_token::{lookup, trace, EnvSnapshot, Token, Tracer};

// See git-credential-kelos: the arena spares musl's allocator its syscalls.
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

const PROGRAM: &str = "kelos-gh";

/// Kept in the binary so that `git-credential-kelos doctor` can tell this
/// wrapper from the real gh, and which version and commit it is (`--version`
/// belongs to gh).
#[used]
static STAMP: [u8; WRAPPER_STAMP.len()] = WRAPPER_STAMP;

/// Exit status when the real gh cannot be found (as a shell does).
const NOT_FOUND: c_int = 127;
/// Exit status when the real gh was found but could not be executed.
const CANNOT_EXECUTE: c_int = 126;

#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes argc entries of argv, and nothing in this
    // single-threaded process changes its environment.
    let (args, environ) = unsafe {
        let args = c_args(argc, argv);
        (args, process_environ().collect::<Vec<&CStr>>())
    };
    let env = EnvSnapshot::from_entries(environ.iter().map(|e| e.to_bytes()));
    // A person who asked for a trace and named no usable sink hears so.
    if let Some(line) = trace::setting_problem(&env) {
        say(PROGRAM, line);
    }
    let mut tracer = Tracer::from_env(&env, PROGRAM);

    let exports = token_exports(&env, &mut tracer);

    let found = match locate_gh(&env, &environ) {
        Ok(found) => found,
        Err(e) => {
            trace!(tracer, "no real gh: {e:#}");
            say(PROGRAM, format_args!("{e:#}"));
            return NOT_FOUND;
        }
    };
    trace!(tracer, "running {found}");
    drop(tracer);

    let path = found.into_path();
    let environment = match &exports {
        Some((names, token)) => exec_environment(environ.iter().copied(), names, token),
        None => environ.iter().copied().map(Cow::Borrowed).collect(),
    };
    let error = exec(&path, args, &environment);
    say(
        PROGRAM,
        format_args!("cannot run the real gh {}: {error}", path.display()),
    );
    CANNOT_EXECUTE
}

/// execve(2) with `argv[0]` = `gh`, the caller's other arguments as the very
/// pointers it passed, and `environment`. Returns only on failure.
fn exec(path: &Path, args: &[*const c_char], environment: &[Cow<'_, CStr>]) -> io::Error {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return io::Error::new(io::ErrorKind::InvalidInput, "the path has a NUL byte");
    };
    let argv: Vec<*const c_char> = [c"gh".as_ptr()]
        .into_iter()
        .chain(args.iter().skip(1).copied())
        .chain([ptr::null()])
        .collect();
    let envp: Vec<*const c_char> = environment
        .iter()
        .map(|entry| entry.as_ptr())
        .chain([ptr::null()])
        .collect();
    // SAFETY: NUL-terminated strings in NULL-terminated arrays, all alive
    // until execve returns (which it does only on failure).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// The variables to set and the token to set them to: only a valid token
/// that came from the file. `None` leaves the environment exactly as it is.
fn token_exports(env: &EnvSnapshot, tracer: &mut Tracer) -> Option<(Vec<&'static str>, Token)> {
    let class = match gh_host(env) {
        Ok(host) => host.class(),
        Err(why) => {
            trace!(tracer, "{why}; environment left as it is");
            return None;
        }
    };
    let found = lookup(env, class);
    match found.file_token() {
        Some(token) => {
            tracer.hide(token.expose().as_bytes());
            let names = token_vars(class, |name| env.get(name).is_some());
            trace!(
                tracer,
                "{class} host: setting {} to the token file's {}",
                names.join(", "),
                token.masked()
            );
            Some((names, token.clone()))
        }
        None => {
            let mut why = found.explain();
            if let Some(Origin::Env(name)) = found.origin {
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

/// The first value of `name` in the environment, as getenv finds it (PATH
/// is not in the snapshot: it is no token variable).
fn var<'a>(environ: &[&'a CStr], name: &str) -> Option<&'a OsStr> {
    environ.iter().find_map(|entry| {
        let (n, value) = split_entry(entry.to_bytes())?;
        (n == name.as_bytes()).then(|| OsStr::from_bytes(value))
    })
}

/// `KELOS_GH_PATH`, else the first gh in PATH that first appears after this
/// wrapper's own first appearance (see [`find_real_gh`]).
fn locate_gh(env: &EnvSnapshot, environ: &[&CStr]) -> Result<Found> {
    let gh_path = gh_path_value(env.get(GH_PATH_VAR));
    let this_exe = match fs::metadata("/proc/self/exe") {
        Ok(meta) => Some((meta.dev(), meta.ino())),
        // Without our own identity a PATH search could find ourselves and
        // loop; KELOS_GH_PATH still works (nothing can match us then).
        Err(_) if gh_path.is_some() => None,
        Err(e) => {
            return Err(anyhow!(
                "cannot tell which file this wrapper is (/proc/self/exe: {e}), so PATH \
                 cannot be searched safely; set {GH_PATH_VAR} to the absolute path of the \
                 real gh"
            ))
        }
    };
    Ok(find_real_gh(
        gh_path,
        var(environ, "PATH"),
        this_exe,
        stat_file,
    )?)
}
