//! kelos-gh: installed as `gh` ahead of the real gh in PATH. Puts the token
//! that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE` into the variables gh
//! reads for `GH_HOST`, then `exec`s the real gh with every argument
//! untouched (same PID, signals, terminal and exit status).
//!
//! No argument is ever interpreted: everything after `argv[0]` belongs to gh.
//! All decisions live in `kelos_token` (the provider `GITHUB`, `decision`,
//! `real_gh`) and the start in its `launch`; this file chooses the provider
//! and the target (the real gh) and words the messages.
//!
//! The C runtime calls `main` directly (`no_main`): std's start-up would set
//! SIGPIPE to ignored and reopen closed standard descriptors on /dev/null,
//! and std's exec would then set SIGPIPE back to the default, so gh would not
//! inherit exactly what its caller gave. Skipping it also keeps the wrapper's
//! cost to little more than one exec.
#![cfg_attr(not(test), no_main)]

use std::ffi::{c_char, c_int};
use std::fs;
use std::os::unix::fs::MetadataExt;

use kelos_token::env::c_args;
use kelos_token::gh::{gh_path_value, stat_file, Found, WRAPPER_STAMP};
use kelos_token::launch::{Exports, Launch, Target, NOT_FOUND};
use kelos_token::real_gh::find_real_cli;
use kelos_token::source::{choose_for, Origin};
use kelos_token::text::say;
use kelos_token::{trace, Provider, Tracer, GITHUB};

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
    let provider = &GITHUB;
    let exports = token_exports(provider, &launch, &mut tracer);

    let found = match locate_gh(provider, &launch) {
        Ok(found) => found,
        Err(e) => {
            trace!(tracer, "no real {}: {e}", provider.cli);
            say(PROGRAM, &e);
            return NOT_FOUND;
        }
    };
    trace!(tracer, "running {}", found.shown(provider));
    drop(tracer);

    let path = found.into_path();
    let environment = launch.environment(exports.as_ref());
    // `argv[0]` is the CLI's name; the caller's other arguments are the very
    // pointers it passed.
    let argv: Vec<*const c_char> = [c"gh".as_ptr()]
        .into_iter()
        .chain(args.iter().skip(1).copied())
        .collect();
    let failure = launch.exec(Target::File(&path), &argv, &environment, &[]);
    say(
        PROGRAM,
        format_args!(
            "cannot run the real {} {}: {}",
            provider.cli,
            path.display(),
            failure.error
        ),
    );
    failure.status
}

/// The variables to set and the token to set them to: only a valid token
/// that came from the file. `None` leaves the environment exactly as it is.
fn token_exports(
    provider: &'static Provider,
    launch: &Launch<'_>,
    tracer: &mut Tracer,
) -> Option<Exports<'static>> {
    let env = &launch.env;
    let class = match provider.host(env) {
        Ok(host) => host.class(),
        Err(why) => {
            trace!(tracer, "{why}; environment left as it is");
            return None;
        }
    };
    // The whole decision, fallbacks too: the trace says which one gh reads.
    let found = choose_for(provider, env, class);
    match found.file_token() {
        Some(token) => {
            tracer.hide(token.expose().as_bytes());
            let names = provider.wrapper_vars(class, |name| env.get(name).is_some());
            trace!(
                tracer,
                "{class} host: setting {} to the token file's {}",
                names.join(", "),
                token.masked()
            );
            Some(Exports {
                names,
                token: token.clone(),
            })
        }
        None => {
            let mut why = found.explain();
            if let Some(Origin::Env(name)) = found.origin {
                why = format!("{why}; {} reads {name} itself", provider.cli);
            }
            trace!(
                tracer,
                "no valid token from the file, environment left as it is: {why}"
            );
            None
        }
    }
}

/// The provider's path variable (`KELOS_GH_PATH`), else the first gh in PATH
/// that first appears after this wrapper's own first appearance (see
/// [`find_real_cli`]); else the one-line message saying why not.
fn locate_gh(provider: &'static Provider, launch: &Launch<'_>) -> Result<Found, String> {
    let path_var = provider.cli_path_var;
    let gh_path = gh_path_value(launch.env.get(path_var));
    let this_exe = match fs::metadata("/proc/self/exe") {
        Ok(meta) => Some((meta.dev(), meta.ino())),
        // Without our own identity a PATH search could find ourselves and
        // loop; KELOS_GH_PATH still works (nothing can match us then).
        Err(_) if gh_path.is_some() => None,
        Err(e) => {
            return Err(format!(
                "cannot tell which file this wrapper is (/proc/self/exe: {e}), so PATH \
                 cannot be searched safely; set {path_var} to the absolute path of the \
                 real {}",
                provider.cli
            ))
        }
    };
    find_real_cli(provider, gh_path, launch.path_var(), this_exe, stat_file)
        .map_err(|e| e.shown(provider).to_string())
}
