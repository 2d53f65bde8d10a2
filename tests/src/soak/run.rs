//! Workers, the rotator, the phases and what each phase must show.
//!
//! # Set-up
//!
//! - The binaries are copied from `KELOS_BIN_DIR` into a private directory first (a rebuild
//!   in the shared target directory cannot swap them mid-run): `git-credential-kelos`, and
//!   `kelos-gh` installed as `gh` in a directory put first in every worker's PATH (the real
//!   gh is found after it, as in an image).
//! - A [`SmartHttpServer`] (git) and an [`ApiServer`] (gh, through `HTTP_PROXY`, with
//!   `GH_HOST=github.localhost`) accept a set of tokens.
//! - Each worker has its own HOME, git config (the helper by absolute path with
//!   `--host 127.0.0.1:PORT` as the only helper), clone, branch `soak/wN`, gh config dir and
//!   trace file (`KELOS_CREDENTIAL_TRACE`).
//! - GitLab, in the same pods (both providers at once, as a pod with both would have them;
//!   neither token may cross to the other's host): its own token volume
//!   (`KELOS_GITLAB_TOKEN_FILE`), a second [`SmartHttpServer`] that requires the username
//!   `oauth2`, and a [`GitLabApi`] stand-in over plain http on its port. Every worker has
//!   `GITLAB_TOKEN` frozen at the first GitLab token (revoked before the soak proper),
//!   `GITLAB_HOST=http://127.0.0.1:GITPORT`, `GLAB_CONFIG_DIR` in its HOME, `GLAB_NO_PROMPT`,
//!   `GLAB_CHECK_UPDATE=false`, `GLAB_SEND_TELEMETRY=false`, and a second clone set up as the
//!   README documents: `git init`, `git-credential-kelos configure --local` (which writes
//!   `kelos --host 127.0.0.1:GITPORT` for the instance's URLs), fetch, checkout. `kelos-glab`
//!   is installed as `glab` next to the gh wrapper; the real glab 1.53 comes after it in
//!   PATH. A real GitLab serves git and the API on one host; here they are two servers, so
//!   `glab` runs with `GITLAB_HOST` = the API stand-in's `http://127.0.0.1:APIPORT`.
//!
//! # Operations
//!
//! Each worker loops over `git fetch`, `git push` (an empty commit to its own branch; the
//! commit is not timed) and `gh api user` (through the wrapper). Every operation has a time
//! limit; one that exceeds it is killed and counted as a hang. Its stdout, stderr and the
//! trace lines it wrote are scanned for every token the soak ever made.
//!
//! # Phases
//!
//! 0. **baseline**: a static token, no rotation. Also times the operations: the rotation
//!    interval is 200 ms unless twice the slowest operation kind's p99 exceeds that grace
//!    window; then it is lengthened to 2 x p99 and the report says so (see [`choose_interval`]).
//! 1. **rotation**: every interval a new token is published kubelet-style (atomic `..data`
//!    swap; the file first), then both servers accept {new, previous}. The environment holds
//!    the token frozen at start-up (revoked before the phase), so a fallback would be refused
//!    and show up. The rotator thread runs under SCHED_FIFO when allowed, to keep time.
//! 2. **non-atomic writer**: every 200 ms the file is truncated, left empty for `write_pause`,
//!    then written in place (a new token every interval, else the same one again); the helper
//!    re-reads an empty file for ~50 ms.
//! 3. **consumers**: the agent's own commands, not git or gh. Every operation is a
//!    `bash -c` (with `BASH_ENV` = `images/kelos-env.sh`, as the example image sets it)
//!    that calls the API stand-in with curl and `Authorization: token $GITHUB_TOKEN`, the
//!    variable as the shell sees it, while the token rotates kubelet-style as in phase 1.
//!    The environment still holds the frozen, revoked token: a variable the snippet did not
//!    refresh is refused and shows up.
//! 4. **gitlab baseline**, then **gitlab**: first a static GitLab token (as the baseline: it
//!    times the GitLab operations; glab starts slower than gh, so the interval is
//!    lengthened by the same rule from these times when they need it, never shortened),
//!    then every worker loops over `git fetch` and `git push` in its GitLab clone
//!    (as `oauth2`) and `glab api user` (through `kelos-glab`), while the GitLab token
//!    rotates kubelet-style every interval, as in phase 1. GitLab's rotation API revokes the
//!    old token at once; the servers here accept the new token and the previous one until
//!    the next rotation: the same grace as the GitHub phases, for the same reason (an
//!    operation that read the file just before the swap still presents the token it read;
//!    refusing it would measure the stand-in's timing, not the binaries; the helper reads
//!    the file on every request, so nothing older than one interval is ever presented). The
//!    frozen `GITLAB_TOKEN` is revoked from the start: any use of it is refused and shows
//!    up. The phase goes on past its length until `gitlab_min_ops` operations are done (at
//!    most [`GITLAB_CAP`]); fewer fails it.
//! 5. For each of: file removed, a directory, a FIFO, an oversized file (64 KiB + 1, holding
//!    a token nobody accepts), `..data` dangling — once with `GH_TOKEN`/`GITHUB_TOKEN` set to
//!    the only token the servers accept (every operation must succeed from the fallback), once
//!    without (every operation must fail cleanly and fast: no credential, no hang).
//!
//! git's background gc is off on both sides (it would race concurrent pushes for locks).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::gitlab_api::GitLabApi;
use crate::sandbox::GitSandbox;
use crate::soak::api::{ApiServer, LOGIN};
use crate::soak::exec::{self, Ran};
use crate::soak::tokens::{redact, Mint};
use crate::volume::{make_directory, make_fifo, make_oversized_file, TokenVolume};
use crate::{bin, require_tool, SmartHttpServer, TempDir, HELPER, HELPER_STDERR_PREFIX};

/// The gh wrapper's name in `KELOS_BIN_DIR`.
pub const WRAPPER: &str = "kelos-gh";
/// The glab wrapper's name in `KELOS_BIN_DIR`.
pub const GLAB_WRAPPER: &str = "kelos-glab";
/// What `glab api user` prints for the GitLab stand-in's user.
pub const GITLAB_LOGIN: &str = "\"username\":\"kelos-agent\"";
/// The GitLab phase never runs longer than this, whatever its minimum operation count.
pub const GITLAB_CAP: Duration = Duration::from_secs(240);

/// Size of the oversized token file: one byte over the 64 KiB limit.
pub const OVERSIZED: usize = 64 * 1024 + 1;

/// Settings of one soak run.
#[derive(Clone, Debug)]
pub struct Config {
    pub workers: usize,
    /// Length of the baseline phase (static token), which also measures how long operations
    /// take, to choose the rotation interval.
    pub baseline: Duration,
    /// Length of the rotation phase.
    pub rotation: Duration,
    /// Length of the consumer phase (bash -c with BASH_ENV, curl with $GITHUB_TOKEN).
    pub consumer: Duration,
    /// The consumer phase goes on past `consumer` until this many operations are done (at
    /// most three times `consumer`).
    pub consumer_min_ops: usize,
    /// The rotation phase goes on past `rotation` until this many operations are done (at
    /// most three times `rotation`).
    pub min_ops: usize,
    /// Length of the GitLab phase (git as oauth2 and glab through kelos-glab, the GitLab
    /// token rotating).
    pub gitlab: Duration,
    /// The GitLab phase goes on past `gitlab` until this many operations are done (at most
    /// [`GITLAB_CAP`]); fewer is a failure of the phase.
    pub gitlab_min_ops: usize,
    /// Length of each fault phase (the non-atomic writer gets twice this).
    pub fault: Duration,
    /// The rotation interval; `None`: 200 ms, lengthened only when the baseline's p99
    /// (with a 2x margin) does not fit in it.
    pub rotate_every: Option<Duration>,
    /// How long the non-atomic writer leaves the file empty.
    pub write_pause: Duration,
    /// An operation running longer is killed and counted as a hang.
    pub op_timeout: Duration,
    /// A clean failure must come within this.
    pub fast_limit: Duration,
    pub report: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Fetch,
    Push,
    Gh,
    /// `bash -c` (BASH_ENV) running curl with `$GITHUB_TOKEN` against the API stand-in.
    Shell,
    /// `git fetch` from the GitLab git server (as `oauth2`).
    GlFetch,
    /// `git push` to the GitLab git server (as `oauth2`).
    GlPush,
    /// `glab api user` through `kelos-glab`, against the GitLab API stand-in.
    Glab,
}

impl OpKind {
    /// What workers loop over in every phase but the consumer phase.
    pub const ALL: [OpKind; 3] = [OpKind::Fetch, OpKind::Push, OpKind::Gh];
    /// What workers run in the consumer phase.
    pub const CONSUMERS: [OpKind; 1] = [OpKind::Shell];
    /// What workers run in the configure phase.
    pub const FETCH: [OpKind; 1] = [OpKind::Fetch];
    /// What workers loop over in the GitLab phase.
    pub const GITLAB: [OpKind; 3] = [OpKind::GlFetch, OpKind::GlPush, OpKind::Glab];
    /// Every kind, for the report.
    pub const EVERY: [OpKind; 7] = [
        OpKind::Fetch,
        OpKind::Push,
        OpKind::Gh,
        OpKind::Shell,
        OpKind::GlFetch,
        OpKind::GlPush,
        OpKind::Glab,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Fetch => "git fetch",
            OpKind::Push => "git push",
            OpKind::Gh => "gh api user",
            OpKind::Shell => "bash -c 'curl ... $GITHUB_TOKEN'",
            OpKind::GlFetch => "git fetch (GitLab, oauth2)",
            OpKind::GlPush => "git push (GitLab, oauth2)",
            OpKind::Glab => "glab api user",
        }
    }
}

/// The consumer phase's command: the variable as the shell sees it after BASH_ENV ran.
pub const SHELL_OP: &str = "curl -sS --fail-with-body --max-time 20 -x \"$HTTP_PROXY\" \
                            -H \"Authorization: token $GITHUB_TOKEN\" http://api.github.localhost/user";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    /// The server refused the credential that was presented.
    AuthFailed,
    /// No credential was available (git could not get a username/password; gh sent none).
    NoCredential,
    OtherError,
    Hung,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::AuthFailed => "auth failed",
            Outcome::NoCredential => "no credential",
            Outcome::OtherError => "other error",
            Outcome::Hung => "hung",
        }
    }
}

/// One operation's result.
#[derive(Clone, Debug)]
pub struct OpRecord {
    pub kind: OpKind,
    pub outcome: Outcome,
    pub elapsed: Duration,
    /// The trace shows a fallback variable was used (the helper's `token from fallback`, the
    /// wrapper's `gh reads <VAR> itself`).
    pub fallback: bool,
    /// git's stderr has a `git-credential-kelos:` line.
    pub helper_spoke: bool,
}

/// A token (or a fragment of one) found in captured output. The value is never kept.
#[derive(Clone, Debug)]
pub struct Leak {
    pub kind: OpKind,
    pub stream: &'static str,
    pub hits: usize,
    pub exact: usize,
}

/// A redacted stderr excerpt, to explain failures in the report.
#[derive(Clone, Debug)]
pub struct Sample {
    pub kind: OpKind,
    pub outcome: Outcome,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Removed,
    Directory,
    Fifo,
    Oversized,
    DanglingData,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Removed,
        Fault::Directory,
        Fault::Fifo,
        Fault::Oversized,
        Fault::DanglingData,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Removed => "token file removed",
            Fault::Directory => "directory in place",
            Fault::Fifo => "FIFO in place",
            Fault::Oversized => "oversized file (64 KiB + 1)",
            Fault::DanglingData => "..data pointing nowhere",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseKind {
    Baseline,
    Rotation,
    NonAtomic,
    Consumer,
    /// configure/unconfigure in a loop on each worker's repository config while a controller
    /// stand-in rewrites its helper there, and git fetches.
    Configure,
    /// The GitLab operations with a static GitLab token: times them, to choose the GitLab
    /// phase's interval.
    GitLabBaseline,
    /// git (fetch, push as `oauth2`) and `glab api user` through `kelos-glab` while the GitLab
    /// token rotates in `KELOS_GITLAB_TOKEN_FILE` and the servers revoke the old one.
    GitLab,
    Fault {
        fault: Fault,
        env: bool,
    },
}

impl PhaseKind {
    pub fn name(self, interval: Duration, pause: Duration) -> String {
        match self {
            PhaseKind::Baseline => "baseline: static token, no rotation".to_string(),
            PhaseKind::GitLabBaseline => {
                "gitlab baseline: git as oauth2 and glab, static GitLab token".to_string()
            }
            PhaseKind::Rotation => format!(
                "rotation: kubelet atomic writer every {} ms",
                interval.as_millis()
            ),
            PhaseKind::NonAtomic => format!(
                "non-atomic writer (truncate, {} ms, write) every {} ms, new token every {} ms",
                pause.as_millis(),
                interval.min(DEFAULT_INTERVAL).as_millis(),
                interval.as_millis()
            ),
            PhaseKind::Consumer => format!(
                "consumers: bash -c (BASH_ENV) curl with $GITHUB_TOKEN, rotation every {} ms",
                interval.as_millis()
            ),
            PhaseKind::Configure => format!(
                "configure: (un)configure [--exclusive] --local in a loop, a controller \
                 rewriting its helper, rotation every {} ms",
                interval.as_millis()
            ),
            PhaseKind::GitLab => format!(
                "gitlab: git as oauth2 and glab through kelos-glab, rotation every {} ms",
                interval.as_millis()
            ),
            PhaseKind::Fault { fault, env: true } => {
                format!("{} + GH_TOKEN/GITHUB_TOKEN", fault.name())
            }
            PhaseKind::Fault { fault, env: false } => format!("{}, no fallback env", fault.name()),
        }
    }

    /// What this phase must show, in words.
    pub fn expectation(self) -> &'static str {
        match self {
            PhaseKind::Baseline
            | PhaseKind::GitLabBaseline
            | PhaseKind::Rotation
            | PhaseKind::NonAtomic => {
                "every operation succeeds with a token from the file; no fallback, nothing refused"
            }
            PhaseKind::Configure => {
                "every git fetch succeeds with a token from the file while configure, unconfigure \
                 (plain and --exclusive) and a controller stand-in (--unset-all, then --add of a \
                 helper answering the frozen, revoked token) write the repository's config; \
                 every configure/unconfigure run exits 0"
            }
            PhaseKind::GitLab => {
                "every git fetch/push (as oauth2) and glab api user succeeds with the GitLab \
                 token from the file while it rotates; the frozen GITLAB_TOKEN (revoked) is never \
                 sent, nothing refused; at least the minimum number of operations"
            }
            PhaseKind::Consumer => {
                "every shell command's curl succeeds with the $GITHUB_TOKEN the snippet set from \
                 the file; the frozen (revoked) value is never sent, nothing refused"
            }
            PhaseKind::Fault { env: true, .. } => {
                "every operation succeeds with the fallback variable's token; the file's content is never used"
            }
            PhaseKind::Fault { env: false, .. } => {
                "every operation fails cleanly and fast: no credential offered (git: the helper says why; gh: sends none), no hang"
            }
        }
    }

    fn rotates(self) -> bool {
        matches!(
            self,
            PhaseKind::Rotation
                | PhaseKind::NonAtomic
                | PhaseKind::Consumer
                | PhaseKind::Configure
                | PhaseKind::GitLab
        )
    }
}

/// What the configure phase's writer thread did.
#[derive(Clone, Debug, Default)]
pub struct ConfigureCounts {
    /// Runs of `git-credential-kelos configure`/`unconfigure`.
    pub runs: usize,
    /// Of them, those that did not exit 0 (each is a failure of the phase).
    pub failed: usize,
    /// The controller stand-in's rewrites (`--unset-all`, then `--add`) done.
    pub controller_writes: usize,
    /// The controller's `git config` calls that found the lock held and were retried (git's
    /// own writer does not wait).
    pub controller_retries: usize,
    /// The first failed run's stderr (redacted).
    pub failure: Option<String>,
}

/// Counts from the git server for one phase.
#[derive(Clone, Debug, Default)]
pub struct GitCounts {
    pub refused: usize,
    pub unauthenticated: usize,
    pub served: usize,
    pub presented: Vec<String>,
    pub log_lines: usize,
}

/// One expectation and whether it held.
#[derive(Clone, Debug)]
pub struct Check {
    pub what: String,
    pub pass: bool,
    pub detail: String,
}

/// Everything one phase produced.
#[derive(Debug)]
pub struct PhaseResult {
    pub kind: PhaseKind,
    pub name: String,
    pub wall: Duration,
    /// CPU time of this process and every process it waited for (git, gh, the helper, the
    /// server's git http-backend) during the phase.
    pub cpu: Duration,
    pub records: Vec<OpRecord>,
    pub leaks: Vec<Leak>,
    pub samples: Vec<Sample>,
    pub git: GitCounts,
    pub api: crate::soak::api::ApiCounts,
    /// New tokens published.
    pub rotations: usize,
    /// Writes of the file (more than `rotations` when the in-place writer rewrites).
    pub writes: usize,
    /// Longest time the non-atomic writer left the file empty.
    pub max_write_gap: Option<Duration>,
    /// Total time the file was empty.
    pub empty: Duration,
    /// Whether the rotator ran under SCHED_FIFO (`None`: no rotator).
    pub realtime: Option<bool>,
    /// Longest a rotation tick came late.
    pub max_tick_lateness: Duration,
    pub pushes_landed: Option<(usize, usize)>,
    /// The configure phase's writer.
    pub configure: Option<ConfigureCounts>,
    pub checks: Vec<Check>,
}

impl PhaseResult {
    pub fn count(&self, o: Outcome) -> usize {
        self.records.iter().filter(|r| r.outcome == o).count()
    }

    pub fn fallbacks(&self) -> usize {
        self.records.iter().filter(|r| r.fallback).count()
    }

    /// Credentials either server refused.
    pub fn refused(&self) -> usize {
        self.git.refused + self.api.refused
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }
}

/// What the whole run produced.
#[derive(Debug)]
pub struct SoakResult {
    pub cfg: Config,
    pub phases: Vec<PhaseResult>,
    pub tokens_made: usize,
    pub setup: Duration,
    pub total: Duration,
    pub load_before: String,
    pub load_after: String,
    pub versions: Vec<(String, String)>,
    /// The rotation interval used, and why.
    pub interval: Duration,
    pub interval_note: String,
    pub server_log: Vec<String>,
}

impl SoakResult {
    pub fn passed(&self) -> bool {
        self.phases.iter().all(PhaseResult::passed)
    }
}

/// Shared, read-only for workers.
struct Ctx {
    mint: Arc<Mint>,
    url: String,
    op_timeout: Duration,
}

struct Worker {
    id: usize,
    sb: GitSandbox,
    work: PathBuf,
    trace: PathBuf,
    branch: String,
    /// Whether the last push succeeded (then the server's branch must equal HEAD).
    last_push_ok: Option<bool>,
    /// The clone of the GitLab git server's repository (its config: what `configure --local`
    /// wrote for `GITLAB_HOST`).
    gl_work: PathBuf,
    /// `GITLAB_HOST` for glab: the API stand-in's `http://127.0.0.1:PORT` (git's
    /// `GITLAB_HOST`, in the sandbox's environment, is the GitLab git server's).
    gl_api_host: String,
    /// As `last_push_ok`, for the GitLab server.
    last_gl_push_ok: Option<bool>,
}

/// What one worker produced in one phase.
#[derive(Default)]
struct WorkerOut {
    records: Vec<OpRecord>,
    leaks: Vec<Leak>,
    samples: Vec<Sample>,
}

const SAMPLES_PER_KEY: usize = 2;

impl Worker {
    fn git(&self, args: &[&str]) -> Command {
        self.git_at(&self.work, args)
    }

    fn git_at(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = self.sb.git_command();
        c.current_dir(dir).args(args);
        c
    }

    fn op(&mut self, kind: OpKind, ctx: &Ctx, out: &mut WorkerOut) {
        let dir = match kind {
            OpKind::GlFetch | OpKind::GlPush => self.gl_work.clone(),
            _ => self.work.clone(),
        };
        let cmd = match kind {
            OpKind::Fetch | OpKind::GlFetch => {
                self.git_at(&dir, &["fetch", "-q", "--no-tags", "origin"])
            }
            OpKind::Push | OpKind::GlPush => {
                let commit = exec::run(
                    self.git_at(&dir, &["commit", "-q", "--allow-empty", "-m", "soak"]),
                    ctx.op_timeout,
                );
                if !commit.success() {
                    let outcome = if commit.hung {
                        Outcome::Hung
                    } else {
                        Outcome::OtherError
                    };
                    out.records.push(OpRecord {
                        kind,
                        outcome,
                        elapsed: Duration::ZERO,
                        fallback: false,
                        helper_spoke: false,
                    });
                    self.sample(kind, outcome, &commit, out);
                    return;
                }
                let refspec = format!("HEAD:refs/heads/{}", self.branch);
                self.git_at(&dir, &["push", "-q", "origin", &refspec])
            }
            OpKind::Gh => {
                let mut c = self.sb.command("gh");
                c.args(["api", "user"]);
                c
            }
            OpKind::Shell => {
                let mut c = self.sb.command("bash");
                c.args(["-c", SHELL_OP]);
                c
            }
            OpKind::Glab => {
                let mut c = self.sb.command("glab");
                c.env("GITLAB_HOST", &self.gl_api_host)
                    .args(["api", "user"]);
                c
            }
        };
        let ran = exec::run(cmd, ctx.op_timeout);
        let trace = fs::read(&self.trace).unwrap_or_default();
        if !trace.is_empty() {
            if let Ok(f) = fs::OpenOptions::new().write(true).open(&self.trace) {
                let _ = f.set_len(0);
            }
        }
        for (stream, bytes) in [
            ("stdout", &ran.stdout),
            ("stderr", &ran.stderr),
            ("trace", &trace),
        ] {
            let scan = ctx.mint.scan(bytes);
            if scan.leaked() {
                out.leaks.push(Leak {
                    kind,
                    stream,
                    hits: scan.marker_hits,
                    exact: scan.exact,
                });
            }
        }
        let outcome = classify(kind, &ran);
        match kind {
            OpKind::Push => self.last_push_ok = Some(outcome == Outcome::Ok),
            OpKind::GlPush => self.last_gl_push_ok = Some(outcome == Outcome::Ok),
            _ => {}
        }
        let trace_text = String::from_utf8_lossy(&trace);
        let record = OpRecord {
            kind,
            outcome,
            elapsed: ran.elapsed,
            // The helper's fallback, and the wrappers' `gh reads X itself` / `glab reads X itself`.
            fallback: trace_text.contains("token from fallback")
                || trace_text.contains("gh reads")
                || trace_text.contains("glab reads"),
            helper_spoke: String::from_utf8_lossy(&ran.stderr).contains(HELPER_STDERR_PREFIX),
        };
        if outcome != Outcome::Ok || !ran.stderr.is_empty() {
            self.sample(kind, outcome, &ran, out);
        }
        out.records.push(record);
    }

    fn sample(&self, kind: OpKind, outcome: Outcome, ran: &Ran, out: &mut WorkerOut) {
        let have = out
            .samples
            .iter()
            .filter(|s| s.kind == kind && s.outcome == outcome)
            .count();
        if have >= SAMPLES_PER_KEY {
            return;
        }
        let mut text = redact(&ran.stderr);
        if let Some(e) = &ran.spawn_error {
            text.push_str(e);
        }
        if ran.hung {
            text.push_str(&format!("[killed after {:?}]", ran.elapsed));
        }
        let text = text.trim().to_string();
        let text = if text.len() > 700 {
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .find(|i| *i >= text.len() - 700)
                .unwrap_or(0);
            format!("…{}", &text[cut..])
        } else {
            text
        };
        out.samples.push(Sample {
            kind,
            outcome,
            text,
        });
    }

    /// Loops until `until.deadline`, and on while fewer than `until.min_ops` operations (all
    /// workers together) are done, up to `until.cap`.
    fn run_until(&mut self, until: &Until, ctx: &Ctx) -> WorkerOut {
        let mut out = WorkerOut::default();
        let mut i = self.id;
        loop {
            let now = Instant::now();
            let more = now < until.deadline
                || (until.done.load(Ordering::Relaxed) < until.min_ops && now < until.cap);
            if !more {
                break;
            }
            let kind = until.kinds[i % until.kinds.len()];
            i += 1;
            self.op(kind, ctx, &mut out);
            until.done.fetch_add(1, Ordering::Relaxed);
        }
        out
    }
}

/// When a phase's workers stop.
struct Until {
    kinds: &'static [OpKind],
    deadline: Instant,
    min_ops: usize,
    cap: Instant,
    done: AtomicUsize,
}

/// Classifies an operation by its exit status and what git/gh said.
pub fn classify(kind: OpKind, ran: &Ran) -> Outcome {
    if ran.hung {
        return Outcome::Hung;
    }
    let err = String::from_utf8_lossy(&ran.stderr);
    let out = String::from_utf8_lossy(&ran.stdout);
    let ok = ran.success()
        && match kind {
            OpKind::Gh | OpKind::Shell => out.contains(LOGIN),
            OpKind::Glab => out.contains(GITLAB_LOGIN),
            _ => true,
        };
    if ok {
        return Outcome::Ok;
    }
    // curl --fail-with-body prints the API's answer on stdout.
    let err = if kind == OpKind::Shell {
        format!("{err}{out}").into()
    } else {
        err
    };
    let (auth, none): (&[&str], &[&str]) = match kind {
        OpKind::Gh | OpKind::Shell => (&["Bad credentials"], &["Requires authentication"]),
        // The stand-in answers 401 to a refused token and to none alike, as GitLab does: the
        // server's counts tell them apart.
        OpKind::Glab => (&["401"], &[]),
        _ => (
            &["Authentication failed"],
            &["could not read Username", "could not read Password"],
        ),
    };
    if auth.iter().any(|s| err.contains(s)) {
        Outcome::AuthFailed
    } else if none.iter().any(|s| err.contains(s)) {
        Outcome::NoCredential
    } else {
        Outcome::OtherError
    }
}

/// The token the file holds now.
struct Rotation {
    current: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// kubelet's atomic writer: a new generation directory, `..data` swapped by a rename.
    Atomic,
    /// Truncate the file, leave it empty for a pause, write the token in place.
    InPlace,
}

struct RotatorOut {
    /// Whether the rotator thread runs under SCHED_FIFO (else: normal priority).
    realtime: bool,
    /// New tokens published.
    rotations: usize,
    /// Writes of the file (new tokens, and in-place rewrites of the current one).
    writes: usize,
    /// Longest and total time the in-place writer left the file empty.
    max_gap: Option<Duration>,
    empty: Duration,
    max_lateness: Duration,
}

/// A server that accepts a set of tokens (each rotation replaces the set).
trait Accepts: Send + Sync {
    fn accept(&self, tokens: &[&str]);
}

impl Accepts for SmartHttpServer {
    fn accept(&self, tokens: &[&str]) {
        self.set_accepted(tokens);
    }
}

impl Accepts for ApiServer {
    fn accept(&self, tokens: &[&str]) {
        self.set_accepted(tokens);
    }
}

impl Accepts for GitLabApi {
    fn accept(&self, tokens: &[&str]) {
        self.set_accepted(tokens);
    }
}

/// One provider's token: its volume, the servers that check it, what the file has held.
struct Env {
    /// Every server that checks this provider's token.
    servers: Vec<Arc<dyn Accepts>>,
    /// GitLab's token shape (`glpat-`), else GitHub's.
    gitlab: bool,
    vol: Arc<Mutex<TokenVolume>>,
    mint: Arc<Mint>,
    rotation: Arc<Mutex<Rotation>>,
    /// Every token ever written to the file.
    published: Mutex<HashSet<String>>,
}

/// Truncates `path`, waits `pause`, writes `token` into the same file. Returns how long the
/// file was empty.
fn write_in_place(path: &Path, token: &str, pause: Duration) -> Duration {
    let t0 = Instant::now();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("truncate {}: {e}", path.display()));
    thread::sleep(pause);
    f.write_all(format!("{token}\n").as_bytes())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    t0.elapsed()
}

impl Env {
    fn accept(&self, tokens: &[&str]) {
        for server in &self.servers {
            server.accept(tokens);
        }
    }

    /// Accepts {new, previous}, then publishes the new token in the file. Returns how long
    /// the file was empty (in-place writes). GitHub accepts a token from the moment it is
    /// minted, before the controller writes it into the Secret: accepting it only after the
    /// file changed would refuse a consumer fast enough to read and send it in between (seen
    /// under load), a fault of the stand-in, not of the helper. GitLab's rotation API mints
    /// the new token and revokes the old one in one call; the previous token is still
    /// accepted here until the next rotation, the same grace as GitHub's (see
    /// [`PhaseKind::GitLab`] in the module documentation).
    fn rotate(&self, mode: WriteMode, pause: Duration) -> Option<Duration> {
        let new = if self.gitlab {
            self.mint.gitlab_token()
        } else {
            self.mint.token()
        };
        self.published.lock().unwrap().insert(new.clone());
        let mut rot = self.rotation.lock().unwrap();
        self.accept(&[&new, &rot.current]);
        let gap = {
            let mut vol = self.vol.lock().unwrap();
            match mode {
                WriteMode::Atomic => {
                    vol.publish(new.as_bytes(), None);
                    None
                }
                WriteMode::InPlace => Some(write_in_place(&vol.token_path(), &new, pause)),
            }
        };
        rot.current = new;
        gap
    }

    /// Rewrites the current token in place (a writer that rewrites even when nothing
    /// changed).
    fn rewrite(&self, pause: Duration) -> Duration {
        let current = self.rotation.lock().unwrap().current.clone();
        let vol = self.vol.lock().unwrap();
        write_in_place(&vol.token_path(), &current, pause)
    }

    /// Until `stop`: a new token every `every`. In place, the file is also rewritten (same
    /// token) every [`DEFAULT_INTERVAL`] in between, so that it is empty often.
    fn rotator(
        self: &Arc<Self>,
        mode: WriteMode,
        every: Duration,
        pause: Duration,
        stop: Arc<AtomicBool>,
    ) -> thread::JoinHandle<RotatorOut> {
        let env = self.clone();
        let period = match mode {
            WriteMode::Atomic => every,
            WriteMode::InPlace => every.min(DEFAULT_INTERVAL),
        };
        thread::spawn(move || {
            let realtime = make_realtime();
            let start = Instant::now();
            let mut out = RotatorOut {
                realtime,
                rotations: 0,
                writes: 0,
                max_gap: None,
                empty: Duration::ZERO,
                max_lateness: Duration::ZERO,
            };
            let mut next_rotation = start + every;
            let mut tick = 1u32;
            loop {
                let due = start + period * tick;
                while Instant::now() < due {
                    if stop.load(Ordering::SeqCst) {
                        return out;
                    }
                    let left = due.saturating_duration_since(Instant::now());
                    thread::sleep(left.min(Duration::from_millis(20)));
                }
                if stop.load(Ordering::SeqCst) {
                    return out;
                }
                let now = Instant::now();
                out.max_lateness = out.max_lateness.max(now - due);
                let gap = if now + Duration::from_millis(1) >= next_rotation {
                    out.rotations += 1;
                    next_rotation = (next_rotation + every).max(now + every / 2);
                    env.rotate(mode, pause)
                } else {
                    Some(env.rewrite(pause))
                };
                out.writes += 1;
                if let Some(g) = gap {
                    out.max_gap = Some(out.max_gap.map_or(g, |m| m.max(g)));
                    out.empty += g;
                }
                // After an overrun, continue from now rather than firing a burst.
                tick = ((Instant::now() - start).as_nanos() / period.as_nanos()) as u32 + 1;
            }
        })
    }
}

fn apply_fault(vol: &TokenVolume, fault: Fault, planted: &str) {
    let path = vol.token_path();
    if fault != Fault::DanglingData {
        fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }
    match fault {
        Fault::Removed => {}
        Fault::Directory => make_directory(&path),
        Fault::Fifo => make_fifo(&path),
        Fault::Oversized => make_oversized_file(&path, planted, OVERSIZED),
        Fault::DanglingData => {
            // As kubelet swaps it: a new link, renamed over `..data` in one step.
            let tmp = vol.dir().join("..data_tmp");
            let _ = fs::remove_file(&tmp);
            symlink("..2026_01_01_00_00_00.gone", &tmp).expect("symlink ..data_tmp");
            fs::rename(&tmp, vol.dir().join("..data")).expect("rename over ..data");
        }
    }
}

fn clear_fault(vol: &mut TokenVolume, fault: Fault, token: &str) {
    let path = vol.token_path();
    match fault {
        Fault::Directory => fs::remove_dir(&path).expect("remove the directory"),
        Fault::Fifo | Fault::Oversized => fs::remove_file(&path).expect("remove the file"),
        Fault::Removed | Fault::DanglingData => {}
    }
    vol.publish(token.as_bytes(), None);
}

/// Puts the calling thread under SCHED_FIFO (it sleeps almost all the time), so that the
/// rotator keeps time and the in-place writer's pause is the pause asked for, even when the
/// machine is loaded. Needs root or CAP_SYS_NICE; false when refused.
fn make_realtime() -> bool {
    // musl declares sched_param with more (reserved) fields than glibc: start from all
    // zeroes, the value both document for the fields a caller does not set.
    // SAFETY: sched_param is a plain C struct of integers, valid when zeroed.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = 10;
    // SAFETY: sched_setscheduler(2) on the calling thread (pid 0) with a valid parameter.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
}

/// User + system time of this process and its waited-for descendants.
fn cpu_time() -> Duration {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: getrusage(2) fills the struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut ru) } == 0 {
            for tv in [ru.ru_utime, ru.ru_stime] {
                total += Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
            }
        }
    }
    total
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}

fn version_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Copies `src` to `dst` (an executable of our own: nobody else writes it).
fn install(src: &Path, dst: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::copy(src, dst)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dst.display()));
    fs::set_permissions(dst, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99, max of the records' times.
pub fn times(records: &[&OpRecord]) -> (Duration, Duration, Duration) {
    let mut v: Vec<Duration> = records.iter().map(|r| r.elapsed).collect();
    v.sort();
    (
        percentile(&v, 50.0),
        percentile(&v, 99.0),
        v.last().copied().unwrap_or_default(),
    )
}

fn check(checks: &mut Vec<Check>, what: impl Into<String>, pass: bool, detail: impl Into<String>) {
    checks.push(Check {
        what: what.into(),
        pass,
        detail: detail.into(),
    });
}

/// What the soak runs on, set up once: the private binaries, the token mint and the three
/// tokens the phases use, the volume, both servers and the workers.
struct Stand {
    bins: TempDir,
    _wrapdir: TempDir,
    mint: Arc<Mint>,
    /// The token of "pod start", frozen in every worker's environment.
    first: String,
    /// The only token the servers accept in a fault phase with the environment set.
    fallback: String,
    /// The token an oversized file holds (nobody accepts it).
    planted: String,
    vol: Arc<Mutex<TokenVolume>>,
    git: Arc<SmartHttpServer>,
    api: Arc<ApiServer>,
    env: Arc<Env>,
    /// GitLab's servers and token (the GitLab phase).
    gl: GitLabStand,
    ctx: Arc<Ctx>,
    workers: Vec<Worker>,
}

/// GitLab's side of the stand: its own volume (`KELOS_GITLAB_TOKEN_FILE`), a git server
/// requiring the username `oauth2`, the API stand-in glab calls, and the `GITLAB_TOKEN`
/// frozen in every worker's environment.
struct GitLabStand {
    /// The GitLab token of "pod start", frozen in `GITLAB_TOKEN`; revoked before the soak.
    first: String,
    git: Arc<SmartHttpServer>,
    api: Arc<GitLabApi>,
    env: Arc<Env>,
}

/// Runs the whole soak. Panics only on set-up problems (missing tools, a server that cannot
/// start); everything measured is in the result.
pub fn soak(cfg: Config) -> SoakResult {
    let started = Instant::now();
    let load_before = load_average();
    let mut stand = set_up(&cfg);
    preflight(&stand.workers[0], &stand.mint, cfg.op_timeout);
    // Two rotations before the soak proper: the frozen environment token is revoked from
    // here on, so any use of it is a refused credential.
    for env in [&stand.env, &stand.gl.env] {
        env.rotate(WriteMode::Atomic, Duration::ZERO);
        env.rotate(WriteMode::Atomic, Duration::ZERO);
    }
    gitlab_controls(&stand, cfg.op_timeout);
    stand.git.reset_counters();
    stand.api.reset_counters();
    stand.gl.git.reset_counters();
    stand.gl.api.reset();
    let setup = started.elapsed();

    let mut interval = cfg.rotate_every.unwrap_or(DEFAULT_INTERVAL);
    let mut interval_note = match cfg.rotate_every {
        Some(i) => format!("{} ms, as given (--rotate-ms)", i.as_millis()),
        None => String::new(),
    };
    let mut phases = Vec::new();
    for kind in plan() {
        let result = run_phase(&mut stand, kind, &cfg, interval);
        if kind == PhaseKind::Baseline && cfg.rotate_every.is_none() {
            (interval, interval_note) = choose_interval(&result, &OpKind::ALL);
        }
        if kind == PhaseKind::GitLabBaseline && cfg.rotate_every.is_none() {
            let (gitlab, note) = choose_interval(&result, &OpKind::GITLAB);
            if gitlab > interval {
                interval_note = format!("{interval_note}; the GitLab phase's: {note}");
                interval = gitlab;
            }
        }
        phases.push(result);
    }

    SoakResult {
        versions: vec![
            ("git".to_string(), version_of("git", &["--version"])),
            ("gh".to_string(), version_of("gh", &["--version"])),
            (
                "glab".to_string(),
                version_of(&require_tool("glab").to_string_lossy(), &["--version"]),
            ),
            (
                HELPER.to_string(),
                version_of(&stand.bins.join(HELPER).to_string_lossy(), &["--version"]),
            ),
        ],
        cfg,
        interval,
        interval_note,
        phases,
        tokens_made: stand.mint.count(),
        setup,
        total: started.elapsed(),
        load_before,
        load_after: load_average(),
        server_log: stand
            .git
            .log()
            .iter()
            .take(20)
            .map(|l| redact(l.as_bytes()))
            .collect(),
    }
}

/// The tools, private copies of the binaries, the servers and the workers (each with its
/// clone, set up in parallel).
fn set_up(cfg: &Config) -> Stand {
    require_tool("git");
    require_tool("gh");
    require_tool("bash");
    require_tool("curl");
    let real_glab = require_tool("glab");
    let snippet = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("images/kelos-env.sh");
    assert!(snippet.is_file(), "{} is missing", snippet.display());

    // Private copies of the binaries; make the sandboxes use them.
    let bins = TempDir::new("kelos-soak-bin");
    let wrapdir = TempDir::new("kelos-soak-wrapper");
    install(&bin(HELPER), &bins.join(HELPER));
    install(&bin(WRAPPER), &wrapdir.join("gh"));
    install(&bin(GLAB_WRAPPER), &wrapdir.join("glab"));
    std::env::set_var("KELOS_BIN_DIR", bins.path());
    // The helper is also in PATH: the shell snippet runs `git-credential-kelos env`, and the
    // GitLab clone's config (written by `configure`) names it `kelos`. The real glab is not
    // in PATH where deps.sh unpacks it: its directory comes after the wrappers', as in an
    // image.
    let path_var = format!(
        "{}:{}:{}:{}",
        wrapdir.path().display(),
        bins.path().display(),
        std::env::var("PATH").unwrap_or_default(),
        real_glab.parent().expect("glab's directory").display()
    );

    let mint = Arc::new(Mint::new());
    let first = mint.token();
    let fallback = mint.token();
    let planted = mint.token();
    let vol = Arc::new(Mutex::new(TokenVolume::with_token(&first)));
    let git = Arc::new(SmartHttpServer::start(&[&first]));
    let api = Arc::new(ApiServer::start(&[&first]));
    let env = Arc::new(Env {
        servers: vec![git.clone(), api.clone()],
        gitlab: false,
        vol: vol.clone(),
        mint: mint.clone(),
        rotation: Arc::new(Mutex::new(Rotation {
            current: first.clone(),
        })),
        published: Mutex::new(HashSet::from([first.clone()])),
    });
    let gl = {
        let first = mint.gitlab_token();
        let git = Arc::new(SmartHttpServer::start(&[&first]));
        git.require_username("oauth2");
        let api = Arc::new(GitLabApi::start(&[&first]));
        let env = Arc::new(Env {
            servers: vec![git.clone(), api.clone()],
            gitlab: true,
            vol: Arc::new(Mutex::new(TokenVolume::with_token(&first))),
            mint: mint.clone(),
            rotation: Arc::new(Mutex::new(Rotation {
                current: first.clone(),
            })),
            published: Mutex::new(HashSet::from([first.clone()])),
        });
        GitLabStand {
            first,
            git,
            api,
            env,
        }
    };
    let ctx = Arc::new(Ctx {
        mint: mint.clone(),
        url: git.url(),
        op_timeout: cfg.op_timeout,
    });
    let token_path = vol.lock().unwrap().token_path();
    // No background gc on the server either: concurrent pushes would race it for ref locks.
    for server in [&git, &gl.git] {
        for kv in [["gc.auto", "0"], ["receive.autogc", "false"]] {
            assert!(
                exec::run(
                    server_git(server, &["config", kv[0], kv[1]]),
                    cfg.op_timeout
                )
                .success(),
                "server git config {kv:?}"
            );
        }
    }
    let gl_token_path = gl.env.vol.lock().unwrap().token_path();

    let workers: Vec<Worker> = (0..cfg.workers)
        .map(|id| {
            let ctx = ctx.clone();
            let vars = WorkerVars {
                token_path: token_path.clone(),
                path_var: path_var.clone(),
                proxy: api.proxy_url(),
                first: first.clone(),
                snippet: snippet.clone(),
                host: git.host(),
                gl_token_path: gl_token_path.clone(),
                gl_first: gl.first.clone(),
                gl_git_url: gl.git.url(),
                gl_git_host: gl.git.host(),
                gl_api_host: gl.api.base_url(),
            };
            thread::spawn(move || start_worker(id, &vars, &ctx))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("worker set-up"))
        .collect();
    Stand {
        bins,
        _wrapdir: wrapdir,
        mint,
        first,
        fallback,
        planted,
        vol,
        git,
        api,
        env,
        gl,
        ctx,
        workers,
    }
}

/// `git --git-dir SERVER_REPO args` with no user or system config.
fn server_git(git: &SmartHttpServer, args: &[&str]) -> Command {
    let mut c = Command::new(require_tool("git"));
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("--git-dir")
        .arg(git.repo_path())
        .args(args);
    c
}

/// What every worker's environment is made of.
struct WorkerVars {
    token_path: PathBuf,
    path_var: String,
    proxy: String,
    first: String,
    snippet: PathBuf,
    host: String,
    gl_token_path: PathBuf,
    /// The frozen `GITLAB_TOKEN`.
    gl_first: String,
    gl_git_url: String,
    gl_git_host: String,
    gl_api_host: String,
}

/// One worker: its sandbox (the helper for the server's host only), environment and clone.
fn start_worker(id: usize, vars: &WorkerVars, ctx: &Ctx) -> Worker {
    let mut sb = GitSandbox::new(&["--host", &vars.host]);
    sb.set_timeout(ctx.op_timeout);
    let home = sb.home().to_path_buf();
    fs::create_dir(home.join("gh-config")).expect("mkdir gh-config");
    let trace = home.join("trace.log");
    for (k, v) in [
        ("PATH", vars.path_var.as_str()),
        (
            "KELOS_GITHUB_TOKEN_FILE",
            vars.token_path.to_str().expect("UTF-8"),
        ),
        ("KELOS_CREDENTIAL_TRACE", trace.to_str().expect("UTF-8")),
        ("GH_HOST", "github.localhost"),
        ("HTTP_PROXY", vars.proxy.as_str()),
        // Never "localhost": Go would bypass the proxy for api.github.localhost.
        ("NO_PROXY", "127.0.0.1"),
        ("no_proxy", "127.0.0.1"),
        (
            "GH_CONFIG_DIR",
            home.join("gh-config").to_str().expect("UTF-8"),
        ),
        ("GH_NO_UPDATE_NOTIFIER", "1"),
        // As the example image sets it: every bash -c reads the snippet.
        ("BASH_ENV", vars.snippet.to_str().expect("UTF-8")),
        ("GH_PROMPT_DISABLED", "1"),
        ("GH_SPINNER_DISABLED", "1"),
        ("NO_COLOR", "1"),
        // Frozen at "pod start": the first token, revoked after two rotations.
        ("GH_TOKEN", vars.first.as_str()),
        ("GITHUB_TOKEN", vars.first.as_str()),
        // GitLab, as Kelos's GitLab provider starts a pod (here next to GitHub's, in one
        // pod: neither provider's token may cross to the other's host).
        (
            "KELOS_GITLAB_TOKEN_FILE",
            vars.gl_token_path.to_str().expect("UTF-8"),
        ),
        ("GITLAB_TOKEN", vars.gl_first.as_str()),
        ("GITLAB_HOST", &format!("http://{}", vars.gl_git_host)),
        (
            "GLAB_CONFIG_DIR",
            home.join("glab-config").to_str().expect("UTF-8"),
        ),
        ("GLAB_NO_PROMPT", "true"),
        ("GLAB_CHECK_UPDATE", "false"),
        ("GLAB_SEND_TELEMETRY", "false"),
    ] {
        sb.set_env(k, v);
    }
    // No background gc or maintenance racing the next operation for locks.
    for kv in [["gc.auto", "0"], ["maintenance.auto", "false"]] {
        let mut c = sb.git_command();
        c.args(["config", "--global", kv[0], kv[1]]);
        assert!(exec::run(c, ctx.op_timeout).success(), "git config {kv:?}");
    }
    let work = home.join("work");
    let clone = exec::run(
        {
            let mut c = sb.git_command();
            c.args(["clone", "-q", &ctx.url, "work"]);
            c
        },
        ctx.op_timeout,
    );
    assert!(
        clone.success(),
        "worker {id}: set-up clone failed: {}",
        redact(&clone.stderr)
    );
    let gl_work = gitlab_clone(&sb, &home, &vars.gl_git_url, ctx.op_timeout)
        .unwrap_or_else(|e| panic!("worker {id}: set-up of the GitLab clone failed: {e}"));
    Worker {
        id,
        sb,
        work,
        trace,
        branch: format!("soak/w{id}"),
        last_push_ok: None,
        gl_work,
        gl_api_host: vars.gl_api_host.clone(),
        last_gl_push_ok: None,
    }
}

/// The GitLab clone, as the README says to set one up: `git init`, then
/// `git-credential-kelos configure --local` in it (for the `GITLAB_HOST` instance: its
/// `http://` URL, `kelos --host 127.0.0.1:PORT`), then the remote is fetched and checked out,
/// through that helper, as `oauth2`.
fn gitlab_clone(
    sb: &GitSandbox,
    home: &Path,
    url: &str,
    timeout: Duration,
) -> Result<PathBuf, String> {
    let dir = home.join("gitlab-work");
    fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let run = |mut c: Command, what: &str| {
        c.current_dir(&dir);
        let ran = exec::run(c, timeout);
        if ran.success() {
            Ok(ran)
        } else {
            Err(format!("{what}: {}", redact(&ran.stderr)))
        }
    };
    let git = |args: &[&str]| {
        let mut c = sb.git_command();
        c.args(args);
        c
    };
    run(git(&["init", "-q"]), "git init")?;
    let mut configure = sb.command(sb.helper_path());
    configure.args(["configure", "--local"]);
    let out = run(configure, "git-credential-kelos configure --local")?;
    let said = String::from_utf8_lossy(&out.stdout);
    if !said.contains("configured") {
        return Err(format!("configure --local said: {}", redact(&out.stdout)));
    }
    run(git(&["remote", "add", "origin", url]), "git remote add")?;
    run(git(&["fetch", "-q", "--no-tags", "origin"]), "git fetch")?;
    run(
        git(&["checkout", "-q", "-b", "work", "origin/main"]),
        "git checkout",
    )?;
    Ok(dir)
}

/// The wrapper is the gh the workers run, and it reaches the API stand-in; the leak scanner
/// catches a command that does print the token.
fn preflight(w: &Worker, mint: &Mint, op_timeout: Duration) {
    let _ = fs::remove_file(&w.trace);
    let mut c = w.sb.command("gh");
    c.args(["api", "user"]);
    let ran = exec::run(c, op_timeout);
    let trace = fs::read_to_string(&w.trace).unwrap_or_default();
    let _ = fs::remove_file(&w.trace);
    assert!(
        ran.success() && classify(OpKind::Gh, &ran) == Outcome::Ok,
        "preflight `gh api user` through the wrapper failed: {}",
        redact(&ran.stderr)
    );
    assert!(
        trace.contains("kelos-gh["),
        "preflight: the gh in PATH is not the wrapper (no kelos-gh trace line)"
    );
    assert!(
        !mint.scan(&ran.stderr).leaked() && !mint.scan(trace.as_bytes()).leaked(),
        "preflight: a token in gh's stderr or the trace"
    );
    // The leak scanner itself: a command that does print the token is caught.
    let mut c = w.sb.command("sh");
    c.args(["-c", "printf 'x %s y' \"$GITHUB_TOKEN\" >&2"]);
    let ran = exec::run(c, op_timeout);
    let scan = mint.scan(&ran.stderr);
    assert!(
        scan.exact == 1 && redact(&ran.stderr) == "x <TOKEN> y",
        "preflight: the leak scanner missed a printed token ({scan:?})"
    );
}

/// The PR's git helper for GitLab (kelos-dev/kelos PR #1721): unscoped, the environment's
/// token for every host.
const PR_GITLAB_HELPER: &str = "!f() { echo username=oauth2; echo \"password=$GITLAB_TOKEN\"; }; f";

/// After the frozen `GITLAB_TOKEN` was revoked: the GitLab phase can fail. Through the
/// wrappers, `glab api user` succeeds (the trace shows `kelos-glab`); the real glab alone
/// (the host entry `kelos-glab` wrote is there) and git through the PR's helper send the
/// frozen token and are refused; the leak scanner catches a printed GitLab token.
fn gitlab_controls(stand: &Stand, op_timeout: Duration) {
    let w = &stand.workers[0];
    let _ = fs::remove_file(&w.trace);
    let mut c = w.sb.command("glab");
    c.env("GITLAB_HOST", &w.gl_api_host).args(["api", "user"]);
    let ran = exec::run(c, op_timeout);
    let trace = fs::read_to_string(&w.trace).unwrap_or_default();
    let _ = fs::remove_file(&w.trace);
    assert!(
        classify(OpKind::Glab, &ran) == Outcome::Ok && trace.contains("kelos-glab["),
        "control: `glab api user` through kelos-glab failed or was not the wrapper: {}",
        redact(&ran.stderr)
    );
    let refused = stand.gl.api.auth_failures();
    let mut c = w.sb.command(require_tool("glab"));
    c.env("GITLAB_HOST", &w.gl_api_host).args(["api", "user"]);
    let ran = exec::run(c, op_timeout);
    assert!(
        classify(OpKind::Glab, &ran) == Outcome::AuthFailed
            && stand.gl.api.auth_failures() == refused + 1,
        "control: the real glab alone with the frozen GITLAB_TOKEN was not refused: {}",
        redact(&ran.stderr)
    );
    let refused = stand.gl.git.auth_failures();
    let helper = format!("credential.helper={PR_GITLAB_HELPER}");
    let git = w.git_at(
        &w.gl_work,
        &[
            "-c",
            "credential.helper=",
            "-c",
            &helper,
            "fetch",
            "-q",
            "origin",
        ],
    );
    let ran = exec::run(git, op_timeout);
    assert!(
        classify(OpKind::GlFetch, &ran) == Outcome::AuthFailed
            && stand.gl.git.auth_failures() > refused,
        "control: git fetch through the PR's helper (the frozen GITLAB_TOKEN) was not refused: {}",
        redact(&ran.stderr)
    );
    let mut c = w.sb.command("sh");
    c.args(["-c", "printf 'x %s y' \"$GITLAB_TOKEN\" >&2"]);
    let ran = exec::run(c, op_timeout);
    let scan = stand.mint.scan(&ran.stderr);
    assert!(
        scan.exact == 1 && redact(&ran.stderr) == "x <TOKEN> y",
        "control: the leak scanner missed a printed GitLab token ({scan:?})"
    );
    let _ = fs::remove_file(&w.trace);
}

/// The phases, in order.
fn plan() -> Vec<PhaseKind> {
    let mut plan = vec![
        PhaseKind::Baseline,
        PhaseKind::Rotation,
        PhaseKind::NonAtomic,
        PhaseKind::Consumer,
        PhaseKind::Configure,
        PhaseKind::GitLabBaseline,
        PhaseKind::GitLab,
    ];
    for fault in Fault::ALL {
        plan.push(PhaseKind::Fault { fault, env: true });
        plan.push(PhaseKind::Fault { fault, env: false });
    }
    plan
}

/// One phase: arranged, run, measured, the volume put back, judged.
fn run_phase(stand: &mut Stand, kind: PhaseKind, cfg: &Config, interval: Duration) -> PhaseResult {
    let duration = arrange_phase(stand, kind, cfg, interval);
    let gitlab = matches!(kind, PhaseKind::GitLab | PhaseKind::GitLabBaseline);
    let (git, env) = if gitlab {
        (&stand.gl.git, &stand.gl.env)
    } else {
        (&stand.git, &stand.env)
    };
    git.reset_counters();
    stand.api.reset_counters();
    stand.gl.api.reset();

    let stop = Arc::new(AtomicBool::new(false));
    let rotator = match kind {
        PhaseKind::Rotation | PhaseKind::Consumer | PhaseKind::Configure | PhaseKind::GitLab => {
            Some(env.rotator(WriteMode::Atomic, interval, cfg.write_pause, stop.clone()))
        }
        PhaseKind::NonAtomic => {
            Some(env.rotator(WriteMode::InPlace, interval, cfg.write_pause, stop.clone()))
        }
        PhaseKind::Baseline | PhaseKind::GitLabBaseline | PhaseKind::Fault { .. } => None,
    };
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let until = Arc::new(Until {
        kinds: match kind {
            PhaseKind::Consumer => &OpKind::CONSUMERS,
            PhaseKind::Configure => &OpKind::FETCH,
            PhaseKind::GitLab | PhaseKind::GitLabBaseline => &OpKind::GITLAB,
            _ => &OpKind::ALL,
        },
        deadline: t0 + duration,
        min_ops: match kind {
            PhaseKind::Rotation => cfg.min_ops,
            PhaseKind::Consumer => cfg.consumer_min_ops,
            PhaseKind::GitLab => cfg.gitlab_min_ops,
            _ => 0,
        },
        cap: t0
            + if kind == PhaseKind::GitLab {
                GITLAB_CAP.max(duration)
            } else {
                duration * 3
            },
        done: AtomicUsize::new(0),
    });
    let configurer = (kind == PhaseKind::Configure).then(|| {
        let targets: Vec<(Command, PathBuf)> = stand
            .workers
            .iter()
            .map(|w| (w.sb.command(w.sb.helper_path()), w.work.clone()))
            .collect();
        let git_cmds: Vec<Command> = stand.workers.iter().map(|w| w.git(&[])).collect();
        configurer(targets, git_cmds, git.host(), cfg.op_timeout, stop.clone())
    });
    let out = run_workers(
        &mut stand.workers,
        &stand.ctx,
        &until,
        &kind.name(interval, cfg.write_pause),
    );
    let wall = t0.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    stop.store(true, Ordering::SeqCst);
    let rot = rotator.map(|h| h.join().expect("rotator panicked"));
    let configure_counts = configurer.map(|h| h.join().expect("configurer panicked"));

    let gitc = GitCounts {
        refused: git.auth_failures(),
        unauthenticated: git.unauthenticated_requests(),
        served: git.served_requests(),
        presented: git.presented_passwords(),
        log_lines: git.log().len(),
    };
    let apic = if gitlab {
        let api = &stand.gl.api;
        let presented = api.presented_tokens();
        crate::soak::api::ApiCounts {
            ok: presented.len().saturating_sub(api.auth_failures()),
            refused: api.auth_failures(),
            unauthenticated: api.unauthenticated_requests(),
            other: api.tls_handshakes(),
            presented,
        }
    } else {
        stand.api.counts()
    };
    let pushes_landed = pushes_landed(stand, kind, cfg.op_timeout);
    restore_volume(stand, kind);

    let mut result = PhaseResult {
        kind,
        name: kind.name(interval, cfg.write_pause),
        wall,
        cpu,
        records: out.records,
        leaks: out.leaks,
        samples: out.samples,
        git: gitc,
        api: apic,
        rotations: rot.as_ref().map_or(0, |r| r.rotations),
        writes: rot.as_ref().map_or(0, |r| r.writes),
        max_write_gap: rot.as_ref().and_then(|r| r.max_gap),
        empty: rot.as_ref().map_or(Duration::ZERO, |r| r.empty),
        max_tick_lateness: rot.as_ref().map_or(Duration::ZERO, |r| r.max_lateness),
        realtime: rot.as_ref().map(|r| r.realtime),
        pushes_landed,
        configure: configure_counts,
        checks: Vec::new(),
    };
    result.checks = evaluate(
        &result,
        cfg,
        interval,
        &Tokens {
            first: if gitlab {
                &stand.gl.first
            } else {
                &stand.first
            },
            fallback: &stand.fallback,
            planted: &stand.planted,
            published: &env.published.lock().unwrap(),
        },
    );
    eprintln!(
        "soak: {:<62} {:>6} ops  {}",
        result.name,
        result.records.len(),
        if result.passed() { "ok" } else { "FAILED" }
    );
    result
}

/// The workers' environment tokens for `kind`, and its fault; returns how long it runs.
fn arrange_phase(stand: &mut Stand, kind: PhaseKind, cfg: &Config, interval: Duration) -> Duration {
    let env_token: Option<&str> = match kind {
        PhaseKind::Baseline
        | PhaseKind::Rotation
        | PhaseKind::NonAtomic
        | PhaseKind::Consumer
        | PhaseKind::Configure
        | PhaseKind::GitLabBaseline
        | PhaseKind::GitLab => Some(&stand.first),
        PhaseKind::Fault { env: true, .. } => Some(&stand.fallback),
        PhaseKind::Fault { env: false, .. } => None,
    };
    for w in &mut stand.workers {
        match env_token {
            Some(t) => {
                w.sb.set_env("GH_TOKEN", t).set_env("GITHUB_TOKEN", t);
            }
            None => {
                w.sb.remove_env("GH_TOKEN").remove_env("GITHUB_TOKEN");
            }
        }
    }
    let duration = match kind {
        PhaseKind::Baseline | PhaseKind::GitLabBaseline => cfg.baseline,
        PhaseKind::Rotation => cfg.rotation,
        // Long enough for a few rotations at a lengthened interval.
        PhaseKind::NonAtomic => (cfg.fault * 2).max(interval * 3),
        PhaseKind::Consumer | PhaseKind::Configure => cfg.consumer.max(interval * 3),
        PhaseKind::GitLab => cfg.gitlab.max(interval * 3),
        PhaseKind::Fault { .. } => cfg.fault,
    };
    if let PhaseKind::Fault { fault, .. } = kind {
        stand.env.accept(&[&stand.fallback]);
        apply_fault(&stand.vol.lock().unwrap(), fault, &stand.planted);
    }
    duration
}

/// Runs every worker until `until` says stop (progress shown every 30 s on long phases);
/// what they produced, at most [`SAMPLES_PER_KEY`] samples per kind and outcome. The
/// workers come back in their order.
fn run_workers(
    workers: &mut Vec<Worker>,
    ctx: &Arc<Ctx>,
    until: &Arc<Until>,
    name: &str,
) -> WorkerOut {
    let t0 = Instant::now();
    let handles: Vec<_> = workers
        .drain(..)
        .map(|mut w| {
            let (ctx, until) = (ctx.clone(), until.clone());
            thread::spawn(move || {
                let out = w.run_until(&until, &ctx);
                (w, out)
            })
        })
        .collect();
    let mut shown = Instant::now();
    while !handles.iter().all(|h| h.is_finished()) {
        thread::sleep(Duration::from_millis(100));
        if shown.elapsed() >= Duration::from_secs(30) {
            shown = Instant::now();
            eprintln!(
                "soak:   {name}: {} operations in {:.0} s",
                until.done.load(Ordering::Relaxed),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let mut all = WorkerOut::default();
    for h in handles {
        let (w, out) = h.join().expect("worker thread panicked");
        all.records.extend(out.records);
        all.leaks.extend(out.leaks);
        for s in out.samples {
            let have = all
                .samples
                .iter()
                .filter(|x| x.kind == s.kind && x.outcome == s.outcome)
                .count();
            if have < SAMPLES_PER_KEY {
                all.samples.push(s);
            }
        }
        workers.push(w);
    }
    workers.sort_by_key(|w| w.id);
    all
}

/// Pushes landed (landed, checked): the server's branch is the worker's HEAD after a
/// successful push. `None` for the phases where a push need not succeed.
fn pushes_landed(stand: &Stand, kind: PhaseKind, op_timeout: Duration) -> Option<(usize, usize)> {
    let judged = !matches!(kind, PhaseKind::Consumer | PhaseKind::Configure)
        && (kind.rotates()
            || matches!(
                kind,
                PhaseKind::Baseline
                    | PhaseKind::GitLabBaseline
                    | PhaseKind::Fault { env: true, .. }
            ));
    if !judged {
        return None;
    }
    let gitlab = matches!(kind, PhaseKind::GitLab | PhaseKind::GitLabBaseline);
    let server = if gitlab { &stand.gl.git } else { &stand.git };
    let mut checked = 0;
    let mut landed = 0;
    for w in &stand.workers {
        let (last_ok, dir) = if gitlab {
            (w.last_gl_push_ok, &w.gl_work)
        } else {
            (w.last_push_ok, &w.work)
        };
        if last_ok != Some(true) {
            continue;
        }
        checked += 1;
        let head = exec::run(w.git_at(dir, &["rev-parse", "HEAD"]), op_timeout);
        let remote = exec::run(
            server_git(server, &["rev-parse", &format!("refs/heads/{}", w.branch)]),
            op_timeout,
        );
        if head.success() && remote.success() && head.stdout == remote.stdout {
            landed += 1;
        }
    }
    Some((landed, checked))
}

/// After a fault phase: a fresh token in a whole volume, the only one accepted.
fn restore_volume(stand: &Stand, kind: PhaseKind) {
    if let PhaseKind::Fault { fault, .. } = kind {
        let t = stand.mint.token();
        stand.env.published.lock().unwrap().insert(t.clone());
        clear_fault(&mut stand.vol.lock().unwrap(), fault, &t);
        stand.env.accept(&[&t]);
        stand.env.rotation.lock().unwrap().current = t;
    }
}

/// The controller stand-in's helper, as Kelos writes it but answering only the frozen
/// environment token (revoked before the soak proper): if git ever reached it, the server
/// would refuse the fetch.
const CONTROLLER_HELPER: &str = "!f() { test \"$1\" = get && echo password=$GITHUB_TOKEN; }; f";

/// The configure phase's writer: round-robin over the workers' repositories, runs
/// `configure`/`unconfigure` (plain and `--exclusive`, `--local`, for the server's host) and,
/// as Kelos's controller does, `git config --unset-all credential.helper` then `--add` of its
/// helper, until `stop`.
fn configurer(
    mut helpers: Vec<(Command, PathBuf)>,
    mut gits: Vec<Command>,
    host: String,
    timeout: Duration,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<ConfigureCounts> {
    // Commands are rebuilt from each prototype's program, environment and directory.
    fn like(proto: &Command, dir: &Path) -> Command {
        let mut c = Command::new(proto.get_program());
        c.env_clear();
        for (k, v) in proto.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.current_dir(dir);
        c
    }
    let protos: Vec<(Command, Command, PathBuf)> = helpers
        .drain(..)
        .zip(gits.drain(..))
        .map(|((h, dir), g)| (h, g, dir))
        .collect();
    thread::spawn(move || {
        let mut counts = ConfigureCounts::default();
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let (helper, git, dir) = &protos[i % protos.len()];
            let step = (i / protos.len()) % 5;
            i += 1;
            if step == 0 {
                // The controller: --unset-all, then --add; git's writer does not wait for a
                // lock, so each call is retried while it meets one.
                let mut ok = true;
                for args in [
                    &["config", "--local", "--unset-all", "credential.helper"][..],
                    &[
                        "config",
                        "--local",
                        "--add",
                        "credential.helper",
                        CONTROLLER_HELPER,
                    ][..],
                ] {
                    let mut tries = 0;
                    loop {
                        let mut c = like(git, dir);
                        c.args(args);
                        let ran = exec::run(c, timeout);
                        // --unset-all exits 5 when there is nothing to unset.
                        if ran.success()
                            || (args[2] == "--unset-all"
                                && !ran.hung
                                && String::from_utf8_lossy(&ran.stderr).trim().is_empty())
                        {
                            break;
                        }
                        if String::from_utf8_lossy(&ran.stderr).contains("could not lock")
                            && tries < 200
                        {
                            tries += 1;
                            counts.controller_retries += 1;
                            thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                        ok = false;
                        break;
                    }
                }
                if ok {
                    counts.controller_writes += 1;
                }
                continue;
            }
            let mut c = like(helper, dir);
            c.args(["--host", &host]);
            c.args(match step {
                1 => &["configure", "--exclusive", "--local"][..],
                2 => &["unconfigure", "--exclusive", "--local"][..],
                3 => &["configure", "--local"][..],
                _ => &["unconfigure", "--local"][..],
            });
            let ran = exec::run(c, timeout);
            counts.runs += 1;
            if !ran.success() {
                counts.failed += 1;
                if counts.failure.is_none() {
                    counts.failure = Some(redact(&ran.stderr).trim().to_string());
                }
            }
        }
        counts
    })
}

/// The tokens a phase is judged by.
struct Tokens<'a> {
    /// Frozen in the environment at start-up; revoked after two rotations.
    first: &'a str,
    /// The environment's token in the fallback phases.
    fallback: &'a str,
    /// In the oversized file; never accepted.
    planted: &'a str,
    /// Every token the file has held.
    published: &'a HashSet<String>,
}

/// The phase's expectations.
fn evaluate(r: &PhaseResult, cfg: &Config, cfg_interval: Duration, t: &Tokens) -> Vec<Check> {
    let Tokens {
        first,
        fallback,
        planted,
        published,
    } = *t;
    let mut c = Vec::new();
    let ops = r.records.len();
    let by = |o| r.count(o);
    // Every operation ended in `want`; the detail counts the other endings (hangs have a
    // check of their own).
    let every_op_is = |c: &mut Vec<Check>, what: &str, want: Outcome| {
        let others: Vec<String> = [
            (Outcome::Ok, "ok"),
            (Outcome::AuthFailed, "auth failed"),
            (Outcome::NoCredential, "no credential"),
            (Outcome::OtherError, "other errors"),
        ]
        .into_iter()
        .filter(|(o, _)| *o != want)
        .map(|(o, name)| format!("{} {name}", by(o)))
        .collect();
        check(c, what, by(want) == ops, others.join(", "));
    };
    let presented: Vec<&String> = r.git.presented.iter().chain(&r.api.presented).collect();
    let count_of = |t: &str| presented.iter().filter(|p| p.as_str() == t).count();

    check(
        &mut c,
        "operations ran",
        ops > 0,
        format!("{ops} operations"),
    );
    check(
        &mut c,
        "no hang",
        by(Outcome::Hung) == 0,
        format!(
            "{} operations exceeded {:?} and were killed",
            by(Outcome::Hung),
            cfg.op_timeout
        ),
    );
    let leaked: usize = r.leaks.iter().map(|l| l.hits).sum();
    check(
        &mut c,
        "no token in any captured stdout, stderr or trace",
        r.leaks.is_empty(),
        if r.leaks.is_empty() {
            "none".to_string()
        } else {
            let mut by_stream: BTreeMap<String, usize> = BTreeMap::new();
            for l in &r.leaks {
                *by_stream
                    .entry(format!("{} {}", l.kind.name(), l.stream))
                    .or_default() += l.hits;
            }
            format!("{leaked} occurrences: {by_stream:?}")
        },
    );
    check(
        &mut c,
        "the oversized file's token is never presented",
        count_of(planted) == 0,
        format!("presented {} times", count_of(planted)),
    );

    match r.kind {
        PhaseKind::Baseline
        | PhaseKind::Rotation
        | PhaseKind::NonAtomic
        | PhaseKind::Consumer
        | PhaseKind::Configure
        | PhaseKind::GitLabBaseline
        | PhaseKind::GitLab => {
            if r.kind == PhaseKind::GitLab {
                check(
                    &mut c,
                    format!("at least {} operations", cfg.gitlab_min_ops),
                    ops >= cfg.gitlab_min_ops,
                    format!(
                        "{ops} operations in {:.1} s (at most {} s)",
                        r.wall.as_secs_f64(),
                        GITLAB_CAP.as_secs()
                    ),
                );
                check(
                    &mut c,
                    "glab reached the API over plain http (no TLS handshake on its port)",
                    r.api.other == 0,
                    format!("{} TLS handshakes", r.api.other),
                );
            }
            if let Some(cc) = &r.configure {
                check(
                    &mut c,
                    "every configure/unconfigure run exits 0",
                    cc.runs > 0 && cc.failed == 0 && cc.controller_writes > 0,
                    format!(
                        "{} runs, {} failed{}; the controller rewrote its helper {} times ({} of \
                         its git config calls met the lock and were retried)",
                        cc.runs,
                        cc.failed,
                        cc.failure
                            .as_deref()
                            .map(|f| format!(" (first: {f})"))
                            .unwrap_or_default(),
                        cc.controller_writes,
                        cc.controller_retries
                    ),
                );
            }
            every_op_is(&mut c, "every operation succeeds", Outcome::Ok);
            let slow: Vec<&OpRecord> = r
                .records
                .iter()
                .filter(|x| x.elapsed > cfg_interval)
                .collect();
            let slow_failed = slow
                .iter()
                .filter(|x| x.outcome == Outcome::AuthFailed)
                .count();
            check(
                &mut c,
                "0 auth failures (servers refused nothing)",
                by(Outcome::AuthFailed) == 0 && r.refused() == 0,
                format!(
                    "operations: {} ({} of them slower than the {} ms grace window; {} \
                     operations in all were); refused by git server: {}, by API: {}",
                    by(Outcome::AuthFailed),
                    slow_failed,
                    cfg_interval.as_millis(),
                    slow.len(),
                    r.git.refused,
                    r.api.refused
                ),
            );
            let foreign = presented
                .iter()
                .filter(|p| !published.contains(p.as_str()))
                .count();
            check(
                &mut c,
                "every presented credential is a token the file held",
                !presented.is_empty() && foreign == 0,
                format!("{foreign} of {} were not", presented.len()),
            );
            check(
                &mut c,
                "no fallback: the frozen env token is never used",
                r.fallbacks() == 0 && count_of(first) == 0,
                format!(
                    "trace fallbacks: {}; frozen token presented: {}",
                    r.fallbacks(),
                    count_of(first)
                ),
            );
            if !matches!(r.kind, PhaseKind::Baseline | PhaseKind::GitLabBaseline) {
                check(
                    &mut c,
                    "the file rotated during the phase",
                    r.rotations >= 2,
                    format!("{} rotations", r.rotations),
                );
            }
        }
        PhaseKind::Fault { env: true, .. } => {
            every_op_is(
                &mut c,
                "every operation succeeds (from the fallback)",
                Outcome::Ok,
            );
            check(
                &mut c,
                "every presented credential is the fallback token",
                !presented.is_empty() && count_of(fallback) == presented.len() && r.refused() == 0,
                format!(
                    "{} of {} presented; refused: {}",
                    count_of(fallback),
                    presented.len(),
                    r.refused()
                ),
            );
            check(
                &mut c,
                "every operation used the fallback (trace)",
                r.fallbacks() == ops,
                format!("{} of {ops}", r.fallbacks()),
            );
        }
        PhaseKind::Fault { env: false, .. } => {
            every_op_is(
                &mut c,
                "every operation fails cleanly: no credential",
                Outcome::NoCredential,
            );
            check(
                &mut c,
                "nothing is presented to the servers",
                presented.is_empty() && r.refused() == 0,
                format!("{} presented, {} refused", presented.len(), r.refused()),
            );
            let git_ops: Vec<&OpRecord> =
                r.records.iter().filter(|x| x.kind != OpKind::Gh).collect();
            let spoke = git_ops.iter().filter(|x| x.helper_spoke).count();
            check(
                &mut c,
                "git: the helper says why on stderr",
                spoke == git_ops.len(),
                format!("{spoke} of {} git operations", git_ops.len()),
            );
            let all: Vec<&OpRecord> = r.records.iter().collect();
            let (_, _, max) = times(&all);
            check(
                &mut c,
                format!("fast: every operation within {:?}", cfg.fast_limit),
                max <= cfg.fast_limit,
                format!("slowest {} ms", max.as_millis()),
            );
        }
    }
    if let Some((landed, checked)) = r.pushes_landed {
        check(
            &mut c,
            "pushes landed (server branch = worker HEAD after its last push)",
            landed == checked,
            format!("{landed} of {checked} workers"),
        );
    }
    c
}

/// The rotation interval the brief asks for.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);

/// The slowest operation kind's p99 in `r`, of `kinds`.
pub fn slowest_p99(r: &PhaseResult, kinds: &[OpKind]) -> (OpKind, Duration) {
    kinds
        .iter()
        .map(|k| {
            let recs: Vec<&OpRecord> = r.records.iter().filter(|x| x.kind == *k).collect();
            (*k, times(&recs).1)
        })
        .max_by_key(|(_, p99)| *p99)
        .unwrap_or((OpKind::Fetch, Duration::ZERO))
}

/// 200 ms, unless twice the baseline's slowest p99 exceeds that grace window: a credential
/// is accepted for at least one interval after it is read (until the second rotation after
/// it was published), so an operation slower than the interval can be refused through no
/// fault of the binaries. The factor 2 covers the tail beyond p99 and the extra load of the
/// rotation phase (a CI run with a 191 ms baseline p99 saw a 218 ms operation under
/// rotation). Then 2 x p99, rounded up to 50 ms.
///
/// The GitLab phase's interval is chosen by the same rule from its own baseline (its
/// operations are slower: glab starts slower than gh), and is never shorter than GitHub's.
pub fn choose_interval(baseline: &PhaseResult, kinds: &[OpKind]) -> (Duration, String) {
    let (kind, p99) = slowest_p99(baseline, kinds);
    if p99 * 2 <= DEFAULT_INTERVAL {
        return (
            DEFAULT_INTERVAL,
            format!(
                "{} ms: twice the baseline's slowest p99 ({}, {} ms) is within it",
                DEFAULT_INTERVAL.as_millis(),
                kind.name(),
                ms(p99)
            ),
        );
    }
    let step = 50u128;
    let lengthened = (p99 * 2).as_millis().div_ceil(step) * step;
    (
        Duration::from_millis(lengthened as u64),
        format!(
            "**lengthened from {} ms to {} ms** (2 x p99), because twice the baseline's slowest \
             p99 ({}, {} ms) exceeds the {} ms grace window: operations are that slow on this \
             machine, and a shorter interval would refuse credentials that were current when \
             they were read",
            DEFAULT_INTERVAL.as_millis(),
            lengthened,
            kind.name(),
            ms(p99),
            DEFAULT_INTERVAL.as_millis()
        ),
    )
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Default report path: `<workspace>/target/soak/report.md`.
pub fn default_report() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("target/soak/report.md")
}
