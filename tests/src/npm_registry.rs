//! A local npm registry stand-in for `npm whoami`: `GET /-/whoami` answers 200 with
//! `{"username":"kelos-agent"}` when the `Authorization: Bearer <T>` header carries the one
//! accepted token, else 401. Every request is recorded (path, whether a token was sent, whether
//! it was the accepted one), never the token itself.

use std::io::BufReader;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::gh_api::{read_request_head, write_json_response};
use crate::http::LoopbackServer;

/// The user the registry says the accepted token belongs to.
pub const NPM_USER: &str = "kelos-agent";

/// One request the registry received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpmRequest {
    pub request_line: String,
    pub sent_token: bool,
    pub accepted: bool,
}

pub struct NpmRegistry {
    server: LoopbackServer,
    accepted: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<NpmRequest>>>,
}

impl NpmRegistry {
    /// Listens on 127.0.0.1 (a free port), accepting only `accepted`.
    pub fn start(accepted: &str) -> NpmRegistry {
        let accepted = Arc::new(Mutex::new(accepted.to_string()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, s) = (accepted.clone(), seen.clone());
        let server = LoopbackServer::start(move |conn| serve(conn, &a, &s));
        NpmRegistry {
            server,
            accepted,
            seen,
        }
    }

    /// `http://127.0.0.1:PORT/`, the value for `--registry`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.server.addr())
    }

    /// The `.npmrc` key prefix npm matches this registry's auth settings by:
    /// `//127.0.0.1:PORT/`.
    pub fn nerf_dart(&self) -> String {
        format!("//{}/", self.server.addr())
    }

    /// From now on only `token` is accepted.
    pub fn accept_only(&self, token: &str) {
        *self.accepted.lock().unwrap() = token.to_string();
    }

    pub fn seen(&self) -> Vec<NpmRequest> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, accepted: &Mutex<String>, seen: &Mutex<Vec<NpmRequest>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let Some((request_line, token)) = read_request_head(&mut reader) else {
        return;
    };
    let whoami = request_line.starts_with("GET /-/whoami ");
    let ok = token.as_deref() == Some(accepted.lock().unwrap().as_str());
    seen.lock().unwrap().push(NpmRequest {
        request_line: request_line.clone(),
        sent_token: token.is_some(),
        accepted: ok,
    });
    match (whoami, ok) {
        (true, true) => {
            write_json_response(conn, 200, "OK", &format!("{{\"username\":\"{NPM_USER}\"}}"))
        }
        (true, false) => write_json_response(
            conn,
            401,
            "Unauthorized",
            r#"{"error":"invalid or missing token"}"#,
        ),
        _ => write_json_response(conn, 404, "Not Found", r#"{"error":"not found"}"#),
    }
}
