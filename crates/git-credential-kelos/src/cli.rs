//! The command line, parsed by hand: git starts the helper for every request,
//! and a parser library's code and tables made the binary a third larger and
//! every start slower. `parse` is a pure function of the arguments.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::configure::Scope;

pub const USAGE: &str = "\
A git credential helper that answers from the rotating GitHub token file
(KELOS_GITHUB_TOKEN_FILE), for the configured hosts only.

Usage: git-credential-kelos [--host HOST]... COMMAND

Commands:
  get          (git) Answer with the current token, for a configured host only
  store        (git) Ignored: the token file is the only store
  erase        (git) Explain, on stderr, why the server refused a password
  capability   (git) Print the protocol version this helper speaks
  configure    Add `kelos` to git's helpers for https://HOST and https://gist.HOST
               [--system | --global (default) | --file PATH]
  unconfigure  Remove exactly what `configure` added (same options)
  doctor       Check the token file, expiry, git and gh set-up; never shows a token
               [--json] [--no-token-ok]

Options (anywhere on the line):
  --host HOST    A host this helper answers for (and gist.HOST); repeatable.
                 Default: $GH_HOST, else github.com
  -h, --help     Print this help
  -V, --version  Print the version

git runs the helper as `git credential-kelos [--host HOST] get|store|erase`.
Set it up with `git-credential-kelos configure`; check it with
`git-credential-kelos doctor`. Operations git may add later are ignored.
";

pub const VERSION: &str = concat!("git-credential-kelos ", env!("CARGO_PKG_VERSION"), "\n");

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Run(Cli),
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Cli {
    /// `--host` values, in order, not yet validated.
    pub hosts: Vec<String>,
    pub command: Command,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Get,
    Store,
    Erase,
    Capability,
    Configure(Scope),
    Unconfigure(Scope),
    Doctor {
        json: bool,
        no_token_ok: bool,
    },
    /// An operation this helper does not know: ignored, as git asks of
    /// helpers (git may add operations).
    Other(String),
}

/// A command line that cannot be run; `Display` names the problem and
/// points at `--help`.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; see `git-credential-kelos --help`", self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage_error(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses `args` (without the program name).
pub fn parse(args: &[&OsStr]) -> Result<Invocation, UsageError> {
    let mut hosts = Vec::new();
    let mut command_word: Option<String> = None;
    let mut flags: Vec<String> = Vec::new();
    let mut file: Option<PathBuf> = None;
    let mut args = args.iter();
    while let Some(raw) = args.next() {
        // --file takes any path, UTF-8 or not; a missing one reads as empty.
        let file_value = if *raw == "--file" {
            Some(args.next().copied().unwrap_or_default())
        } else {
            raw.as_bytes()
                .strip_prefix(b"--file=")
                .map(OsStr::from_bytes)
        };
        if let Some(path) = file_value {
            set_file(&mut file, PathBuf::from(path))?;
            flags.push("--file".into());
            continue;
        }
        let Some(arg) = raw.to_str() else {
            return Err(usage_error(format!("{raw:?} is not UTF-8")));
        };
        match arg {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "--host" => match args.next().map(|v| v.to_str()) {
                Some(Some(host)) => hosts.push(host.to_owned()),
                Some(None) => return Err(usage_error("the --host value is not UTF-8")),
                None => return Err(usage_error("--host needs a host name")),
            },
            _ if arg.starts_with("--host=") => hosts.push(arg["--host=".len()..].to_owned()),
            _ if arg.starts_with('-') => flags.push(arg.to_owned()),
            _ if command_word.is_none() => command_word = Some(arg.to_owned()),
            _ => {
                return Err(usage_error(format!(
                    "unexpected argument {arg:?} after {:?}",
                    command_word.unwrap_or_default()
                )))
            }
        }
    }
    let Some(word) = command_word else {
        return Err(usage_error(
            "no command given (get, configure, doctor, ...)",
        ));
    };
    let allowed: &[&str] = match word.as_str() {
        "configure" | "unconfigure" => &["--system", "--global", "--file"],
        "doctor" => &["--json", "--no-token-ok"],
        _ => &[],
    };
    if let Some(flag) = flags.iter().find(|f| !allowed.contains(&f.as_str())) {
        return Err(usage_error(format!("{word} takes no option {flag}")));
    }
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    let command = match word.as_str() {
        "get" => Command::Get,
        "store" => Command::Store,
        "erase" => Command::Erase,
        "capability" => Command::Capability,
        "configure" => Command::Configure(scope(&flags, file)?),
        "unconfigure" => Command::Unconfigure(scope(&flags, file)?),
        "doctor" => Command::Doctor {
            json: has("--json"),
            no_token_ok: has("--no-token-ok"),
        },
        _ => Command::Other(word),
    };
    Ok(Invocation::Run(Cli { hosts, command }))
}

fn set_file(file: &mut Option<PathBuf>, path: PathBuf) -> Result<(), UsageError> {
    if path.as_os_str().is_empty() {
        return Err(usage_error("--file needs a path"));
    }
    if file.replace(path).is_some() {
        return Err(usage_error("--file given twice"));
    }
    Ok(())
}

/// One of `--system`, `--global`, `--file PATH`; none means `--global`.
fn scope(flags: &[String], file: Option<PathBuf>) -> Result<Scope, UsageError> {
    let mut given: Vec<&str> = flags.iter().map(String::as_str).collect();
    given.sort_unstable();
    given.dedup();
    if given.len() > 1 {
        return Err(usage_error(format!(
            "{} cannot be used together; choose one",
            given.join(" and ")
        )));
    }
    Ok(match (file, given.first()) {
        (Some(path), _) => Scope::File(path),
        (None, Some(&"--system")) => Scope::System,
        _ => Scope::Global,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Invocation, UsageError> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        parse(&args)
    }

    fn cli(hosts: &[&str], command: Command) -> Result<Invocation, UsageError> {
        Ok(Invocation::Run(Cli {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            command,
        }))
    }

    #[test]
    fn git_calls() {
        assert_eq!(run(&["get"]), cli(&[], Command::Get));
        assert_eq!(run(&["store"]), cli(&[], Command::Store));
        assert_eq!(run(&["erase"]), cli(&[], Command::Erase));
        assert_eq!(run(&["capability"]), cli(&[], Command::Capability));
        assert_eq!(
            run(&["--host", "ghe.example.com", "--host=b.example:8443", "get"]),
            cli(&["ghe.example.com", "b.example:8443"], Command::Get)
        );
        assert_eq!(
            run(&["get", "--host", "a.example"]),
            cli(&["a.example"], Command::Get)
        );
        assert_eq!(
            run(&["frobnicate"]),
            cli(&[], Command::Other("frobnicate".into()))
        );
    }

    #[test]
    fn people_commands() {
        assert_eq!(
            run(&["configure"]),
            cli(&[], Command::Configure(Scope::Global))
        );
        assert_eq!(
            run(&["configure", "--system", "--host", "h.example"]),
            cli(&["h.example"], Command::Configure(Scope::System))
        );
        assert_eq!(
            run(&["unconfigure", "--file", "/tmp/x y"]),
            cli(&[], Command::Unconfigure(Scope::File("/tmp/x y".into())))
        );
        assert_eq!(
            run(&["--file=/tmp/c", "configure", "--global"]).unwrap_err(),
            usage_error("--file and --global cannot be used together; choose one")
        );
        assert_eq!(
            run(&["doctor", "--json", "--no-token-ok"]),
            cli(
                &[],
                Command::Doctor {
                    json: true,
                    no_token_ok: true
                }
            )
        );
        assert_eq!(run(&["doctor", "--help"]), Ok(Invocation::Help));
        assert_eq!(run(&["-V"]), Ok(Invocation::Version));
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "no command given (get, configure, doctor, ...)"),
            (
                &["get", "extra"],
                "unexpected argument \"extra\" after \"get\"",
            ),
            (&["get", "--json"], "get takes no option --json"),
            (&["doctor", "--system"], "doctor takes no option --system"),
            (
                &["configure", "--system", "--global"],
                "--global and --system cannot be used together; choose one",
            ),
            (&["configure", "--file"], "--file needs a path"),
            (&["configure", "--file="], "--file needs a path"),
            (
                &["configure", "--file", "a", "--file", "b"],
                "--file given twice",
            ),
            (&["get", "--host"], "--host needs a host name"),
        ];
        for (args, want) in cases {
            assert_eq!(run(args), Err(usage_error(*want)), "{args:?}");
        }
        let err = run(&["get", "--json"]).unwrap_err().to_string();
        assert!(
            err.ends_with("; see `git-credential-kelos --help`"),
            "{err}"
        );
    }

    #[test]
    fn a_file_path_need_not_be_utf8() {
        let path = OsStr::from_bytes(b"/tmp/\xff");
        let args = [OsStr::new("configure"), OsStr::new("--file"), path];
        assert_eq!(
            parse(&args),
            cli(&[], Command::Configure(Scope::File(PathBuf::from(path))))
        );
    }
}
