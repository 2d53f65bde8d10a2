//! What doctor looks at, gathered by `doctor/mod.rs` (files, git, gh) and
//! judged by the subjects' checks. Helper command lines are already masked.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kelos_token::env::EnvSnapshot;
use kelos_token::host::HostInputError;
use kelos_token::served::Served;
use kelos_token::source::{FileProblem, FileRead, Lookup};

#[derive(Clone, Debug)]
pub struct GitFacts {
    /// `git --version`, or why it could not be run.
    pub version: Result<String, String>,
    /// Per URL git asks for a configured host (`https://HOST`, and an
    /// `http://` GitLab instance's own URL), the helpers git would run.
    pub helpers: Vec<(String, Vec<String>)>,
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
    pub hosts: Vec<Served>,
    /// The raw read of the token file (when a path is configured).
    pub file: Option<Result<FileRead, FileProblem>>,
    /// The decision both binaries would make for the first host.
    pub lookup: Lookup,
    /// GitLab's decision, when a GitLab setting is in play.
    pub gitlab: Option<Lookup>,
    /// Whether GitHub is answered for (always but in a GitLab pod with no
    /// GitHub variable, or when every `--host` is GitLab's): its token and
    /// gh checks are made only then.
    pub github: bool,
    /// Variables kelos-gh would set for `GH_HOST`, or why it would set none.
    pub gh_vars: Result<Vec<&'static str>, String>,
    pub git: GitFacts,
    pub gh: GhFacts,
    /// The same chain for glab (kelos-glab), gathered only when GitLab is
    /// in play.
    pub glab: Option<GhFacts>,
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

/// Facts with no token and no gh, for the subjects' tests.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;
    use kelos_token::host::{Host, HostClass};
    use kelos_token::source::choose;

    pub fn facts(git: GitFacts, hosts: &[&str]) -> Facts {
        let env = EnvSnapshot::from_pairs(Vec::<(&str, &str)>::new());
        Facts {
            now: SystemTime::now(),
            lookup: choose(
                None,
                Err(FileProblem::NotConfigured),
                &env,
                HostClass::Dotcom,
            ),
            gitlab: None,
            github: true,
            env,
            hosts: hosts
                .iter()
                .map(|h| Served::GitHub(Host::parse(h).unwrap()))
                .collect(),
            file: None,
            gh_vars: Ok(vec!["GH_TOKEN"]),
            git,
            gh: GhFacts::default(),
            glab: None,
            no_token_ok: true,
            host_error: None,
            reader: Reader::default(),
        }
    }

    pub fn git(probes: Vec<Probe>, repository: Option<&str>) -> GitFacts {
        GitFacts {
            version: Ok("git version 2.47.3".into()),
            helpers: vec![],
            kelos_runs: vec![],
            probes,
            repository: repository.map(PathBuf::from),
            config_error: None,
        }
    }
}
