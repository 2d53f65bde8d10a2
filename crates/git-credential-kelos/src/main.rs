//! git-credential-kelos: answers git's credential requests with the GitHub
//! token that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE`, for the
//! configured hosts only.
//!
//! All decisions live in `kelos_token`; this file reads stdin, calls them, and
//! writes what they return.
//!
//! The C runtime calls `main` directly (`no_main`): git starts the helper for
//! every request, and std's start-up (a signal stack and handlers, set up and
//! torn down: 12 syscalls) is a measurable share of each call (see
//! bench/README.md). Of that start-up, the one guard that matters here is
//! kept: standard descriptors are never left closed, so no file opened later
//! can take one's place. SIGPIPE keeps its default, as in any C helper: if
//! git stops reading, the helper ends there.
#![cfg_attr(not(test), no_main)]

use std::ffi::{c_char, c_int, CStr, OsStr};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use anyhow::{Context, Result};
use cli::{Cli, Command, Invocation};
use kelos_token::credential::{answer_get, erase_message, match_request};
use kelos_token::env::{c_args, GH_HOST_VAR};
use kelos_token::protocol::{read_request, Request};
use kelos_token::source::Origin;
use kelos_token::{lookup, trace, EnvSnapshot, Host, Lookup, Tracer};

mod cli;
mod configure;
mod consumers;
mod doctor;
mod gitconfig;

// Every allocation of a short-lived helper from one static arena: musl's
// allocator would map and unmap pages for each burst (see bench/README.md).
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

const PROGRAM: &str = "git-credential-kelos";

/// Input beyond git's request is drained up to this much, so that git never
/// meets a closed pipe, and no further.
const MAX_DRAIN_BYTES: u64 = 1 << 20;

#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let Some(reopened) = standard_descriptors_open() else {
        return 2;
    };
    // SAFETY: the C runtime passes argc NUL-terminated strings in argv.
    let c_argv: Vec<&CStr> = unsafe {
        c_args(argc, argv)
            .iter()
            .map(|arg| CStr::from_ptr(*arg))
            .collect()
    };
    if let Some(parsed) = consumers::parse(c_argv.get(1..).unwrap_or_default()) {
        let code = consumers::run(parsed, &reopened);
        return if io::stdout().flush().is_err() && code == 0 {
            2
        } else {
            code
        };
    }
    let args: Vec<&OsStr> = c_argv
        .iter()
        .map(|arg| OsStr::from_bytes(arg.to_bytes()))
        .collect();
    let cli = match cli::parse(args.get(1..).unwrap_or_default()) {
        Ok(Invocation::Run(cli)) => cli,
        Ok(Invocation::Help) => return print(cli::USAGE),
        Ok(Invocation::Version) => return print(cli::VERSION),
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            return 2;
        }
    };
    let env = EnvSnapshot::from_process();
    let mut tracer = Tracer::from_env(&env, PROGRAM);
    let code = match run(&cli, &env, &mut tracer) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{PROGRAM}: {e:#}");
            2
        }
    };
    // std's exit path would flush stdout; the C runtime's does not.
    if io::stdout().flush().is_err() && code == 0 {
        return 2;
    }
    code
}

fn print(text: &str) -> c_int {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(_) => 2,
    }
}

/// Opens /dev/null on any of descriptors 0, 1 and 2 that is closed, as std's
/// start-up would: otherwise the token file or the trace file could be
/// opened as descriptor 1, and the answer written into it. `false` when one
/// cannot be filled, else the descriptors it filled (`exec` closes them again
/// before it runs its command, which gets them as its caller left them).
fn standard_descriptors_open() -> Option<Vec<c_int>> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll(2) on an array we own; open(2) with a static path.
    unsafe {
        if libc::poll(fds.as_mut_ptr(), 3, 0) < 0 {
            return None;
        }
        let closed: Vec<c_int> = fds
            .iter()
            .filter(|p| p.revents & libc::POLLNVAL != 0)
            .map(|p| p.fd)
            .collect();
        closed
            .iter()
            .all(|fd| libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == *fd)
            .then_some(closed)
    }
}

fn run(cli: &Cli, env: &EnvSnapshot, tracer: &mut Tracer) -> Result<c_int> {
    match &cli.command {
        Command::Get => get(cli, env, tracer)?,
        Command::Erase => erase(cli, env, tracer)?,
        Command::Store => drain_stdin(),
        Command::Capability => io::stdout().write_all(b"version 0\n")?,
        Command::Configure(scope) => configure::configure(scope, &configured_hosts(cli, env)?)?,
        Command::Unconfigure(scope) => configure::unconfigure(scope, &configured_hosts(cli, env)?)?,
        Command::Doctor { json, no_token_ok } => {
            let report = doctor::run(env, configured_hosts(cli, env)?, *no_token_ok);
            let text = if *json {
                report.to_json()
            } else {
                report.to_text()
            };
            io::stdout().write_all(text.as_bytes())?;
            if report.failed() {
                return Ok(1);
            }
        }
        Command::Other(word) => {
            trace!(tracer, "unknown operation {word:?} ignored");
        }
    }
    Ok(0)
}

/// The hosts to answer for: `--host` values, else `$GH_HOST`, else github.com.
fn configured_hosts(cli: &Cli, env: &EnvSnapshot) -> Result<Vec<Host>> {
    if !cli.hosts.is_empty() {
        return cli
            .hosts
            .iter()
            .map(|raw| {
                Host::parse(raw).with_context(|| {
                    format!(
                        "--host {raw:?} is not a host name; give one like ghe.example.com[:port]"
                    )
                })
            })
            .collect();
    }
    let gh_host = env.non_empty(GH_HOST_VAR);
    let raw = gh_host
        .map_or(Some("github.com"), |v| v.to_str())
        .unwrap_or("");
    let host = Host::parse(raw).with_context(|| {
        format!("{GH_HOST_VAR}={gh_host:?} is not a host name; set it like ghe.example.com[:port]")
    })?;
    Ok(vec![host])
}

/// Reads git's request; `None` (with a trace line) when it is malformed.
fn read_git_request(tracer: &mut Tracer) -> Result<Option<Request>> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let parsed = read_request(&mut input).context("reading git's request from stdin")?;
    // Reading stops at the blank line that ends a request, so a caller that
    // keeps stdin open while it waits for the answer is never kept waiting.
    // After malformed input, the rest is read (and bounded) so that the
    // writer does not meet a closed pipe.
    if parsed.is_err() {
        let _ = io::copy(&mut input.take(MAX_DRAIN_BYTES), &mut io::sink());
    }
    match parsed {
        Ok(request) => {
            trace!(
                tracer,
                "request protocol={:?} host={:?} username={:?} password={}",
                request.protocol,
                request.host,
                request.username,
                if request.password.is_some() {
                    "<given>"
                } else {
                    "<none>"
                }
            );
            Ok(Some(request))
        }
        Err(e) => {
            trace!(tracer, "malformed request, not answered: {e}");
            Ok(None)
        }
    }
}

fn get(cli: &Cli, env: &EnvSnapshot, tracer: &mut Tracer) -> Result<()> {
    let Some(request) = read_git_request(tracer)? else {
        return Ok(());
    };
    let hosts = configured_hosts(cli, env)?;
    let host = match match_request(&request, &hosts) {
        Ok(host) => host,
        Err(refusal) => {
            trace!(tracer, "not answered: {refusal}");
            return Ok(());
        }
    };
    let found = lookup(env, host.class());
    trace_lookup(tracer, host, &found);
    let answer = answer_get(&request, host, &found, SystemTime::now);
    if let Some(line) = &answer.stderr {
        eprintln!("{PROGRAM}: {line}");
    }
    if !answer.stdout.is_empty() {
        let mut out = io::stdout().lock();
        out.write_all(&answer.stdout)?;
        out.flush()?;
        trace!(tracer, "answered");
    }
    Ok(())
}

fn erase(cli: &Cli, env: &EnvSnapshot, tracer: &mut Tracer) -> Result<()> {
    let Some(request) = read_git_request(tracer)? else {
        return Ok(());
    };
    let hosts = configured_hosts(cli, env)?;
    let Ok(host) = match_request(&request, &hosts) else {
        return Ok(());
    };
    let found = lookup(env, host.class());
    trace_lookup(tracer, host, &found);
    eprintln!(
        "{PROGRAM}: {}",
        erase_message(&request, host, &found, env, SystemTime::now())
    );
    Ok(())
}

fn trace_lookup(tracer: &mut Tracer, host: &Host, found: &Lookup) {
    if !tracer.enabled() {
        return;
    }
    trace!(tracer, "host {host} class {}", host.class());
    if found.file_rejection.is_some() {
        trace!(tracer, "token file passed over: {}", found.explain());
    }
    match (found.origin, &found.token) {
        (Some(Origin::File), Some(token)) => trace!(
            tracer,
            "token from file ({:?}), {}, expiry {:?}{}",
            found.layout,
            token.masked(),
            found.expires_at,
            found
                .expiry_problem
                .as_ref()
                .map(|p| format!(" (expiry file {p})"))
                .unwrap_or_default()
        ),
        (Some(Origin::Env(name)), Some(token)) => {
            trace!(tracer, "token from fallback {name}, {}", token.masked())
        }
        _ => trace!(tracer, "no token: {}", found.explain()),
    }
}

fn drain_stdin() {
    let _ = io::copy(
        &mut io::stdin().lock().take(MAX_DRAIN_BYTES),
        &mut io::sink(),
    );
}
