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

use std::borrow::Cow;
use std::ffi::{c_char, c_int, CStr, CString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::ptr;
use std::time::SystemTime;

// The command line's values (clap derives, compiled for size with the rest
// of the command line in kelos-setup); named here too, where they are used.
use crate::cli::ExecArgs;
pub use crate::cli::{bad_var_name, is_var_name, EnvFormat, TokenFormat};
use crate::quote::{json_string_into, sh_quote_into};
use kelos_token::credential::expiry_warning;
use kelos_token::env::split_entry;
use kelos_token::env::TOKEN_VARS;
use kelos_token::expiry::unix_seconds;
use kelos_token::gh::exec_environment;
use kelos_token::text::say;
use kelos_token::{lookup, trace, EnvSnapshot, Host, HostClass, Origin, Token, Tracer};

const PROGRAM: &str = "git-credential-kelos";

/// `env` and `exec` refuse `--host`: the file's token is the same for every
/// host, and the variables they set are the ones present.
pub const NO_HOST_OPTION: &str = "env and exec take no --host: they set the token file's token, \
                                  which is the same for every host, in the variables already set \
                                  (and --set NAME)";

/// Exit status of `exec` when the command is not found (as a shell's).
pub const NOT_FOUND: c_int = 127;
/// Exit status of `exec` when the command was found but could not be run.
pub const CANNOT_EXECUTE: c_int = 126;

/// The variables to set: each of [`TOKEN_VARS`] that is `present`, then each
/// `--set` name, every name once, in that order.
pub fn env_names<'a>(present: impl Fn(&str) -> bool, set: &'a [String]) -> Vec<&'a str> {
    let mut names: Vec<&'a str> = TOKEN_VARS.iter().copied().filter(|n| present(n)).collect();
    for name in set {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
}

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

/// The token the file holds now, never a fallback; else why not (no token
/// value in it).
pub fn file_token(env: &EnvSnapshot) -> Result<Token, String> {
    // The file's token does not depend on the host; the class only picks
    // the fallbacks, which are never used here.
    let found = lookup(env, HostClass::Dotcom);
    match found.file_token() {
        Some(token) => Ok(token.clone()),
        None => Err(match (&found.path, &found.file_rejection) {
            (Some(path), Some(rejection)) => format!(
                "token file {} ({}) {rejection}",
                path.display(),
                kelos_token::env::TOKEN_FILE_VAR
            ),
            _ => format!("{} is not set", kelos_token::env::TOKEN_FILE_VAR),
        }),
    }
}

/// `token`: prints the token `get` would answer with for `host`. Exit 1,
/// with one line on stderr saying why, when there is none.
pub fn token(env: &EnvSnapshot, host: &Host, format: TokenFormat, tracer: &mut Tracer) -> c_int {
    let found = lookup(env, host.class());
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
    let token = match file_token(env) {
        Ok(token) => token,
        Err(why) => {
            trace!(
                tracer,
                "env: no valid token from the file, nothing printed: {why}"
            );
            return 0;
        }
    };
    let names = env_names(|n| env.get(n).is_some(), set);
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
/// execs `argv[0]`, searched in PATH as `execvp` does. `environ` is the
/// process environment, in order, and `env` its snapshot; `reopened` are the standard descriptors
/// the start-up guard filled with /dev/null, closed again just before the
/// exec so that the command gets the descriptors its caller left. Returns
/// only on failure: 127 when the command is not found, 126 when it cannot
/// be run.
pub fn exec(
    environ: &[&CStr],
    env: &EnvSnapshot,
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
    let environment: Vec<Cow<'_, CStr>> = match file_token(env) {
        Ok(token) => {
            let names = env_names(|n| env.get(n).is_some(), set);
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
            exec_environment(environ.iter().copied(), &names, &token)
        }
        Err(why) => {
            trace!(
                tracer,
                "exec: no valid token from the file, environment left as it is: {why}"
            );
            environ.iter().copied().map(Cow::Borrowed).collect()
        }
    };
    trace!(
        tracer,
        "exec: running {}",
        String::from_utf8_lossy(command.to_bytes())
    );
    drop(tracer);

    let argv_ptrs: Vec<*const c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain([ptr::null()])
        .collect();
    let envp: Vec<*const c_char> = environment
        .iter()
        .map(|e| e.as_ptr())
        .chain([ptr::null()])
        .collect();
    for fd in reopened {
        // SAFETY: close(2) of a descriptor this process opened on /dev/null.
        unsafe { libc::close(*fd) };
    }
    let path_var = environ.iter().find_map(|entry| {
        let (name, value) = split_entry(entry.to_bytes())?;
        (name == b"PATH").then_some(value)
    });
    let error = execvp(command, path_var, &argv_ptrs, &envp);
    let shown = String::from_utf8_lossy(command.to_bytes());
    let has_slash = command.to_bytes().contains(&b'/');
    match error.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) if !has_slash => {
            say(
                PROGRAM,
                format_args!("exec: {shown}: command not found in PATH"),
            );
            NOT_FOUND
        }
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
            say(PROGRAM, format_args!("exec: {shown}: {error}"));
            NOT_FOUND
        }
        _ => {
            say(
                PROGRAM,
                format_args!("exec: {shown}: cannot run it: {error}"),
            );
            CANNOT_EXECUTE
        }
    }
}

/// The search path when PATH is unset, as musl's execvp has it.
const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/bin:/usr/bin";

/// The files execvp(3) tries for `command`, in order: `command` itself when
/// it holds a slash, else `DIR/command` for each entry of `path_var` (PATH,
/// unset: [`DEFAULT_PATH`]; an empty entry is the current directory).
pub fn exec_candidates(command: &[u8], path_var: Option<&[u8]>) -> Vec<CString> {
    if command.contains(&b'/') {
        return CString::new(command).into_iter().collect();
    }
    path_var
        .unwrap_or(DEFAULT_PATH)
        .split(|b| *b == b':')
        .filter_map(|dir| {
            let mut file = dir.to_vec();
            if !file.is_empty() {
                file.push(b'/');
            }
            file.extend_from_slice(command);
            CString::new(file).ok()
        })
        .collect()
}

/// Whether a file the kernel would not run is a script for `/bin/sh`:
/// not an ELF file (one for another machine, or damaged: sh would run its
/// bytes as commands) and no NUL byte in its first bytes (bash's test for a
/// binary file). Given the file's first bytes.
pub fn runs_with_sh(head: &[u8]) -> bool {
    !head.starts_with(b"\x7fELF") && !head.contains(&0)
}

/// The first bytes of `file` (at most 512), for [`runs_with_sh`]; a NUL
/// (not a script) when it cannot be read: sh could not read it either.
fn file_head(file: &CStr) -> Vec<u8> {
    let mut head = vec![0u8; 512];
    // SAFETY: open(2) of a NUL-terminated path; read(2) into a buffer we
    // own, of its length; close(2) of the descriptor opened here.
    let n = unsafe {
        let fd = libc::open(
            file.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return vec![0];
        }
        let n = libc::read(fd, head.as_mut_ptr().cast(), head.len());
        libc::close(fd);
        n
    };
    head.truncate(usize::try_from(n).unwrap_or(0));
    head
}

/// execvp(3) as POSIX specifies it, with `envp`: each candidate
/// ([`exec_candidates`]) in turn, passing over those that do not exist or
/// may not be run (EACCES is reported when nothing else ran); a file that
/// the kernel will not run (ENOEXEC: a script without `#!`) is run by
/// `/bin/sh FILE ARGS`, as glibc's execvp and env(1) do (musl's does not),
/// unless it is a binary ([`runs_with_sh`]: then ENOEXEC is the answer).
/// `argv` and `envp` are NULL-terminated. Returns only on failure, with
/// the error to report.
fn execvp(
    command: &CStr,
    path_var: Option<&[u8]>,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> io::Error {
    let mut seen_eacces = false;
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    for file in exec_candidates(command.to_bytes(), path_var) {
        // SAFETY: NUL-terminated strings in NULL-terminated arrays, alive
        // until execve returns (only on failure).
        unsafe { libc::execve(file.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::ENOEXEC) if runs_with_sh(&file_head(&file)) => {
                let sh_argv: Vec<*const c_char> = [c"/bin/sh".as_ptr(), file.as_ptr()]
                    .into_iter()
                    .chain(argv.iter().skip(1).copied())
                    .collect();
                // SAFETY: as above; `sh_argv` ends with argv's NULL.
                unsafe { libc::execve(c"/bin/sh".as_ptr(), sh_argv.as_ptr(), envp.as_ptr()) };
                return io::Error::last_os_error();
            }
            Some(libc::EACCES) => seen_eacces = true,
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            _ => return error,
        }
        last = error;
    }
    if seen_eacces {
        io::Error::from_raw_os_error(libc::EACCES)
    } else {
        last
    }
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
    let environ: Vec<&CStr> = unsafe { kelos_token::env::process_environ() }.collect();
    let env = EnvSnapshot::from_entries(environ.iter().map(|e| e.to_bytes()));
    if let Some(line) = trace::setting_problem(&env) {
        say(PROGRAM, line);
    }
    let tracer = Tracer::from_env(&env, PROGRAM);
    exec(&environ, &env, &args.set, &argv, tracer, reopened)
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
            env_names(present, &set),
            ["GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN"]
        );
        assert!(env_names(|_| false, &[]).is_empty());
        assert_eq!(env_names(|_| true, &[]), TOKEN_VARS);
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

    #[test]
    fn exec_candidates_are_execvp_s() {
        let c = |command: &str, path: Option<&str>| -> Vec<String> {
            exec_candidates(command.as_bytes(), path.map(str::as_bytes))
                .into_iter()
                .map(|c| c.into_string().unwrap())
                .collect()
        };
        assert_eq!(c("./s", Some("/a:/b")), ["./s"]);
        assert_eq!(c("/x/s", None), ["/x/s"]);
        assert_eq!(c("s", Some("/a:/b/")), ["/a/s", "/b//s"]);
        assert_eq!(c("s", Some("/a::b")), ["/a/s", "s", "b/s"]);
        assert_eq!(c("s", None), ["/usr/local/bin/s", "/bin/s", "/usr/bin/s"]);
        assert_eq!(c("s", Some("")), ["s"]);
    }

    #[test]
    fn only_a_text_file_falls_back_to_sh() {
        assert!(runs_with_sh(b"echo hi\n"));
        assert!(runs_with_sh(b""));
        assert!(runs_with_sh("printf 'é'\n".as_bytes()));
        assert!(!runs_with_sh(b"\x7fELF\x02\x01\x01"));
        assert!(!runs_with_sh(b"\x7fELF not really an executable\n"));
        assert!(!runs_with_sh(b"MZ\x90\x00\x03"));
    }
}
