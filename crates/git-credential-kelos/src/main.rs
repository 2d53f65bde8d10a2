//! git-credential-kelos: answers git's credential requests with the token
//! that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE` (GitHub's hosts)
//! or `KELOS_GITLAB_TOKEN_FILE` (GitLab's), for the configured hosts only,
//! each host from its own provider's file.
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
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use anyhow::Result;
use git_credential_kelos::cli::{self, Cli, Command};
use git_credential_kelos::{configure, consumers, doctor, install};
use kelos_token::env::c_args;
use kelos_token::host::HostInputError;
use kelos_token::serve::{serve, Operation, World, PROGRAM};
use kelos_token::served::{served_hosts, Served};
use kelos_token::text::say;
use kelos_token::{trace, EnvSnapshot, Tracer};

// Every allocation of a short-lived helper from one static arena: musl's
// allocator would map and unmap pages for each burst (see bench/README.md).
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let Some(reopened) = standard_descriptors_open() else {
        return 2;
    };
    // SAFETY: the C runtime passes argc NUL-terminated strings in argv.
    let args: Vec<&OsStr> = unsafe {
        c_args(argc, argv)
            .iter()
            .map(|arg| OsStr::from_bytes(CStr::from_ptr(*arg).to_bytes()))
            .collect()
    };
    let rest = args.get(1..).unwrap_or_default();
    // git's calls, and `env` in its usual forms (shells run it before every
    // command), skip clap's start-up cost.
    let fast = cli::parse_git_call(rest).or_else(|| cli::parse_env_call(rest));
    let cli = match fast {
        Some(call) => call,
        None => match Cli::parse_people(args.iter().copied()) {
            Ok(cli) => cli,
            // --help and --version come this way too (to stdout, exit 0);
            // usage errors go to stderr with exit status 2.
            Err(e) => {
                let _ = e.print();
                return e.exit_code();
            }
        },
    };
    // What --host means to the command, decided once: git's calls and
    // configure/doctor/token answer for hosts; env, exec and install refuse
    // it (exec here, before anything else; the others where they run).
    let refusal = host_refusal(&cli);
    if let Command::Exec(exec) = &cli.command {
        if let Some(refusal) = refusal {
            say(PROGRAM, refusal);
            return 2;
        }
        return consumers::exec_command(exec, &reopened);
    }
    let env = EnvSnapshot::from_process();
    // A person who asked for a trace and named no usable sink hears so,
    // once; never inside `env`, which shells run before every command.
    if !matches!(cli.command, Command::Env(_)) {
        if let Some(line) = trace::setting_problem(&env) {
            say(PROGRAM, line);
        }
    }
    let tracer = if traces(&cli.command) {
        Tracer::from_env(&env, PROGRAM)
    } else {
        Tracer::off(PROGRAM)
    };
    // So is one whose trace file is a file that is read (never from `env`).
    if let (Some(line), false) = (tracer.refusal(), matches!(cli.command, Command::Env(_))) {
        say(PROGRAM, line);
    }
    // The hosts, resolved once for the commands that answer for hosts (an
    // error is reported where the command meets it: after git's request
    // is read, in doctor's report).
    let hosts = if answers_for_hosts(&cli.command) {
        served_hosts(&cli.hosts, &env)
    } else {
        Ok(Vec::new())
    };
    let mut invocation = Invocation {
        command: &cli.command,
        refusal,
        hosts,
        env,
        tracer,
    };
    let code = match run(&mut invocation) {
        Ok(code) => code,
        Err(e) => {
            say(PROGRAM, format_args!("{e:#}"));
            2
        }
    };
    // std's exit path would flush stdout; the C runtime's does not.
    if io::stdout().flush().is_err() && code == 0 {
        return 2;
    }
    code
}

/// Opens /dev/null on any of descriptors 0, 1 and 2 that is closed, as std's
/// start-up would: otherwise the token file or the trace file could be
/// opened as descriptor 1, and the answer written into it. `None` when one
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

/// Whether `command` writes trace lines, and so opens the trace sink.
/// `configure`, `unconfigure` and `doctor` read and write git config files
/// (through git) and trace nothing: a sink they never use is never opened,
/// so the trace can never create or append to a config file they read.
fn traces(command: &Command) -> bool {
    !matches!(
        command,
        Command::Configure(_) | Command::Unconfigure(_) | Command::Doctor(_) | Command::Capability
    )
}

/// The command line and the environment, resolved once for [`run`]
/// (ripgrep's `run` over resolved arguments).
struct Invocation<'c> {
    command: &'c Command,
    /// Why `--host` is refused, when it was given to a command that takes
    /// none ([`host_refusal`]).
    refusal: Option<&'static str>,
    /// The hosts ([`served_hosts`]) for a command that
    /// [`answers_for_hosts`]; empty for the others.
    hosts: Result<Vec<Served>, HostInputError>,
    env: EnvSnapshot,
    tracer: Tracer,
}

/// Whether `command` answers for hosts (`--host`, else `GH_HOST` or
/// github.com, and GitLab's instance when a GitLab setting is in play).
fn answers_for_hosts(command: &Command) -> bool {
    matches!(
        command,
        Command::Get
            | Command::Erase
            | Command::Configure(_)
            | Command::Unconfigure(_)
            | Command::Doctor(_)
            | Command::Token(_)
    )
}

/// The message refusing `--host` to a command that takes none, when it was
/// given; the one place this is decided.
fn host_refusal(cli: &Cli) -> Option<&'static str> {
    if cli.hosts.is_empty() {
        return None;
    }
    match cli.command {
        Command::Env(_) | Command::Exec(_) => Some(consumers::NO_HOST_OPTION),
        Command::Install(_) => {
            Some("install takes no --host: the helpers read the host at run time")
        }
        _ => None,
    }
}

fn run(invocation: &mut Invocation<'_>) -> Result<c_int> {
    if let Some(refusal) = invocation.refusal {
        anyhow::bail!(refusal);
    }
    let Invocation {
        command,
        hosts,
        env,
        tracer,
        ..
    } = invocation;
    let env = &*env;
    match command {
        Command::Get => serve_git(Operation::Get, hosts, env, tracer)?,
        Command::Erase => serve_git(Operation::Erase, hosts, env, tracer)?,
        // Read up to the blank line, like get: the token file is the only
        // store.
        Command::Store => serve_git(Operation::Store, hosts, env, tracer)?,
        Command::Capability => io::stdout().write_all(b"version 0\n")?,
        Command::Configure(args) => configure::configure(
            &args.scope.scope(),
            &hosts.clone()?,
            args.exclusive,
            &configure::program(args.helper.as_deref())?,
        )?,
        Command::Unconfigure(args) => configure::unconfigure(
            &args.scope.scope(),
            &hosts.clone()?,
            args.exclusive,
            &configure::program(args.helper.as_deref())?,
        )?,
        Command::Doctor(args) => {
            // A bad GH_HOST or --host is one of doctor's findings, not an
            // error before it: the report (and --json) still comes.
            let report = doctor::run(env, hosts.clone(), args.no_token_ok);
            let text = if args.json {
                report.to_json()
            } else {
                report.to_text()
            };
            io::stdout().write_all(text.as_bytes())?;
            if report.failed() {
                return Ok(1);
            }
        }
        Command::Token(args) => {
            let [host] = &hosts.clone()?[..] else {
                anyhow::bail!("token is for one host: give --host once");
            };
            return Ok(consumers::token(env, host, args.format, tracer));
        }
        Command::Env(args) => {
            return Ok(consumers::env(env, &args.set, args.format, tracer));
        }
        Command::Install(args) => {
            let written = install::install(&args.dir)?;
            // Told after every file is in place; a closed stdout changes nothing.
            let _ = io::stdout().write_all(install::report(&written).as_bytes());
        }
        // main runs it before this, with the descriptors it reopened.
        Command::Exec(exec) => return Ok(consumers::exec_command(exec, &[])),
        Command::Other(word) => {
            let word = word.to_string_lossy();
            // A person's typo at a terminal is answered; git's calls (stdin
            // a pipe) with an operation it may add later stay ignored.
            if let Some(meant) = cli::meant_command(&word) {
                // SAFETY: isatty(3) on a descriptor main keeps open.
                if unsafe { libc::isatty(0) } == 1 {
                    say(
                        PROGRAM,
                        format_args!(
                            "unknown command `{word}`: did you mean `{meant}`? \
                             (`{PROGRAM} --help` lists the commands)"
                        ),
                    );
                    return Ok(2);
                }
            }
            trace!(tracer, "unknown operation {word} ignored");
        }
    }
    Ok(0)
}

/// git's operations, served by the library's driver: this binary only wires
/// its streams, the resolved hosts and the clock.
fn serve_git(
    op: Operation,
    hosts: &Result<Vec<Served>, HostInputError>,
    env: &EnvSnapshot,
    tracer: &mut Tracer,
) -> Result<()> {
    let world = World {
        env,
        hosts: || hosts.clone(),
        clock: SystemTime::now,
    };
    let (input, out) = (io::stdin().lock(), io::stdout().lock());
    serve(op, input, out, io::stderr(), world, tracer)?;
    Ok(())
}
