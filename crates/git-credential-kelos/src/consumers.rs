//! The commands for everything else in the pod that reads the token: the
//! agent's shell commands, `npm`, `curl`, scripts, MCP header helpers.
//!
//! - `token`: the token `get` would answer with, for people and helper hooks.
//! - `env`: assignments of the file's token to the token variables already
//!   present (and `--set` names), for `eval` (the shell snippet
//!   `images/kelos-env.sh` runs it before every `bash -c`).
//! - `exec`: the same variables, then `execvp` of a command.
//!
//! The functions at the top are pure (what is set, how it is quoted, the
//! JSON); the commands below them read the file and write or exec.

use std::ffi::{c_char, c_int, CStr, CString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

// The command line's values (clap derives, compiled for size with the rest
// of the command line in kelos-setup). That crate knows nothing of this
// module: the dependency goes one way.
use crate::cli::{bad_var_name, is_var_name, EnvFormat, ExecArgs, TokenFormat};
use crate::quote::{json_string_into, sh_quote_into};
use kelos_token::credential::expiry_warning;
use kelos_token::expiry::unix_seconds;
use kelos_token::launch::{Exports, Launch, Target, NOT_FOUND};
use kelos_token::served::Served;
use kelos_token::source::{choose_for, read_file, FileDecision};
use kelos_token::text::say;
use kelos_token::{trace, EnvSnapshot, Origin, Provider, Token, Tracer, GITHUB};

const PROGRAM: &str = "git-credential-kelos";

/// `env` and `exec` refuse `--host`: the file's token is the same for every
/// host, and the variables they set are the ones present.
pub const NO_HOST_OPTION: &str = "env and exec take no --host: they set the token file's token, \
                                  which is the same for every host, in the variables already set \
                                  (and --set NAME)";

/// What `env` prints for `names` and `token`. `sh` with no names prints
/// nothing; `json` prints `{}`.
pub fn render_env(format: EnvFormat, names: &[&str], token: &Token) -> String {
    let mut out = String::new();
    match format {
        EnvFormat::Sh => {
            for name in names {
                debug_assert!(is_var_name(name));
                out.push_str("export ");
                out.push_str(name);
                out.push('=');
                sh_quote_into(token.expose(), &mut out);
                out.push('\n');
            }
        }
        EnvFormat::Json => {
            out.push('{');
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string_into(name, &mut out);
                out.push(':');
                json_string_into(token.expose(), &mut out);
            }
            out.push_str("}\n");
        }
    }
    out
}

/// What `token` prints.
pub fn render_token(format: TokenFormat, token: &Token) -> String {
    let mut out = String::new();
    match format {
        TokenFormat::Plain => out.push_str(token.expose()),
        TokenFormat::HeaderJson => {
            out.push_str("{\"Authorization\":");
            json_string_into(&format!("Bearer {}", token.expose()), &mut out);
            out.push('}');
        }
    }
    out.push('\n');
    out
}

/// The token `provider`'s file holds now, never a fallback; else why not
/// (no token value in it). Only the file is judged: no host class, no
/// fallback is looked at.
pub fn file_token(provider: &'static Provider, env: &EnvSnapshot) -> Result<Token, String> {
    let file = FileDecision::from_reading(read_file(provider, env));
    match file.outcome {
        Ok(file) => Ok(file.token),
        Err(ref rejection) => {
            Err(
                kelos_token::source::why_not_file(provider, file.path.as_deref(), Some(rejection))
                    .unwrap_or_default(),
            )
        }
    }
}

/// `token`: prints the token `get` would answer with for `host`. Exit 1,
/// with one line on stderr saying why, when there is none.
pub fn token(
    env: &EnvSnapshot,
    served: &Served,
    format: TokenFormat,
    tracer: &mut Tracer,
) -> c_int {
    let host = served.host();
    let found = choose_for(served.provider(), env, host.class());
    let Some(token) = &found.token else {
        trace!(tracer, "token: no token for {host}: {}", found.explain());
        say(
            PROGRAM,
            format_args!("no token for {host}: {}", found.explain()),
        );
        return 1;
    };
    match found.origin {
        Some(Origin::Env(name)) => trace!(
            tracer,
            "token: {} from fallback {name} ({})",
            token.masked(),
            found.explain()
        ),
        _ => trace!(tracer, "token: {} from the token file", token.masked()),
    }
    if found.expires_at.is_some() {
        if let Some(warning) = expiry_warning(&found, unix_seconds(SystemTime::now())) {
            say(PROGRAM, warning);
        }
    }
    write_out(&render_token(format, token))
}

/// `env`: prints the assignments, or nothing when the file has no valid
/// token. Silent on stderr (a shell runs it before every command) unless
/// tracing.
pub fn env(env: &EnvSnapshot, set: &[String], format: EnvFormat, tracer: &mut Tracer) -> c_int {
    if let Some(bad) = set.iter().find(|n| !is_var_name(n)) {
        say(PROGRAM, bad_var_name(bad));
        return 2;
    }
    let token = match file_token(&GITHUB, env) {
        Ok(token) => token,
        Err(why) => {
            trace!(
                tracer,
                "env: no valid token from the file, nothing printed: {why}"
            );
            return 0;
        }
    };
    let names = GITHUB.consumer_vars(|n| env.get(n).is_some(), set);
    trace!(
        tracer,
        "env: {} to the token file's {}",
        if names.is_empty() {
            "no variable to set (none present, no --set)".to_string()
        } else {
            format!("setting {}", names.join(", "))
        },
        token.masked()
    );
    write_out(&render_env(format, &names, &token))
}

fn write_out(text: &str) -> c_int {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            say(PROGRAM, format_args!("cannot write to stdout: {e}"));
            2
        }
    }
}

/// `exec`: sets what `env` would print in the environment of `argv`, then
/// execs `argv[0]`, searched in PATH as `execvp` does (the launcher's
/// [`Target::Search`]). `reopened` are the standard descriptors the
/// start-up guard filled with /dev/null, closed again just before the exec
/// so that the command gets the descriptors its caller left. Returns only
/// on failure: 127 when the command is not found, 126 when it cannot be
/// run.
pub fn exec(
    launch: &Launch<'_>,
    set: &[String],
    argv: &[&CStr],
    mut tracer: Tracer,
    reopened: &[c_int],
) -> c_int {
    if let Some(bad) = set.iter().find(|n| !is_var_name(n)) {
        say(PROGRAM, bad_var_name(bad));
        return 2;
    }
    let Some(command) = argv.first() else {
        say(
            PROGRAM,
            "exec needs a command: git-credential-kelos exec [--set NAME]... [--] COMMAND \
             [ARG]...",
        );
        return 2;
    };
    let env = &launch.env;
    let exports = match file_token(&GITHUB, env) {
        Ok(token) => {
            let names = GITHUB.consumer_vars(|n| env.get(n).is_some(), set);
            trace!(
                tracer,
                "exec: setting {} to the token file's {}",
                if names.is_empty() {
                    "nothing (no token variable present, no --set)".to_string()
                } else {
                    names.join(", ")
                },
                token.masked()
            );
            Some(Exports { names, token })
        }
        Err(why) => {
            trace!(
                tracer,
                "exec: no valid token from the file, environment left as it is: {why}"
            );
            None
        }
    };
    trace!(
        tracer,
        "exec: running {}",
        String::from_utf8_lossy(command.to_bytes())
    );
    drop(tracer);

    let environment = launch.environment(exports.as_ref());
    let argv: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    let failure = launch.exec(Target::Search(command), &argv, &environment, reopened);
    let (error, shown) = (failure.error, String::from_utf8_lossy(command.to_bytes()));
    if failure.status == NOT_FOUND && !command.to_bytes().contains(&b'/') {
        say(
            PROGRAM,
            format_args!("exec: {shown}: command not found in PATH"),
        );
    } else if failure.status == NOT_FOUND {
        say(PROGRAM, format_args!("exec: {shown}: {error}"));
    } else {
        say(
            PROGRAM,
            format_args!("exec: {shown}: cannot run it: {error}"),
        );
    }
    failure.status
}

/// `exec` as parsed from the command line; `reopened` as for [`exec`].
pub fn exec_command(args: &ExecArgs, reopened: &[c_int]) -> c_int {
    // An argument from argv never holds a NUL.
    let argv: Vec<CString> = args
        .command
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let argv: Vec<&CStr> = argv.iter().map(CString::as_c_str).collect();
    // SAFETY: single-threaded, and nothing changes the environment.
    let (launch, tracer) = unsafe { Launch::start(PROGRAM) };
    exec(&launch, &args.set, &argv, tracer, reopened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelos_token::clean_token;

    fn tok(s: &str) -> Token {
        clean_token(s.as_bytes()).unwrap()
    }

    #[test]
    fn variable_names() {
        for ok in ["A", "_", "GITHUB_TOKEN", "npm_config__auth", "x1", "_9"] {
            assert!(is_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "$A", "Ä", "A\n", "a.b"] {
            assert!(!is_var_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_are_present_token_vars_then_set_once_each() {
        let present = |n: &str| n == "GH_TOKEN" || n == "GITHUB_TOKEN";
        let set = vec![
            "NPM_TOKEN".to_string(),
            "GH_TOKEN".into(),
            "NPM_TOKEN".into(),
        ];
        assert_eq!(
            GITHUB.consumer_vars(present, &set),
            ["GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN"]
        );
        assert!(GITHUB.consumer_vars(|_| false, &[]).is_empty());
        assert_eq!(GITHUB.consumer_vars(|_| true, &[]), GITHUB.token_vars);
    }

    #[test]
    fn sh_quoting() {
        let t = tok(r#"ghs_a'b"c$d`e\f;g*h$(touch${IFS}x)'"#);
        assert_eq!(
            render_env(EnvFormat::Sh, &["GH_TOKEN", "X"], &t),
            "export GH_TOKEN='ghs_a'\\''b\"c$d`e\\f;g*h$(touch${IFS}x)'\\'''\n\
             export X='ghs_a'\\''b\"c$d`e\\f;g*h$(touch${IFS}x)'\\'''\n"
        );
        assert_eq!(render_env(EnvFormat::Sh, &[], &t), "");
    }

    #[test]
    fn json_objects() {
        let t = tok(r#"ghs_a"b\c"#);
        assert_eq!(
            render_env(EnvFormat::Json, &["GH_TOKEN", "GITHUB_TOKEN"], &t),
            "{\"GH_TOKEN\":\"ghs_a\\\"b\\\\c\",\"GITHUB_TOKEN\":\"ghs_a\\\"b\\\\c\"}\n"
        );
        assert_eq!(render_env(EnvFormat::Json, &[], &t), "{}\n");
        assert_eq!(
            render_token(TokenFormat::HeaderJson, &t),
            "{\"Authorization\":\"Bearer ghs_a\\\"b\\\\c\"}\n"
        );
        assert_eq!(render_token(TokenFormat::Plain, &t), "ghs_a\"b\\c\n");
    }
}
