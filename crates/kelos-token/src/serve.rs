//! git's credential protocol driven end to end, with the world passed in:
//! read git's request (bounded), drain what follows malformed input, mask
//! what a trace must not show, then answer `get`, explain `erase`, and
//! ignore `store`. The binary only wires its standard streams, the hosts
//! and the clock to [`serve`]; everything it writes is decided here, so
//! every malformed input is proven in process, byte for byte.

use std::io::{self, BufRead, Read, Write};
use std::time::SystemTime;

use crate::credential::{answer_get, erase_message, DEFAULT_USERNAME};
use crate::env::EnvSnapshot;
use crate::expiry::format_rfc3339;
use crate::host::Host;
use crate::protocol::{read_request, Request};
use crate::served::{match_served, Matched, Served};
use crate::source::choose_for;
use crate::source::{Lookup, Origin};
use crate::text::said;
use crate::token::mask;
use crate::trace;
use crate::trace::Tracer;

/// The program that speaks git's protocol: the prefix of its stderr lines.
pub const PROGRAM: &str = "git-credential-kelos";

/// Input beyond git's request is drained up to this much, so that git never
/// meets a closed pipe, and no further.
pub const MAX_DRAIN_BYTES: u64 = 1 << 20;

/// The operations of git's credential protocol that read a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Answer with the token, for a configured host only.
    Get,
    /// Say on stderr why the refused password may have been refused.
    Erase,
    /// Read the request and do nothing: the token file is the only store.
    Store,
}

/// Why [`serve`] stopped without finishing; `E` is the hosts' error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError<E: std::error::Error + 'static> {
    #[error("reading git's request from stdin")]
    Read(#[source] io::Error),
    /// The configured hosts are invalid (asked only after a well-formed
    /// request was read).
    #[error(transparent)]
    Hosts(E),
    #[error(transparent)]
    Write(io::Error),
}

/// What [`serve`] asks of the world, each only when it needs it.
pub struct World<'a, H, C> {
    /// Where the token is looked up, for a request that matched a host.
    pub env: &'a EnvSnapshot,
    /// The hosts answered for, each with its provider, asked once a
    /// well-formed request was read.
    pub hosts: H,
    /// The time, asked only when an answer speaks of it.
    pub clock: C,
}

/// Serves one `op`: the request from `input`, the answer to `out`, a
/// person's line to `err`.
pub fn serve<E, H, C>(
    op: Operation,
    mut input: impl BufRead,
    mut out: impl Write,
    mut err: impl Write,
    world: World<'_, H, C>,
    tracer: &mut Tracer,
) -> Result<(), ServeError<E>>
where
    E: std::error::Error + 'static,
    H: FnOnce() -> Result<Vec<Served>, E>,
    C: Fn() -> SystemTime,
{
    let World { env, hosts, clock } = world;
    let Some(request) = read_git_request(&mut input, tracer).map_err(ServeError::Read)? else {
        return Ok(());
    };
    if op == Operation::Store {
        return Ok(());
    }
    let hosts = hosts().map_err(ServeError::Hosts)?;
    let Matched { provider, host } = match match_served(&request, &hosts) {
        Ok(matched) => matched,
        Err(refusal) => {
            if op == Operation::Get {
                trace!(tracer, "not answered: {refusal}");
            }
            return Ok(());
        }
    };
    let host = &host;
    let found = choose_for(provider, env, host.class());
    trace_lookup(tracer, host, &found);
    if op == Operation::Erase {
        let line = erase_message(&request, host, &found, env, clock());
        let _ = err.write_all(said(PROGRAM, &line).as_bytes());
        return Ok(());
    }
    let answer = answer_get(&request, host, &found, clock);
    if let Some(line) = &answer.stderr {
        let _ = err.write_all(said(PROGRAM, line).as_bytes());
    }
    if !answer.stdout.is_empty() {
        out.write_all(&answer.stdout).map_err(ServeError::Write)?;
        out.flush().map_err(ServeError::Write)?;
        trace!(tracer, "answered");
    }
    Ok(())
}

/// Reads git's request; `None` (with a trace line) when it is malformed.
fn read_git_request(input: &mut impl BufRead, tracer: &mut Tracer) -> io::Result<Option<Request>> {
    let parsed = read_request(input)?;
    // Reading stops at the blank line that ends a request, so a caller that
    // keeps stdin open while it waits for the answer is never kept waiting.
    // After malformed input, the rest is read (and bounded) so that the
    // writer does not meet a closed pipe.
    if parsed.is_err() {
        let _ = io::copy(&mut input.take(MAX_DRAIN_BYTES), &mut io::sink());
    }
    match parsed {
        Ok(request) => {
            // A token can arrive as the username (`https://TOKEN@host/`) and
            // comes as the password to `erase`: both are masked in every
            // later line; only git's usual username is shown as it is.
            let username = request.username.as_deref().map(|u| {
                if u == DEFAULT_USERNAME {
                    u.to_owned()
                } else {
                    tracer.hide(u.as_bytes());
                    mask(u)
                }
            });
            if let Some(password) = &request.password {
                tracer.hide(password);
            }
            let given = |value: Option<&str>| value.unwrap_or("(none)").to_owned();
            trace!(
                tracer,
                "request: protocol {}, host {}, username {}, password {}",
                given(request.protocol.as_deref()),
                given(request.host.as_deref()),
                given(username.as_deref()),
                if request.password.is_some() {
                    "given"
                } else {
                    "(none)"
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

fn trace_lookup(tracer: &mut Tracer, host: &Host, found: &Lookup) {
    if !tracer.enabled() {
        return;
    }
    if let Some(token) = &found.token {
        tracer.hide(token.expose().as_bytes());
    }
    if *found.provider == crate::provider::GITHUB {
        trace!(tracer, "host {host} class {}", host.class());
    } else {
        trace!(tracer, "host {host}: {}", found.provider.name);
    }
    if found.file_rejection.is_some() {
        trace!(tracer, "token file passed over: {}", found.explain());
    }
    match (found.origin, &found.token) {
        (Some(Origin::File), Some(token)) => trace!(
            tracer,
            "token from the file ({}), {}, {}",
            found
                .layout
                .as_ref()
                .map_or_else(|| "layout unknown".to_owned(), ToString::to_string),
            token.masked(),
            match (found.expires_at, &found.expiry_problem) {
                (Some(at), _) => format!("expires {}", format_rfc3339(at)),
                (None, Some(problem)) => format!("expiry unknown: the expiry file {problem}"),
                (None, None) => "no expiry file".to_owned(),
            }
        ),
        (Some(Origin::Env(name)), Some(token)) => {
            trace!(tracer, "token from fallback {name}, {}", token.masked())
        }
        _ => trace!(tracer, "no token: {}", found.explain()),
    }
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
