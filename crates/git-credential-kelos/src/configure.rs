//! `configure` / `unconfigure`: edits git's config through `git config`,
//! never by hand, and only the keys this helper owns.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::gitconfig::{helper_keys, helper_value, with_helper, without_helper};
use anyhow::{bail, Context, Result};
use kelos_token::Host;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    System,
    Global,
    File(PathBuf),
}

impl Scope {
    fn args(&self) -> Vec<OsString> {
        match self {
            Scope::System => vec!["--system".into()],
            Scope::Global => vec!["--global".into()],
            Scope::File(path) => vec!["--file".into(), path.into()],
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::System => "the system git config".into(),
            Scope::Global => "the global git config".into(),
            Scope::File(path) => format!("git config file {}", path.display()),
        }
    }
}

pub fn configure(scope: &Scope, hosts: &[Host]) -> Result<()> {
    edit(scope, hosts, with_helper, "configured")
}

pub fn unconfigure(scope: &Scope, hosts: &[Host]) -> Result<()> {
    edit(scope, hosts, without_helper, "unconfigured")
}

/// Applies `change` to the value list of each key; a key is rewritten only
/// when its list changes, so running twice is running once.
fn edit(
    scope: &Scope,
    hosts: &[Host],
    change: fn(&[String], &str) -> Option<Vec<String>>,
    done: &str,
) -> Result<()> {
    for host in hosts {
        let value = helper_value(host);
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
