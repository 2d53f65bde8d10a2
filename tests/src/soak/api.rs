//! A stand-in for `api.github.localhost`, reached as gh's `HTTP_PROXY`: gh sends
//! `GET http://api.github.localhost/user` in absolute form. Unlike
//! [`crate::gh_api::FakeApi`] (one accepted token), it accepts a *set* of tokens, so that a
//! rotation can keep the previous token valid for a grace window, and it counts what it was
//! shown.
//!
//! Answers: 200 with a user object for an accepted token; 401 `Bad credentials` for any other
//! token; 401 `Requires authentication` without an `Authorization` header (what GitHub says);
//! 404 for anything else. One request per connection.

use std::collections::HashSet;
use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::gh_api::{read_request_head, write_json_response};
use crate::http::LoopbackServer;

pub const API_HOST: &str = "api.github.localhost";
pub const LOGIN: &str = "kelos-soak";

#[derive(Default)]
struct State {
    accepted: Mutex<HashSet<String>>,
    /// Every token presented, in order.
    presented: Mutex<Vec<String>>,
    ok: AtomicUsize,
    refused: AtomicUsize,
    unauthenticated: AtomicUsize,
    other: AtomicUsize,
}

/// Counters since the last [`ApiServer::reset_counters`].
#[derive(Clone, Debug, Default)]
pub struct ApiCounts {
    pub ok: usize,
    /// Requests with a token that was not accepted.
    pub refused: usize,
    /// Requests without a token.
    pub unauthenticated: usize,
    /// Requests for something other than `GET /user`.
    pub other: usize,
    pub presented: Vec<String>,
}

pub struct ApiServer {
    server: LoopbackServer,
    state: Arc<State>,
}

impl ApiServer {
    pub fn start(accepted: &[&str]) -> ApiServer {
        let state = Arc::new(State::default());
        *state.accepted.lock().unwrap() = accepted.iter().map(|s| s.to_string()).collect();
        let st = state.clone();
        let server = LoopbackServer::start(move |conn| serve(conn, &st));
        ApiServer { server, state }
    }

    /// The value for `HTTP_PROXY`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Replaces the set of accepted tokens.
    pub fn set_accepted(&self, tokens: &[&str]) {
        *self.state.accepted.lock().unwrap() = tokens.iter().map(|s| s.to_string()).collect();
    }

    pub fn counts(&self) -> ApiCounts {
        ApiCounts {
            ok: self.state.ok.load(Ordering::SeqCst),
            refused: self.state.refused.load(Ordering::SeqCst),
            unauthenticated: self.state.unauthenticated.load(Ordering::SeqCst),
            other: self.state.other.load(Ordering::SeqCst),
            presented: self.state.presented.lock().unwrap().clone(),
        }
    }

    pub fn reset_counters(&self) {
        self.state.presented.lock().unwrap().clear();
        for c in [
            &self.state.ok,
            &self.state.refused,
            &self.state.unauthenticated,
            &self.state.other,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

fn serve(conn: TcpStream, st: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some((request_line, token)) = read_request_head(&mut reader) else {
        return; // the wake-up connection from Drop, a probe, or a head over 64 KiB
    };
    let is_user = request_line == format!("GET http://{API_HOST}/user HTTP/1.1");
    let (status, reason, body) = if !is_user {
        st.other.fetch_add(1, Ordering::SeqCst);
        (404, "Not Found", r#"{"message":"Not Found"}"#.to_string())
    } else if let Some(t) = token {
        let ok = st.accepted.lock().unwrap().contains(&t);
        st.presented.lock().unwrap().push(t);
        if ok {
            st.ok.fetch_add(1, Ordering::SeqCst);
            (
                200,
                "OK",
                format!(r#"{{"login":"{LOGIN}","id":1,"type":"Bot"}}"#),
            )
        } else {
            st.refused.fetch_add(1, Ordering::SeqCst);
            unauthorized("Bad credentials")
        }
    } else {
        st.unauthenticated.fetch_add(1, Ordering::SeqCst);
        unauthorized("Requires authentication")
    };
    write_json_response(conn, status, reason, &body);
}

/// GitHub's 401 answer with `message`.
fn unauthorized(message: &str) -> (u16, &'static str, String) {
    (
        401,
        "Unauthorized",
        format!(r#"{{"message":"{message}","documentation_url":"https://docs.github.com/rest"}}"#),
    )
}
