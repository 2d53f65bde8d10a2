//! `configure` / `unconfigure`: edits git's config through `git config`,
//! never by hand, and only the keys this helper owns.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::gitconfig::{
    exclusive_value, helper_keys, helper_program, helper_value, parse_null_config, plan_exclusive,
    with_helper, without_helper, ExclusivePlan,
};
use anyhow::{bail, Context, Result};
use kelos_token::redact::redact;
use kelos_token::Host;

/// The plain key `configure --exclusive` writes to.
const PLAIN_KEY: &str = "credential.helper";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    System,
    Global,
    File(PathBuf),
    /// The repository's own config (`.git/config`) of the current directory.
    Local,
}

impl Scope {
    fn args(&self) -> Vec<OsString> {
        match self {
            Scope::System => vec!["--system".into()],
            Scope::Global => vec!["--global".into()],
            Scope::File(path) => vec!["--file".into(), path.into()],
            Scope::Local => vec!["--local".into()],
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::System => "the system git config".into(),
            Scope::Global => "the global git config".into(),
            Scope::File(path) => format!("git config file {}", path.display()),
            Scope::Local => "the repository's git config (.git/config)".into(),
        }
    }

    /// `--local` needs a repository: say so plainly, before git does.
    fn ready(&self) -> Result<()> {
        if *self != Scope::Local {
            return Ok(());
        }
        let out = Command::new("git")
            .args(["rev-parse", "--git-dir"])
            .output()
            .context("cannot run git (is it installed and in PATH? `apt-get install git`)")?;
        if !out.status.success() {
            let dir = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "the current directory".into());
            bail!(
                "--local: {dir} is not inside a git repository; run it in the repository \
                 (e.g. `cd /workspace/repo && git-credential-kelos configure --local`), \
                 or choose --global, --system or --file PATH"
            );
        }
        Ok(())
    }
}

/// The program the written helper value names: `kelos`, or with
/// `--helper PATH` that path, which must be absolute (git runs a relative
/// name as `git credential-NAME`, and a relative path from whatever
/// directory git happens to run in).
pub fn program(helper: Option<&Path>) -> Result<String> {
    let Some(path) = helper else {
        return Ok(helper_program(None));
    };
    let Some(text) = path.to_str() else {
        bail!(
            "--helper {}: the path is not valid UTF-8; give the absolute path of \
             git-credential-kelos in plain characters",
            path.display()
        );
    };
    if !path.is_absolute() {
        bail!(
            "--helper {text}: the path must be absolute (git runs it from any directory), \
             e.g. --helper /kelos-bin/git-credential-kelos"
        );
    }
    if text.chars().any(char::is_control) {
        bail!(
            "--helper {}: the path contains a control character; give the absolute path of \
             git-credential-kelos",
            text.escape_default()
        );
    }
    Ok(helper_program(Some(text)))
}

pub fn configure(scope: &Scope, hosts: &[Host], exclusive: bool, program: &str) -> Result<()> {
    scope.ready()?;
    if exclusive {
        return configure_exclusive(scope, hosts, program);
    }
    edit(scope, hosts, program, with_helper, "configured")
}

pub fn unconfigure(scope: &Scope, hosts: &[Host], exclusive: bool, program: &str) -> Result<()> {
    scope.ready()?;
    if exclusive {
        return unconfigure_exclusive(scope, hosts, program);
    }
    edit(scope, hosts, program, without_helper, "unconfigured")
}

/// In `scope`'s file, an empty plain `credential.helper` (which clears
/// every helper git read so far, for every URL) and then kelos, after every
/// other helper entry of that file: git then runs only kelos.
fn configure_exclusive(scope: &Scope, hosts: &[Host], program: &str) -> Result<()> {
    let value = exclusive_value(program, hosts);
    let file = list(scope)?;
    match plan_exclusive(&file, &value) {
        ExclusivePlan::Already => {
            println!(
                "{PLAIN_KEY}: already exclusive ({value:?} after an empty reset) in {}",
                scope.describe()
            );
        }
        ExclusivePlan::Append => {
            check(scope, PLAIN_KEY, git(scope, &["--add", PLAIN_KEY, ""])?)?;
            check(scope, PLAIN_KEY, git(scope, &["--add", PLAIN_KEY, &value])?)?;
            if plan_exclusive(&list(scope)?, &value) != ExclusivePlan::Already {
                bail!(
                    "added an empty {PLAIN_KEY} and {value:?} to {}, but git does not list them \
                     after the file's other helpers; run `git config {} --show-origin --get-regexp \
                     'credential\\..*helper'` to see the order",
                    scope.describe(),
                    scope.args()[0].to_string_lossy()
                );
            }
            println!(
                "{PLAIN_KEY}: exclusive in {}: an empty reset, then {value:?}; git runs only kelos",
                scope.describe()
            );
        }
        ExclusivePlan::Blocked(later) => {
            let shown: Vec<String> = later
                .iter()
                .map(|e| format!("{} = {}", e.key, redact(&e.value, &[])))
                .collect();
            bail!(
                "cannot make kelos the only helper in {}: these entries come after its last \
                 [credential] section, so git would still run them after a reset written there: {}; \
                 move them above the [credential] section (or remove them), then run this again",
                scope.describe(),
                shown.join("; ")
            );
        }
    }
    Ok(())
}

/// Removes exactly the reset and kelos entry that `configure --exclusive`
/// added (the last such pair of the plain list).
fn unconfigure_exclusive(scope: &Scope, hosts: &[Host], program: &str) -> Result<()> {
    let value = exclusive_value(program, hosts);
    let current = get_all(scope, PLAIN_KEY)?;
    match without_helper(&current, &value) {
        None => println!(
            "{PLAIN_KEY}: no exclusive {value:?} in {}; nothing to remove",
            scope.describe()
        ),
        Some(new) => {
            apply(scope, PLAIN_KEY, &current, &new)?;
            println!(
                "{PLAIN_KEY}: exclusive {value:?} and its reset removed from {}",
                scope.describe()
            );
            // git config can remove one of several equal values only by
            // removing them all: then the list was written again.
            let count = |v: &str| current.iter().filter(|c| *c == v).count();
            if count("") > 1 || count(&value) > 1 {
                println!(
                    "{PLAIN_KEY}: the file has another entry equal to one of them, so its \
                     {PLAIN_KEY} list was rewritten: the same values in the same order, \
                     now at the end of its last [credential] section"
                );
            }
        }
    }
    Ok(())
}

/// Every entry of `scope`'s file, in file order.
fn list(scope: &Scope) -> Result<Vec<crate::gitconfig::ConfigEntry>> {
    let out = git(scope, &["--null", "--list"])?;
    if out.status.success() {
        return Ok(parse_null_config(&out.stdout));
    }
    // A file that does not exist yet lists as empty.
    let missing = match scope {
        Scope::File(path) => !path.exists(),
        _ => String::from_utf8_lossy(&out.stderr).contains("No such file"),
    };
    if missing {
        return Ok(Vec::new());
    }
    bail!(
        "git config {} --list failed: {}",
        scope.args()[0].to_string_lossy(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// Applies `change` to the value list of each key; a key is rewritten only
/// when its list changes, so running twice is running once.
fn edit(
    scope: &Scope,
    hosts: &[Host],
    program: &str,
    change: fn(&[String], &str) -> Option<Vec<String>>,
    done: &str,
) -> Result<()> {
    for host in hosts {
        let value = helper_value(program, host);
        for key in helper_keys(host) {
            let current = get_all(scope, &key)?;
            match change(&current, &value) {
                None => println!("{key}: already {done} in {}", scope.describe()),
                Some(new) => {
                    apply(scope, &key, &current, &new)?;
                    println!("{key}: {done} in {}", scope.describe());
                }
            }
        }
    }
    Ok(())
}

fn get_all(scope: &Scope, key: &str) -> Result<Vec<String>> {
    let out = git(scope, &["--null", "--get-all", key])?;
    match out.status.code() {
        Some(0) => Ok(out
            .stdout
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, values)| values.to_vec())
            .unwrap_or_default()),
        // 1: the key is not set. A missing --file reads as empty too.
        Some(1) => Ok(Vec::new()),
        _ => bail!(
            "git config {} --get-all {key} failed: {}",
            scope.args()[0].to_string_lossy(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Changes `current` into `new` with as few edits as possible: appending only adds, and
/// removing values that occur once each unsets just them; only otherwise is the key
/// rewritten.
fn apply(scope: &Scope, key: &str, current: &[String], new: &[String]) -> Result<()> {
    if let Some(added) = new.strip_prefix(current) {
        for value in added {
            check(scope, key, git(scope, &["--add", key, value])?)?;
        }
        return Ok(());
    }
    let mut removed: Vec<&String> = Vec::new();
    let mut rest = new.iter().peekable();
    for v in current {
        if rest.peek() == Some(&v) {
            rest.next();
        } else {
            removed.push(v);
        }
    }
    let unique = removed
        .iter()
        .all(|r| current.iter().filter(|v| v == r).count() == 1);
    if rest.peek().is_none() && unique {
        for value in removed {
            check(
                scope,
                key,
                git(scope, &["--fixed-value", "--unset", key, value])?,
            )?;
        }
        return Ok(());
    }
    replace_all(scope, key, current, new)
}

/// Sets `key` to exactly `new`. The values are re-added in order after one
/// `--unset-all`, which keeps the user's other values as they were.
fn replace_all(scope: &Scope, key: &str, current: &[String], new: &[String]) -> Result<()> {
    if !current.is_empty() {
        check(scope, key, git(scope, &["--unset-all", key])?)?;
    }
    for value in new {
        check(scope, key, git(scope, &["--add", key, value])?)?;
    }
    Ok(())
}

fn check(scope: &Scope, key: &str, out: Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = match scope {
        Scope::System => {
            "; the system config is normally writable only by root: run as root, or use --global"
        }
        _ => "; check that the config file and its directory are writable",
    };
    bail!(
        "cannot write {key} to {}: {}{hint}",
        scope.describe(),
        stderr.trim()
    )
}

fn git(scope: &Scope, args: &[&str]) -> Result<Output> {
    Command::new("git")
        .arg("config")
        .args(scope.args())
        .args(args)
        .output()
        .with_context(|| {
            format!(
                "cannot run git to edit {} (is it installed and in PATH? `apt-get install git`)",
                scope.describe()
            )
        })
}
