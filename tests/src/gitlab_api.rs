//! A GitLab API stand-in on 127.0.0.1, and an isolated home for the real glab.
//!
//! A GitLab server cannot run here; the real glab (Debian 13's 1.53, `require_tool("glab")`,
//! off PATH where `scripts/deps.sh` unpacked it) talks to [`GitLabApi`] instead.
//!
//! # What glab 1.53 calls
//!
//! Measured with the real glab against a logging server (`tests/tests/glab_standin.rs`
//! asserts it): `glab api user` and `glab auth status --hostname HOST` each send one
//! `GET /api/v4/user` (headers `Host`, `User-Agent: glab/v1.53.0 (linux, amd64)`,
//! `Private-Token`, `Accept-Encoding: gzip`; `auth status` adds `Accept: application/json`).
//! `glab api user` prints the body as it came; `auth status` reads `username` from it. A token
//! from the environment (`GITLAB_TOKEN`, `GITLAB_ACCESS_TOKEN` or `OAUTH_TOKEN`) is sent as
//! `PRIVATE-TOKEN`, never as `Authorization: Bearer` (glab sends Bearer only for a stored
//! OAuth login, `is_oauth2` in its config). The stand-in accepts either header, as GitLab does.
//! `glab auth status` without `--hostname` checks every host in its config, including the
//! `gitlab.com` entry of the default config it writes on its first run.
//!
//! # http on a port, and https
//!
//! glab takes a host's API protocol from its config's host entry, not from `GITLAB_HOST`:
//! with only `GITLAB_HOST=http://127.0.0.1:PORT` it calls `https://127.0.0.1:PORT` (the
//! stand-in answers a TLS handshake on its plain port with a plain-HTTP 400, as Go's own
//! server does, and counts it: [`GitLabApi::tls_handshakes`]). `glab config set --host
//! 127.0.0.1:PORT api_protocol http` (and `api_host`, `git_protocol`), see
//! [`GlabHome::register_http_host`], makes it call http.
//!
//! [`GitLabApi::start_https`] puts TLS in front: a self-signed certificate for `127.0.0.1`
//! and `localhost` made with `openssl` at test time ([`SelfSignedCert`]), served by
//! `tests/images/tls_proxy.py` (python3's `ssl`; the suites' one TLS front, also used by the
//! Kelos pod test) which passes the bytes to the plain stand-in. glab 1.53 (Go) trusts it
//! either way, both measured:
//! - `SSL_CERT_FILE=<cert.pem>` in glab's environment (Go's system roots on Linux then hold
//!   only that file), no config needed: https is glab's default protocol, and the port is
//!   taken from `GITLAB_HOST`;
//! - or the per-host config key `ca_cert` (`glab config set --host 127.0.0.1:PORT ca_cert
//!   <cert.pem>`), which adds the file to the roots for that host only.
//!
//! Without either, glab fails with "x509: certificate signed by unknown authority" and the
//! stand-in sees no request.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::gh_api::write_json_response;
use crate::http::{read_head, LoopbackServer, RequestHead};
use crate::process::{run_with_timeout, DEFAULT_TIMEOUT};
use crate::{require_tool, unique_token, TempDir};

/// The user `GET /api/v4/user` answers with (the fields glab reads, and a few GitLab sends).
pub const USER_JSON: &str = r#"{"id":1,"username":"kelos-agent","name":"Kelos Agent","state":"active","locked":false,"bot":true,"web_url":"http://127.0.0.1/kelos-agent"}"#;
/// GitLab's body for a missing or revoked token.
pub const UNAUTHORIZED_JSON: &str = r#"{"message":"401 Unauthorized"}"#;
/// What `GET /api/v4/version` answers.
pub const VERSION_JSON: &str = r#"{"version":"17.11.0","revision":"kelos-e2e"}"#;

/// A unique GitLab-shaped token (`glpat-…`), unique per call like [`unique_token`].
pub fn unique_gitlab_token(tag: &str) -> String {
    let token = unique_token(tag);
    format!("glpat-{}", token.strip_prefix("ghs_").unwrap_or(&token))
}

/// Which header carried a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenHeader {
    /// `PRIVATE-TOKEN: T` (what glab sends for a token from its environment).
    PrivateToken,
    /// `Authorization: Bearer T`.
    Bearer,
}

/// A token as a request presented it. Its `Debug` shows the header and the token's length
/// only, so a failing assertion never prints a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Presented {
    pub header: TokenHeader,
    pub token: String,
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}(<{} bytes>)", self.header, self.token.len())
    }
}

/// The token of a request: `PRIVATE-TOKEN` first, then `Authorization: Bearer`. An
/// `Authorization` header of another scheme presents nothing (GitLab's API ignores it).
pub fn presented_token(head: &RequestHead) -> Option<Presented> {
    if let Some(t) = head.header("PRIVATE-TOKEN") {
        return Some(Presented {
            header: TokenHeader::PrivateToken,
            token: t.to_string(),
        });
    }
    let value = head.header("Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| Presented {
        header: TokenHeader::Bearer,
        token: token.trim().to_string(),
    })
}

/// One request the stand-in answered.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: String,
    /// The request target as sent (`/api/v4/user`).
    pub target: String,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub presented: Option<Presented>,
    pub status: u16,
}

impl ApiRequest {
    /// `GET /api/v4/user PRIVATE-TOKEN -> 200`: no token, safe to print.
    pub fn summary(&self) -> String {
        let how = match self.presented.as_ref().map(|p| p.header) {
            Some(TokenHeader::PrivateToken) => "PRIVATE-TOKEN",
            Some(TokenHeader::Bearer) => "Authorization: Bearer",
            None => "no token",
        };
        format!("{} {} {how} -> {}", self.method, self.target, self.status)
    }
}

#[derive(Default)]
struct State {
    accepted: Mutex<HashSet<String>>,
    requests: Mutex<Vec<ApiRequest>>,
    /// Requests whose token was not accepted.
    auth_failures: AtomicUsize,
    /// Requests without a token.
    unauthenticated: AtomicUsize,
    /// Connections that opened with a TLS handshake on the plain port.
    tls_handshakes: AtomicUsize,
}

/// The decision for one request: status and body.
pub fn answer(
    method: &str,
    target: &str,
    presented: Option<&Presented>,
    accepted: &HashSet<String>,
) -> (u16, &'static str) {
    let path = target.split('?').next().unwrap_or_default();
    if !presented.is_some_and(|p| accepted.contains(&p.token)) {
        return (401, UNAUTHORIZED_JSON);
    }
    match (method, path) {
        ("GET", "/api/v4/user") => (200, USER_JSON),
        ("GET", "/api/v4/version") => (200, VERSION_JSON),
        _ => (404, r#"{"message":"404 Not Found"}"#),
    }
}

/// The stand-in: `GET /api/v4/user` (and `/api/v4/version`) for an accepted token, 401 for
/// any other or none, 404 for other paths. Plain http on a free port; with
/// [`GitLabApi::start_https`], https on another.
pub struct GitLabApi {
    server: LoopbackServer,
    state: Arc<State>,
    tls: Option<(SelfSignedCert, TlsFront)>,
}

impl GitLabApi {
    /// Over plain http, accepting the tokens in `accepted`.
    pub fn start(accepted: &[&str]) -> GitLabApi {
        let state = Arc::new(State::default());
        let st = state.clone();
        let server = LoopbackServer::start(move |conn| serve(conn, &st));
        let api = GitLabApi {
            server,
            state,
            tls: None,
        };
        api.set_accepted(accepted);
        api
    }

    /// Over https (a fresh self-signed certificate, see the module documentation).
    pub fn start_https(accepted: &[&str]) -> GitLabApi {
        let mut api = GitLabApi::start(accepted);
        let cert = SelfSignedCert::new();
        let front = TlsFront::start(&cert, api.server.addr().port());
        api.tls = Some((cert, front));
        api
    }

    /// The port clients use (the https one when started with [`GitLabApi::start_https`]).
    pub fn port(&self) -> u16 {
        match &self.tls {
            Some((_, front)) => front.port,
            None => self.server.addr().port(),
        }
    }

    /// `127.0.0.1:PORT`: the host as glab's config and git name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`: a `GITLAB_HOST` value.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The certificate to trust (PEM), for https.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|(cert, _)| cert.cert())
    }

    /// Replaces the set of accepted tokens (a rotation revokes the old one at once).
    pub fn set_accepted(&self, tokens: &[&str]) {
        *self.state.accepted.lock().unwrap() = tokens.iter().map(|t| t.to_string()).collect();
    }

    /// Every request answered, in order.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// [`ApiRequest::summary`] of every request: a log without tokens.
    pub fn request_log(&self) -> Vec<String> {
        self.requests().iter().map(ApiRequest::summary).collect()
    }

    /// Every token presented, in order.
    pub fn presented_tokens(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.presented.map(|p| p.token))
            .collect()
    }

    /// Requests whose token was not accepted.
    pub fn auth_failures(&self) -> usize {
        self.state.auth_failures.load(Ordering::SeqCst)
    }

    /// Requests that presented no token.
    pub fn unauthenticated_requests(&self) -> usize {
        self.state.unauthenticated.load(Ordering::SeqCst)
    }

    /// Connections that sent a TLS handshake to the plain-http port.
    pub fn tls_handshakes(&self) -> usize {
        self.state.tls_handshakes.load(Ordering::SeqCst)
    }

    /// Forgets the requests and resets the counters.
    pub fn reset(&self) {
        self.state.requests.lock().unwrap().clear();
        self.state.auth_failures.store(0, Ordering::SeqCst);
        self.state.unauthenticated.store(0, Ordering::SeqCst);
        self.state.tls_handshakes.store(0, Ordering::SeqCst);
    }
}

/// The first byte of a TLS record carrying a handshake (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

fn serve(conn: TcpStream, st: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    // A TLS client on the plain port: answer as Go's http server does (a plain 400), so the
    // client fails at once instead of waiting for a ServerHello.
    if reader
        .fill_buf()
        .is_ok_and(|b| b.first() == Some(&TLS_HANDSHAKE_RECORD))
    {
        st.tls_handshakes.fetch_add(1, Ordering::SeqCst);
        let _ = writer.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent a TLS handshake to an HTTP server.\n",
        );
        let _ = writer.shutdown(Shutdown::Both);
        return;
    }
    let Ok(Some(head)) = read_head(&mut reader) else {
        return; // the wake-up connection from Drop, a probe, or a bad head
    };
    let presented = presented_token(&head);
    let (status, body) = answer(
        &head.method,
        &head.target,
        presented.as_ref(),
        &st.accepted.lock().unwrap(),
    );
    if status == 401 {
        let counter = if presented.is_some() {
            &st.auth_failures
        } else {
            &st.unauthenticated
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
    st.requests.lock().unwrap().push(ApiRequest {
        method: head.method.clone(),
        target: head.target.clone(),
        host: head.header("Host").map(str::to_string),
        user_agent: head.header("User-Agent").map(str::to_string),
        presented,
        status,
    });
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    write_json_response(writer, status, reason, body);
}

/// A self-signed certificate (and its key) for `127.0.0.1` and `localhost`, made with
/// `openssl` in a temporary directory.
pub struct SelfSignedCert {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Default for SelfSignedCert {
    fn default() -> Self {
        Self::new()
    }
}

impl SelfSignedCert {
    pub fn new() -> SelfSignedCert {
        let dir = TempDir::new("kelos-e2e-tls");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let mut c = Command::new(require_tool("openssl"));
        c.args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert);
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SelfSignedCert {
            _dir: dir,
            cert,
            key,
        }
    }

    /// The certificate, PEM: what a client trusts.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    pub fn key(&self) -> &Path {
        &self.key
    }
}

/// `tests/images/tls_proxy.py` ending TLS on a free port and passing the bytes to a plain
/// port on 127.0.0.1; stopped when dropped (its stdin closes, then it is killed).
pub struct TlsFront {
    child: Child,
    port: u16,
}

impl TlsFront {
    pub fn start(cert: &SelfSignedCert, backend_port: u16) -> TlsFront {
        let script = crate::chroot::workspace_root().join("tests/images/tls_proxy.py");
        let mut child = Command::new(require_tool("python3"))
            .arg(&script)
            .arg(cert.cert())
            .arg(cert.key())
            .arg(backend_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("the proxy's stdout"))
            .read_line(&mut line)
            .expect("the proxy's port line");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}: no port on its first line", script.display()));
        TlsFront { child, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An isolated home for the real glab: `HOME`, the XDG directories and `GLAB_CONFIG_DIR`
/// (`<home>/glab-config`, not created: glab makes it) in one temporary directory, so glab
/// never reads or writes the real home.
pub struct GlabHome {
    home: TempDir,
}

impl Default for GlabHome {
    fn default() -> Self {
        Self::new()
    }
}

impl GlabHome {
    pub fn new() -> GlabHome {
        GlabHome {
            home: TempDir::new("kelos-e2e-glab-home"),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `GLAB_CONFIG_DIR`.
    pub fn config_dir(&self) -> PathBuf {
        self.home.join("glab-config")
    }

    /// `GLAB_CONFIG_DIR/config.yml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.yml")
    }

    /// A command for `program` (glab, or a wrapper) with a cleared environment: PATH (the
    /// tested git's), HOME, XDG_*, GLAB_CONFIG_DIR, no prompts, no update check, no
    /// telemetry, git isolated from the machine's config. Tests add GITLAB_HOST and a token.
    pub fn command(&self, program: &Path) -> Command {
        let home = self.home.path();
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", crate::git_generations::test_path())
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("GLAB_CONFIG_DIR", self.config_dir())
            .env("GLAB_NO_PROMPT", "true")
            .env("GLAB_CHECK_UPDATE", "false")
            .env("GLAB_SEND_TELEMETRY", "false")
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .current_dir(home);
        c
    }

    /// `glab config set --host HOST KEY VALUE` with the real glab; panics on failure.
    pub fn config_set(&self, host: &str, key: &str, value: &str) {
        let mut c = self.command(&require_tool("glab"));
        c.args(["config", "set", "--host", host, key, value]);
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert!(
            out.status.success(),
            "glab config set --host {host} {key} {value} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The host entry that makes glab call `host` (`127.0.0.1:PORT`) over plain http:
    /// `api_protocol http`, `api_host HOST`, `git_protocol http`. No token.
    pub fn register_http_host(&self, host: &str) {
        self.config_set(host, "api_protocol", "http");
        self.config_set(host, "api_host", host);
        self.config_set(host, "git_protocol", "http");
    }

    /// Every regular file under the home (the config directory included), with its bytes
    /// and mode, sorted by path: for searching for tokens.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut dirs = vec![self.home.path().to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
                let p = e.expect("dir entry").path();
                let meta = fs::symlink_metadata(&p).expect("stat");
                if meta.is_dir() {
                    dirs.push(p);
                } else if meta.is_file() {
                    let bytes =
                        fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
                    out.push((p, bytes, meta.permissions().mode() & 0o7777));
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            target: "/api/v4/user".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn takes_private_token_then_bearer_and_nothing_else() {
        let p = presented_token(&head(&[("Private-Token", "glpat-a")])).unwrap();
        assert_eq!(
            (p.header, p.token.as_str()),
            (TokenHeader::PrivateToken, "glpat-a")
        );
        let p = presented_token(&head(&[("authorization", "bearer glpat-b")])).unwrap();
        assert_eq!(
            (p.header, p.token.as_str()),
            (TokenHeader::Bearer, "glpat-b")
        );
        assert!(presented_token(&head(&[("Authorization", "token glpat-c")])).is_none());
        assert!(presented_token(&head(&[("Authorization", "Basic b2F1dGgyOng=")])).is_none());
        assert!(presented_token(&head(&[])).is_none());
        assert_eq!(
            format!("{p:?}"),
            "Bearer(<7 bytes>)",
            "Debug hides the token"
        );
    }

    #[test]
    fn answers_only_an_accepted_token() {
        let accepted: HashSet<String> = ["glpat-new".to_string()].into();
        let tok = |t: &str| Presented {
            header: TokenHeader::PrivateToken,
            token: t.into(),
        };
        assert_eq!(
            answer("GET", "/api/v4/user", Some(&tok("glpat-new")), &accepted),
            (200, USER_JSON)
        );
        assert_eq!(
            answer(
                "GET",
                "/api/v4/user?x=1",
                Some(&tok("glpat-new")),
                &accepted
            )
            .0,
            200
        );
        assert_eq!(
            answer("GET", "/api/v4/user", Some(&tok("glpat-old")), &accepted).0,
            401
        );
        assert_eq!(answer("GET", "/api/v4/user", None, &accepted).0, 401);
        assert_eq!(answer("GET", "/api/v4/nothing", None, &accepted).0, 401);
        assert_eq!(
            answer("GET", "/api/v4/nothing", Some(&tok("glpat-new")), &accepted).0,
            404
        );
        assert_eq!(
            answer("POST", "/api/v4/user", Some(&tok("glpat-new")), &accepted).0,
            404
        );
        assert!(unique_gitlab_token("T").starts_with("glpat-kelosE2eT"));
    }
}
