//! git's credential protocol as plain data: a reader for git's request and a
//! writer for the helper's answer.
//!
//! The reader follows git's own `credential_read`: `key=value` lines up to a
//! blank line or EOF, a trailing CR dropped, `url=` replacing what came before
//! it, unknown keys ignored. It is stricter than git where strictness is safe:
//! anything malformed is an error, and the helper answers nothing.

use std::fmt;
use std::io::{BufRead, Read};

use crate::token::Token;

/// git's own limit on one line (git 2.46, `LARGE_PACKET_MAX - 1`).
pub const MAX_LINE_BYTES: usize = 65_535;

/// What git asked about. Values are as git sent them (after `url=`
/// splitting and percent-decoding); no normalisation happens here.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub username: Option<String>,
    /// Only present on `erase` (and `store`): the password git used.
    pub password: Option<Vec<u8>>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a line is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    #[error("the input contains a NUL byte")]
    Nul,
    /// A line without `=`; git itself refuses those.
    #[error("a line has no '='")]
    NoEquals,
    /// A value the helper acts on is not UTF-8.
    #[error("the {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A `url=` value git could not have produced.
    #[error("the url {0}")]
    BadUrl(&'static str),
}

/// Reads git's request from `input`: up to a blank line or EOF, never more
/// than one line's limit into memory beyond what was already accepted.
pub fn read_request(input: &mut impl BufRead) -> std::io::Result<Result<Request, ParseError>> {
    let mut request = Request::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read =
            Read::take(&mut *input, MAX_LINE_BYTES as u64 + 2).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(Ok(request));
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if read > MAX_LINE_BYTES + 1 {
            return Ok(Err(ParseError::LineTooLong));
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            return Ok(Ok(request));
        }
        if let Err(e) = apply_line(&mut request, &line) {
            return Ok(Err(e));
        }
    }
}

/// Parses a complete request held in memory.
pub fn parse_request(mut input: &[u8]) -> Result<Request, ParseError> {
    read_request(&mut input).expect("reading from a slice cannot fail")
}

fn apply_line(request: &mut Request, line: &[u8]) -> Result<(), ParseError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(ParseError::LineTooLong);
    }
    if line.contains(&0) {
        return Err(ParseError::Nul);
    }
    let eq = line
        .iter()
        .position(|&b| b == b'=')
        .ok_or(ParseError::NoEquals)?;
    let (key, value) = (&line[..eq], &line[eq + 1..]);
    let text = |name: &'static str| {
        String::from_utf8(value.to_vec()).map_err(|_| ParseError::NotUtf8(name))
    };
    match key {
        b"protocol" => request.protocol = Some(text("protocol")?),
        b"host" => request.host = Some(text("host")?),
        b"path" => request.path = Some(String::from_utf8_lossy(value).into_owned()),
        b"username" => request.username = Some(text("username")?),
        b"password" => request.password = Some(value.to_vec()),
        // As in git, a url replaces everything read before it.
        b"url" => *request = parse_url(value)?,
        _ => {}
    }
    Ok(())
}

/// Splits `scheme://[user[:password]@]host[:port][/path]` the way git's
/// `credential_from_url` does, percent-decoding each part.
pub fn parse_url(url: &[u8]) -> Result<Request, ParseError> {
    let sep = find(url, b"://").ok_or(ParseError::BadUrl("has no scheme"))?;
    let scheme = &url[..sep];
    if scheme.is_empty() {
        return Err(ParseError::BadUrl("has an empty scheme"));
    }
    let rest = &url[sep + 3..];
    let authority_end = rest
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, host) = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.iter().position(|&b| b == b':') {
            Some(colon) => (Some(&info[..colon]), Some(&info[colon + 1..])),
            None => (Some(info), None),
        },
    };
    let decoded_text = |part: &[u8], name: &'static str| -> Result<String, ParseError> {
        let bytes = percent_decode(part);
        if bytes.contains(&0) || bytes.contains(&b'\n') {
            return Err(ParseError::BadUrl("decodes to a NUL or newline"));
        }
        String::from_utf8(bytes).map_err(|_| ParseError::NotUtf8(name))
    };
    let path = rest
        .get(authority_end + 1..)
        .filter(|p| !p.is_empty() && rest[authority_end] == b'/');
    Ok(Request {
        protocol: Some(decoded_text(scheme, "protocol")?),
        host: if host.is_empty() {
            None
        } else {
            Some(decoded_text(host, "host")?)
        },
        path: path.map(|p| String::from_utf8_lossy(&percent_decode(p)).into_owned()),
        username: username.map(|u| decoded_text(u, "username")).transpose()?,
        password: password.map(percent_decode),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// What the helper tells git.
pub struct Response<'a> {
    username: &'a str,
    password: &'a Token,
    password_expiry_utc: Option<i64>,
}

impl<'a> Response<'a> {
    /// `None` when `username` could break a line (git never sends one that
    /// could; the check keeps the writer safe on its own).
    pub fn new(username: &'a str, password: &'a Token, expiry: Option<i64>) -> Option<Self> {
        if username.is_empty() || username.contains(['\n', '\r', '\0']) {
            return None;
        }
        Some(Response {
            username,
            password,
            password_expiry_utc: expiry,
        })
    }

    /// Writes the answer in git's format. A [`Token`] holds no whitespace or
    /// control character, so each value stays on its own line.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"username=");
        out.extend_from_slice(self.username.as_bytes());
        out.extend_from_slice(b"\npassword=");
        out.extend_from_slice(self.password.expose().as_bytes());
        out.push(b'\n');
        if let Some(expiry) = self.password_expiry_utc {
            out.extend_from_slice(format!("password_expiry_utc={expiry}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::clean_token;

    fn req(protocol: &str, host: &str) -> Request {
        Request {
            protocol: Some(protocol.into()),
            host: Some(host.into()),
            ..Request::default()
        }
    }

    #[test]
    fn reads_git_get_input() {
        let r = parse_request(b"protocol=https\nhost=github.com\n\n").unwrap();
        assert_eq!(r, req("https", "github.com"));
    }

    #[test]
    fn any_order_unknown_keys_and_crlf() {
        let input = b"capability[]=authtype\nhost=github.com\r\nwwwauth[]=Basic realm=\"x\"\n\
                      username=alice\nprotocol=https\nstate[]=a=b\n";
        let r = parse_request(input).unwrap();
        assert_eq!(r.host.as_deref(), Some("github.com"));
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.username.as_deref(), Some("alice"));
    }

    #[test]
    fn stops_at_blank_line() {
        let r = parse_request(b"protocol=https\n\nhost=evil.com\n").unwrap();
        assert_eq!(r.host, None);
    }

    #[test]
    fn url_is_split_and_replaces_earlier_keys() {
        let r =
            parse_request(b"host=evil.com\nusername=x\nurl=https://bob@GitHub.com:443/o/r.git\n")
                .unwrap();
        assert_eq!(
            r,
            Request {
                protocol: Some("https".into()),
                host: Some("GitHub.com:443".into()),
                path: Some("o/r.git".into()),
                username: Some("bob".into()),
                password: None,
            }
        );
        let later = parse_request(b"url=https://github.com\nhost=evil.com\n").unwrap();
        assert_eq!(later.host.as_deref(), Some("evil.com"));
    }

    /// url, host, username, path.
    type UrlCase<'a> = (&'a [u8], Option<&'a str>, Option<&'a str>, Option<&'a str>);

    #[test]
    fn url_table() {
        let cases: &[UrlCase] = &[
            (b"https://github.com", Some("github.com"), None, None),
            (b"https://github.com/", Some("github.com"), None, None),
            (
                b"https://a:p%40ss@h.example/x",
                Some("h.example"),
                Some("a"),
                Some("x"),
            ),
            (b"https://h.example?x=@evil", Some("h.example"), None, None),
            (b"https://h.example#@evil", Some("h.example"), None, None),
            (
                b"https://github.com%2eevil.com/",
                Some("github.com.evil.com"),
                None,
                None,
            ),
            (
                b"https://u%40x@h/p%20q",
                Some("h"),
                Some("u@x"),
                Some("p q"),
            ),
            (b"https://%zz@h", Some("h"), Some("%zz"), None),
            (b"https://h%", Some("h%"), None, None),
            (b"file:///tmp/x", None, None, Some("tmp/x")),
        ];
        for (url, host, user, path) in cases {
            let r = parse_url(url).unwrap();
            assert_eq!(r.host.as_deref(), *host, "{url:?}");
            assert_eq!(r.username.as_deref(), *user, "{url:?}");
            assert_eq!(r.path.as_deref(), *path, "{url:?}");
        }
        let password = parse_url(b"https://a:p%40ss@h").unwrap().password;
        assert_eq!(password.as_deref(), Some(&b"p@ss"[..]));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let long = [b"host=".as_slice(), &vec![b'a'; MAX_LINE_BYTES]].concat();
        let cases: &[(&[u8], ParseError)] = &[
            (b"protocol=https\nhost=github.com\0\n", ParseError::Nul),
            (b"host\n", ParseError::NoEquals),
            (b"host=\xff\n", ParseError::NotUtf8("host")),
            (b"url=github.com\n", ParseError::BadUrl("has no scheme")),
            (
                b"url=https://h%00x\n",
                ParseError::BadUrl("decodes to a NUL or newline"),
            ),
            (
                b"url=https://h%0ax\n",
                ParseError::BadUrl("decodes to a NUL or newline"),
            ),
            (&long, ParseError::LineTooLong),
            (
                [long.as_slice(), b"\n"].concat().leak(),
                ParseError::LineTooLong,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_request(input).as_ref(),
                Err(want),
                "{:?}",
                &input[..input.len().min(40)]
            );
        }
        let at_limit = [b"host=".as_slice(), &vec![b'a'; MAX_LINE_BYTES - 5], b"\n"].concat();
        assert!(parse_request(&at_limit).is_ok());
    }

    #[test]
    fn writes_byte_exact_answers() {
        let token = clean_token(b"ghs_abc").unwrap();
        let mut out = Vec::new();
        Response::new("x-access-token", &token, None)
            .unwrap()
            .write_to(&mut out);
        assert_eq!(out, b"username=x-access-token\npassword=ghs_abc\n");
        let mut out = Vec::new();
        Response::new("alice", &token, Some(1_795_428_000))
            .unwrap()
            .write_to(&mut out);
        assert_eq!(
            out,
            b"username=alice\npassword=ghs_abc\npassword_expiry_utc=1795428000\n"
        );
    }

    #[test]
    fn refuses_usernames_that_break_lines() {
        let token = clean_token(b"t").unwrap();
        for name in ["", "a\nb", "a\rb", "a\0b"] {
            assert!(Response::new(name, &token, None).is_none(), "{name:?}");
        }
    }

    #[test]
    fn request_debug_hides_password() {
        let r = parse_request(b"password=ghs_secret\n").unwrap();
        assert!(!format!("{r:?}").contains("ghs_secret"));
    }
}
