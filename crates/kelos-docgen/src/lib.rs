//! The shell completions and man pages of git-credential-kelos (from the
//! same clap definition the binary parses with) and the man pages of
//! kelos-gh and kelos-glab (which have no command line of their own: every
//! argument is gh's, or glab's).
//!
//! What clap's generators do not know is added here, once: the ENVIRONMENT,
//! EXIT STATUS and SEE ALSO sections, and two repairs of the generated
//! completions (see [`completion`]).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{CommandFactory, ValueHint};
use clap_complete::Shell;
use git_credential_kelos::cli::Cli;
use roff::{bold, italic, roman, Roff};

/// The helper's name, as installed.
pub const HELPER: &str = "git-credential-kelos";
/// The gh wrapper's page name (it is installed as `gh`).
pub const GH_WRAPPER: &str = "kelos-gh";
/// The glab wrapper's page name (it is installed as `glab`).
pub const GLAB_WRAPPER: &str = "kelos-glab";

/// The shells completions are written for, with their file names.
pub const SHELLS: &[(Shell, &str)] = &[
    (Shell::Bash, "git-credential-kelos.bash"),
    (Shell::Zsh, "_git-credential-kelos"),
    (Shell::Fish, "git-credential-kelos.fish"),
];

/// One variable (or a group read alike) and what it means to each binary;
/// `None`: that binary does not read it.
pub struct EnvVar {
    pub names: &'static [&'static str],
    pub helper: Option<&'static str>,
    pub gh: Option<&'static str>,
    pub glab: Option<&'static str>,
}

/// Every variable a binary reads (`kelos_token::env::KNOWN_VARS`; a test
/// keeps the lists equal), for the ENVIRONMENT sections.
pub const ENVIRONMENT: &[EnvVar] = &[
    EnvVar {
        names: &["KELOS_GITHUB_TOKEN_FILE"],
        helper: Some(
            "Path of the file holding the current token (in Kelos pods \
             /kelos/github-token/GITHUB_TOKEN), read again on every call. Only a regular file \
             (after symlinks) of at most 64 KiB is read; a directory, FIFO or device is refused \
             without blocking. A UTF-8 BOM and surrounding white space are stripped; what \
             remains must be one token without white space or control characters. A file that \
             reads empty is read again for about 50 ms (a writer that truncates, then writes). \
             The file beside it named like it plus _EXPIRES_AT (for example \
             GITHUB_TOKEN_EXPIRES_AT), when present, holds the token's expiry as RFC 3339 or \
             Unix seconds, read from the same kubelet generation; git gets it as \
             password_expiry_utc.",
        ),
        gh: Some(
            "Path of the file holding the current token, read again on every call, by the same \
             rules as git-credential-kelos(1). Only the file's token is ever set: without a valid \
             token in it, gh gets the environment exactly as it was (never an empty token).",
        ),
        glab: None,
    },
    EnvVar {
        names: &["GH_HOST"],
        helper: Some(
            "The GitHub host the token belongs to, HOST or HOST:PORT; unset or empty: \
             github.com. The --host option, where given, takes its place. A URL, a path, white \
             space or a user name in it is refused with one message naming which. Requests for \
             the host and gist.HOST are answered, over https only (http only for loopback \
             hosts).",
        ),
        gh: Some(
            "Which of gh's variables get the token, by the host's class. github.com, \
             *.github.com, github.localhost: GH_TOKEN is set, GITHUB_TOKEN refreshed if \
             present. *.ghe.com: GH_TOKEN and GH_ENTERPRISE_TOKEN are set, GITHUB_TOKEN and \
             GITHUB_ENTERPRISE_TOKEN refreshed if present. Any other host (GitHub Enterprise \
             Server): GH_ENTERPRISE_TOKEN is set, GITHUB_ENTERPRISE_TOKEN and GITHUB_TOKEN \
             refreshed if present. Unset: github.com.",
        ),
        glab: None,
    },
    EnvVar {
        names: &[
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "GH_ENTERPRISE_TOKEN",
            "GITHUB_ENTERPRISE_TOKEN",
        ],
        helper: Some(
            "Fallbacks, frozen when the process started, used only when the file yields no valid \
             token, validated like it: GH_TOKEN, then GITHUB_TOKEN for github.com, \
             github.localhost and *.ghe.com hosts; GH_ENTERPRISE_TOKEN, \
             GITHUB_ENTERPRISE_TOKEN, then GITHUB_TOKEN for other hosts. The env and exec \
             commands give the file's token (never a fallback) to each of these that is set.",
        ),
        gh: Some(
            "Set or refreshed from the file, by the class of GH_HOST (above); never read as a \
             token source, never set to empty.",
        ),
        glab: None,
    },
    EnvVar {
        names: &["KELOS_GH_PATH"],
        helper: Some(
            "Absolute path of the real gh: doctor follows it as kelos-gh(1) does, instead of \
             searching PATH.",
        ),
        gh: Some(
            "Absolute path of the real gh; overrides the search of PATH. Without it the real gh \
             is the first gh file of PATH's absolute entries that first appears after this \
             wrapper's own first appearance (each file counted once, by device and inode), so a \
             chain of wrapper copies always ends.",
        ),
        glab: None,
    },
    EnvVar {
        names: &["KELOS_GITLAB_TOKEN_FILE"],
        helper: Some(
            "Path of the file holding the current GitLab token (in Kelos pods \
             /kelos/gitlab-token/GITLAB_TOKEN), read by the same rules as \
             KELOS_GITHUB_TOKEN_FILE. Requests for the GitLab instance (GITLAB_HOST) are \
             answered from it, never from GitHub's file, with the username oauth2 unless git's \
             request names one.",
        ),
        gh: None,
        glab: Some(
            "Path of the file holding the current token, read again on every call, by the same \
             rules as git-credential-kelos(1). Only the file's token is ever set: without a valid \
             token in it (missing, empty mid-rotation, invalid), glab gets the environment \
             exactly as it was (never an empty token).",
        ),
    },
    EnvVar {
        names: &["GITLAB_HOST", "GITLAB_URI", "GL_HOST"],
        helper: Some(
            "The GitLab instance, as glab reads it: the first of these that is set and not \
             empty; unset: gitlab.com. A base URL (https://gitlab.example.com, \
             http://gitlab-webservice-default.gitlab.svc:8181, with an optional relative URL \
             root) or a bare host (HOST or HOST:PORT, https). Its host and port are answered \
             over https; over plain http only for an http:// URL, on exactly its port. A user \
             name, password, query, fragment or another scheme is refused with one message \
             naming the variable.",
        ),
        gh: None,
        glab: Some(
            "The instance glab talks to. glab takes a host's API protocol from its config's host \
             entry, not from this variable: for an http:// URL the wrapper makes sure glab's \
             config.yml has the host's api_protocol, api_host and git_protocol before glab runs, \
             written without any token, atomically, keeping every other key, host and comment, \
             and not written at all when already there. An https URL or a bare host needs no \
             entry. A malformed value: one line on stderr naming it, and glab runs untouched \
             (no variable set, no config written).",
        ),
    },
    EnvVar {
        names: &["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN", "OAUTH_TOKEN"],
        helper: Some(
            "Fallbacks for the GitLab instance, in this order, frozen when the process started, \
             used only when the GitLab file yields no valid token. The env and exec commands give \
             GitLab's file token to each of these that is set.",
        ),
        gh: None,
        glab: Some(
            "GITLAB_TOKEN is set from the file; GITLAB_ACCESS_TOKEN and OAUTH_TOKEN refreshed \
             if present (glab reads them in this order). Never read as a token source, never \
             set to empty; every earlier entry of these names is replaced.",
        ),
    },
    EnvVar {
        names: &["KELOS_GLAB_PATH"],
        helper: Some(
            "Read only for whether it is set: with it (or KELOS_GITLAB_TOKEN_FILE, a GitLab host \
             variable, GITLAB_TOKEN) GitLab is in play, and the GitLab instance is among the \
             hosts answered and checked.",
        ),
        gh: None,
        glab: Some(
            "Absolute path of the real glab; overrides the search of PATH, which is kelos-gh(1)'s: \
             the first glab file of PATH's absolute entries that first appears after this \
             wrapper's own first appearance.",
        ),
    },
    EnvVar {
        names: &["GLAB_CONFIG_DIR"],
        helper: None,
        gh: None,
        glab: Some(
            "glab's config directory, as glab reads it: the host entry goes into its \
             config.yml (created 0700 when missing; a new config.yml is 0600, an existing one \
             keeps its mode and owner). A config.yml that cannot be read, parsed for certain \
             (only the block-style YAML glab writes is edited) or locked is never rewritten: one \
             line on stderr names the file and the fix, and glab still runs.",
        ),
    },
    EnvVar {
        names: &["KELOS_CREDENTIAL_TRACE"],
        helper: Some(
            "1 or true: trace each decision to stderr (not when stderr is the stream the answer \
             goes to); an absolute path: append the lines to that file, when it is a regular \
             file that can be opened at once and is not the helper's stdout (a FIFO, a device or \
             /dev/stdout is passed over, silently). 0, false or empty: off. A trace never holds \
             a token and never changes what git or gh get.",
        ),
        gh: Some("As for git-credential-kelos(1): trace lines, never a token."),
        glab: Some("As for git-credential-kelos(1): trace lines, never a token."),
    },
    EnvVar {
        names: &[
            "HOME",
            "XDG_CONFIG_HOME",
            "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG_SYSTEM",
            "GIT_CONFIG",
            "GIT_DIR",
        ],
        helper: Some(
            "Where git finds its config files, read as git reads them: configure and \
             unconfigure --global edit the file git would (GIT_CONFIG_GLOBAL, else \
             ~/.gitconfig, else the XDG file when only that exists), and a trace file \
             (KELOS_CREDENTIAL_TRACE) is never one of git's config files.",
        ),
        gh: Some(
            "Read only when tracing to a file: the trace file is never one of git's config files.",
        ),
        glab: Some(
            "HOME and XDG_CONFIG_HOME: where glab's config is when GLAB_CONFIG_DIR is unset \
             ($XDG_CONFIG_HOME/glab-cli, else $HOME/.config/glab-cli, as glab reads them). All \
             of them, when tracing to a file: the trace file is never one of git's config files.",
        ),
    },
];

/// Exit statuses of each page: (page, [(status, meaning)]).
const EXIT_STATUS: &[(&str, &[(&str, &str)])] = &[
    (
        HELPER,
        &[
            ("0", "git's operations (get, store, erase, capability, and any it may add), including when no token is answered; env in every state; a command that succeeded."),
            ("1", "doctor: a check failed; token: no token for the host."),
            ("2", "A usage error (an unknown or misspelt option, a missing value), a bad --host or GH_HOST, or a command that failed (configure could not write git's config; stdout could not be written)."),
            ("126, 127", "exec: COMMAND was found but could not be run (126), or was not found (127)."),
        ],
    ),
    (
        "get",
        &[
            ("0", "Answered, or nothing to answer (another host, plain http, no token: one line on stderr says why when the host is configured)."),
            ("2", "A bad --host or GH_HOST; stdout could not be written."),
        ],
    ),
    ("store", &[("0", "Always.")]),
    ("erase", &[("0", "Always; one line on stderr for a configured host.")]),
    ("capability", &[("0", "Always.")]),
    (
        "configure",
        &[
            ("0", "Git's config now holds the entries (or already did)."),
            ("2", "A usage error, a bad --host or GH_HOST, --local outside a repository, or the change could not be made (a lock held by another writer past the wait, a stale lock, a full disk): the file is left byte for byte as it was."),
        ],
    ),
    (
        "unconfigure",
        &[
            ("0", "The entries are gone (or were not there)."),
            ("2", "A usage error, a bad --host or GH_HOST, --local outside a repository, or the change could not be made (a lock held by another writer past the wait, a stale lock, a full disk): the file is left byte for byte as it was."),
        ],
    ),
    (
        "install",
        &[
            ("0", "Every file is in DIR (or already was, the same)."),
            ("2", "A usage error, kelos-gh missing beside this binary, or DIR could not be created or written (read-only, full): the message names it and the fix."),
        ],
    ),
    (
        "doctor",
        &[
            ("0", "No check failed (warnings may be printed)."),
            ("1", "A check failed (a bad GH_HOST is a failed check too)."),
            ("2", "A usage error."),
        ],
    ),
    (
        "token",
        &[
            ("0", "The token was printed."),
            ("1", "No token for the host: nothing on stdout, one line on stderr saying why."),
            ("2", "A usage error, a bad --host or GH_HOST, --host given more than once."),
        ],
    ),
    (
        "env",
        &[
            ("0", "Assignments printed, or nothing to print (no valid token in the file)."),
            ("2", "A usage error (an invalid --set NAME, --host)."),
        ],
    ),
    (
        "exec",
        &[
            ("any", "COMMAND's own status: it runs in this process's place."),
            ("126", "COMMAND was found but could not be run."),
            ("127", "COMMAND was not found in PATH."),
            ("2", "A usage error (no COMMAND, an invalid --set NAME, --host)."),
        ],
    ),
    (
        GH_WRAPPER,
        &[
            ("any", "gh's own status: gh runs in this process's place."),
            ("126", "The real gh was found but could not be run."),
            ("127", "No real gh: one line on stderr naming each PATH entry searched and why it was passed over."),
        ],
    ),
    (
        GLAB_WRAPPER,
        &[
            ("any", "glab's own status: glab runs in this process's place, also when GITLAB_HOST is malformed or glab's host entry could not be written (one line on stderr says so)."),
            ("126", "The real glab was found but could not be run."),
            ("127", "No real glab: one line on stderr naming each PATH entry searched and why it was passed over."),
        ],
    ),
];

/// The helper's command as the generators see it: the binary's own
/// definition, with globals propagated to the subcommands (so each
/// subcommand's page and completion has --host where it takes it), and
/// value hints the binary need not carry (--host completes host names).
pub fn helper_command() -> clap::Command {
    let mut cmd = with_value_hints(Cli::command());
    cmd.build();
    cmd
}

fn with_value_hints(cmd: clap::Command) -> clap::Command {
    let hinted = |cmd: clap::Command| {
        let ids: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        ids.into_iter().fold(cmd, |cmd, id| {
            cmd.mut_arg(id, |arg| match arg.get_long() {
                Some("host") => arg.value_hint(ValueHint::Hostname),
                Some("file") => arg.value_hint(ValueHint::FilePath),
                _ if arg.get_id() == "command" => arg.value_hint(ValueHint::CommandWithArguments),
                _ => arg,
            })
        })
    };
    on_every_command(cmd, hinted)
}

/// `change` applied to `cmd` and to each of its subcommands.
fn on_every_command(
    cmd: clap::Command,
    change: impl Fn(clap::Command) -> clap::Command + Copy,
) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names
        .into_iter()
        .fold(change(cmd), |cmd, name| cmd.mut_subcommand(name, change))
}

/// The completion script for `shell`, repaired where clap_complete's output
/// does not work:
///
/// - bash: for a binary whose name has hyphens, the generated function sets
///   `cmd` to `git__credential__kelos__subcmd__configure` but matches
///   `git__subcmd__credential__subcmd__kelos__subcmd__configure` (the
///   binary's hyphens replaced by the subcommand separator), so nothing is
///   ever completed after a subcommand. The matched names are put right.
/// - fish and zsh: a possible value's help that holds a double quote or a
///   space breaks the generated quoting (fish: `complete: too many
///   arguments`, and the rest of the file is lost; zsh: a word of the help,
///   `TOKEN\}\`\`, offered as a value of `token --format`). Possible values
///   are completed without their help (the option's own description is
///   still shown).
pub fn completion(shell: Shell) -> Result<String> {
    let mut cmd = helper_command();
    if matches!(shell, Shell::Fish | Shell::Zsh) {
        cmd = without_value_help(cmd);
    }
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, HELPER, &mut script);
    let script = String::from_utf8(script).context("the generated completions are not UTF-8")?;
    Ok(match shell {
        Shell::Bash => {
            let function = format!("_{}", HELPER.replace('-', "__"));
            let fixed = script.replace(
                &HELPER.replace('-', "__subcmd__"),
                &HELPER.replace('-', "__"),
            );
            format!("{fixed}{}", GIT_SPLIT_BASH.replace("FUNCTION", &function))
        }
        _ => script,
    })
}

/// `git credential-kelos ...` is this helper too (git runs
/// `git-credential-kelos`). git's own bash completion completes it by
/// calling `_git_credential_kelos` (after loading this file by the name
/// `git-credential-kelos`), with git's words in `words`, `cword` and
/// `__git_cmd_idx`: they are handed to the function above as if
/// `git-credential-kelos` had been typed. git's completion is registered
/// with `-o nospace`, so each complete word gets its space here.
const GIT_SPLIT_BASH: &str = r#"
_git_credential_kelos() {
    local COMP_WORDS=(git-credential-kelos "${words[@]:__git_cmd_idx+1}")
    local COMP_CWORD=$((cword - __git_cmd_idx))
    FUNCTION git-credential-kelos "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    COMPREPLY=("${COMPREPLY[@]/%/ }")
}
"#;

fn without_value_help(cmd: clap::Command) -> clap::Command {
    let plain = |cmd: clap::Command| {
        let ids: Vec<(String, Vec<PossibleValue>)> = cmd
            .get_arguments()
            .map(|a| (a.get_id().to_string(), a.get_possible_values()))
            .filter(|(_, values)| !values.is_empty())
            .collect();
        ids.into_iter().fold(cmd, |cmd, (id, values)| {
            let values = values.into_iter().map(|v| v.help(None::<&'static str>));
            cmd.mut_arg(id, |arg| {
                arg.value_parser(PossibleValuesParser::new(values))
            })
        })
    };
    on_every_command(cmd, plain)
}

/// What git's operations do, for their pages (git never asks for their
/// `--help`: their one-line summaries stay the binary's).
const GIT_OPERATIONS: &[(&str, &str)] = &[
    (
        "get",
        "git runs `git-credential-kelos [--host HOST]... get` with its request on stdin \
         (protocol=, host=, username=, path= or url= lines, then a blank line).\n\n\
         The helper answers only when the request's host (lower-cased, one trailing dot \
         removed, the port kept) is a configured host (--host, else $GH_HOST, else \
         github.com) or gist. and one, and the protocol is https (http only for loopback \
         hosts: localhost, *.localhost, 127.0.0.0/8, [::1]). The answer: username= the \
         request's username if given and non-empty, else x-access-token; password= the \
         token (from KELOS_GITHUB_TOKEN_FILE, else a fallback variable); \
         password_expiry_utc= when the expiry file exists.\n\n\
         No token: no answer, and one line on stderr saying why (never the token). A token \
         whose expiry is past is still answered (git discards it itself), with a warning \
         that the refresher may be failing. Malformed input (a NUL, a line over 65535 \
         bytes, a line without =) is not answered.",
    ),
    (
        "store",
        "Reads git's request up to the blank line that ends it and discards it: the token \
         file is the only store. Prints nothing.",
    ),
    (
        "erase",
        "git runs it after a server refused a password. For a configured host it prints \
         one line on stderr: whether the refused password is the token the file holds now \
         (then the token itself was refused: its age and expiry are given), an older one \
         (the file has rotated since, and a retry uses the new token), or a fallback \
         variable frozen at start-up. It never prints a token and changes nothing.",
    ),
    (
        "capability",
        "Prints `version 0`, the credential protocol version this helper speaks, and \
         nothing else.",
    ),
];

fn with_git_operations_described(cmd: clap::Command) -> clap::Command {
    GIT_OPERATIONS.iter().fold(cmd, |cmd, (name, text)| {
        cmd.mut_subcommand(*name, |sub| sub.long_about(*text))
    })
}

/// Every man page: (file name, roff source). One for the helper, one per
/// subcommand (git's operations included: `man git-credential-kelos-erase`
/// explains the line it prints), one for kelos-gh, one for kelos-glab.
pub fn man_pages() -> Result<Vec<(String, String)>> {
    let cmd = with_git_operations_described(helper_command());
    let mut pages = Vec::new();
    // `help` is a subcommand of the binary but has no page of its own (and
    // `build` adds it: it is turned off before).
    let mut top = with_value_hints(Cli::command()).disable_help_subcommand(true);
    top.build();
    let subs: Vec<String> = top
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut see_also: Vec<String> = subs.iter().map(|s| format!("{HELPER}-{s}(1)")).collect();
    see_also.extend([
        format!("{GH_WRAPPER}(1)"),
        format!("{GLAB_WRAPPER}(1)"),
        "gitcredentials(7)".into(),
    ]);
    pages.push((
        format!("{HELPER}.1"),
        helper_page(&top, HELPER, HELPER, &see_also)?,
    ));
    for sub in &subs {
        let name: &'static str = Box::leak(format!("{HELPER}-{sub}").into_boxed_str());
        let sub_cmd = cmd
            .find_subcommand(sub)
            .expect("listed above")
            .clone()
            .name(name)
            .display_name(name);
        let see_also = [format!("{HELPER}(1)"), "gitcredentials(7)".into()];
        pages.push((
            format!("{name}.1"),
            helper_page(&sub_cmd, name, sub, &see_also)?,
        ));
    }
    pages.push((
        format!("{GH_WRAPPER}.1"),
        gh_page(cmd.get_version().unwrap_or_default()),
    ));
    pages.push((
        format!("{GLAB_WRAPPER}.1"),
        glab_page(cmd.get_version().unwrap_or_default()),
    ));
    Ok(pages)
}

fn helper_page(
    cmd: &clap::Command,
    name: &str,
    exit_key: &str,
    see_also: &[String],
) -> Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .with_context(|| format!("rendering the man page of {name}"))?;
    let page = String::from_utf8(page).context("the man page is not UTF-8")?;
    let mut extra = Roff::new();
    environment_section(&mut extra, |v| v.helper);
    exit_status_section(&mut extra, exit_key);
    see_also_section(&mut extra, see_also);
    Ok(insert_before_version(examples_as_written(page), &extra))
}

/// clap_mangen puts the after-help text (examples, command lines) under
/// EXTRA, filled like prose: a command line is broken anywhere. It is shown
/// as written, under NOTES.
fn examples_as_written(page: String) -> String {
    const EXTRA: &str = "\n.SH EXTRA\n";
    let Some(start) = page.find(EXTRA) else {
        return page;
    };
    let body = start + EXTRA.len();
    let end = page[body..]
        .find("\n.SH ")
        .map_or(page.len(), |e| body + e + 1);
    format!(
        "{}\n.SH NOTES\n.nf\n{}.fi\n{}",
        &page[..start],
        &page[body..end],
        &page[end..]
    )
}

/// The sections of `extra` go before VERSION (clap_mangen's last section).
fn insert_before_version(page: String, extra: &Roff) -> String {
    let preamble = Roff::new().render();
    let extra = extra.render();
    let extra = extra.strip_prefix(&preamble).unwrap_or(&extra);
    match page.find("\n.SH VERSION") {
        Some(at) => format!("{}\n{}{}", &page[..at], extra, &page[at + 1..]),
        None => format!("{page}{extra}"),
    }
}

fn environment_section(roff: &mut Roff, text: impl Fn(&EnvVar) -> Option<&'static str>) {
    roff.control("SH", ["ENVIRONMENT"]);
    for var in ENVIRONMENT {
        let Some(text) = text(var) else { continue };
        roff.control("TP", []);
        let mut names = Vec::new();
        for (i, name) in var.names.iter().enumerate() {
            if i > 0 {
                names.push(roman(", "));
            }
            names.push(bold(*name));
        }
        roff.text(names);
        roff.text([roman(text)]);
    }
}

fn exit_status_section(roff: &mut Roff, key: &str) {
    let Some((_, statuses)) = EXIT_STATUS.iter().find(|(k, _)| *k == key) else {
        return;
    };
    roff.control("SH", ["EXIT STATUS"]);
    for (status, meaning) in *statuses {
        roff.control("TP", []);
        roff.text([bold(*status)]);
        roff.text([roman(*meaning)]);
    }
}

fn see_also_section(roff: &mut Roff, pages: &[String]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        let (name, section) = page.split_once('(').unwrap_or((page, ""));
        line.push(bold(name));
        line.push(roman(format!("({section}")));
    }
    roff.text(line);
}

/// A CLI wrapper's page (kelos-gh, kelos-glab): it has no options (every
/// argument is the CLI's).
struct WrapperPage<'a> {
    wrapper: &'a str,
    cli: &'a str,
    token_file_var: &'a str,
    /// DESCRIPTION's two paragraphs.
    description: [&'a str; 2],
    environment: fn(&EnvVar) -> Option<&'static str>,
    see_also: Vec<String>,
}

impl WrapperPage<'_> {
    fn render(&self, version: &str) -> String {
        let wrapper = self.wrapper;
        let mut roff = Roff::new();
        roff.control(
            "TH",
            [wrapper, "1", "", &format!("{wrapper} {version}"), ""],
        );
        roff.control("SH", ["NAME"]);
        roff.text([roman(format!(
            "{wrapper} - {} with the current token from the rotating token file ({})",
            self.cli, self.token_file_var
        ))]);
        roff.control("SH", ["SYNOPSIS"]);
        roff.text([bold(self.cli), roman(" ["), italic("ARG"), roman("]...")]);
        roff.control("SH", ["DESCRIPTION"]);
        roff.text([roman(self.description[0])]);
        roff.control("PP", []);
        roff.text([roman(self.description[1])]);
        environment_section(&mut roff, self.environment);
        exit_status_section(&mut roff, wrapper);
        see_also_section(&mut roff, &self.see_also);
        roff.control("SH", ["VERSION"]);
        roff.text([roman(format!("v{version}"))]);
        roff.render()
    }
}

fn gh_page(version: &str) -> String {
    WrapperPage {
        wrapper: GH_WRAPPER,
        cli: "gh",
        token_file_var: "KELOS_GITHUB_TOKEN_FILE",
        description: [
            "Installed as /usr/local/bin/gh (a copy or hard link), ahead of the real gh in PATH. \
         Every call reads the token file, sets gh's token variables from it (see \
         ENVIRONMENT), and executes the real gh in its place: same PID, terminal, signals and \
         exit status, argv[0] gh, every argument passed through byte for byte. No argument is \
         read by the wrapper, --help and --version included: they are gh's.",
            "The rest of the environment reaches gh as the caller left it (order and duplicates \
         included), and so do ignored signals and closed descriptors. Relative and empty PATH \
         entries are never searched, so a gh file in a repository is never run.",
        ],
        environment: |v| v.gh,
        see_also: vec![format!("{HELPER}(1)"), "gh(1)".into()],
    }
    .render(version)
}

fn glab_page(version: &str) -> String {
    WrapperPage {
        wrapper: GLAB_WRAPPER,
        cli: "glab",
        token_file_var: "KELOS_GITLAB_TOKEN_FILE",
        description: [
            "Installed as /usr/local/bin/glab, ahead of the real glab in PATH. Every call reads \
         the token file, sets glab's token variables from it (see ENVIRONMENT), makes sure \
         glab's config has the host entry an http:// GITLAB_HOST needs, without any token, and \
         executes the real glab in its place: same PID, terminal, signals and exit status, \
         argv[0] glab, every argument passed through byte for byte. No argument is read by the \
         wrapper, --help and --version included: they are glab's.",
            "The search for the real glab, the exec and everything the caller set up (the rest of \
         the environment, ignored signals, closed descriptors) are kelos-gh(1)'s. The token \
         never reaches glab's config, stderr or a trace: glab sends GITLAB_TOKEN from its \
         environment once its config has the host entry.",
        ],
        environment: |v| v.glab,
        see_also: vec![
            format!("{HELPER}(1)"),
            format!("{GH_WRAPPER}(1)"),
            "glab(1)".into(),
        ],
    }
    .render(version)
}

/// Writes OUT/completions/* and OUT/man/man1/*; returns the paths written.
pub fn write_all(out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let completions = out.join("completions");
    fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    for (shell, file) in SHELLS {
        let path = completions.join(file);
        fs::write(&path, completion(*shell)?)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    let man = out.join("man").join("man1");
    fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    for (file, page) in man_pages()? {
        let path = man.join(file);
        fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_every_variable_the_binaries_read_and_no_other() {
        let mut documented: Vec<&str> = ENVIRONMENT
            .iter()
            .flat_map(|v| v.names.iter().copied())
            .collect();
        documented.sort_unstable();
        let mut read: Vec<&str> = kelos_token::env::KNOWN_VARS.to_vec();
        read.sort_unstable();
        assert_eq!(documented, read);
    }

    #[test]
    fn every_page_with_exit_statuses_exists() {
        let pages: Vec<String> = man_pages().unwrap().into_iter().map(|(f, _)| f).collect();
        for (key, _) in EXIT_STATUS {
            let file = match *key {
                HELPER | GH_WRAPPER | GLAB_WRAPPER => format!("{key}.1"),
                sub => format!("{HELPER}-{sub}.1"),
            };
            assert!(pages.contains(&file), "{file} not in {pages:?}");
        }
        for page in &pages {
            let key = page
                .trim_end_matches(".1")
                .strip_prefix(&format!("{HELPER}-"))
                .unwrap_or(page.trim_end_matches(".1"));
            assert!(
                EXIT_STATUS.iter().any(|(k, _)| *k == key),
                "{page} has no EXIT STATUS"
            );
        }
    }
}
