//! git-credential-kelos: answers git's credential requests with the GitHub
//! token that kubelet keeps fresh in `KELOS_GITHUB_TOKEN_FILE`, for the
//! configured hosts only.
//!
//! All decisions live in `kelos_token`; this file reads stdin, calls them, and
//! writes what they return.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use kelos_token::credential::{answer_get, erase_message, match_request};
use kelos_token::env::GH_HOST_VAR;
use kelos_token::protocol::{read_request, Request};
use kelos_token::source::Origin;
use kelos_token::{lookup, trace, EnvSnapshot, Host, Lookup, Tracer};

mod configure;
mod doctor;

// Every allocation of a short-lived helper from one static arena: musl's
// allocator would map and unmap pages for each burst (see bench/README.md).
#[global_allocator]
static ALLOC: kelos_token::arena::Arena = kelos_token::arena::Arena::new();

const PROGRAM: &str = "git-credential-kelos";

/// Input beyond git's request is drained up to this much, so that git never
/// meets a closed pipe, and no further.
const MAX_DRAIN_BYTES: u64 = 1 << 20;

#[derive(Parser)]
#[command(
    name = PROGRAM,
    version,
    about = "A git credential helper that answers from the rotating GitHub token file \
             (KELOS_GITHUB_TOKEN_FILE), for the configured hosts only.",
    after_help = "git runs the helper as `git credential-kelos [--host HOST] get|store|erase`.\n\
                  Set it up with `git-credential-kelos configure`; check it with \
                  `git-credential-kelos doctor`.\n"
)]
struct Cli {
    /// A host this helper answers for (and gist.HOST); repeatable.
    /// Default: $GH_HOST, else github.com.
    #[arg(long = "host", value_name = "HOST", global = true)]
    hosts: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// (git) Answer with the current token, for a configured host only.
    Get,
    /// (git) Ignored: the token file is the only store.
    Store,
    /// (git) Explain, on stderr, why the server refused a password.
    Erase,
    /// (git) Print the protocol version this helper speaks.
    Capability,
    /// Add `kelos` to git's helpers for https://HOST and https://gist.HOST.
    Configure(ScopeArgs),
    /// Remove exactly what `configure` added.
    Unconfigure(ScopeArgs),
    /// Check the token file, expiry, git and gh set-up; never shows a token.
    Doctor {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// A missing token is a warning, not a failure (for image build time).
        #[arg(long)]
        no_token_ok: bool,
    },
    /// Operations this helper does not know are ignored, as git asks.
    #[command(external_subcommand)]
    Other(Vec<OsString>),
}

#[derive(Args)]
#[group(multiple = false)]
struct ScopeArgs {
    /// Write to the system config (/etc/gitconfig), for every user.
    #[arg(long)]
    system: bool,
    /// Write to the user's global config (the default).
    #[arg(long)]
    global: bool,
    /// Write to this config file.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
}

impl ScopeArgs {
    fn scope(&self) -> configure::Scope {
        match (&self.file, self.system) {
            (Some(path), _) => configure::Scope::File(path.clone()),
            (None, true) => configure::Scope::System,
            (None, false) => configure::Scope::Global,
        }
    }
}

/// git's own calls, `[--host HOST | --host=HOST]... get|store|erase|capability`,
/// parsed by hand: a credential lookup never builds clap's command tree,
/// which costs more than the lookup itself. Anything else (people's
/// subcommands, `--help`, unknown operations) goes to clap.
fn git_call() -> Option<Cli> {
    let mut hosts = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_str()?;
        if arg == "--host" {
            hosts.push(args.next()?.into_string().ok()?);
            continue;
        }
        if let Some(host) = arg.strip_prefix("--host=") {
            hosts.push(host.to_owned());
            continue;
        }
        let command = match arg {
            "get" => Command::Get,
            "store" => Command::Store,
            "erase" => Command::Erase,
            "capability" => Command::Capability,
            _ => return None,
        };
        return args.next().is_none().then_some(Cli { hosts, command });
    }
    None
}

fn main() -> ExitCode {
    let cli = git_call().unwrap_or_else(Cli::parse);
    let env = EnvSnapshot::from_process();
    let mut tracer = Tracer::from_env(&env, PROGRAM);
    match run(&cli, &env, &mut tracer) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{PROGRAM}: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli, env: &EnvSnapshot, tracer: &mut Tracer) -> Result<ExitCode> {
    match &cli.command {
        Command::Get => get(cli, env, tracer)?,
        Command::Erase => erase(cli, env, tracer)?,
        Command::Store => drain_stdin(),
        Command::Capability => io::stdout().write_all(b"version 0\n")?,
        Command::Configure(scope) => {
            configure::configure(&scope.scope(), &configured_hosts(cli, env)?)?
        }
        Command::Unconfigure(scope) => {
            configure::unconfigure(&scope.scope(), &configured_hosts(cli, env)?)?
        }
        Command::Doctor { json, no_token_ok } => {
            let report = doctor::run(env, configured_hosts(cli, env)?, *no_token_ok);
            let text = if *json {
                report.to_json()
            } else {
                report.to_text()
            };
            io::stdout().write_all(text.as_bytes())?;
            if report.failed() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Other(words) => {
            trace!(tracer, "unknown operation {:?} ignored", words.first());
        }
    }
    Ok(ExitCode::SUCCESS)
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
