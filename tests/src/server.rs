//! A smart-HTTP git server on 127.0.0.1: Basic auth against a mutable set of accepted
//! tokens (and, when required, one username: GitLab's `oauth2`), then the real
//! `git http-backend` as a CGI. One request per connection.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::process::{run_with_timeout, DEFAULT_TIMEOUT};
use base64::prelude::{Engine as _, BASE64_STANDARD};

use crate::http::{read_head, RequestHead};
use crate::{require_tool, TempDir};

/// Name of the repository the server exports.
pub const REPO: &str = "repo.git";

#[derive(Default)]
struct State {
    accepted: Mutex<HashSet<String>>,
    /// The only username accepted with a token (`oauth2` for GitLab); `None`: any username.
    required_username: Mutex<Option<String>>,
    /// Every (username, password) presented in an Authorization header, in order.
    presented: Mutex<Vec<(String, String)>>,
    /// Requests with credentials that were rejected.
    auth_failures: AtomicUsize,
    /// Requests without any Authorization header (answered with the 401 challenge).
    unauthenticated: AtomicUsize,
    /// Requests handed to git http-backend.
    served: AtomicUsize,
    /// Requests whose body came with `Transfer-Encoding: chunked`.
    chunked: AtomicUsize,
    /// Protocol problems and http-backend stderr, for failure messages (never tokens: the
    /// backend never sees the Authorization header).
    log: Mutex<Vec<String>>,
}

pub struct SmartHttpServer {
    root: TempDir,
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl SmartHttpServer {
    /// Starts a server exporting a bare `repo.git` (seeded with one commit on `main`) that
    /// accepts Basic auth with any username and a password in `accepted`.
    pub fn start(accepted: &[&str]) -> SmartHttpServer {
        let git = require_tool("git");
        let root = TempDir::new("kelos-e2e-server");
        seed_repo(&git, root.path());

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        *state.accepted.lock().unwrap() = accepted.iter().map(|s| s.to_string()).collect();
        let stop = Arc::new(AtomicBool::new(false));

        let (st, sp, project_root) = (state.clone(), stop.clone(), root.path().to_path_buf());
        let accept_thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, pr, git) = (st.clone(), project_root.clone(), git.clone());
                thread::spawn(move || {
                    if let Err(e) = handle(conn, &st, &pr, &git) {
                        st.log
                            .lock()
                            .unwrap()
                            .push(format!("connection error: {e}"));
                    }
                });
            }
        });
        SmartHttpServer {
            root,
            addr,
            state,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    /// `127.0.0.1:PORT`, the host as git gives it to a credential helper.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/repo.git`.
    pub fn url(&self) -> String {
        format!("http://{}/{REPO}", self.host())
    }

    /// Path of the bare repository on disk.
    pub fn repo_path(&self) -> PathBuf {
        self.root.join(REPO)
    }

    /// The commit the served repository's `main` points at, read with git directly (no
    /// config of the caller's).
    pub fn main_head(&self) -> String {
        let out = Command::new(require_tool("git"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("--git-dir")
            .arg(self.repo_path())
            .args(["rev-parse", "refs/heads/main"])
            .output()
            .expect("run git rev-parse");
        assert!(out.status.success(), "git rev-parse refs/heads/main failed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Replaces the set of accepted tokens.
    pub fn set_accepted(&self, tokens: &[&str]) {
        *self.state.accepted.lock().unwrap() = tokens.iter().map(|s| s.to_string()).collect();
    }

    /// From now on only `username` (GitLab's `oauth2`) is accepted with an accepted token; any
    /// other username is an auth failure, whatever the password.
    pub fn require_username(&self, username: &str) {
        *self.state.required_username.lock().unwrap() = Some(username.to_string());
    }

    /// Every (username, password) presented so far.
    pub fn presented(&self) -> Vec<(String, String)> {
        self.state.presented.lock().unwrap().clone()
    }

    /// Every password presented so far.
    pub fn presented_passwords(&self) -> Vec<String> {
        self.presented().into_iter().map(|(_, p)| p).collect()
    }

    /// Forgets what was presented and resets the counters.
    pub fn reset_counters(&self) {
        self.state.presented.lock().unwrap().clear();
        self.state.auth_failures.store(0, Ordering::SeqCst);
        self.state.unauthenticated.store(0, Ordering::SeqCst);
        self.state.served.store(0, Ordering::SeqCst);
        self.state.chunked.store(0, Ordering::SeqCst);
    }

    /// Requests whose credentials were rejected.
    pub fn auth_failures(&self) -> usize {
        self.state.auth_failures.load(Ordering::SeqCst)
    }

    /// Requests that came without credentials (the 401 challenge).
    pub fn unauthenticated_requests(&self) -> usize {
        self.state.unauthenticated.load(Ordering::SeqCst)
    }

    /// Requests handed to git http-backend.
    pub fn served_requests(&self) -> usize {
        self.state.served.load(Ordering::SeqCst)
    }

    /// Requests that had a chunked body.
    pub fn chunked_requests(&self) -> usize {
        self.state.chunked.load(Ordering::SeqCst)
    }

    /// Server-side diagnostics (no tokens).
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for SmartHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// A git command isolated from the user's configuration.
fn plain_git(git: &Path, root: &Path) -> Command {
    let mut c = Command::new(git);
    c.env_clear();
    c.env("PATH", crate::git_generations::test_path());
    c.env("HOME", root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", root.join(".gitconfig-server"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    c
}

fn git_ok(git: &Path, root: &Path, args: &[&str]) {
    let mut c = plain_git(git, root);
    c.current_dir(root).args(args);
    let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
    assert!(
        out.status.success(),
        "server setup: git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn seed_repo(git: &Path, root: &Path) {
    let ident = [
        "-c",
        "user.name=Server Seed",
        "-c",
        "user.email=seed@kelos.invalid",
    ];
    git_ok(git, root, &["init", "-q", "--bare", "-b", "main", REPO]);
    git_ok(
        git,
        root,
        &["-C", REPO, "config", "http.receivepack", "true"],
    );
    git_ok(git, root, &["init", "-q", "-b", "main", "seed"]);
    std::fs::write(root.join("seed/README"), b"seed\n").expect("write seed file");
    git_ok(git, root, &["-C", "seed", "add", "README"]);
    let mut commit = vec!["-C", "seed"];
    commit.extend(ident);
    commit.extend(["commit", "-q", "-m", "seed"]);
    git_ok(git, root, &commit);
    let bare = root.join(REPO);
    git_ok(
        git,
        root,
        &["-C", "seed", "push", "-q", bare.to_str().unwrap(), "main"],
    );
    std::fs::remove_dir_all(root.join("seed")).ok();
}

struct Request {
    method: String,
    path: String,
    query: String,
    head: RequestHead,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// One line of a chunked body (a size or the CRLF after a chunk).
fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut buf = Vec::new();
    r.take(64 * 1024).read_until(b'\n', &mut buf)?;
    if !buf.ends_with(b"\n") {
        return Err(std::io::Error::other("truncated or over-long line"));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| std::io::Error::other("non-UTF-8 line"))
}

fn read_request(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    st: &State,
) -> std::io::Result<Request> {
    let head = read_head(r)?.ok_or_else(|| std::io::Error::other("the connection sent nothing"))?;
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (head.target.clone(), String::new()),
    };
    let mut req = Request {
        method: head.method.clone(),
        path,
        query,
        head,
        body: Vec::new(),
    };
    if req
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    let chunked = req
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        st.chunked.fetch_add(1, Ordering::SeqCst);
        loop {
            let size_line = read_line(r)?;
            let size_hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the blank line.
                while !read_line(r)?.is_empty() {}
                break;
            }
            let start = req.body.len();
            req.body.resize(start + size, 0);
            r.read_exact(&mut req.body[start..])?;
            let crlf = read_line(r)?;
            if !crlf.is_empty() {
                return Err(std::io::Error::other("missing CRLF after chunk"));
            }
        }
    } else if let Some(len) = req.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::other("bad Content-Length"))?;
        req.body.resize(len, 0);
        r.read_exact(&mut req.body)?;
    }
    Ok(req)
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let v = req.header("Authorization")?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(BASE64_STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn handle(conn: TcpStream, st: &State, project_root: &Path, git: &Path) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let req = read_request(&mut r, &mut w, st)?;

    let creds = basic_credentials(&req);
    let authorized = match &creds {
        None => {
            if req.header("Authorization").is_some() {
                st.auth_failures.fetch_add(1, Ordering::SeqCst);
                st.log
                    .lock()
                    .unwrap()
                    .push("malformed Authorization header".to_string());
            } else {
                st.unauthenticated.fetch_add(1, Ordering::SeqCst);
            }
            false
        }
        Some((user, pass)) => {
            st.presented
                .lock()
                .unwrap()
                .push((user.clone(), pass.clone()));
            let ok = st.accepted.lock().unwrap().contains(pass)
                && st
                    .required_username
                    .lock()
                    .unwrap()
                    .as_ref()
                    .is_none_or(|required| required == user);
            if !ok {
                st.auth_failures.fetch_add(1, Ordering::SeqCst);
            }
            ok
        }
    };
    if !authorized {
        w.write_all(
            b"HTTP/1.1 401 Unauthorized\r\n\
              WWW-Authenticate: Basic realm=\"test\"\r\n\
              Content-Type: text/plain\r\n\
              Content-Length: 13\r\n\
              Connection: close\r\n\r\n\
              Unauthorized\n",
        )?;
        w.flush()?;
        let _ = w.shutdown(Shutdown::Both);
        return Ok(());
    }
    st.served.fetch_add(1, Ordering::SeqCst);
    let user = creds.map(|(u, _)| u).unwrap_or_default();

    let mut cgi = Command::new(git);
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", crate::git_generations::test_path())
        .env("HOME", project_root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", project_root.join(".gitconfig-server"))
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", &req.path)
        .env("QUERY_STRING", &req.query)
        .env("REMOTE_USER", &user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ct) = req.header("Content-Type") {
        cgi.env("CONTENT_TYPE", ct);
    }
    if req.method == "POST" {
        cgi.env("CONTENT_LENGTH", req.body.len().to_string());
    }
    if let Some(p) = req.header("Git-Protocol") {
        cgi.env("GIT_PROTOCOL", p);
    }
    if let Some(enc) = req.header("Content-Encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", enc);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().expect("cgi stdin");
    let body = req.body;
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut stderr = child.stderr.take().expect("cgi stderr");
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("cgi stdout")
        .read_to_end(&mut out)?;
    let status = child.wait()?;
    let _ = writer.join();
    let err = err_reader.join().unwrap_or_default();
    if !err.is_empty() || !status.success() {
        st.log.lock().unwrap().push(format!(
            "http-backend {} {} ({status}): {}",
            req.method,
            req.path,
            String::from_utf8_lossy(&err)
        ));
    }

    // Split the CGI response into headers and body.
    let (head, body) = split_cgi(&out);
    let mut status_line = "200 OK".to_string();
    let mut headers = String::new();
    for line in String::from_utf8_lossy(head).lines() {
        let line = line.trim_end_matches('\r');
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("Status") {
            status_line = v.to_string();
        } else if !["Content-Length", "Transfer-Encoding", "Connection"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            headers.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    let resp_head = format!(
        "HTTP/1.1 {status_line}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    w.write_all(resp_head.as_bytes())?;
    w.write_all(body)?;
    w.flush()?;
    let _ = w.shutdown(Shutdown::Both);
    Ok(())
}

fn split_cgi(out: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in out.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&out[..i], &out[i + 2..]);
        }
        if i + 4 <= out.len() && &out[i..i + 4] == b"\r\n\r\n" {
            return (&out[..i], &out[i + 4..]);
        }
    }
    (out, &[])
}
