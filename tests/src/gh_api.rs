//! Harness for the `kelos-gh` suite: isolated gh homes, wrapper copies, a compiled stand-in
//! gh that records what it was given, a runner that reports the PID it spawned, and a fake
//! GitHub API reached through `HTTP_PROXY`.
//!
//! # The stand-in gh
//!
//! A shell script cannot show its own `argv[0]` (the kernel replaces it with the script's
//! path), so the stand-in is the test binary itself: [`standin_hook`] runs before `main`
//! (the suite registers it in `.init_array`) and, when [`STANDIN_OUT_VAR`] is set, writes its
//! PID, `/proc/self/cmdline` and `/proc/self/environ` (exact bytes, as the kernel got them
//! from `execve`) into that directory and exits; otherwise it returns and the tests run.
//!
//! # Executables and `ETXTBSY`
//!
//! Writing an executable while another test thread forks lets the child inherit the write
//! descriptor for a moment, and running the file then fails with "Text file busy". Every
//! executable written here is written under [`EXEC_LOCK`] for writing, and [`run`] spawns
//! under it for reading, so no child can ever hold such a descriptor.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http::LoopbackServer;
use crate::pod::TOKEN_FILE_VAR;
use crate::secrets::redacted;
use crate::{bin, require_tool, TempDir, TokenVolume};

/// The wrapper binary's name in `KELOS_BIN_DIR`.
pub const WRAPPER: &str = "kelos-gh";

/// Prefix of the wrapper's own stderr lines.
pub const WRAPPER_STDERR_PREFIX: &str = "kelos-gh:";

/// Directory the stand-in writes its record into; unset → the stand-in is not active.
pub const STANDIN_OUT_VAR: &str = "KELOS_E2E_STANDIN_OUT";
/// Exit status the stand-in exits with (default 0).
pub const STANDIN_EXIT_VAR: &str = "KELOS_E2E_STANDIN_EXIT";
/// Signal number the stand-in kills itself with (instead of exiting).
pub const STANDIN_SIGNAL_VAR: &str = "KELOS_E2E_STANDIN_SIGNAL";

/// The only variables the gh tests start from (besides what each test adds).
pub const BASE_VARS: &[&str] = &["PATH", "HOME", "GH_CONFIG_DIR"];

/// Time limit for one wrapper or gh invocation.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// See the module documentation.
pub static EXEC_LOCK: RwLock<()> = RwLock::new(());

/// The real gh, from PATH. Panics (never skips) when it is missing.
pub fn real_gh() -> PathBuf {
    let gh = require_tool("gh");
    gh.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", gh.display()))
}

/// Runs before `main` in every process of the test binary. Does nothing unless
/// [`STANDIN_OUT_VAR`] is set (the test process itself never has it).
pub extern "C" fn standin_hook() {
    let Some(out) = std::env::var_os(STANDIN_OUT_VAR) else {
        return;
    };
    // First, before this hook opens anything: which standard descriptors are open.
    let open_std_fds: String = (0..3)
        // SAFETY: fcntl(2) F_GETFD on a descriptor number only queries it.
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .map(|fd| format!("{fd} "))
        .collect();
    let out = PathBuf::from(out);
    let record = |name: &str, bytes: &[u8]| {
        if fs::write(out.join(name), bytes).is_err() {
            std::process::exit(120);
        }
    };
    let cmdline = fs::read("/proc/self/cmdline").unwrap_or_default();
    let environ = fs::read("/proc/self/environ").unwrap_or_default();
    record("cmdline", &cmdline);
    record("environ", &environ);
    record("open_std_fds", open_std_fds.as_bytes());
    record("status", &fs::read("/proc/self/status").unwrap_or_default());
    // Written last: its presence means the record is complete.
    record("pid", std::process::id().to_string().as_bytes());
    if let Some(sig) = std::env::var(STANDIN_SIGNAL_VAR)
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
    {
        // SAFETY: raise(3) with a signal number.
        unsafe {
            libc::raise(sig);
        }
    }
    let code = std::env::var(STANDIN_EXIT_VAR)
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
        .unwrap_or(0);
    std::process::exit(code);
}

/// What one stand-in run saw.
#[derive(Debug)]
pub struct StandinRecord {
    pub pid: u32,
    /// Raw `/proc/self/cmdline`: `argv[0]\0argv[1]\0...`.
    pub cmdline: Vec<u8>,
    /// Raw `/proc/self/environ`.
    pub environ: Vec<u8>,
    /// Which of descriptors 0, 1 and 2 were open when it started.
    pub open_std_fds: Vec<i32>,
    /// `/proc/self/status`, for the signal dispositions it inherited.
    pub status: String,
}

impl StandinRecord {
    pub fn argv(&self) -> Vec<OsString> {
        split_nul(&self.cmdline)
            .into_iter()
            .map(OsString::from_vec)
            .collect()
    }

    /// The environment as a map (the stand-in's, exactly as exec'd).
    pub fn env(&self) -> BTreeMap<OsString, OsString> {
        env_map(&self.environ)
    }

    pub fn var(&self, name: &str) -> Option<OsString> {
        self.env().remove(OsStr::new(name))
    }

    /// Whether it started with `signal` ignored (`SigIgn` in its status).
    pub fn ignores(&self, signal: i32) -> bool {
        let mask = self
            .status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .expect("SigIgn in /proc/self/status");
        mask & (1 << (signal - 1)) != 0
    }
}

fn split_nul(bytes: &[u8]) -> Vec<Vec<u8>> {
    let body = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == 0).map(<[u8]>::to_vec).collect()
}

/// Parses a NUL-separated `NAME=value` block.
pub fn env_map(environ: &[u8]) -> BTreeMap<OsString, OsString> {
    split_nul(environ)
        .into_iter()
        .map(|entry| {
            let eq = entry.iter().position(|b| *b == b'=').unwrap_or(entry.len());
            let value = entry.get(eq + 1..).unwrap_or_default().to_vec();
            let mut name = entry;
            name.truncate(eq);
            (OsString::from_vec(name), OsString::from_vec(value))
        })
        .collect()
}

/// Shows an environment with every token replaced by `<REDACTED#i>`: safe in a panic.
pub fn show_env(env: &BTreeMap<OsString, OsString>, tokens: &[&str]) -> String {
    let text: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    redacted(text.join("\n").as_bytes(), tokens)
}

/// A stand-in gh: `<dir>/gh`, a symlink to the test binary, recording into its own
/// directory.
pub struct Standin {
    dir: TempDir,
    out: TempDir,
}

impl Default for Standin {
    fn default() -> Self {
        Self::new()
    }
}

impl Standin {
    pub fn new() -> Standin {
        Standin::named("gh")
    }

    /// A stand-in for the CLI `cli` (`glab`): `<dir>/<cli>`.
    pub fn named(cli: &str) -> Standin {
        let dir = TempDir::new("kelos-e2e-standin");
        let out = TempDir::new("kelos-e2e-standin-out");
        let exe = std::env::current_exe().expect("current_exe");
        symlink(&exe, dir.join(cli)).expect("symlink stand-in");
        Standin { dir, out }
    }

    /// The directory holding `gh` (for PATH).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn gh(&self) -> PathBuf {
        self.dir.join("gh")
    }

    /// The value for [`STANDIN_OUT_VAR`].
    pub fn out(&self) -> &Path {
        self.out.path()
    }

    pub fn ran(&self) -> bool {
        self.out.join("pid").exists()
    }

    /// The record of the run; panics if the stand-in did not run.
    pub fn record(&self) -> StandinRecord {
        let pid = fs::read_to_string(self.out.join("pid"))
            .unwrap_or_else(|_| panic!("the stand-in gh did not run (no record)"));
        StandinRecord {
            pid: pid.trim().parse().expect("pid"),
            cmdline: fs::read(self.out.join("cmdline")).expect("cmdline"),
            environ: fs::read(self.out.join("environ")).expect("environ"),
            open_std_fds: fs::read_to_string(self.out.join("open_std_fds"))
                .expect("open_std_fds")
                .split_whitespace()
                .map(|fd| fd.parse().expect("fd"))
                .collect(),
            status: fs::read_to_string(self.out.join("status")).expect("status"),
        }
    }

    /// Forgets the last record.
    pub fn reset(&self) {
        for name in ["pid", "cmdline", "environ", "open_std_fds", "status"] {
            let _ = fs::remove_file(self.out.join(name));
        }
    }
}

/// Copies the wrapper to `<dir>/gh` (a copy: its own inode) and returns that path.
pub fn install_wrapper(dir: &Path) -> PathBuf {
    install_wrapper_as(dir, WRAPPER, "gh")
}

/// Copies the binary `wrapper` (`kelos-glab`) to `<dir>/<name>` (a copy: its own inode) and
/// returns that path.
pub fn install_wrapper_as(dir: &Path, wrapper: &str, name: &str) -> PathBuf {
    let src = bin(wrapper);
    let dst = dir.join(name);
    let _w = EXEC_LOCK.write().unwrap_or_else(|e| e.into_inner());
    fs::copy(&src, &dst)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.display(), dst.display()));
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
    dst
}

/// Writes an executable file (a script, or junk that exec refuses) at `path`.
pub fn write_executable(path: &Path, contents: &[u8]) {
    let _w = EXEC_LOCK.write().unwrap_or_else(|e| e.into_inner());
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A temp dir holding a wrapper copy as `gh`.
pub struct WrapperDir {
    dir: TempDir,
    gh: PathBuf,
}

impl Default for WrapperDir {
    fn default() -> Self {
        Self::new()
    }
}

impl WrapperDir {
    pub fn new() -> WrapperDir {
        let dir = TempDir::new("kelos-e2e-wrapper");
        let gh = install_wrapper(dir.path());
        WrapperDir { dir, gh }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/gh`, the wrapper copy.
    pub fn gh(&self) -> &Path {
        &self.gh
    }
}

/// An isolated HOME and `GH_CONFIG_DIR` (empty: gh has no stored login).
pub struct GhHome {
    home: TempDir,
}

impl Default for GhHome {
    fn default() -> Self {
        Self::new()
    }
}

impl GhHome {
    pub fn new() -> GhHome {
        let home = TempDir::new("kelos-e2e-gh-home");
        fs::create_dir(home.join("gh-config")).expect("mkdir gh-config");
        GhHome { home }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A command for `program` with a cleared environment: only PATH (the given absolute
    /// entries, or raw), HOME and GH_CONFIG_DIR. Tests add the rest.
    pub fn command(&self, program: &Path, path: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home.path())
            .env("GH_CONFIG_DIR", self.home.join("gh-config"))
            .current_dir(self.home.path());
        cmd
    }
}

/// A gh home and a token volume: what the gh suites' fixtures start from. Every command it
/// makes points `KELOS_GITHUB_TOKEN_FILE` at the volume.
pub struct GhPod {
    pub home: GhHome,
    pub volume: TokenVolume,
    /// The token the volume was made with.
    pub token: String,
}

impl GhPod {
    /// A fresh home and a volume holding `token`.
    pub fn with_token(token: &str) -> GhPod {
        GhPod {
            home: GhHome::new(),
            volume: TokenVolume::with_token(token),
            token: token.to_owned(),
        }
    }

    /// A fresh home and a volume holding a fresh token (`unique_token(tag)`).
    pub fn new(tag: &str) -> GhPod {
        GhPod::with_token(&crate::unique_token(tag))
    }

    /// [`GhHome::command`] with the token file set.
    pub fn command(&self, program: &Path, path: impl AsRef<OsStr>) -> Command {
        let mut cmd = self.home.command(program, path);
        cmd.env(TOKEN_FILE_VAR, self.volume.token_path());
        cmd
    }
}

/// Joins directories into a PATH value.
pub fn path_of(dirs: &[&Path]) -> OsString {
    let mut out = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.extend_from_slice(d.as_os_str().as_bytes());
    }
    OsString::from_vec(out)
}

/// The outcome of one run, with the PID the test spawned.
pub struct Ran {
    pub pid: u32,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The wrapper's own stderr lines.
    pub fn wrapper_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.stderr)
            .lines()
            .filter(|l| l.starts_with(WRAPPER_STDERR_PREFIX))
            .map(str::to_string)
            .collect()
    }
}

/// Spawns `cmd` (stdin empty, output captured, own process group) and waits at most
/// [`TIMEOUT`]; on timeout the group is killed and the test panics. Panic messages carry no
/// output.
pub fn run(mut cmd: Command) -> Ran {
    let what = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = {
        let _r = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"))
    };
    let pid = child.id();
    let readers: Vec<JoinHandle<Vec<u8>>> = [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")) as Box<dyn Read + Send>,
    ]
    .into_iter()
    .map(|mut pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    })
    .collect();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if start.elapsed() > TIMEOUT {
            // SAFETY: kill(2) on the process group we created; its leader is not reaped.
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.wait();
            panic!("{what} did not finish within {TIMEOUT:?} (killed its process group)");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let mut outputs = readers
        .into_iter()
        .map(|r| r.join().expect("reader thread"));
    Ran {
        pid,
        status,
        stdout: outputs.next().unwrap_or_default(),
        stderr: outputs.next().unwrap_or_default(),
    }
}

/// One request the fake API received.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// `GET http://api.github.localhost/user HTTP/1.1` when it came through the proxy.
    pub request_line: String,
    /// The value after `Authorization: token `, if any.
    pub token: Option<String>,
    pub status: u16,
}

/// A fake `api.github.localhost`, reached as an HTTP proxy on 127.0.0.1: gh sends
/// absolute-form requests to it. `GET /user` answers 200 with a small user object when the
/// `Authorization: token <T>` header carries the one accepted token, else 401.
pub struct FakeApi {
    server: LoopbackServer,
    accepted: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<ApiRequest>>>,
}

pub const API_HOST: &str = "api.github.localhost";
pub const USER_JSON: &str = r#"{"login":"kelos-agent","id":1,"type":"Bot"}"#;
pub const BAD_CREDENTIALS_JSON: &str =
    r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#;

impl FakeApi {
    pub fn start(accepted: &str) -> FakeApi {
        let accepted = Arc::new(Mutex::new(accepted.to_string()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, s) = (accepted.clone(), seen.clone());
        let server = LoopbackServer::start(move |conn| serve(conn, &a, &s));
        FakeApi {
            server,
            accepted,
            seen,
        }
    }

    /// The value for `HTTP_PROXY`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// From now on only `token` is accepted (the old one is revoked).
    pub fn accept_only(&self, token: &str) {
        *self.accepted.lock().unwrap() = token.to_string();
    }

    pub fn seen(&self) -> Vec<ApiRequest> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads an HTTP request head (see [`crate::http::read_head`]): the request
/// line, and the token of its `Authorization: token T` (or `Bearer T`)
/// header. `None` for a connection that sends nothing or a bad head.
pub fn read_request_head(reader: &mut impl BufRead) -> Option<(String, Option<String>)> {
    let head = crate::http::read_head(reader).ok()??;
    Some((head.request_line(), head.authorization_token()))
}

fn serve(conn: TcpStream, accepted: &Mutex<String>, seen: &Mutex<Vec<ApiRequest>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let Some((request_line, token)) = read_request_head(&mut reader) else {
        return; // the wake-up connection from Drop, a probe, or a head over 64 KiB
    };
    let expected_line = format!("GET http://{API_HOST}/user HTTP/1.1");
    let ok = request_line == expected_line
        && token.as_deref() == Some(accepted.lock().unwrap().as_str());
    let (status, reason, body) = if ok {
        (200, "OK", USER_JSON)
    } else if request_line == expected_line {
        (401, "Unauthorized", BAD_CREDENTIALS_JSON)
    } else {
        (404, "Not Found", r#"{"message":"Not Found"}"#)
    };
    seen.lock().unwrap().push(ApiRequest {
        request_line,
        token,
        status,
    });
    write_json_response(conn, status, reason, body);
}

/// Writes a JSON response with `Connection: close` and closes the connection.
pub fn write_json_response(mut conn: TcpStream, status: u16, reason: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Both);
}

/// The `running ...` lines of a trace file (`KELOS_CREDENTIAL_TRACE`), in order: one per
/// exec of a wrapper chain.
pub fn running_lines(trace: &Path) -> Vec<String> {
    fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("]: running "))
        .map(str::to_string)
        .collect()
}

/// Makes `cmd`'s child start with SIGPIPE ignored, as a caller that ignores it would.
pub fn ignore_sigpipe(cmd: &mut Command) {
    // SAFETY: signal(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            Ok(())
        });
    }
}
