//! `git-credential-kelos doctor`: the checks, as a pure function from facts
//! gathered elsewhere to a report. No check ever carries a token: the token
//! appears only as [`Token::masked`](kelos_token::Token::masked).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::gitconfig::is_kelos_helper;
use kelos_token::env::{EnvSnapshot, GH_HOST_VAR, TOKEN_FILE_VAR};
use kelos_token::expiry::{describe_age, describe_expiry, unix_seconds};
use kelos_token::host::Host;
use kelos_token::source::{FileProblem, FileRead, FileRejection, Layout, Lookup, Origin};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// A stable identifier, e.g. `token.file`.
    pub id: &'static str,
    pub level: Level,
    pub message: String,
    /// What to do about it; `None` when nothing needs doing.
    pub fix: Option<String>,
}

/// What git's configuration and binary say.
#[derive(Clone, Debug)]
pub struct GitFacts {
    /// `git --version`, or why it could not be run.
    pub version: Result<String, String>,
    /// Per configured host, the helpers git would run for `https://HOST`.
    pub helpers: Vec<(Host, Vec<String>)>,
}

/// Where `gh` leads.
#[derive(Clone, Debug, Default)]
pub struct GhFacts {
    /// What `gh` resolves to in PATH, if anything.
    pub resolved: Option<PathBuf>,
    /// Whether that is the kelos-gh wrapper.
    pub is_wrapper: bool,
    /// The real gh the wrapper would exec, or why there is none.
    pub real: Option<Result<PathBuf, String>>,
    /// The real gh's `--version` first line.
    pub real_version: Option<String>,
}

/// Everything the checks look at.
pub struct Facts {
    pub now: SystemTime,
    pub env: EnvSnapshot,
    pub hosts: Vec<Host>,
    /// The raw read of the token file (when a path is configured).
    pub file: Option<Result<FileRead, FileProblem>>,
    /// The decision both binaries would make for the first host.
    pub lookup: Lookup,
    /// Variables kelos-gh would set for `GH_HOST`, or why it would set none.
    pub gh_vars: Result<Vec<&'static str>, String>,
    pub git: GitFacts,
    pub gh: GhFacts,
    /// Image build time: no token yet is a warning, not a failure.
    pub no_token_ok: bool,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.worst() == Level::Fail
    }

    /// The worst level of any check: the report's result.
    pub fn worst(&self) -> Level {
        self.checks
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(out, "[{:<4}] {:<14} {}", c.level.as_str(), c.id, c.message);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "       {:<14} fix: {fix}", "");
            }
        }
        let worst = self.worst();
        let _ = writeln!(out, "result: {}", worst.as_str());
        out
    }

    /// One JSON object: `{"result": "...", "checks": [{"id", "level",
    /// "message", "fix"}]}`; keys are stable.
    pub fn to_json(&self) -> String {
        let worst = self.worst();
        let mut out = format!("{{\"result\":{},\"checks\":[", json_str(worst.as_str()));
        for (i, c) in self.checks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"id\":{},\"level\":{},\"message\":{},\"fix\":{}}}",
                json_str(c.id),
                json_str(c.level.as_str()),
                json_str(&c.message),
                c.fix.as_deref().map_or("null".to_owned(), json_str)
            );
        }
        out.push_str("]}\n");
        out
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn check(id: &'static str, level: Level, message: String, fix: Option<&str>) -> Check {
    Check {
        id,
        level,
        message,
        fix: fix.map(str::to_owned),
    }
}

pub fn diagnose(f: &Facts) -> Report {
    let mut checks = Vec::new();
    token_file_checks(f, &mut checks);
    expiry_check(f, &mut checks);
    fallback_check(f, &mut checks);
    host_check(f, &mut checks);
    git_checks(f, &mut checks);
    gh_checks(f, &mut checks);
    Report { checks }
}

fn token_file_checks(f: &Facts, checks: &mut Vec<Check>) {
    let missing = if f.no_token_ok {
        Level::Warn
    } else {
        Level::Fail
    };
    let Some(path) = &f.lookup.path else {
        checks.push(check(
            "token.file",
            missing,
            format!("{TOKEN_FILE_VAR} is not set"),
            Some("Kelos sets it to /kelos/github-token/GITHUB_TOKEN; set it to the mounted token file"),
        ));
        return;
    };
    let shown = path.display();
    match &f.file {
        None | Some(Err(FileProblem::NotConfigured)) => {}
        Some(Err(problem)) => {
            let fix = match problem {
                FileProblem::Missing => "mount the token Secret as a volume (a directory, not subPath) and point KELOS_GITHUB_TOKEN_FILE at the file in it",
                FileProblem::NotAbsolute => "use an absolute path",
                FileProblem::NotRegular { .. } => "point KELOS_GITHUB_TOKEN_FILE at the token file itself",
                FileProblem::TooLarge { .. } => "the file must hold one token",
                _ => "make the file readable by this user",
            };
            checks.push(check(
                "token.file",
                missing,
                format!("token file {shown} {problem}"),
                Some(fix),
            ));
        }
        Some(Ok(read)) => {
            let age = describe_age(read.modified, f.now);
            let facts = format!(
                "{} bytes, mode {:04o}, {age}",
                read.contents.len(),
                read.mode
            );
            match &read.layout {
                Layout::AtomicWriter { generation } => checks.push(check(
                    "token.file",
                    Level::Ok,
                    format!(
                        "token file {shown}: kubelet Secret volume (generation {}), {facts}",
                        generation.to_string_lossy()
                    ),
                    None,
                )),
                Layout::Plain => checks.push(check(
                    "token.file",
                    Level::Warn,
                    format!("token file {shown}: a plain file, not a kubelet Secret volume, {facts}"),
                    Some("if this is a subPath mount, kubelet never updates it: mount the Secret as a directory"),
                )),
            }
            if read.mode & 0o004 != 0 {
                checks.push(check(
                    "token.mode",
                    Level::Warn,
                    format!(
                        "token file {shown} is readable by every user (mode {:04o})",
                        read.mode
                    ),
                    Some("set defaultMode: 0400 (or 0440 with fsGroup) on the Secret volume"),
                ));
            }
        }
    }
    match (&f.lookup.token, f.lookup.origin, &f.lookup.file_rejection) {
        (Some(token), Some(Origin::File), _) => checks.push(check(
            "token.valid",
            Level::Ok,
            format!("token from the file: {}", token.masked()),
            None,
        )),
        (_, _, Some(FileRejection::Invalid(why))) => checks.push(check(
            "token.valid",
            missing,
            format!("token file {shown} {why}"),
            Some("the file must hold exactly one token"),
        )),
        _ => {}
    }
}

fn expiry_check(f: &Facts, checks: &mut Vec<Check>) {
    if f.lookup.origin != Some(Origin::File) {
        return;
    }
    let now = unix_seconds(f.now);
    let c = match (f.lookup.expires_at, &f.lookup.expiry_problem) {
        (Some(at), _) if at <= now => check(
            "token.expiry",
            Level::Fail,
            format!("the token {}", describe_expiry(at, now)),
            Some("the token refresher is failing: check the Kelos controller's events for GitHubTokenRefreshFailed"),
        ),
        (Some(at), _) if at - now < 300 => check(
            "token.expiry",
            Level::Warn,
            format!("the token {}", describe_expiry(at, now)),
            Some("Kelos re-mints with 5 minutes left; if this persists, the refresher may be failing"),
        ),
        (Some(at), _) => check(
            "token.expiry",
            Level::Ok,
            format!("the token {}", describe_expiry(at, now)),
            None,
        ),
        (None, Some(problem)) => check(
            "token.expiry",
            Level::Warn,
            format!("the expiry file {problem}"),
            Some("write Unix seconds or RFC 3339 (2026-11-23T10:00:00Z) to <token file>_EXPIRES_AT"),
        ),
        (None, None) => check(
            "token.expiry",
            Level::Ok,
            "expiry unknown (no <token file>_EXPIRES_AT file); git cannot tell an expired token".into(),
            None,
        ),
    };
    checks.push(c);
}

fn fallback_check(f: &Facts, checks: &mut Vec<Check>) {
    let names: Vec<&str> = f
        .lookup
        .class
        .fallback_vars()
        .iter()
        .copied()
        .filter(|n| f.env.non_empty(n).is_some())
        .collect();
    let present = if names.is_empty() {
        "none set".to_owned()
    } else {
        names.join(", ")
    };
    let missing = if f.no_token_ok {
        Level::Warn
    } else {
        Level::Fail
    };
    let c = match (&f.lookup.token, f.lookup.origin) {
        (_, Some(Origin::File)) => check(
            "token.fallback",
            Level::Ok,
            format!("fallback variables (not used while the file is valid): {present}"),
            None,
        ),
        (Some(token), Some(Origin::Env(name))) => check(
            "token.fallback",
            Level::Warn,
            format!(
                "using {name} ({}), frozen at start-up: it stops working when the token rotates",
                token.masked()
            ),
            Some("fix the token file so that the rotating token is used"),
        ),
        _ => check(
            "token.fallback",
            missing,
            format!("no token at all: {}", f.lookup.explain()),
            Some("mount the token file, or set GH_TOKEN for a token that does not rotate"),
        ),
    };
    checks.push(c);
}

fn host_check(f: &Facts, checks: &mut Vec<Check>) {
    let hosts: Vec<String> = f
        .hosts
        .iter()
        .map(|h| format!("{h} ({})", h.class()))
        .collect();
    let source = if f.env.non_empty(GH_HOST_VAR).is_some() {
        "from GH_HOST"
    } else {
        "default"
    };
    checks.push(check(
        "host",
        Level::Ok,
        format!("answering for {} [{source}]", hosts.join(", ")),
        None,
    ));
    checks.push(match &f.gh_vars {
        Ok(vars) => check(
            "gh.vars",
            Level::Ok,
            format!("kelos-gh sets {} from the file", vars.join(", ")),
            None,
        ),
        Err(why) => check(
            "gh.vars",
            Level::Warn,
            why.clone(),
            Some("set GH_HOST to a host name"),
        ),
    });
}

fn git_checks(f: &Facts, checks: &mut Vec<Check>) {
    match &f.git.version {
        Ok(v) => checks.push(check("git", Level::Ok, v.clone(), None)),
        Err(e) => {
            checks.push(check("git", Level::Fail, e.clone(), Some("install git")));
            return;
        }
    }
    for (host, helpers) in &f.git.helpers {
        let list = if helpers.is_empty() {
            "none".to_owned()
        } else {
            helpers.join(" → ")
        };
        let configure = format!("git-credential-kelos configure --system --host {host}");
        let c = match helpers.iter().position(|h| is_kelos_helper(h)) {
            None => check(
                "git.helper",
                Level::Fail,
                format!("git runs no kelos helper for https://{host} (helpers: {list})"),
                Some(&configure),
            ),
            Some(0) => check(
                "git.helper",
                Level::Ok,
                format!("git asks kelos first for https://{host} (helpers: {list})"),
                None,
            ),
            Some(_) => check(
                "git.helper",
                Level::Warn,
                format!("another helper runs before kelos for https://{host} (helpers: {list}); it may answer with a stale token"),
                Some(&configure),
            ),
        };
        checks.push(c);
    }
}

fn gh_checks(f: &Facts, checks: &mut Vec<Check>) {
    let gh = &f.gh;
    let Some(resolved) = &gh.resolved else {
        checks.push(check(
            "gh",
            Level::Warn,
            "no gh in PATH".into(),
            Some("install gh and kelos-gh as /usr/local/bin/gh, if agents use gh"),
        ));
        return;
    };
    if !gh.is_wrapper {
        checks.push(check(
            "gh",
            Level::Warn,
            format!(
                "gh in PATH is {}, not the kelos-gh wrapper: gh will use the frozen token",
                resolved.display()
            ),
            Some("install kelos-gh as /usr/local/bin/gh, ahead of the real gh in PATH"),
        ));
        return;
    }
    match &gh.real {
        Some(Ok(real)) => checks.push(check(
            "gh",
            Level::Ok,
            format!(
                "gh in PATH is the kelos-gh wrapper ({}); real gh: {}{}",
                resolved.display(),
                real.display(),
                gh.real_version
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default()
            ),
            None,
        )),
        other => {
            let why = match other {
                Some(Err(why)) => why.as_str(),
                _ => "the real gh was not looked for",
            };
            checks.push(check(
                "gh",
                Level::Fail,
                format!(
                    "gh in PATH is the kelos-gh wrapper ({}), but {why}",
                    resolved.display()
                ),
                Some("install gh, or set KELOS_GH_PATH to the real gh"),
            ));
        }
    }
}
