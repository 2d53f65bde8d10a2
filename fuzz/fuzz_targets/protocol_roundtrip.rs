//! git's request → `parse_request` → the helper's answer → `parse_request`.
//!
//! Whatever git (or anything else) writes on the helper's stdin, the reader
//! must not panic, and the answer written for a host must read back as
//! exactly the username and password that were put in, one value per line.

#![no_main]

use std::io::BufReader;

use kelos_token::protocol::{parse_request, read_request, Request, Response};
use kelos_token::{clean_token, Host, Token};
use libfuzzer_sys::fuzz_target;

/// What a token file holds, with the newline `kubectl create secret` leaves.
const FIXED_TOKEN: &[u8] = b"ghs_FuzzFixedToken0123456789abcdefABCD\r\n";
const DEFAULT_USERNAME: &str = "x-access-token";
const KEYS: [&str; 3] = ["username", "password", "password_expiry_utc"];

fuzz_target!(|data: &[u8]| {
    let parsed = parse_request(data);

    // The streaming reader gives the same answer whatever its buffer size.
    let capacity = 1 + data.last().map_or(0, |b| usize::from(*b % 32));
    let streamed = read_request(&mut BufReader::with_capacity(capacity, data))
        .expect("reading from a slice cannot fail");
    assert_eq!(parsed, streamed);

    let Ok(request) = parsed else { return };
    check_request(&request);

    let Some(host) = request.host.as_deref() else {
        return;
    };
    // Not asserted here (host_normalise does that), only that it holds up.
    let _ = Host::parse(host);

    let fixed = clean_token(FIXED_TOKEN).expect("the fixed token is valid");
    let expiry = expiry_from(data);
    let username = match request.username.as_deref() {
        Some(name) => {
            let breaks_line = name.is_empty() || name.contains(['\n', '\r', '\0']);
            let accepted = Response::new(name, &fixed, expiry).is_some();
            assert_eq!(accepted, !breaks_line, "username {name:?}");
            if accepted {
                name
            } else {
                DEFAULT_USERNAME
            }
        }
        None => DEFAULT_USERNAME,
    };

    round_trip(username, &fixed, expiry);
    // git's `erase` carries the password it used: when that is a valid token
    // it goes through the writer too, for tokens far from the fixed one.
    if let Some(Ok(token)) = request.password.as_deref().map(clean_token) {
        round_trip(username, &token, expiry);
    }
});

fn check_request(request: &Request) {
    // Values the helper acts on never carry a line break or NUL: they cannot
    // smuggle a line into anything built from them.
    for (key, value) in [
        ("protocol", &request.protocol),
        ("host", &request.host),
        ("username", &request.username),
    ] {
        if let Some(value) = value {
            assert!(!value.contains(['\n', '\0']), "{key}={value:?}");
        }
    }
    // Debug never depends on the password.
    let other = Request {
        password: request.password.as_ref().map(|_| b"other".to_vec()),
        ..request.clone()
    };
    assert_eq!(format!("{request:?}"), format!("{other:?}"));
}

fn round_trip(username: &str, token: &Token, expiry: Option<i64>) {
    let response = Response::new(username, token, expiry).expect("username was accepted");
    let mut out = Vec::new();
    response.write_to(&mut out);

    assert_eq!(out.last(), Some(&b'\n'), "{out:?}");
    assert!(!out.contains(&0), "{out:?}");
    let lines: Vec<&[u8]> = out[..out.len() - 1].split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 2 + usize::from(expiry.is_some()), "{out:?}");
    for (line, key) in lines.iter().zip(KEYS) {
        let value = line
            .strip_prefix(key.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
            .unwrap_or_else(|| panic!("line {line:?} is not {key}="));
        assert!(!value.contains(&b'\r'), "{line:?}");
    }
    assert_eq!(lines[0], [b"username=", username.as_bytes()].concat());
    assert_eq!(lines[1], [b"password=", token.expose().as_bytes()].concat());
    if let Some(expiry) = expiry {
        assert_eq!(lines[2], format!("password_expiry_utc={expiry}").as_bytes());
    }

    let back = parse_request(&out).expect("the helper's own answer reads back");
    assert_eq!(
        back,
        Request {
            username: Some(username.to_owned()),
            password: Some(token.expose().as_bytes().to_vec()),
            ..Request::default()
        }
    );
}

/// An expiry chosen by the input: none for a third of inputs, else any i64.
fn expiry_from(data: &[u8]) -> Option<i64> {
    if data.len().is_multiple_of(3) {
        return None;
    }
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    Some(hash as i64)
}
