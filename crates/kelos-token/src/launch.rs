//! The one launcher (after gix's `program::to_command`): what kelos-gh and
//! `exec` (and the wrappers to come) share. It takes the process
//! environment once and gives its snapshot and tracer
//! ([`Launch::start`]); builds the environment of the program it starts,
//! with the file's token in the chosen variables or untouched when the file
//! has no valid token ([`Launch::environment`]); and replaces this process
//! with the program ([`Launch::exec`]), by execve(2) of a file already
//! found or by a PATH search as execvp(3) does (with the `/bin/sh` fallback
//! for a text file), mapping a failure to 127 or 126 as a shell does.
//!
//! A caller chooses only a provider and a target, and words its messages.
//! A CLI wrapper (kelos-gh, kelos-glab) is [`Launch::cli_exports`] then
//! [`Launch::exec_cli`]: the provider is the only thing that differs.

use std::borrow::Cow;
use std::ffi::{c_char, c_int, CStr, CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::env::{process_environ, split_entry, EnvSnapshot, PATH_VAR};
use crate::provider::Provider;
use crate::real_gh::{find_real_cli, gh_path_value, stat_file, Found};
use crate::source::{choose_for, Origin};
use crate::text::say;
use crate::token::Token;
use crate::trace::{self, Tracer};

/// Exit status when the program cannot be found (as a shell's).
pub const NOT_FOUND: c_int = 127;
/// Exit status when it was found but could not be executed.
pub const CANNOT_EXECUTE: c_int = 126;

/// The process environment, read once: its entries in order (what the
/// program gets, duplicates and all) and their snapshot.
pub struct Launch<'a> {
    environ: Vec<&'a CStr>,
    pub env: EnvSnapshot,
}

/// What the program's environment gets: `names` set to `token`.
pub struct Exports<'n> {
    pub names: Vec<&'n str>,
    pub token: Token,
}

/// Which program to run.
pub enum Target<'t> {
    /// A file already found (the real CLI behind a wrapper): execve(2)
    /// exactly this file. Any failure is [`CANNOT_EXECUTE`]: it was found.
    File(&'t Path),
    /// A command searched in PATH as execvp(3) does ([`exec_candidates`]):
    /// [`NOT_FOUND`] when no candidate exists, else [`CANNOT_EXECUTE`].
    Search(&'t CStr),
}

/// Why the program did not start, and the exit status that says so.
#[derive(Debug)]
pub struct Failure {
    pub error: io::Error,
    pub status: c_int,
}

impl Launch<'static> {
    /// Reads the process environment once, says (once, on stderr) what is
    /// wrong with a trace setting, and opens the trace for `program`.
    ///
    /// # Safety
    ///
    /// As [`process_environ`]: the process is single-threaded and nothing
    /// changes its environment from here on.
    pub unsafe fn start(program: &'static str) -> (Launch<'static>, Tracer) {
        // SAFETY: as the caller promises.
        let launch = Launch::from_environ(unsafe { process_environ() }.collect());
        let tracer = launch.tracer(program);
        (launch, tracer)
    }
}

impl<'a> Launch<'a> {
    pub fn from_environ(environ: Vec<&'a CStr>) -> Launch<'a> {
        let env = EnvSnapshot::from_entries(environ.iter().map(|e| e.to_bytes()));
        Launch { environ, env }
    }

    /// A person who asked for a trace and named no usable sink hears so.
    fn tracer(&self, program: &'static str) -> Tracer {
        if let Some(line) = trace::setting_problem(&self.env) {
            say(program, line);
        }
        let tracer = Tracer::from_env(&self.env, program);
        if let Some(line) = tracer.refusal() {
            say(program, line);
        }
        tracer
    }

    /// PATH as the program would see it (the first entry of the name).
    pub fn path_var(&self) -> Option<&OsStr> {
        self.env.get(PATH_VAR)
    }

    /// The program's environment: the process's own, with `exports` when
    /// there are any ([`exec_environment`]), else exactly as it came.
    pub fn environment(&self, exports: Option<&Exports<'_>>) -> Vec<Cow<'a, CStr>> {
        self.environment_all(exports.map(std::slice::from_ref).unwrap_or_default())
    }

    /// [`Launch::environment`] with several providers' exports, each
    /// provider's names set to its own token ([`exec_environment_all`]).
    pub fn environment_all(&self, exports: &[Exports<'_>]) -> Vec<Cow<'a, CStr>> {
        if exports.is_empty() {
            return self.environ.iter().copied().map(Cow::Borrowed).collect();
        }
        exec_environment_all(self.environ.iter().copied(), exports)
    }

    /// Replaces this process with `target`, given `argv` (without its
    /// closing NULL) and `environment`. `close_first` are descriptors to
    /// close just before (those the start-up guard filled with /dev/null).
    /// Returns only on failure.
    pub fn exec(
        &self,
        target: Target<'_>,
        argv: &[*const c_char],
        environment: &[Cow<'_, CStr>],
        close_first: &[c_int],
    ) -> Failure {
        let argv: Vec<*const c_char> = argv.iter().copied().chain([std::ptr::null()]).collect();
        let envp: Vec<*const c_char> = environment
            .iter()
            .map(|e| e.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        for fd in close_first {
            // SAFETY: close(2) of a descriptor this process opened.
            unsafe { libc::close(*fd) };
        }
        match target {
            Target::File(path) => {
                let error = match CString::new(path.as_os_str().as_bytes()) {
                    // SAFETY: NUL-terminated strings in NULL-terminated
                    // arrays, alive until execve returns (only on failure).
                    Ok(path) => unsafe {
                        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                        io::Error::last_os_error()
                    },
                    Err(_) => {
                        io::Error::new(io::ErrorKind::InvalidInput, "the path has a NUL byte")
                    }
                };
                Failure {
                    error,
                    status: CANNOT_EXECUTE,
                }
            }
            Target::Search(command) => {
                let path_var = self.path_var().map(OsStr::as_bytes);
                let error = execvp(command, path_var, &argv, &envp);
                let status = match error.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) => NOT_FOUND,
                    _ => CANNOT_EXECUTE,
                };
                Failure { error, status }
            }
        }
    }
}

/// What a CLI wrapper shares: the token it hands the CLI, which file is the
/// real CLI, and the exec with `argv[0]` = the CLI's name.
impl Launch<'_> {
    /// The value of `name` in the environment as it came, the first entry
    /// of the name (as Go's `os.Getenv` and the snapshot read it), for a
    /// variable no provider rule reads (glab's `GLAB_CONFIG_DIR`).
    pub fn raw_var(&self, name: &str) -> Option<&OsStr> {
        self.environ.iter().find_map(|entry| {
            let (n, value) = split_entry(entry.to_bytes())?;
            (n == name.as_bytes()).then(|| OsStr::from_bytes(value))
        })
    }

    /// The variables to set and the token to set them to: only a valid
    /// token that came from `provider`'s file. `None` leaves the environment
    /// exactly as it is (a bad host variable, no file, an empty or invalid
    /// token: the CLI then reads its own variables).
    pub fn cli_exports(
        &self,
        provider: &'static Provider,
        tracer: &mut Tracer,
    ) -> Option<Exports<'static>> {
        let env = &self.env;
        let class = match provider.host(env) {
            Ok(host) => host.class(),
            Err(why) => {
                crate::trace!(tracer, "{why}; environment left as it is");
                return None;
            }
        };
        // The whole decision, fallbacks too: the trace says which one the
        // CLI reads.
        let found = choose_for(provider, env, class);
        match found.file_token() {
            Some(token) => {
                tracer.hide(token.expose().as_bytes());
                let names = provider.wrapper_vars(class, |name| env.get(name).is_some());
                crate::trace!(
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
                crate::trace!(
                    tracer,
                    "no valid token from the file, environment left as it is: {why}"
                );
                None
            }
        }
    }

    /// The provider's path variable (`KELOS_GH_PATH`), else the first CLI
    /// in PATH that first appears after this wrapper's own first appearance
    /// (see [`find_real_cli`]); else the one-line message saying why not.
    pub fn locate_cli(&self, provider: &'static Provider) -> Result<Found, String> {
        use std::os::unix::fs::MetadataExt;
        let path_var = provider.cli_path_var;
        let cli_path = gh_path_value(self.env.get(path_var));
        let this_exe = match std::fs::metadata("/proc/self/exe") {
            Ok(meta) => Some((meta.dev(), meta.ino())),
            // Without our own identity a PATH search could find ourselves
            // and loop; the path variable still works (nothing can match us
            // then).
            Err(_) if cli_path.is_some() => None,
            Err(e) => {
                return Err(format!(
                    "cannot tell which file this wrapper is (/proc/self/exe: {e}), so PATH \
                     cannot be searched safely; set {path_var} to the absolute path of the \
                     real {}",
                    provider.cli
                ))
            }
        };
        find_real_cli(provider, cli_path, self.path_var(), this_exe, stat_file)
            .map_err(|e| e.shown(provider).to_string())
    }

    /// Finds the real CLI ([`Launch::locate_cli`]) and replaces this process
    /// with it: `argv[0]` the CLI's name, then the caller's other `args`
    /// (the very pointers it passed, `args[0]` being its own name), in the
    /// environment with `exports`. Returns only when it cannot, with the
    /// exit status ([`NOT_FOUND`], [`CANNOT_EXECUTE`]), having said why on
    /// stderr as `program`.
    pub fn exec_cli(
        &self,
        program: &str,
        provider: &'static Provider,
        args: &[*const c_char],
        exports: Option<&Exports<'_>>,
        mut tracer: Tracer,
    ) -> c_int {
        let found = match self.locate_cli(provider) {
            Ok(found) => found,
            Err(e) => {
                crate::trace!(tracer, "no real {}: {e}", provider.cli);
                say(program, &e);
                return NOT_FOUND;
            }
        };
        crate::trace!(tracer, "running {}", found.shown(provider));
        drop(tracer);

        let path = found.into_path();
        let environment = self.environment(exports);
        // A CLI's name is a plain word (no NUL), so this cannot fail.
        let argv0 = CString::new(provider.cli).unwrap_or_default();
        let argv: Vec<*const c_char> = [argv0.as_ptr()]
            .into_iter()
            .chain(args.iter().skip(1).copied())
            .collect();
        let failure = self.exec(Target::File(&path), &argv, &environment, &[]);
        say(
            program,
            format_args!(
                "cannot run the real {} {}: {}",
                provider.cli,
                path.display(),
                failure.error
            ),
        );
        failure.status
    }
}

/// The environment a program is started with: every entry exactly as it
/// came (order, duplicates and all), except any entry of a name in
/// `names`, whose place goes to one `NAME=token` at the end. gh (Go) keeps
/// the first entry of a name, so a stale duplicate must not survive ahead
/// of the fresh one.
pub fn exec_environment<'a>(
    entries: impl IntoIterator<Item = &'a CStr>,
    names: &[&str],
    token: &Token,
) -> Vec<Cow<'a, CStr>> {
    let exports = Exports {
        names: names.to_vec(),
        token: token.clone(),
    };
    exec_environment_all(entries, std::slice::from_ref(&exports))
}

/// [`exec_environment`] for several sets of names, each with its token:
/// every entry of any of the names removed, then each set's names appended
/// with its own token, in order.
pub fn exec_environment_all<'a>(
    entries: impl IntoIterator<Item = &'a CStr>,
    exports: &[Exports<'_>],
) -> Vec<Cow<'a, CStr>> {
    let replaced = |entry: &CStr| {
        split_entry(entry.to_bytes()).is_some_and(|(name, _)| {
            exports
                .iter()
                .any(|e| e.names.iter().any(|n| n.as_bytes() == name))
        })
    };
    let mut environment: Vec<Cow<'a, CStr>> = entries
        .into_iter()
        .filter(|entry| !replaced(entry))
        .map(Cow::Borrowed)
        .collect();
    for Exports { names, token } in exports {
        for name in names {
            // A Token holds printable ASCII only, so the entry has no NUL;
            // were that ever not so, the variable is left out rather than
            // the error (which carries the bytes) shown.
            if let Ok(entry) = CString::new(format!("{name}={}", token.expose())) {
                environment.push(Cow::Owned(entry));
            }
        }
    }
    environment
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_environment_replaces_every_entry_of_the_names_and_keeps_the_rest() {
        let token = crate::clean_token(b"ghs_fresh").unwrap();
        let entries = [
            c"GH_TOKEN=stale",
            c"PATH=/bin",
            c"NOEQUALS",
            c"GH_TOKEN=stale2",
            c"GITHUB_TOKEN=",
            c"GH_TOKENS=other",
            c"PATH=/second",
        ];
        let got = exec_environment(entries, &["GH_TOKEN", "GITHUB_TOKEN"], &token);
        let got: Vec<&CStr> = got.iter().map(|c| c.as_ref()).collect();
        assert_eq!(
            got,
            [
                c"PATH=/bin",
                c"NOEQUALS",
                c"GH_TOKENS=other",
                c"PATH=/second",
                c"GH_TOKEN=ghs_fresh",
                c"GITHUB_TOKEN=ghs_fresh",
            ]
        );
        let untouched = exec_environment(entries, &[], &token);
        assert!(untouched.iter().map(|c| c.as_ref()).eq(entries));
    }

    #[test]
    fn the_launch_reads_path_from_its_snapshot_and_leaves_the_environment_alone() {
        let entries = [c"PATH=/first", c"X=1", c"PATH=/second", c"GH_TOKEN=old"];
        let launch = Launch::from_environ(entries.to_vec());
        assert_eq!(launch.path_var(), Some(OsStr::new("/first")));
        let untouched = launch.environment(None);
        assert!(untouched.iter().map(|c| c.as_ref()).eq(entries));
        let exports = Exports {
            names: vec!["GH_TOKEN"],
            token: crate::clean_token(b"ghs_new").unwrap(),
        };
        let set = launch.environment(Some(&exports));
        assert_eq!(
            set.iter().map(|c| c.as_ref()).collect::<Vec<_>>(),
            [c"PATH=/first", c"X=1", c"PATH=/second", c"GH_TOKEN=ghs_new"]
        );
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
