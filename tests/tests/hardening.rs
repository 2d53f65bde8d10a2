//! The hostile-input cases of the trace, the protocol's edges and person-given hosts,
//! against the static binaries and the real git (issue 9):
//!
//! - a token in any field of git's request never reaches a trace or stderr;
//! - a trace path that is a FIFO, `/dev/stdout`, or stderr joined to stdout never blocks
//!   the helper or enters git's protocol stream;
//! - `store` stops at the blank line; an empty username is none;
//! - a `GH_HOST` that is a URL is named as one.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, attr, attr_keys, bin, helper_lines, make_fifo, parse_attrs, require_tool,
    run_with_timeout, unique_token, TokenSandbox,
};

/// Well before the harness's default limit: a blocked open must show as a failure here.
const HANG_LIMIT: Duration = Duration::from_secs(10);

fn fx() -> TokenSandbox {
    let mut f = TokenSandbox::new(&[]);
    f.sb.set_timeout(HANG_LIMIT);
    f
}

const REQUEST: &str = "protocol=https\nhost=github.com\n\n";

/// Every field git may send, each holding `planted` in turn (and `url=` holding it as
/// the username and as the password).
fn requests_with(planted: &str) -> Vec<(String, String)> {
    let fields = [
        "protocol",
        "host",
        "path",
        "username",
        "password",
        "wwwauth[]",
        "oauth_refresh_token",
        "capability[]",
        "authtype",
        "credential",
        "state[]",
        "password_expiry_utc",
        "x-unknown",
    ];
    let mut out: Vec<(String, String)> = fields
        .iter()
        .map(|field| {
            // The planted line last: for protocol and host it wins, as in git's reader.
            let request = format!("protocol=https\nhost=github.com\n{field}={planted}\n\n");
            (field.to_string(), request)
        })
        .collect();
    out.push((
        "url username".into(),
        format!("url=https://{planted}@github.com/o/r\n\n"),
    ));
    out.push((
        "url password".into(),
        format!("url=https://x-access-token:{planted}@github.com/o/r\n\n"),
    ));
    out
}

#[test]
fn a_token_in_any_field_of_git_s_request_never_reaches_a_trace_or_stderr() {
    let mut f = fx();
    let planted = unique_token("Planted");
    let fallback = unique_token("Fallback");
    f.sb.set_env("GH_TOKEN", &fallback);
    let secrets = [f.token.as_str(), planted.as_str(), fallback.as_str()];
    let trace = f.sb.home().join("trace.log");
    for sink in ["1".to_owned(), trace.display().to_string()] {
        f.sb.set_env("KELOS_CREDENTIAL_TRACE", &sink);
        for (field, request) in requests_with(&planted) {
            for op in ["get", "erase", "store"] {
                let out = f.sb.helper(&[op], request.as_bytes());
                let what = format!("{op} with a token in {field}, trace {sink}");
                assert!(out.status.success(), "{what}: {}", out.status);
                assert_no_token_in(&format!("stderr of {what}"), &out.stderr, &secrets);
                // stdout: only get answers; the file's token only as password=, the
                // planted one only where git sent it as the username.
                for (key, value) in parse_attrs(&out.stdout) {
                    let allowed = match key.as_str() {
                        "password" => value == f.token,
                        "username" => value == planted || value == "x-access-token",
                        _ => false,
                    };
                    assert!(
                        allowed || !secrets.iter().any(|s| value.contains(s)),
                        "{what}: stdout line {key}=...: {}",
                        redacted(&out.stdout, &secrets)
                    );
                }
            }
        }
    }
    // A secret of no known shape is masked where git's request carries secrets: as the
    // username (also in the URL) and the password.
    let plain = "kelosPlainSecretNoKnownShape0123456789";
    for (field, request) in requests_with(plain) {
        if !["username", "password", "url username", "url password"].contains(&field.as_str()) {
            continue;
        }
        for op in ["get", "erase", "store"] {
            let out = f.sb.helper(&[op], request.as_bytes());
            assert_no_token_in(
                &format!("stderr of {op} with a plain secret in {field}"),
                &out.stderr,
                &[plain, &f.token, &fallback],
            );
        }
    }
    let text = fs::read(&trace).expect("trace file written");
    assert_no_token_in("trace file", &text, &[plain]);
    assert!(
        String::from_utf8_lossy(&text).contains("request: protocol https"),
        "the trace file traced no request"
    );
    assert_no_token_in("trace file", &text, &secrets);

    // Through the real git: a remote URL with the token as its username.
    let fresh = f.sb.home().join("git-trace.log");
    f.sb.set_env("KELOS_CREDENTIAL_TRACE", &fresh);
    let out =
        f.sb.credential_fill(&format!("url=https://{planted}@github.com/o/r\n\n"));
    assert_no_token_in("git stderr", &out.stderr, &secrets);
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(f.token.as_str())
    );
    let text = fs::read(&fresh).expect("trace file written");
    assert!(!text.is_empty());
    assert_no_token_in("trace file (git credential fill)", &text, &secrets);
}

#[test]
fn a_trace_fifo_with_no_reader_never_blocks_either_binary() {
    let mut f = fx();
    let fifo = f.sb.home().join("trace.fifo");
    make_fifo(&fifo);
    f.sb.set_env("KELOS_CREDENTIAL_TRACE", &fifo);
    let started = Instant::now();
    let out = f.sb.credential_fill(REQUEST);
    assert_no_token_in("git stderr", &out.stderr, &[&f.token]);
    assert!(
        out.status.success(),
        "git got no credential ({}) after {:?}",
        out.status,
        started.elapsed()
    );
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(f.token.as_str())
    );

    // kelos-gh in front of the real gh.
    let real_gh = require_tool("gh");
    let mut cmd = f.sb.command(bin("kelos-gh"));
    cmd.env("KELOS_GH_PATH", &real_gh).arg("--version");
    let out = run_with_timeout(cmd, b"", HANG_LIMIT);
    assert_no_token_in("kelos-gh stderr", &out.stderr, &[&f.token]);
    assert!(out.status.success(), "kelos-gh: {}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("gh version"));
}

#[test]
fn a_trace_fifo_with_a_reader_is_not_written_to() {
    let mut f = fx();
    let fifo = f.sb.home().join("trace.fifo");
    make_fifo(&fifo);
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the FIFO for reading");
    f.sb.set_env("KELOS_CREDENTIAL_TRACE", &fifo);
    let out = f.sb.credential_fill(REQUEST);
    assert_no_token_in("git stderr", &out.stderr, &[&f.token]);
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(f.token.as_str())
    );
    let mut got = Vec::new();
    let _ = reader.read_to_end(&mut got);
    assert!(
        got.is_empty(),
        "{} bytes of trace went into a FIFO",
        got.len()
    );
}

#[test]
fn a_trace_to_dev_stdout_never_enters_git_s_protocol_stream() {
    let mut f = fx();
    for path in ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"] {
        f.sb.set_env("KELOS_CREDENTIAL_TRACE", path);
        let out = f.sb.credential_fill(REQUEST);
        f.assert_filled(&out, path);
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("invalid credential line"),
            "{path}: git read a trace line as protocol"
        );
        // The helper alone: its stdout holds exactly the answer.
        let out = f.sb.helper(&["get"], REQUEST.as_bytes());
        let keys = attr_keys(&out.stdout);
        assert_eq!(keys, ["username", "password"], "{path}");
    }
}

#[test]
fn a_trace_to_stderr_joined_to_stdout_stays_out_of_the_answer() {
    let f = fx();
    let mut cmd = f.sb.command("/bin/sh");
    cmd.env("KELOS_CREDENTIAL_TRACE", "1")
        .arg("-c")
        .arg("exec \"$0\" get 2>&1")
        .arg(f.sb.helper_path());
    let out = run_with_timeout(cmd, REQUEST.as_bytes(), HANG_LIMIT);
    assert!(out.status.success());
    let keys = attr_keys(&out.stdout);
    assert_eq!(
        keys,
        ["username", "password"],
        "{}",
        redacted(&out.stdout, &[&f.token])
    );
}

#[test]
fn store_stops_at_the_blank_line_without_waiting_for_eof() {
    let f = fx();
    let mut cmd = f.sb.command(f.sb.helper_path());
    cmd.arg("store")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the helper");
    let mut stdin = child.stdin.take().expect("stdin");
    let request = format!(
        "protocol=https\nhost=github.com\nusername=x-access-token\npassword={}\n\n",
        f.token
    );
    stdin.write_all(request.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    // stdin stays open: the helper must finish by itself.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    let out = child.wait_with_output().expect("output");
    assert_no_token_in("store stderr", &out.stderr, &[&f.token]);
    assert!(
        status.is_some_and(|s| s.success()),
        "store waited for EOF after the blank line ({status:?})"
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn an_empty_username_in_the_url_gets_the_token_with_git_s_usual_username() {
    let f = fx();
    for input in [
        "url=https://@github.com/o/r\n\n".to_owned(),
        "protocol=https\nhost=github.com\nusername=\n\n".to_owned(),
    ] {
        let out = f.sb.helper(&["get"], input.as_bytes());
        assert_eq!(
            attr(&out.stdout, "username").as_deref(),
            Some("x-access-token"),
            "{input:?}"
        );
        assert_eq!(
            attr(&out.stdout, "password").as_deref(),
            Some(f.token.as_str())
        );
    }
    let out = f.sb.credential_fill("url=https://@github.com/o/r\n\n");
    f.assert_filled(&out, "git credential fill");
}

#[test]
fn a_gh_host_that_is_a_url_is_named_as_one() {
    let mut f = fx();
    f.sb.set_env("GH_HOST", "https://ghe.corp.example/org");
    let out =
        f.sb.helper(&["get"], b"protocol=https\nhost=ghe.corp.example\n\n");
    assert_no_token_in("stderr", &out.stderr, &[&f.token]);
    assert!(out.stdout.is_empty(), "answered for a bad GH_HOST");
    let lines = helper_lines(&out.stderr);
    assert_eq!(
        lines,
        [
            "git-credential-kelos: GH_HOST=\"https://ghe.corp.example/org\" is a URL \
             (https://...), not a host name; set GH_HOST to the host name alone, like \
             ghe.corp.example"
        ]
    );

    // The same one message from configure, for --host, and in kelos-gh's trace.
    let out =
        f.sb.helper(&["configure", "--host", "https://ghe.corp.example"], b"");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("--host \"https://ghe.corp.example\" is a URL (https://...), not a host name; give the host name alone, like ghe.corp.example"),
        "{text}"
    );
    assert!(!text.contains("Some("), "{text}");

    let real_gh = require_tool("gh");
    let trace = f.sb.home().join("gh-trace.log");
    let mut cmd = f.sb.command(bin("kelos-gh"));
    cmd.env("KELOS_GH_PATH", &real_gh)
        .env("KELOS_CREDENTIAL_TRACE", &trace)
        .arg("--version");
    let out = run_with_timeout(cmd, b"", HANG_LIMIT);
    assert!(out.status.success());
    let text = fs::read_to_string(&trace).expect("kelos-gh traced");
    assert!(
        text.contains("GH_HOST=\"https://ghe.corp.example/org\" is a URL (https://...)"),
        "{text}"
    );
    assert_no_token_in("kelos-gh trace", text.as_bytes(), &[&f.token]);
}
