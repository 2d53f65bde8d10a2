//! The command line, in two parts.
//!
//! - git's own calls, `[--host HOST]... get|store|erase|capability|OTHER`, are
//!   read by hand in [`parse_git_call`]: git starts the helper for every
//!   request, so they stay off clap's start-up cost, and they are git's
//!   protocol, not a command line: an operation the helper does not know is
//!   ignored in silence (git may add operations).
//! - Everything else, the commands for people and scripts, is [`Cli`]
//!   (clap): every command has its own `--help`, a misspelt option is named
//!   with a suggestion, a value never swallows the next option, and a usage
//!   error exits with 2.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::configure::Scope;

/// Names of the commands that are [`Cli`]'s, not git's: a git call never
/// uses them as its operation. A unit test keeps this list equal to clap's.
pub const PEOPLE_COMMANDS: &[&str] = &[
    "configure",
    "unconfigure",
    "doctor",
    "token",
    "env",
    "exec",
    "install",
    "help",
];

const ABOUT: &str = "A git credential helper that answers from the rotating GitHub token file \
                     (KELOS_GITHUB_TOKEN_FILE), for the configured hosts only";

const AFTER_HELP: &str = "\
git runs the helper as `git credential-kelos [--host HOST] get|store|erase`.
Set it up with `git-credential-kelos configure`; check it with
`git-credential-kelos doctor`. Operations git may add later are ignored.";

/// The commands for people are parsed with [`Cli::parse_people`], which
/// gathers every `--host` into [`Cli::hosts`].
#[derive(Clone, Debug, Parser, PartialEq, Eq)]
#[command(name = "git-credential-kelos", version = kelos_token::version::VERSION_TEXT, about = ABOUT, after_help = AFTER_HELP)]
#[command(propagate_version = true)]
pub struct Cli {
    /// A host this helper answers for (and gist.HOST); repeatable.
    /// Default: $GH_HOST, else github.com. configure, unconfigure, doctor
    /// and token (once) also take it after their name; env and exec do not
    // Not global: each command lists `--host` only if it takes it, and as
    // often as it takes it (its --help must not offer what it refuses).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<OsString>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// (git) Answer with the current token, for a configured host only
    Get,
    /// (git) Ignored: the token file is the only store
    Store,
    /// (git) Explain, on stderr, why the server refused a password
    Erase,
    /// (git) Print the protocol version this helper speaks
    Capability,
    /// Add `kelos` to git's helpers for https://HOST and https://gist.HOST
    #[command(long_about = CONFIGURE_ABOUT)]
    Configure(ConfigureArgs),
    /// Remove exactly what `configure` added (same options)
    Unconfigure(ConfigureArgs),
    /// Check the token file, expiry, git and gh set-up; never shows a token
    #[command(long_about = DOCTOR_ABOUT)]
    Doctor(DoctorArgs),
    /// Print the token `get` would answer with (for scripts and header helpers)
    #[command(long_about = TOKEN_ABOUT, after_help = TOKEN_AFTER_HELP)]
    Token(TokenArgs),
    /// Print the file's token as assignments to the token variables, for eval
    #[command(long_about = ENV_ABOUT, after_help = ENV_AFTER_HELP)]
    Env(EnvArgs),
    /// Refresh the token variables from the file, then run COMMAND in place
    #[command(long_about = EXEC_ABOUT, after_help = EXEC_AFTER_HELP)]
    Exec(ExecArgs),
    /// Copy the helpers and the shell snippet into DIR (an init container's emptyDir)
    #[command(long_about = INSTALL_ABOUT, after_help = INSTALL_AFTER_HELP)]
    Install(InstallArgs),
    /// An operation this helper does not know (from git): ignored.
    #[command(skip)]
    Other(OsString),
}

const CONFIGURE_ABOUT: &str = "\
Add `kelos` to git's helpers for https://HOST and https://gist.HOST.

For each host it adds an empty value, which resets the helper list git
inherited for that URL only, followed by `kelos` (`kelos --host HOST` for
other hosts than github.com). Other hosts' helpers and other keys are left
alone; running it twice changes nothing. It edits through `git config`,
never by hand.

With --exclusive, it adds an empty plain `credential.helper` (which clears
every helper git read before it, for every URL) and then kelos, after every
other helper entry of that file: git then runs only kelos, for every host.
Nothing is deleted; `unconfigure --exclusive` removes exactly those two.
For the helper the Kelos controller writes into /workspace/repo/.git/config,
run `git-credential-kelos configure --exclusive --local` in that repository.";

const DOCTOR_ABOUT: &str = "\
Check the token file, expiry, git and gh set-up; never shows a token.

One line per check, each `ok`, `warn` or `fail` with the fix. Exit status 1
when a check fails. `git.leak` asks git itself (`git credential fill`, in
the current directory, time-limited, no prompt) for a host and a protocol no
helper may answer, and names the helper that does, its file, and the command
that silences it. Helper command lines are shown with tokens masked.
For the moment of failure itself, `KELOS_CREDENTIAL_TRACE=1 git push` shows
each decision.";

const TOKEN_ABOUT: &str = "\
Print the token `get` would answer with for HOST (--host, else $GH_HOST, else
github.com): the token file's, else the fallback variable for the host's
class. No token: nothing on stdout, one line on stderr saying why (never a
token), exit status 1.";

const TOKEN_AFTER_HELP: &str = "\
Examples:
  curl -H \"Authorization: Bearer $(git-credential-kelos token)\" https://api.github.com/user
  git-credential-kelos token --format header-json    # an MCP headersHelper";

const ENV_ABOUT: &str = "\
Print assignments of the token file's current token to each token variable
already present in the environment (GITHUB_TOKEN, GH_TOKEN,
GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN) and to each --set NAME.

sh: `export NAME='TOKEN'` lines, quoted so that eval can only ever assign.
json: one object. When the file has no valid token it prints nothing, exit
status 0: the variables keep what they have (a fallback is never printed).
Silent on stderr unless KELOS_CREDENTIAL_TRACE is set: shells run it before
every command (/etc/profile.d/kelos-env.sh and BASH_ENV do).";

const ENV_AFTER_HELP: &str = "\
Example:
  eval \"$(git-credential-kelos env)\"";

const EXEC_ABOUT: &str = "\
Set exactly what `env` would print, then run COMMAND in place of this
process, found in PATH as execvp does: same PID, every argument byte for
byte, every other variable, the ignored signals and closed descriptors as
the caller left them. Nothing after COMMAND is read by this helper.
COMMAND not found: exit status 127; found but not executable: 126.";

const EXEC_AFTER_HELP: &str = "\
Examples:
  git-credential-kelos exec npm whoami
  git-credential-kelos exec --set NPM_TOKEN -- npm publish";

const INSTALL_ABOUT: &str = "\
Copy this binary, kelos-gh and kelos-glab (when beside it) and the shell
snippet kelos-env.sh into DIR, created if missing: the binaries with mode
0755, the snippet 0644. Each file is written under a temporary name in DIR
and renamed into place, so a program running DIR/git-credential-kelos at the
same time gets the old file or the new one, never a part. Running it again
gives the same files. For init containers of the helpers image, which has
no shell and no cp.";

const INSTALL_AFTER_HELP: &str = "\
Example (the helpers image as an init container, an emptyDir at /kelos-bin):
  /git-credential-kelos install /kelos-bin";

#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct InstallArgs {
    /// The directory to install into (created if missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `--host`, repeatable, for the commands that take several hosts.
#[derive(Clone, Debug, Default, Args, PartialEq, Eq)]
pub struct HostArgs {
    /// A host this helper answers for (and gist.HOST); repeatable.
    /// Default: $GH_HOST, else github.com
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<OsString>,
}

/// `token`'s options.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct TokenArgs {
    /// The host whose token to print (once). Default: $GH_HOST, else
    /// github.com
    // A Vec set once (a second --host is clap's error): the same code as
    // the other commands' hosts, where an Option would cost its own.
    #[arg(long = "host", value_name = "HOST", action = clap::ArgAction::Set)]
    pub host: Vec<OsString>,
    /// plain: the token and a newline, like `gh auth token`;
    /// header-json: {"Authorization":"Bearer TOKEN"} and a newline
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "plain")]
    pub format: TokenFormat,
}

#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct EnvArgs {
    /// sh: `export NAME='TOKEN'` lines; json: one object {"NAME":"TOKEN",...}
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "sh")]
    pub format: EnvFormat,
    /// Also set NAME, a variable name ([A-Za-z_][A-Za-z0-9_]*); repeatable
    #[arg(long = "set", value_name = "NAME", value_parser = var_name)]
    pub set: Vec<String>,
}

#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct ExecArgs {
    /// Also set NAME, a variable name ([A-Za-z_][A-Za-z0-9_]*); repeatable
    #[arg(long = "set", value_name = "NAME", value_parser = var_name)]
    pub set: Vec<String>,
    /// The command and its arguments, passed on untouched
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub command: Vec<OsString>,
}

fn var_name(raw: &str) -> Result<String, String> {
    if is_var_name(raw) {
        Ok(raw.to_owned())
    } else {
        Err(bad_var_name(raw))
    }
}

/// Reads `env` in the forms a shell snippet uses (`env`, `--format sh|json`,
/// `--set NAME`, in any order), by hand: shells run it before every command,
/// and clap's start-up would cost more than the rest of the call. `None`
/// for anything else (`--help`, a mistake), which is then [`Cli`]'s.
pub fn parse_env_call(args: &[&OsStr]) -> Option<Cli> {
    let (first, rest) = args.split_first()?;
    if *first != "env" {
        return None;
    }
    let mut parsed = EnvArgs {
        format: EnvFormat::Sh,
        set: Vec::new(),
    };
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) => (flag, value),
            None => (arg, rest.next()?.to_str()?),
        };
        match (flag, value) {
            ("--format", "sh") => parsed.format = EnvFormat::Sh,
            ("--format", "json") => parsed.format = EnvFormat::Json,
            ("--set", name) if is_var_name(name) => parsed.set.push(name.to_owned()),
            _ => return None,
        }
    }
    Some(Cli {
        hosts: Vec::new(),
        command: Command::Env(parsed),
    })
}

/// Which git config file `configure` and `unconfigure` edit.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
#[group(multiple = false)]
pub struct ScopeArgs {
    /// The system config (every user of the machine or image)
    #[arg(long)]
    pub system: bool,
    /// The user's global config (the default)
    #[arg(long)]
    pub global: bool,
    /// A config file of your own
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// The repository's own config (.git/config of the current directory)
    #[arg(long)]
    pub local: bool,
}

impl ScopeArgs {
    pub fn scope(&self) -> Scope {
        match (&self.file, self.system, self.local) {
            (Some(path), _, _) => Scope::File(path.clone()),
            (None, true, _) => Scope::System,
            (None, false, true) => Scope::Local,
            (None, false, false) => Scope::Global,
        }
    }
}

/// `configure` and `unconfigure`: the scope, and whether kelos is to be the
/// only helper.
#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct ConfigureArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Make git run only kelos, for every host: an empty plain
    /// credential.helper, then kelos, after every other helper of that file
    #[arg(long)]
    pub exclusive: bool,
    /// Write this absolute path of git-credential-kelos as the helper instead
    /// of `kelos` (when the binary is not in PATH); unconfigure removes exactly that
    #[arg(long, value_name = "PATH")]
    pub helper: Option<PathBuf>,
    #[command(flatten)]
    pub hosts: HostArgs,
}

#[derive(Clone, Debug, Args, PartialEq, Eq)]
pub struct DoctorArgs {
    /// Print one JSON object: {"result", "checks": [{"id", "level", "message", "fix"}]}
    #[arg(long)]
    pub json: bool,
    /// A missing token is a warning, not a failure (image build time)
    #[arg(long)]
    pub no_token_ok: bool,
    #[command(flatten)]
    pub hosts: HostArgs,
}

impl Cli {
    /// Parses a command for people (`args[0]` is the program), with every
    /// `--host` given before or after the command's name in [`Cli::hosts`],
    /// in order.
    pub fn parse_people<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cli = Cli::try_parse_from(args)?;
        let after = match &mut cli.command {
            Command::Configure(a) | Command::Unconfigure(a) => std::mem::take(&mut a.hosts.hosts),
            Command::Doctor(a) => std::mem::take(&mut a.hosts.hosts),
            Command::Token(a) => std::mem::take(&mut a.host),
            _ => Vec::new(),
        };
        cli.hosts.extend(after);
        Ok(cli)
    }
}

/// The people's command a mistyped bare word most likely means: one within
/// two edits (one for a name of four letters or fewer) (a letter left out, added, changed, or two swapped) of a
/// command's name, and not a command itself. `None` when nothing is close.
pub fn meant_command(word: &str) -> Option<&'static str> {
    if word.len() < 3 || PEOPLE_COMMANDS.contains(&word) {
        return None;
    }
    PEOPLE_COMMANDS
        .iter()
        .copied()
        .filter(|name| *name != "help")
        .map(|name| (edit_distance(word, name), name))
        // A short name is near too many words: one edit only.
        .filter(|(d, name)| *d <= if name.len() <= 4 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Optimal string alignment distance (Levenshtein plus adjacent swaps),
/// over bytes (the commands' names are ASCII), in three rolling rows.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

/// Reads git's own form of call, `[--host HOST | --host=HOST]... OPERATION`
/// with the operation anywhere among the hosts; `None` for anything else
/// (options, people's commands, `--help`), which is then [`Cli`]'s.
pub fn parse_git_call(args: &[&OsStr]) -> Option<Cli> {
    let mut hosts = Vec::new();
    let mut operation = None;
    let mut args = args.iter();
    while let Some(&arg) = args.next() {
        let bytes = arg.as_encoded_bytes();
        if arg == "--host" {
            hosts.push(args.next()?.to_os_string());
        } else if let Some(value) = bytes.strip_prefix(b"--host=") {
            // SAFETY: split off after ASCII, from bytes of an OsStr.
            hosts.push(unsafe { OsStr::from_encoded_bytes_unchecked(value) }.to_os_string());
        } else if bytes.first() == Some(&b'-') || operation.is_some() {
            return None;
        } else {
            operation = Some(arg);
        }
    }
    let command = match operation?.to_str() {
        Some("get") => Command::Get,
        Some("store") => Command::Store,
        Some("erase") => Command::Erase,
        Some("capability") => Command::Capability,
        Some(word) if PEOPLE_COMMANDS.contains(&word) => return None,
        _ => Command::Other(operation?.to_os_string()),
    };
    Some(Cli { hosts, command })
}

/// How `token` prints the token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenFormat {
    /// The token and a newline, like `gh auth token`.
    #[default]
    Plain,
    /// `{"Authorization":"Bearer TOKEN"}` and a newline, for MCP clients'
    /// header helpers.
    HeaderJson,
}

/// How `env` prints its assignments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvFormat {
    /// `export NAME='TOKEN'` lines, for `eval`.
    #[default]
    Sh,
    /// One JSON object, `{"NAME":"TOKEN",...}`.
    Json,
}

/// Whether `name` can be a shell variable: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The message for a `--set` value that is no variable name (exit 2).
pub fn bad_var_name(name: &str) -> String {
    format!(
        "--set `{name}` is not a variable name: use letters, digits and _, not starting with a \
         digit (e.g. --set NPM_TOKEN)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::os::unix::ffi::OsStrExt;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn git(args: &[&str]) -> Option<Cli> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        parse_git_call(&args)
    }

    fn clap(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_people(std::iter::once("git-credential-kelos").chain(args.iter().copied()))
    }

    #[test]
    fn git_calls_are_read_by_hand() {
        let cases: &[(&[&str], &[&str], Command)] = &[
            (&["get"], &[], Command::Get),
            (&["store"], &[], Command::Store),
            (&["erase"], &[], Command::Erase),
            (&["capability"], &[], Command::Capability),
            (
                &["--host", "ghe.example.com", "--host=b.example:8443", "get"],
                &["ghe.example.com", "b.example:8443"],
                Command::Get,
            ),
            (
                &["get", "--host", "a.example"],
                &["a.example"],
                Command::Get,
            ),
            (&["frobnicate"], &[], Command::Other("frobnicate".into())),
        ];
        for (args, hosts, command) in cases {
            let want = Cli {
                hosts: os(hosts),
                command: command.clone(),
            };
            assert_eq!(git(args).as_ref(), Some(&want), "{args:?}");
        }
        let odd = OsStr::from_bytes(b"op\xff");
        assert_eq!(
            parse_git_call(&[odd]).map(|c| c.command),
            Some(Command::Other(odd.into()))
        );
    }

    #[test]
    fn everything_else_is_clap_s() {
        for args in [
            &["configure"][..],
            &["doctor", "--json"],
            &["--help"],
            &["get", "--json"],
            &["--hots", "x", "get"],
            &["get", "extra"],
            &["--host"],
            &["get", "--host"],
            &[],
            &["help"],
        ] {
            assert_eq!(git(args), None, "{args:?}");
        }
    }

    #[test]
    fn people_commands_list_is_clap_s_list() {
        let git_ops = ["get", "store", "erase", "capability"];
        let mut from_clap: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|name| !git_ops.contains(&name.as_str()))
            .chain(["help".to_owned()])
            .collect();
        from_clap.sort();
        let mut ours: Vec<&str> = PEOPLE_COMMANDS.to_vec();
        ours.sort();
        assert_eq!(from_clap, ours);
        Cli::command().debug_assert();
    }

    #[test]
    fn people_commands() {
        let scope = |system, global, file: Option<&str>| ScopeArgs {
            system,
            global,
            file: file.map(PathBuf::from),
            local: false,
        };
        let plain = |scope| ConfigureArgs {
            scope,
            exclusive: false,
            helper: None,
            hosts: HostArgs::default(),
        };
        assert_eq!(
            clap(&["configure"]).unwrap().command,
            Command::Configure(plain(scope(false, false, None)))
        );
        let cli = clap(&["configure", "--system", "--host", "h.example"]).unwrap();
        assert_eq!(cli.hosts, os(&["h.example"]));
        assert_eq!(
            cli.command,
            Command::Configure(plain(scope(true, false, None)))
        );
        assert_eq!(
            clap(&["unconfigure", "--file", "/tmp/x y"])
                .unwrap()
                .command,
            Command::Unconfigure(plain(scope(false, false, Some("/tmp/x y"))))
        );
        let local = ScopeArgs {
            local: true,
            ..scope(false, false, None)
        };
        assert_eq!(local.scope(), Scope::Local);
        assert_eq!(
            clap(&["configure", "--exclusive", "--local"])
                .unwrap()
                .command,
            Command::Configure(ConfigureArgs {
                scope: local.clone(),
                exclusive: true,
                helper: None,
                hosts: HostArgs::default(),
            })
        );
        assert_eq!(
            clap(&["unconfigure", "--local", "--exclusive"])
                .unwrap()
                .command,
            Command::Unconfigure(ConfigureArgs {
                scope: local,
                exclusive: true,
                helper: None,
                hosts: HostArgs::default(),
            })
        );
        assert_eq!(
            clap(&["doctor", "--json", "--no-token-ok"])
                .unwrap()
                .command,
            Command::Doctor(DoctorArgs {
                json: true,
                no_token_ok: true,
                hosts: HostArgs::default(),
            })
        );
        assert_eq!(
            scope(false, false, Some("/f")).scope(),
            Scope::File("/f".into())
        );
        assert_eq!(scope(true, false, None).scope(), Scope::System);
        assert_eq!(scope(false, true, None).scope(), Scope::Global);
        assert_eq!(scope(false, false, None).scope(), Scope::Global);
    }

    #[test]
    fn mistakes_are_usage_errors_that_name_them() {
        use clap::error::ErrorKind;
        let cases: &[(&[&str], ErrorKind, &str)] = &[
            (
                &["--hots", "x", "get"],
                ErrorKind::UnknownArgument,
                "tip: a similar argument exists: '--host'",
            ),
            (&["--frob"], ErrorKind::UnknownArgument, "'--frob'"),
            (
                &["configure", "--sytem"],
                ErrorKind::UnknownArgument,
                "tip: a similar argument exists: '--system'",
            ),
            (
                &["configure", "--file", "--system"],
                ErrorKind::InvalidValue,
                "a value is required for '--file <PATH>'",
            ),
            (
                &["configure", "--system", "--global"],
                ErrorKind::ArgumentConflict,
                "'--system' cannot be used with '--global'",
            ),
            (
                &["configure", "--local", "--file", "/f"],
                ErrorKind::ArgumentConflict,
                "'--local' cannot be used with '--file <PATH>'",
            ),
            (
                &["unconfigure", "--exclusiv"],
                ErrorKind::UnknownArgument,
                "tip: a similar argument exists: '--exclusive'",
            ),
            (&["get", "extra"], ErrorKind::UnknownArgument, "'extra'"),
            (&["get", "--json"], ErrorKind::UnknownArgument, "'--json'"),
            (
                &["doctor", "--system"],
                ErrorKind::UnknownArgument,
                "'--system'",
            ),
            (&[], ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand, ""),
        ];
        for (args, kind, text) in cases {
            let err = clap(args).unwrap_err();
            assert_eq!(err.kind(), *kind, "{args:?}: {err}");
            assert!(err.to_string().contains(text), "{args:?}: {err}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn every_command_has_its_own_help() {
        for name in [
            "configure",
            "unconfigure",
            "doctor",
            "get",
            "token",
            "env",
            "exec",
        ] {
            let err = clap(&[name, "--help"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
            let text = err.to_string();
            assert!(
                text.contains(&format!("Usage: git-credential-kelos {name}")),
                "{text}"
            );
            assert_eq!(err.exit_code(), 0);
        }
    }

    #[test]
    fn consumer_commands() {
        let cli = clap(&[
            "token",
            "--host",
            "ghe.example.com",
            "--format",
            "header-json",
        ])
        .unwrap();
        assert_eq!(cli.hosts, os(&["ghe.example.com"]));
        assert_eq!(
            cli.command,
            Command::Token(TokenArgs {
                format: TokenFormat::HeaderJson,
                host: Vec::new(),
            })
        );
        assert_eq!(
            clap(&["token"]).unwrap().command,
            Command::Token(TokenArgs {
                format: TokenFormat::Plain,
                host: Vec::new(),
            })
        );
        let exec = |args: &[&str]| match clap(args).map(|c| c.command) {
            Ok(Command::Exec(e)) => Ok((e.set, e.command)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Nothing after the command is read: not its --help, not a `--`,
        // not an option of ours.
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&["exec", "npm", "whoami"], &[], &["npm", "whoami"]),
            (&["exec", "cmd", "--help"], &[], &["cmd", "--help"]),
            (&["exec", "--", "cmd", "--help"], &[], &["cmd", "--help"]),
            (&["exec", "cmd", "--", "x"], &[], &["cmd", "--", "x"]),
            (&["exec", "--", "cmd", "--", "x"], &[], &["cmd", "--", "x"]),
            (
                &["exec", "cmd", "--set", "X", "--host", "h", "-V"],
                &[],
                &["cmd", "--set", "X", "--host", "h", "-V"],
            ),
            (
                &["exec", "--set", "A", "--set=B", "--", "-dash"],
                &["A", "B"],
                &["-dash"],
            ),
        ];
        for (args, set, command) in cases {
            assert_eq!(exec(args), Ok((strings(set), os(command))), "{args:?}");
        }
        use clap::error::ErrorKind;
        assert_eq!(exec(&["exec"]), Err(ErrorKind::MissingRequiredArgument));
        assert_eq!(exec(&["exec", "-x"]), Err(ErrorKind::UnknownArgument));
        assert_eq!(
            exec(&["exec", "--set", "1A", "c"]),
            Err(ErrorKind::ValueValidation)
        );
        assert_eq!(exec(&["exec", "--help"]), Err(ErrorKind::DisplayHelp));
        let odd = OsStr::from_bytes(b"\xff\xfe");
        let cli = Cli::try_parse_from([OsStr::new("x"), OsStr::new("exec"), OsStr::new("c"), odd])
            .unwrap();
        assert!(matches!(cli.command, Command::Exec(e) if e.command[1] == odd));
    }

    #[test]
    fn env_s_fast_path_agrees_with_clap() {
        for args in [
            &["env"][..],
            &["env", "--format", "json"],
            &["env", "--format=sh", "--set", "NPM_TOKEN"],
            &["env", "--set=A", "--set", "B", "--format", "json"],
        ] {
            let fast = parse_env_call(&args.iter().map(OsStr::new).collect::<Vec<_>>());
            assert_eq!(fast, Some(clap(args).unwrap()), "{args:?}");
        }
        // Anything else is clap's, to be named or explained.
        for args in [
            &["env", "--help"][..],
            &["env", "--format", "yaml"],
            &["env", "--set", "1A"],
            &["env", "--set"],
            &["env", "--sett", "A"],
            &["env", "extra"],
            &["token"],
        ] {
            let fast = parse_env_call(&args.iter().map(OsStr::new).collect::<Vec<_>>());
            assert_eq!(fast, None, "{args:?}");
        }
    }

    #[test]
    fn a_file_path_need_not_be_utf8() {
        let path = OsStr::from_bytes(b"/tmp/\xff");
        let cli = Cli::try_parse_from([
            OsStr::new("git-credential-kelos"),
            OsStr::new("configure"),
            OsStr::new("--file"),
            path,
        ])
        .unwrap();
        match cli.command {
            Command::Configure(args) => assert_eq!(args.scope.scope(), Scope::File(path.into())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hosts_before_or_after_the_command_are_gathered() {
        let hosts = |args: &[&str]| clap(args).map(|c| c.hosts);
        assert_eq!(
            hosts(&["--host", "a", "configure", "--host", "b", "--host", "c"]).unwrap(),
            os(&["a", "b", "c"])
        );
        assert_eq!(
            hosts(&["doctor", "--host", "a", "--host", "b"]).unwrap(),
            os(&["a", "b"])
        );
        assert_eq!(hosts(&["token", "--host", "a"]).unwrap(), os(&["a"]));
        // token takes one: a second after its name is clap's error; one
        // before and one after are main's ("give --host once").
        let err = clap(&["token", "--host", "a", "--host", "b"]).unwrap_err();
        assert_eq!(
            err.kind(),
            clap::error::ErrorKind::ArgumentConflict,
            "{err}"
        );
        assert_eq!(
            hosts(&["--host", "a", "token", "--host", "b"]).unwrap(),
            os(&["a", "b"])
        );
        // env and exec take none after their name.
        for args in [
            &["env", "--host", "a"][..],
            &["exec", "--host", "a", "--", "c"],
        ] {
            let err = clap(args).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument, "{err}");
        }
    }

    #[test]
    fn help_lists_only_what_a_command_takes() {
        let help = |name: &str| clap(&[name, "--help"]).unwrap_err().to_string();
        for name in ["env", "exec"] {
            assert!(!help(name).contains("--host"), "{}", help(name));
        }
        let token = help("token");
        assert!(token.contains("--host <HOST>"), "{token}");
        assert!(!token.contains("repeatable"), "{token}");
        for name in ["configure", "unconfigure", "doctor"] {
            assert!(help(name).contains("--host <HOST>"), "{}", help(name));
            assert!(help(name).contains("repeatable"), "{}", help(name));
        }
    }

    #[test]
    fn a_bare_word_close_to_a_command_names_it() {
        let cases = [
            ("tokn", Some("token")),
            ("doctr", Some("doctor")),
            ("confgure", Some("configure")),
            ("unconfigur", Some("unconfigure")),
            ("docotr", Some("doctor")),
            ("exce", Some("exec")),
            ("ecex", None),
            ("evn", Some("env")),
            ("token", None),
            ("frobnicate", None),
            ("get", None),
            ("approve", None),
            ("reject", None),
            ("gte", None),
            ("", None),
            ("x", None),
        ];
        for (word, want) in cases {
            assert_eq!(meant_command(word), want, "{word}");
        }
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
