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
use kelos_token::{trace, EnvSnapshot, Origin, Provider, Token, Tracer, GITHUB, GITLAB};

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
        EnvFormat::Json => json_object_into(names.iter().map(|name| (*name, token)), &mut out),
    }
    out
}

/// `{"NAME":"token",...}` and a newline: the JSON form of `env`.
fn json_object_into<'t>(pairs: impl Iterator<Item = (&'t str, &'t Token)>, out: &mut String) {
    out.push('{');
    for (i, (name, token)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string_into(name, out);
        out.push(':');
        json_string_into(token.expose(), out);
    }
    out.push_str("}\n");
}

/// [`render_env`] for several providers' tokens, each with its names: one
/// list of assignments (one JSON object), in order.
pub fn render_env_all(format: EnvFormat, exports: &[Exports<'_>]) -> String {
    match format {
        EnvFormat::Sh => exports
            .iter()
            .map(|e| render_env(format, &e.names, &e.token))
            .collect(),
        EnvFormat::Json => {
            let mut out = String::new();
            let pairs = exports
                .iter()
                .flat_map(|e| e.names.iter().map(move |n| (*n, &e.token)));
            json_object_into(pairs, &mut out);
            out
        }
    }
}

/// The providers `env` and `exec` refresh: GitHub, and GitLab when a GitLab
/// setting is in play ([`Provider::in_play`]). The `--set` names take
/// GitHub's token, or GitLab's when only GitLab's token file is configured;
/// a `--set` name that is the other provider's token variable is left to
/// that provider, so that no variable gets the other provider's token.
pub fn refreshed<'s>(
    env: &EnvSnapshot,
    set: &'s [String],
) -> Vec<(&'static Provider, &'s [String])> {
    if !GITLAB.in_play(env) {
        return vec![(&GITHUB, set)];
    }
    let gitlab_holds_set = env.non_empty(GITHUB.token_file_var).is_none()
        && env.non_empty(GITLAB.token_file_var).is_some();
    if gitlab_holds_set {
        vec![(&GITHUB, &[][..]), (&GITLAB, set)]
    } else {
        vec![(&GITHUB, set), (&GITLAB, &[][..])]
    }
}

/// The names `provider` sets in `env` and `exec`: its present token
/// variables and `set` ([`Provider::consumer_vars`]), without any other
/// refreshed provider's token variables.
fn names_for<'s>(
    provider: &'static Provider,
    set: &'s [String],
    env: &EnvSnapshot,
    others: &[&'static Provider],
) -> Vec<&'s str> {
    let mut names = provider.consumer_vars(|n| env.get(n).is_some(), set);
    for other in others {
        if !std::ptr::eq(*other, provider) {
            names.retain(|n| !other.token_vars.contains(n));
        }
    }
    names
}

/// How a trace line names `provider` among `providers`: nothing when it is
/// the only one (the lines GitHub-only pods have always had).
fn label(provider: &Provider, providers: usize) -> String {
    if providers == 1 {
        String::new()
    } else {
        format!(" ({})", provider.name)
    }
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
    let providers = refreshed(env, set);
    let all: Vec<&'static Provider> = providers.iter().map(|(p, _)| *p).collect();
    let mut exports = Vec::new();
    for (provider, set) in &providers {
        let label = label(provider, providers.len());
        let token = match file_token(provider, env) {
            Ok(token) => token,
            Err(why) => {
                trace!(
                    tracer,
                    "env{label}: no valid token from the file, nothing printed: {why}"
                );
                continue;
            }
        };
        let names = names_for(provider, set, env, &all);
        trace!(
            tracer,
            "env{label}: {} to the token file's {}",
            if names.is_empty() {
                "no variable to set (none present, no --set)".to_string()
            } else {
                format!("setting {}", names.join(", "))
            },
            token.masked()
        );
        exports.push(Exports { names, token });
    }
    if exports.is_empty() {
        return 0;
    }
    write_out(&render_env_all(format, &exports))
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
    let providers = refreshed(env, set);
    let all: Vec<&'static Provider> = providers.iter().map(|(p, _)| *p).collect();
    let mut exports = Vec::new();
    for (provider, set) in &providers {
        let label = label(provider, providers.len());
        match file_token(provider, env) {
            Ok(token) => {
                let names = names_for(provider, set, env, &all);
                trace!(
                    tracer,
                    "exec{label}: setting {} to the token file's {}",
                    if names.is_empty() {
                        "nothing (no token variable present, no --set)".to_string()
                    } else {
                        names.join(", ")
                    },
                    token.masked()
                );
                exports.push(Exports { names, token });
            }
            Err(why) => trace!(
                tracer,
                "exec{label}: no valid token from the file, environment left as it is: {why}"
            ),
        }
    }
    trace!(
        tracer,
        "exec: running {}",
        String::from_utf8_lossy(command.to_bytes())
    );
    drop(tracer);

    let environment = launch.environment_all(&exports);
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
    fn each_provider_sets_its_own_names_and_set_goes_to_one() {
        let env = |pairs: &[(&str, &str)]| EnvSnapshot::from_pairs(pairs.iter().copied());
        let set = vec![
            "NPM_TOKEN".to_string(),
            "GITLAB_TOKEN".into(),
            "GH_TOKEN".into(),
        ];
        let shown = |env: &EnvSnapshot| -> Vec<(&str, Vec<String>)> {
            let providers = refreshed(env, &set);
            let all: Vec<&'static Provider> = providers.iter().map(|(p, _)| *p).collect();
            providers
                .iter()
                .map(|(p, s)| {
                    let names = names_for(p, s, env, &all);
                    (p.name, names.iter().map(|n| n.to_string()).collect())
                })
                .collect()
        };
        // No GitLab setting: as before (even a --set GitLab name).
        assert_eq!(
            shown(&env(&[
                ("KELOS_GITHUB_TOKEN_FILE", "/g"),
                ("GITHUB_TOKEN", "x")
            ])),
            [(
                "GitHub",
                vec![
                    "GITHUB_TOKEN".into(),
                    "NPM_TOKEN".into(),
                    "GITLAB_TOKEN".into(),
                    "GH_TOKEN".into()
                ]
            )]
        );
        // Both: each its own variables; --set with GitHub, minus GitLab's.
        let both = env(&[
            ("KELOS_GITHUB_TOKEN_FILE", "/g"),
            ("KELOS_GITLAB_TOKEN_FILE", "/l"),
            ("GITHUB_TOKEN", "x"),
            ("GITLAB_TOKEN", "y"),
            ("OAUTH_TOKEN", "z"),
        ]);
        assert_eq!(
            shown(&both),
            [
                (
                    "GitHub",
                    vec!["GITHUB_TOKEN".into(), "NPM_TOKEN".into(), "GH_TOKEN".into()]
                ),
                ("GitLab", vec!["GITLAB_TOKEN".into(), "OAUTH_TOKEN".into()]),
            ]
        );
        // Only GitLab's file: --set takes GitLab's token, never a GitHub name.
        let gitlab = env(&[("KELOS_GITLAB_TOKEN_FILE", "/l"), ("GITLAB_TOKEN", "y")]);
        assert_eq!(
            shown(&gitlab),
            [
                ("GitHub", vec![]),
                ("GitLab", vec!["GITLAB_TOKEN".into(), "NPM_TOKEN".into()]),
            ]
        );
        let exports = [
            Exports {
                names: vec!["GH_TOKEN"],
                token: tok("ghs_a"),
            },
            Exports {
                names: vec!["GITLAB_TOKEN", "OAUTH_TOKEN"],
                token: tok("glpat-b"),
            },
        ];
        assert_eq!(
            render_env_all(EnvFormat::Json, &exports),
            "{\"GH_TOKEN\":\"ghs_a\",\"GITLAB_TOKEN\":\"glpat-b\",\"OAUTH_TOKEN\":\"glpat-b\"}\n"
        );
        assert_eq!(
            render_env_all(EnvFormat::Sh, &exports),
            "export GH_TOKEN='ghs_a'\nexport GITLAB_TOKEN='glpat-b'\nexport OAUTH_TOKEN='glpat-b'\n"
        );
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
