//! The one HTTP request-head reader of the test servers (git's smart-HTTP
//! server, the gh API stand-ins): reads up to the blank line, at most
//! 64 KiB, and lets `httparse` parse it.

use std::io::{self, BufRead, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// A server on 127.0.0.1 (a free port): one thread accepts, each connection
/// gets its own thread running `serve`. Dropping it stops and joins the
/// accepting thread.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    pub fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> LoopbackServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let serve = serve.clone();
                thread::spawn(move || serve(conn));
            }
        });
        LoopbackServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The most a request head may take.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (a path, or an absolute URL through a proxy).
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD TARGET HTTP/1.1`, as the stand-ins compare it.
    pub fn request_line(&self) -> String {
        format!("{} {} HTTP/1.1", self.method, self.target)
    }

    /// The token of `Authorization: token T` or `Bearer T` (else the whole value).
    pub fn authorization_token(&self) -> Option<String> {
        let value = self.header("Authorization")?.trim();
        Some(
            value
                .strip_prefix("token ")
                .or_else(|| value.strip_prefix("Bearer "))
                .unwrap_or(value)
                .to_string(),
        )
    }
}

/// Reads one request head. `Ok(None)`: the connection closed before sending
/// anything. A head that is malformed, truncated or over 64 KiB is an error.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<RequestHead>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        reader
            .by_ref()
            .take((MAX_HEAD_BYTES + 1 - raw.len()) as u64)
            .read_until(b'\n', &mut raw)?;
        if raw.len() == before {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::other("the request head ends early"));
        }
        if raw.len() > MAX_HEAD_BYTES {
            return Err(io::Error::other("the request head is over 64 KiB"));
        }
        if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(io::Error::other("a partial request head")),
        Err(e) => return Err(io::Error::other(format!("a bad request head: {e}"))),
    }
    Ok(Some(RequestHead {
        method: request.method.unwrap_or_default().to_string(),
        target: request.path.unwrap_or_default().to_string(),
        headers: request
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).trim().to_string(),
                )
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_head_and_stops_at_the_blank_line() {
        let mut input: &[u8] =
            b"GET http://api.github.localhost/user HTTP/1.1\r\nHost: x\r\nAuthorization: token ghs_a\r\n\r\nBODY";
        let head = read_head(&mut input).unwrap().unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(
            head.request_line(),
            "GET http://api.github.localhost/user HTTP/1.1"
        );
        assert_eq!(head.authorization_token().as_deref(), Some("ghs_a"));
        assert_eq!(input, b"BODY");
        assert!(read_head(&mut &b""[..]).unwrap().is_none());
        assert!(read_head(&mut &b"GET / HTTP/1.1\r\nHost"[..]).is_err());
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70 * 1024));
        assert!(read_head(&mut huge.as_bytes()).is_err());
    }
}
