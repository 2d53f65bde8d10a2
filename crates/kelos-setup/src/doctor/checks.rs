//! `git-credential-kelos doctor`: the checks, as a pure function from facts
//! gathered elsewhere to a report. No check ever carries a token: the token
//! appears only as [`Token::masked`](kelos_token::Token::masked).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::configure::Scope;
use crate::gitconfig::is_kelos_helper;
use crate::quote::{json_string, sh_word};
use kelos_token::env::{EnvSnapshot, GH_HOST_VAR, TOKEN_FILE_VAR};
use kelos_token::expiry::{describe_age, describe_expiry, unix_seconds};
use kelos_token::host::{Host, HostInputError, HostOrigin};
use kelos_token::redact::redact;
use kelos_token::source::{FileProblem, FileRead, FileRejection, Layout, Lookup, Origin};
use kelos_token::text::escape_controls;
use kelos_token::Token;

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

/// What git's configuration and binary say. Helper command lines are
/// already masked ([`redact`]).
#[derive(Clone, Debug)]
pub struct GitFacts {
    /// `git --version`, or why it could not be run.
    pub version: Result<String, String>,
    /// Per configured host, the helpers git would run for `https://HOST`.
    pub helpers: Vec<(Host, Vec<String>)>,
    /// Each kelos helper git would run, and whether git can run it (it asked
    /// git: `git credential-kelos capability`), or why not.
    pub kelos_runs: Vec<(String, Result<(), String>)>,
    /// What `git credential fill` gave for hosts that must get nothing.
    pub probes: Vec<Probe>,
    /// The repository doctor ran in (its top level), if any.
    pub repository: Option<PathBuf>,
    /// Why git could not list its helpers (a broken config file, ...).
    pub config_error: Option<String>,
}

/// A helper entry of git's config, and where it comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HelperSource {
    /// The command line, masked.
    pub value: String,
    /// `credential.helper` or `credential.<url>.helper`.
    pub key: String,
    /// `system`, `global`, `local`, `worktree`, `command`.
    pub scope: String,
    /// The config file (absolute), when it is a file.
    pub file: Option<PathBuf>,
}

/// What git answered a probe with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// No password (what must happen).
    Silent,
    /// A password came (never kept: only that one came).
    Answered,
    /// git (a helper) did not finish within the limit; it was killed.
    TimedOut(Duration),
    /// Not asked, and why.
    Skipped(String),
    /// git could not be asked.
    Failed(String),
}

/// One `git credential fill` for a URL no helper may answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// `https://kelos-doctor-probe.invalid`, `http://HOST`.
    pub url: String,
    pub outcome: ProbeOutcome,
    /// When it answered or timed out: each helper git runs for the URL,
    /// asked alone, that answered or did not return.
    pub culprits: Vec<(HelperSource, ProbeOutcome)>,
    /// The helpers git runs for the URL, masked (for when no single one
    /// answered alone).
    pub helpers: Vec<String>,
}

/// Where `gh` leads: the gh a shell would run, and while that is kelos-gh,
/// each file the copy before it would exec.
#[derive(Clone, Debug, Default)]
pub struct GhFacts {
    /// The chain in order, the first gh in PATH first. Empty: no gh in PATH.
    pub chain: Vec<GhLink>,
    /// How the chain ends (with an empty chain: [`GhEnd::NoGh`]).
    pub end: GhEnd,
}

/// One file of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhLink {
    pub path: PathBuf,
    /// Whether it is kelos-gh (it carries the wrapper's marker).
    pub is_wrapper: bool,
    /// A wrapper's own version and commit, from its stamp (`kelos-gh 0.1.0
    /// (commit ...)`); `None` for the real gh and for a wrapper built before
    /// stamps.
    pub wrapper_version: Option<String>,
    /// Whether the copy before it found it through `KELOS_GH_PATH`.
    pub from_gh_path: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GhEnd {
    /// No gh in PATH.
    #[default]
    NoGh,
    /// The last link is the real gh: the first line of its `--version`, or
    /// why there is none (it failed, or ran past its time limit).
    Real(Result<String, String>),
    /// The last link is kelos-gh and finds no real gh: why, as it says.
    NotFound(String),
    /// The last link is kelos-gh and would exec this file, a copy already
    /// in the chain.
    Loops(PathBuf),
    /// Still kelos-gh after the most links doctor follows.
    TooLong,
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
    /// A `GH_HOST` or `--host` that is not a host: `hosts` is then empty.
    pub host_error: Option<HostInputError>,
    /// Who runs doctor: the agent's user, whose access `token.mode` judges.
    pub reader: Reader,
}

/// A process's user and groups (effective gid and supplementary groups:
/// kubelet adds the pod's `fsGroup` to every container's groups).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reader {
    pub uid: u32,
    pub groups: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Every message and fix with every token-shaped word masked: the one
    /// place doctor's output passes through before anyone sees it.
    pub fn redacted(self, known: &[&Token]) -> Report {
        Report {
            checks: self
                .checks
                .into_iter()
                .map(|c| Check {
                    message: redact(&c.message, known),
                    fix: c.fix.map(|f| redact(&f, known)),
                    ..c
                })
                .collect(),
        }
    }

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

    /// The report for a terminal: one line per check (and its fix), with
    /// control characters escaped (a helper command line or gh's
    /// `--version` may hold ESC or BEL; `--json` escapes them as JSON does).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(
                out,
                "[{:<4}] {:<14} {}",
                c.level.as_str(),
                c.id,
                escape_controls(&c.message)
            );
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "       {:<14} fix: {}", "", escape_controls(fix));
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
        let mut out = format!("{{\"result\":{},\"checks\":[", json_string(worst.as_str()));
        for (i, c) in self.checks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"id\":{},\"level\":{},\"message\":{},\"fix\":{}}}",
                json_string(c.id),
                json_string(c.level.as_str()),
                json_string(&c.message),
                c.fix.as_deref().map_or("null".to_owned(), json_string)
            );
        }
        out.push_str("]}\n");
        out
    }
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
            checks.extend(token_mode_check(read, &f.reader));
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

/// A token file every user may read is worth tightening, but only to a mode
/// this user can still read: kubelet writes Secret files as root, with the
/// pod's `fsGroup` as their group when it has one (Kelos sets 61100). The
/// advice follows what this process, the agent's user, has: the file's
/// group (`defaultMode: 0440` keeps it readable), its ownership (0400), or
/// neither (then only `fsGroup` with 0440 does; 0400 alone would lock the
/// agent out).
pub fn token_mode_check(read: &FileRead, reader: &Reader) -> Option<Check> {
    if read.mode & 0o004 == 0 {
        return None;
    }
    let shown = read.path.display();
    let who = format!("this user (uid {})", reader.uid);
    let (how, fix) = if reader.uid == 0 {
        (
            "doctor runs as root, which reads any file: run it as the agent's user to judge its access".to_owned(),
            "with fsGroup in the pod's securityContext (Kelos sets 61100), set defaultMode: 0440 on the Secret volume; without fsGroup keep 0644: the file is owned by root, and 0400 or 0440 would lock a non-root agent out".to_owned(),
        )
    } else if reader.uid == read.uid && read.uid != 0 {
        (
            format!("{who} owns it"),
            "set defaultMode: 0400 on the Secret volume: the owner keeps reading it".to_owned(),
        )
    } else if reader.groups.contains(&read.gid) {
        (
            format!(
                "its group (gid {}, the pod's fsGroup) is one of {who}'s groups",
                read.gid
            ),
            "set defaultMode: 0440 on the Secret volume: the group keeps reading it".to_owned(),
        )
    } else {
        (
            format!(
                "{who} reads it only through that (owner uid {}, group gid {}: the pod has no fsGroup)",
                read.uid, read.gid
            ),
            format!(
                "set fsGroup: {} in the pod's securityContext, then defaultMode: 0440 on the Secret volume; not 0400 or 0440 alone: {who} could no longer read the token",
                reader.groups.first().copied().unwrap_or(reader.uid)
            ),
        )
    };
    Some(check(
        "token.mode",
        Level::Warn,
        format!(
            "token file {shown} is readable by every user (mode {:04o}); {how}",
            read.mode
        ),
        Some(&fix),
    ))
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
    if let Some(e) = &f.host_error {
        let fix = match e.origin {
            HostOrigin::GhHost => {
                format!("set {GH_HOST_VAR} to the host name alone (or unset it for github.com)")
            }
            HostOrigin::HostOption => "give --host the host name alone".to_owned(),
        };
        let fix = match &e.suggestion {
            Some(h) => format!("{fix}, like {h}"),
            None => fix,
        };
        checks.push(check("host", Level::Fail, e.to_string(), Some(&fix)));
    }
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
    if f.host_error.is_none() {
        checks.push(check(
            "host",
            Level::Ok,
            format!("answering for {} [{source}]", hosts.join(", ")),
            None,
        ));
    }
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
    match (&f.git.version, &f.git.config_error) {
        (Ok(v), None) => checks.push(check("git", Level::Ok, v.clone(), None)),
        (Ok(v), Some(e)) => {
            checks.push(check(
                "git",
                Level::Fail,
                format!("{v}, but it cannot read its config: {e}"),
                Some(
                    "fix the config file git names (`git config --list --show-origin` shows which)",
                ),
            ));
            return;
        }
        (Err(e), _) => {
            let fix = if e.starts_with("cannot run git") {
                "install git"
            } else {
                "fix what git says (a config file it cannot read: `git config --list --show-origin` names them)"
            };
            checks.push(check("git", Level::Fail, e.clone(), Some(fix)));
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
        let position = helpers.iter().position(|h| is_kelos_helper(h));
        let cannot_run = position.and_then(|p| {
            f.git
                .kelos_runs
                .iter()
                .find(|(value, _)| *value == helpers[p])
                .and_then(|(value, run)| run.as_ref().err().map(|why| (value, why)))
        });
        let c = match (position, cannot_run) {
            (Some(_), Some((value, why))) => check(
                "git.helper",
                Level::Fail,
                format!("git is configured to run `{value}` for https://{host}, but cannot run it: {why} (helpers: {list})"),
                Some("install git-credential-kelos into a directory in PATH: install -m 0755 git-credential-kelos /usr/local/bin/git-credential-kelos"),
            ),
            (None, _) => check(
                "git.helper",
                Level::Fail,
                format!("git runs no kelos helper for https://{host} (helpers: {list})"),
                Some(&configure),
            ),
            (Some(0), None) => check(
                "git.helper",
                Level::Ok,
                format!("git asks kelos first for https://{host} (helpers: {list})"),
                None,
            ),
            (Some(_), None) => check(
                "git.helper",
                Level::Warn,
                format!("another helper runs before kelos for https://{host} (helpers: {list}); it may answer with a stale token"),
                Some(&configure),
            ),
        };
        checks.push(c);
    }
    leak_check(f, checks);
}

/// `git.leak`: no helper may answer a host that is not ours, or plain http.
fn leak_check(f: &Facts, checks: &mut Vec<Check>) {
    let probes = &f.git.probes;
    if probes.is_empty() {
        return;
    }
    let asked: Vec<&str> = probes.iter().map(|p| p.url.as_str()).collect();
    // Per helper: the URLs it answered, and those it never returned for.
    let mut by_helper: Vec<(&HelperSource, Vec<&str>, Vec<String>)> = Vec::new();
    let mut unattributed = Vec::new();
    let mut notes = Vec::new();
    let mut level = Level::Ok;
    for probe in probes {
        match &probe.outcome {
            ProbeOutcome::Silent => {}
            ProbeOutcome::Answered | ProbeOutcome::TimedOut(_) => {
                level = Level::Fail;
                if probe.culprits.is_empty() {
                    let what = if probe.outcome == ProbeOutcome::Answered {
                        "git gets a password (not shown)"
                    } else {
                        "git does not finish"
                    };
                    let helpers = if probe.helpers.is_empty() {
                        "none listed".to_owned()
                    } else {
                        probe.helpers.join(" → ")
                    };
                    unattributed.push(format!(
                        "for {}, {what} from the helpers git runs for it ({helpers})",
                        probe.url
                    ));
                }
                for (h, outcome) in &probe.culprits {
                    let at = match by_helper.iter().position(|(known, _, _)| *known == h) {
                        Some(at) => at,
                        None => {
                            by_helper.push((h, Vec::new(), Vec::new()));
                            by_helper.len() - 1
                        }
                    };
                    match outcome {
                        ProbeOutcome::TimedOut(limit) => by_helper[at].2.push(format!(
                            "{} (killed after {})",
                            probe.url,
                            crate::child::show_limit(*limit)
                        )),
                        _ => by_helper[at].1.push(&probe.url),
                    }
                }
            }
            ProbeOutcome::Skipped(why) => {
                level = level.max(Level::Warn);
                notes.push(format!("{} not asked: {why}", probe.url));
            }
            ProbeOutcome::Failed(why) => {
                level = level.max(Level::Warn);
                notes.push(format!("{} could not be asked: {why}", probe.url));
            }
        }
    }
    let mut findings: Vec<String> = by_helper
        .iter()
        .map(|(h, answered, hung)| {
            let mut did = Vec::new();
            if !answered.is_empty() {
                did.push(format!(
                    "gives git a password (not shown) for {}",
                    answered.join(" and ")
                ));
            }
            if !hung.is_empty() {
                did.push(format!("never returns for {}", hung.join(" and ")));
            }
            format!(
                "helper `{}` ({}) {}",
                h.value,
                describe_source(h),
                did.join(", and ")
            )
        })
        .collect();
    findings.extend(unattributed);
    findings.extend(notes);
    let leaking: Vec<&HelperSource> = by_helper.iter().map(|(h, _, _)| *h).collect();
    let place = f
        .git
        .repository
        .as_deref()
        .map(|r| format!(" in {}", r.display()))
        .unwrap_or_default();
    if level == Level::Ok {
        checks.push(check(
            "git.leak",
            Level::Ok,
            format!(
                "no helper answers {} (asked git credential fill{place})",
                asked.join(" or ")
            ),
            None,
        ));
        return;
    }
    let message = if level == Level::Fail {
        format!(
            "{}; git runs it for every remote{place}, so any host (and plain http) can get the token",
            findings.join("; ")
        )
    } else {
        findings.join("; ")
    };
    let fix = leak_fix(&leaking, &f.hosts, f.git.repository.as_deref());
    checks.push(check("git.leak", level, message, Some(&fix)));
}

fn describe_source(h: &HelperSource) -> String {
    match (&h.file, h.scope.as_str()) {
        (_, "command") => format!("{} from git's command line or GIT_CONFIG_PARAMETERS", h.key),
        (Some(file), scope) if !scope.is_empty() => {
            format!("{} in {}, {scope} config", h.key, file.display())
        }
        (Some(file), _) => format!("{} in {}", h.key, file.display()),
        (None, _) => h.key.clone(),
    }
}

/// Commands a person can paste: for each scope a leaking helper comes
/// from, `configure --exclusive` in that scope (the repository's last, as
/// it starts with `cd`).
pub fn leak_fix(leaking: &[&HelperSource], hosts: &[Host], repository: Option<&Path>) -> String {
    let host_args: String = match hosts {
        [only] if only.as_str() == "github.com" => String::new(),
        _ => hosts.iter().map(|h| format!(" --host {h}")).collect(),
    };
    // The scope's options from the same type `configure` takes them as.
    let cmd = |scope: Scope| {
        format!(
            "git-credential-kelos configure --exclusive {}{host_args}",
            scope.cli_args().join(" ")
        )
    };
    // In the order the commands can run one after another: the repository's
    // last, as it starts with `cd`.
    let rank = |h: &&&HelperSource| match h.scope.as_str() {
        "system" => 0,
        "global" => 1,
        "local" => 3,
        _ => 2,
    };
    let mut sorted: Vec<&&HelperSource> = leaking.iter().collect();
    sorted.sort_by_key(rank);
    let mut fixes: Vec<String> = Vec::new();
    let mut others = Vec::new();
    for h in sorted {
        let fix = match (h.scope.as_str(), &h.file) {
            ("system", _) => cmd(Scope::System),
            ("global", _) => cmd(Scope::Global),
            ("local", file) => {
                // The repository doctor ran in, else the one the file is in.
                let dir = repository.map(Path::to_path_buf).or_else(|| {
                    file.as_deref()
                        .and_then(|f| f.parent()?.parent())
                        .map(Path::to_path_buf)
                });
                match dir {
                    Some(dir) => format!(
                        "cd {} && {}",
                        sh_word(&dir.display().to_string()),
                        cmd(Scope::Local)
                    ),
                    None => cmd(Scope::Local),
                }
            }
            ("command", _) => {
                others.push(format!(
                    "remove `{}` from the -c options or GIT_CONFIG_PARAMETERS/GIT_CONFIG_COUNT of what starts git",
                    h.value
                ));
                continue;
            }
            (_, Some(file)) => cmd(Scope::File(file.clone())),
            (_, None) => {
                others.push(format!("remove `{}` ({})", h.value, h.key));
                continue;
            }
        };
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    let mut parts = Vec::new();
    if !fixes.is_empty() {
        parts.push(fixes.join(" && "));
    }
    parts.extend(others);
    if parts.is_empty() {
        return "find the helper with `git config --show-origin --show-scope --get-regexp 'credential\\..*helper'`, then run `git-credential-kelos configure --exclusive` in its scope".to_owned();
    }
    parts.join("; ")
}

fn gh_checks(f: &Facts, checks: &mut Vec<Check>) {
    checks.push(gh_check(&f.gh));
}

/// The `gh` check: the whole chain, from the gh in PATH to the real gh (or
/// to where it ends without one).
/// What a wrapper link says it is, for the gh check's message (the commit cut short: a
/// whole id would be masked as a token shape).
fn wrapper_version(link: &GhLink) -> String {
    link.wrapper_version.as_deref().map_or_else(
        || "kelos-gh, version unknown: built before wrappers carried it".to_owned(),
        kelos_token::version::with_short_commit,
    )
}

fn gh_check(gh: &GhFacts) -> Check {
    const NO_REAL_GH: &str = "install gh, or set KELOS_GH_PATH to the absolute path of the real gh";
    const EXTRA_COPIES: &str = "remove the extra kelos-gh copies from PATH (keep one, ahead of \
                                the real gh), or set KELOS_GH_PATH to the absolute path of the \
                                real gh";
    let Some(first) = gh.chain.first() else {
        return check(
            "gh",
            Level::Warn,
            "no gh in PATH".into(),
            Some("install gh and kelos-gh as /usr/local/bin/gh, if agents use gh"),
        );
    };
    if !first.is_wrapper {
        return check(
            "gh",
            Level::Warn,
            format!(
                "gh in PATH is {}, not the kelos-gh wrapper: gh will use the frozen token",
                first.path.display()
            ),
            Some("install kelos-gh as /usr/local/bin/gh, ahead of the real gh in PATH"),
        );
    }
    // "the kelos-gh wrapper A → B (another kelos-gh copy) → real gh C"
    let mut chain = format!(
        "gh in PATH is the kelos-gh wrapper {} ({})",
        first.path.display(),
        wrapper_version(first)
    );
    for link in &gh.chain[1..] {
        let via = if link.from_gh_path {
            ", from KELOS_GH_PATH"
        } else {
            ""
        };
        if link.is_wrapper {
            let _ = write!(
                chain,
                " → {} (another kelos-gh copy{via}: {})",
                link.path.display(),
                wrapper_version(link)
            );
        } else {
            let _ = write!(chain, " → real gh {}", link.path.display());
            if link.from_gh_path {
                chain.push_str(" (from KELOS_GH_PATH)");
            }
        }
    }
    let last = gh.chain.last().unwrap_or(first);
    match &gh.end {
        GhEnd::Real(Ok(version)) => check("gh", Level::Ok, format!("{chain} ({version})"), None),
        GhEnd::Real(Err(why)) => check(
            "gh",
            Level::Warn,
            format!("{chain}, but {why}"),
            Some(&format!(
                "check that the real gh runs: {} --version",
                last.path.display()
            )),
        ),
        GhEnd::NotFound(why) => check(
            "gh",
            Level::Fail,
            format!(
                "{chain}, which finds no real gh (gh exits 127): {}",
                why.strip_prefix("cannot find the real gh: ").unwrap_or(why)
            ),
            Some(NO_REAL_GH),
        ),
        GhEnd::Loops(to) => check(
            "gh",
            Level::Fail,
            format!(
                "{chain} → {} again: the chain of kelos-gh copies loops and gh never runs",
                to.display()
            ),
            Some(EXTRA_COPIES),
        ),
        GhEnd::TooLong | GhEnd::NoGh => check(
            "gh",
            Level::Fail,
            format!(
                "{chain}: still kelos-gh after {} copies, no real gh reached",
                gh.chain.len()
            ),
            Some(EXTRA_COPIES),
        ),
    }
}

#[cfg(test)]
mod gh_check_tests {
    use super::*;

    const STAMP: &str = "kelos-gh 0.1.0 (commit 0123456789ab)";

    fn link(path: &str, is_wrapper: bool) -> GhLink {
        GhLink {
            path: path.into(),
            is_wrapper,
            wrapper_version: is_wrapper
                .then(|| "kelos-gh 0.1.0 (commit 0123456789abcdef0123456789abcdef01234567)".into()),
            from_gh_path: false,
        }
    }

    fn facts(chain: Vec<GhLink>, end: GhEnd) -> GhFacts {
        GhFacts { chain, end }
    }

    #[test]
    fn the_whole_chain_is_reported_and_the_real_gh_is_its_end() {
        let c = gh_check(&facts(
            vec![
                link("/usr/local/bin/gh", true),
                link("/x/gh", true),
                link("/usr/bin/gh", false),
            ],
            GhEnd::Real(Ok("gh version 2.23.0 (2023-02-27)".into())),
        ));
        assert_eq!(c.level, Level::Ok);
        assert_eq!(
            c.message,
            format!(
                "gh in PATH is the kelos-gh wrapper /usr/local/bin/gh ({STAMP}) → /x/gh (another \
                 kelos-gh copy: {STAMP}) → real gh /usr/bin/gh (gh version 2.23.0 (2023-02-27))"
            )
        );
        assert_eq!(c.fix, None);

        let mut from_gh_path = link("/opt/gh", false);
        from_gh_path.from_gh_path = true;
        let mut unstamped = link("/usr/local/bin/gh", true);
        unstamped.wrapper_version = None;
        let c = gh_check(&facts(
            vec![unstamped, from_gh_path],
            GhEnd::Real(Ok("gh version 2.99.0".into())),
        ));
        assert_eq!(
            c.message,
            "gh in PATH is the kelos-gh wrapper /usr/local/bin/gh (kelos-gh, version unknown: \
             built before wrappers carried it) → real gh /opt/gh (from KELOS_GH_PATH) (gh \
             version 2.99.0)"
        );
    }

    #[test]
    fn a_chain_without_a_real_gh_fails_with_the_fix() {
        let c = gh_check(&facts(
            vec![link("/a/gh", true), link("/b/gh", true)],
            GhEnd::NotFound(
                "cannot find the real gh: KELOS_GH_PATH is unset, and no gh in PATH after \
                 this wrapper's own entry /b can be run (searched /a/gh: comes earlier in PATH \
                 than this wrapper)"
                    .into(),
            ),
        ));
        assert_eq!(c.level, Level::Fail);
        assert!(
            c.message.starts_with(&format!(
                "gh in PATH is the kelos-gh wrapper /a/gh ({STAMP}) → /b/gh (another \
                     kelos-gh copy: {STAMP}), which finds no real gh (gh exits 127): \
                     KELOS_GH_PATH is unset"
            )),
            "{}",
            c.message
        );
        assert!(c.fix.as_deref().unwrap().contains("KELOS_GH_PATH"));
    }

    #[test]
    fn a_looping_or_endless_chain_fails_with_the_fix() {
        for end in [GhEnd::Loops("/a/gh".into()), GhEnd::TooLong] {
            let c = gh_check(&facts(
                vec![link("/a/gh", true), link("/b/gh", true)],
                end.clone(),
            ));
            assert_eq!(c.level, Level::Fail, "{end:?}");
            assert!(
                c.message.contains(&format!("/a/gh ({STAMP}) → /b/gh")),
                "{}",
                c.message
            );
            let fix = c.fix.unwrap();
            assert!(fix.contains("extra kelos-gh copies"), "{fix}");
            assert!(fix.contains("KELOS_GH_PATH"), "{fix}");
        }
    }

    #[test]
    fn a_real_gh_whose_version_times_out_is_a_warning_that_says_so() {
        let why = "`/usr/bin/gh --version` did not finish within 5 s (killed)";
        let c = gh_check(&facts(
            vec![link("/usr/local/bin/gh", true), link("/usr/bin/gh", false)],
            GhEnd::Real(Err(why.into())),
        ));
        assert_eq!(c.level, Level::Warn);
        assert!(c.message.ends_with(why), "{}", c.message);
        assert!(c.fix.unwrap().contains("/usr/bin/gh --version"));
    }

    #[test]
    fn no_gh_or_not_the_wrapper_warn() {
        let c = gh_check(&GhFacts::default());
        assert_eq!(
            (c.level, c.message.as_str()),
            (Level::Warn, "no gh in PATH")
        );
        let c = gh_check(&facts(
            vec![link("/usr/bin/gh", false)],
            GhEnd::Real(Ok("gh version 2.23.0".into())),
        ));
        assert_eq!(c.level, Level::Warn);
        assert!(
            c.message.contains("not the kelos-gh wrapper"),
            "{}",
            c.message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelos_token::host::{configured_hosts, HostClass};
    use kelos_token::source::choose;

    fn facts(git: GitFacts, hosts: &[&str]) -> Facts {
        let env = EnvSnapshot::from_pairs(Vec::<(&str, &str)>::new());
        Facts {
            now: SystemTime::now(),
            lookup: choose(
                None,
                Err(FileProblem::NotConfigured),
                &env,
                HostClass::Dotcom,
            ),
            env,
            hosts: hosts.iter().map(|h| Host::parse(h).unwrap()).collect(),
            file: None,
            gh_vars: Ok(vec!["GH_TOKEN"]),
            git,
            gh: GhFacts::default(),
            no_token_ok: true,
            host_error: None,
            reader: Reader::default(),
        }
    }

    fn token_read(mode: u32, uid: u32, gid: u32) -> FileRead {
        FileRead {
            path: "/kelos/github-token/GITHUB_TOKEN".into(),
            contents: b"t".to_vec(),
            layout: Layout::Plain,
            modified: None,
            mode,
            uid,
            gid,
            expiry: None,
        }
    }

    /// Whether `reader` may read a file of `mode` owned by `uid`:`gid` (not as root).
    fn may_read(reader: &Reader, mode: u32, uid: u32, gid: u32) -> bool {
        (reader.uid == uid && mode & 0o400 != 0)
            || (reader.uid != uid && reader.groups.contains(&gid) && mode & 0o040 != 0)
            || (reader.uid != uid && !reader.groups.contains(&gid) && mode & 0o004 != 0)
    }

    #[test]
    fn token_mode_advice_for_kelos_pods() {
        let agent = |groups: &[u32]| Reader {
            uid: 61100,
            groups: groups.to_vec(),
        };
        // Kelos's default 0644, no fsGroup: root-owned; 0400 would lock the agent out.
        let c = token_mode_check(&token_read(0o644, 0, 0), &agent(&[61100])).unwrap();
        let fix = c.fix.unwrap();
        assert!(
            fix.contains("fsGroup: 61100") && fix.contains("0440"),
            "{fix}"
        );
        assert!(fix.contains("not 0400"), "{fix}");
        // With fsGroup 61100 (what Kelos sets): 0440.
        let c = token_mode_check(&token_read(0o644, 0, 61100), &agent(&[61100])).unwrap();
        assert!(c.fix.unwrap().starts_with("set defaultMode: 0440"));
        // Not world-readable: nothing to say.
        assert!(token_mode_check(&token_read(0o440, 0, 61100), &agent(&[61100])).is_none());
    }

    proptest::proptest! {
        /// Following the fix never leaves the reader unable to read the file, and the fix
        /// always names a mode that no longer lets every user read it.
        #[test]
        fn token_mode_fix_keeps_the_reader_reading(
            mode in 0u32..0o1000,
            file_uid in proptest::sample::select(vec![0u32, 61100, 1000]),
            file_gid in proptest::sample::select(vec![0u32, 61100, 1000, 5]),
            uid in proptest::sample::select(vec![61100u32, 1000, 0]),
            groups in proptest::collection::vec(proptest::sample::select(vec![61100u32, 1000, 5, 7]), 1..3),
        ) {
            let reader = Reader { uid, groups };
            let read = token_read(mode, file_uid, file_gid);
            let Some(c) = token_mode_check(&read, &reader) else {
                proptest::prop_assert_eq!(mode & 0o004, 0);
                return Ok(());
            };
            let fix = c.fix.unwrap();
            let new_mode = u32::from_str_radix(
                fix.split("defaultMode: ").nth(1).unwrap().get(..4).unwrap(), 8).unwrap();
            proptest::prop_assert_eq!(new_mode & 0o004, 0, "{}", fix);
            if uid != 0 {
                // fsGroup makes kubelet give the file that group.
                let gid = fix
                    .split("fsGroup: ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(|g| g.parse::<u32>().unwrap())
                    .unwrap_or(file_gid);
                proptest::prop_assert!(may_read(&reader, new_mode, file_uid, gid), "{}", fix);
            }
        }
    }

    fn git(probes: Vec<Probe>, repository: Option<&str>) -> GitFacts {
        GitFacts {
            version: Ok("git version 2.47.3".into()),
            helpers: vec![],
            kelos_runs: vec![],
            probes,
            repository: repository.map(PathBuf::from),
            config_error: None,
        }
    }

    fn source(value: &str, scope: &str, file: Option<&str>) -> HelperSource {
        HelperSource {
            value: value.into(),
            key: "credential.helper".into(),
            scope: scope.into(),
            file: file.map(PathBuf::from),
        }
    }

    fn probe(
        url: &str,
        outcome: ProbeOutcome,
        culprits: Vec<(HelperSource, ProbeOutcome)>,
    ) -> Probe {
        Probe {
            url: url.into(),
            outcome,
            culprits,
            helpers: vec![],
        }
    }

    fn leak(f: &Facts) -> Check {
        diagnose(f)
            .checks
            .into_iter()
            .find(|c| c.id == "git.leak")
            .expect("a git.leak check")
    }

    #[test]
    fn silent_probes_are_ok_and_name_what_was_asked() {
        let f = facts(
            git(
                vec![
                    probe(
                        "https://kelos-doctor-probe.invalid",
                        ProbeOutcome::Silent,
                        vec![],
                    ),
                    probe("http://github.com", ProbeOutcome::Silent, vec![]),
                ],
                Some("/w/repo"),
            ),
            &["github.com"],
        );
        let c = leak(&f);
        assert_eq!(c.level, Level::Ok);
        assert_eq!(
            c.message,
            "no helper answers https://kelos-doctor-probe.invalid or http://github.com (asked git credential fill in /w/repo)"
        );
        assert_eq!(c.fix, None);
    }

    #[test]
    fn a_leaking_helper_is_named_once_with_its_file_and_the_fix_for_its_scope() {
        let controller = source(
            "!f() { echo password=$GITHUB_TOKEN; }; f",
            "local",
            Some("/w/my repo/.git/config"),
        );
        let f = facts(
            git(
                vec![
                    probe(
                        "https://kelos-doctor-probe.invalid",
                        ProbeOutcome::Answered,
                        vec![(controller.clone(), ProbeOutcome::Answered)],
                    ),
                    probe(
                        "http://ghe.example.com",
                        ProbeOutcome::Answered,
                        vec![(controller, ProbeOutcome::Answered)],
                    ),
                ],
                Some("/w/my repo"),
            ),
            &["ghe.example.com"],
        );
        let c = leak(&f);
        assert_eq!(c.level, Level::Fail);
        assert_eq!(
            c.message,
            "helper `!f() { echo password=$GITHUB_TOKEN; }; f` (credential.helper in /w/my repo/.git/config, local config) \
             gives git a password (not shown) for https://kelos-doctor-probe.invalid and http://ghe.example.com; \
             git runs it for every remote in /w/my repo, so any host (and plain http) can get the token"
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("cd '/w/my repo' && git-credential-kelos configure --exclusive --local --host ghe.example.com")
        );
    }

    #[test]
    fn fixes_per_scope_system_first_the_repository_last() {
        let hosts = configured_hosts(
            &Vec::<String>::new(),
            &EnvSnapshot::from_pairs(Vec::<(&str, &str)>::new()),
        )
        .unwrap();
        let local = source("a", "local", Some("/r/.git/config"));
        let global = source("b", "global", Some("/h/.gitconfig"));
        let system = source("c", "system", Some("/etc/gitconfig"));
        let other = source("d", "worktree", Some("/r/.git/config.worktree"));
        let command = source("e", "command", None);
        assert_eq!(
            leak_fix(&[&local, &global, &system, &global, &other, &command], &hosts, None),
            "git-credential-kelos configure --exclusive --system && \
             git-credential-kelos configure --exclusive --global && \
             git-credential-kelos configure --exclusive --file /r/.git/config.worktree && \
             cd /r && git-credential-kelos configure --exclusive --local; \
             remove `e` from the -c options or GIT_CONFIG_PARAMETERS/GIT_CONFIG_COUNT of what starts git"
        );
    }

    #[test]
    fn a_helper_that_never_returns_fails_and_skipped_probes_say_why() {
        let sleeper = source("!f() { sleep 1000; }; f", "global", Some("/h/.gitconfig"));
        let f = facts(
            git(
                vec![
                    probe(
                        "https://kelos-doctor-probe.invalid",
                        ProbeOutcome::TimedOut(Duration::from_secs(3)),
                        vec![(sleeper, ProbeOutcome::TimedOut(Duration::from_secs(3)))],
                    ),
                    probe(
                        "http://github.com",
                        ProbeOutcome::Skipped(
                            "helper `x` never returned for an earlier probe".into(),
                        ),
                        vec![],
                    ),
                ],
                None,
            ),
            &["github.com"],
        );
        let c = leak(&f);
        assert_eq!(c.level, Level::Fail);
        assert!(c.message.contains("helper `!f() { sleep 1000; }; f` (credential.helper in /h/.gitconfig, global config) never returns for https://kelos-doctor-probe.invalid (killed after 3 s)"), "{}", c.message);
        assert!(
            c.message
                .contains("http://github.com not asked: helper `x` never returned"),
            "{}",
            c.message
        );
        assert_eq!(
            c.fix.as_deref(),
            Some("git-credential-kelos configure --exclusive --global")
        );
        // Only skipped: a warning.
        let f = facts(
            git(
                vec![probe(
                    "http://github.com",
                    ProbeOutcome::Skipped("budget".into()),
                    vec![],
                )],
                None,
            ),
            &["github.com"],
        );
        assert_eq!(leak(&f).level, Level::Warn);
    }

    #[test]
    fn a_bad_host_is_a_failed_host_check_and_the_rest_still_runs() {
        let env = EnvSnapshot::from_pairs([("GH_HOST", "https://ghe.corp.example")]);
        let mut f = facts(git(vec![], None), &[]);
        f.host_error = configured_hosts(&Vec::<String>::new(), &env).err();
        let report = diagnose(&f);
        let host = report.checks.iter().find(|c| c.id == "host").unwrap();
        assert_eq!(host.level, Level::Fail);
        assert!(
            host.message.contains("is a URL (https://...)"),
            "{}",
            host.message
        );
        assert_eq!(
            host.fix.as_deref(),
            Some("set GH_HOST to the host name alone (or unset it for github.com), like ghe.corp.example")
        );
        assert!(report.failed());
        assert!(report.checks.iter().any(|c| c.id == "git"));
        assert!(report.to_json().starts_with("{\"result\":\"fail\""));
    }

    #[test]
    fn the_report_is_masked_as_a_whole() {
        let token = kelos_token::clean_token(b"SecretKnownTokenValue1234").unwrap();
        let report = Report {
            checks: vec![check(
                "git.helper",
                Level::Warn,
                "helpers: store SecretKnownTokenValue1234 → ghp_abcdefghijklmnopqrstuvwxyz".into(),
                Some("see https://u:pw1234567@x/"),
            )],
        }
        .redacted(&[&token]);
        let text = report.to_text();
        assert!(!text.contains("SecretKnown"), "{text}");
        assert!(!text.contains("ghp_abcdefghij"), "{text}");
        assert!(!text.contains("pw1234567"), "{text}");
    }
}
