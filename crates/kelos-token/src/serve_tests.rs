//! The driver in process, byte for byte: what goes to stdout, stderr and the
//! trace, and how much of the input is read, for every kind of malformed
//! input git (or anyone) could send.

use super::*;
use crate::host::{Host, HostInputError};
use crate::protocol::MAX_LINE_BYTES;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

const TOKEN: &str = "ghs_0123456789abcdefghijklmnopqrstuvwxyzAB";
const ANSWER: &[u8] =
    b"username=x-access-token\npassword=ghs_0123456789abcdefghijklmnopqrstuvwxyzAB\n";
/// The token file's mtime, and the clock: a minute later.
const MODIFIED: u64 = 1_700_000_000;
const NOW: u64 = MODIFIED + 60;
const REQUEST: &[u8] = b"protocol=https\nhost=github.com\n\n";

/// A token file and a trace file in a directory of their own.
struct Pod {
    dir: PathBuf,
}

impl Pod {
    fn new(token: Option<&str>) -> Pod {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kelos-serve-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(token) = token {
            let file = dir.join("token");
            std::fs::write(&file, format!("{token}\n")).unwrap();
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(UNIX_EPOCH + Duration::from_secs(MODIFIED))
                .unwrap();
        }
        Pod { dir }
    }

    fn env(&self) -> EnvSnapshot {
        let token = self.dir.join("token");
        let trace = self.dir.join("trace");
        EnvSnapshot::from_pairs([
            ("KELOS_GITHUB_TOKEN_FILE", token.to_str().unwrap()),
            ("KELOS_CREDENTIAL_TRACE", trace.to_str().unwrap()),
        ])
    }

    /// The trace's lines without their time and pid.
    fn trace(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("trace")).unwrap_or_default();
        text.lines()
            .map(|line| {
                let (_, rest) = line.split_once("]: ").expect("a trace line's prefix");
                rest.to_owned()
            })
            .collect()
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one call wrote, and how many input bytes it left unread.
#[derive(Debug)]
struct Served {
    out: Vec<u8>,
    err: Vec<u8>,
    trace: Vec<String>,
    unread: usize,
    hosts_asked: bool,
}

fn github() -> Result<Vec<crate::served::Served>, HostInputError> {
    Ok(vec![crate::served::Served::GitHub(
        Host::parse("github.com").unwrap(),
    )])
}

fn clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn run_with(pod: &Pod, op: Operation, input: &[u8]) -> Served {
    let env = pod.env();
    let mut tracer = Tracer::from_env(&env, PROGRAM);
    assert!(tracer.enabled(), "the test's trace file opens");
    let (mut out, mut err, mut rest) = (Vec::new(), Vec::new(), input);
    let mut hosts_asked = false;
    let world = World {
        env: &env,
        hosts: || {
            hosts_asked = true;
            github()
        },
        clock,
    };
    serve(op, &mut rest, &mut out, &mut err, world, &mut tracer).expect("served");
    drop(tracer);
    Served {
        out,
        err,
        trace: pod.trace(),
        unread: rest.len(),
        hosts_asked,
    }
}

fn run(op: Operation, input: &[u8]) -> Served {
    run_with(&Pod::new(Some(TOKEN)), op, input)
}

fn request_line(e: &str) -> String {
    format!("malformed request, not answered: {e}")
}

#[test]
fn get_answers_a_configured_host_and_reads_no_further_than_the_blank_line() {
    let served = run(Operation::Get, b"protocol=https\nhost=github.com\n\nmore");
    assert_eq!(served.out, ANSWER);
    assert_eq!(served.err, b"");
    assert_eq!(served.unread, 4);
    assert_eq!(
        served.trace,
        [
            "request: protocol https, host github.com, username (none), password (none)",
            "host github.com class dotcom",
            "token from the file (a plain file), ghs_…yzAB (42 chars), no expiry file",
            "answered",
        ]
    );
}

#[test]
fn malformed_input_is_answered_with_nothing_and_drained() {
    let long = format!("path={}\n", "a".repeat(MAX_LINE_BYTES));
    let cases: [(&[u8], &str); 4] = [
        (
            b"protocol=https\nhost=git\0hub.com\n\n",
            "the input contains a NUL byte",
        ),
        (long.as_bytes(), "a line is longer than 65535 bytes"),
        (b"protocol=https\nhost github.com\n\n", "a line has no '='"),
        (
            b"protocol=https\nusername=\xff\n",
            "the username is not UTF-8",
        ),
    ];
    for (request, why) in cases {
        let input = [REQUEST, b"after"].concat();
        let input = [request, &input].concat();
        let served = run(Operation::Get, &input);
        assert_eq!(served.out, b"", "{why}");
        assert_eq!(served.err, b"", "{why}");
        assert_eq!(served.unread, 0, "{why}: drained");
        assert!(!served.hosts_asked, "{why}");
        assert_eq!(served.trace, [request_line(why)]);
    }
}

#[test]
fn a_line_of_exactly_the_limit_is_read() {
    let path = format!("path={}\n", "a".repeat(MAX_LINE_BYTES - "path=".len()));
    let served = run(Operation::Get, &[path.as_bytes(), REQUEST].concat());
    assert_eq!(served.out, ANSWER);
}

#[test]
fn draining_stops_at_its_bound() {
    let input = [b"nul\0\n".as_slice(), &vec![b'x'; 3 << 20]].concat();
    let served = run(Operation::Get, &input);
    assert_eq!(served.out, b"");
    assert_eq!(
        served.unread,
        input.len() - 5 - MAX_DRAIN_BYTES as usize,
        "the malformed line, then the bound"
    );
}

#[test]
fn git_parsing_rules_hold_in_the_driver() {
    let cases: [(&[u8], &[u8]); 7] = [
        // A later value replaces an earlier one, as in git.
        (
            b"protocol=https\nhost=example.com\nhost=github.com\n\n",
            ANSWER,
        ),
        (
            b"host=github.com\nprotocol=http\nprotocol=https\n\n",
            ANSWER,
        ),
        // No trailing newline, no blank line: EOF ends the request.
        (b"protocol=https\nhost=github.com", ANSWER),
        // CRLF lines.
        (b"protocol=https\r\nhost=github.com\r\n\r\n", ANSWER),
        // EOF in the middle of the host's line: another host.
        (b"protocol=https\nhost=git", b""),
        // A url replaces what came before it.
        (b"host=example.com\nurl=https://github.com/o/r\n\n", ANSWER),
        (b"", b""),
    ];
    for (input, want) in cases {
        let served = run(Operation::Get, input);
        assert_eq!(served.out, want, "{}", String::from_utf8_lossy(input));
        assert_eq!(served.err, b"");
    }
}

#[test]
fn refusals_are_traced_and_never_answered() {
    let cases: [(&[u8], &str); 4] = [
        (b"", "not answered: the request names no host"),
        (
            b"protocol=https\nhost=example.com\n",
            "not answered: example.com is not a configured host",
        ),
        (
            b"protocol=http\nhost=github.com\n",
            "not answered: protocol `http` is refused (https only; http only to loopback hosts)",
        ),
        (
            b"host=github.com\n",
            "not answered: the request names no protocol",
        ),
    ];
    for (input, want) in cases {
        let served = run(Operation::Get, input);
        assert_eq!((served.out, served.err), (vec![], vec![]));
        assert_eq!(served.trace.last().map(String::as_str), Some(want));
        assert!(served.hosts_asked);
    }
}

#[test]
fn get_without_a_token_says_why_on_stderr_only() {
    let pod = Pod::new(None);
    let served = run_with(&pod, Operation::Get, REQUEST);
    assert_eq!(served.out, b"");
    let err = String::from_utf8(served.err).unwrap();
    let token = pod.dir.join("token");
    assert_eq!(
        err,
        format!(
            "git-credential-kelos: no token for github.com: token file {} \
             (KELOS_GITHUB_TOKEN_FILE) does not exist; GH_TOKEN, GITHUB_TOKEN unset or empty\n",
            token.display()
        )
    );
}

#[test]
fn a_username_and_a_password_never_reach_the_trace() {
    let secret = "ghp_ThisIsAUserTokenNotToBeSeen1234567890";
    let input = format!(
        "protocol=https\nhost=github.com\nusername={secret}\npassword=hunter2-is-secret\n\n"
    );
    for op in [Operation::Get, Operation::Erase, Operation::Store] {
        let served = run(op, input.as_bytes());
        let trace = served.trace.join("\n");
        assert!(
            !trace.contains(secret) && !trace.contains("hunter2"),
            "{trace}"
        );
        assert!(!trace.contains(TOKEN), "{trace}");
        assert_eq!(
            served.trace[0],
            "request: protocol https, host github.com, username ghp_…7890 (41 chars), \
             password given"
        );
    }
    // The username git was given comes back as it was.
    let served = run(Operation::Get, input.as_bytes());
    assert_eq!(
        served.out,
        format!("username={secret}\npassword={TOKEN}\n").as_bytes()
    );
}

#[test]
fn store_reads_the_request_and_does_nothing_else() {
    let served = run(
        Operation::Store,
        b"protocol=https\nhost=github.com\npassword=x\n\nrest",
    );
    assert_eq!((served.out, served.err), (vec![], vec![]));
    assert!(!served.hosts_asked);
    assert_eq!(served.unread, 4);
    assert_eq!(
        served.trace,
        ["request: protocol https, host github.com, username (none), password given"]
    );
    let served = run(Operation::Store, b"a\0\nrest\n\nmore");
    assert_eq!((served.unread, served.trace.len()), (0, 1));
}

#[test]
fn erase_says_which_password_was_refused() {
    let refused = |password: &str| {
        let input = format!("protocol=https\nhost=github.com\npassword={password}\n\n");
        let served = run(Operation::Erase, input.as_bytes());
        assert_eq!(served.out, b"");
        String::from_utf8(served.err).unwrap()
    };
    let current = refused(TOKEN);
    assert!(
        current.starts_with("git-credential-kelos: github.com refused the current token from ")
            && current.ends_with(
                "/token (written 1m ago, expiry unknown); the token itself was rejected: \
             check that it is still valid and may access this repository\n"
            ),
        "{current}"
    );
    let older = refused("ghs_older0000000000000000000000000000000");
    assert!(
        older.starts_with("git-credential-kelos: github.com refused an older token; the token in ")
            && older.ends_with("/token has rotated since, so a retry will use the new one\n"),
        "{older}"
    );
    let served = run(Operation::Erase, REQUEST);
    assert_eq!(
        served.err,
        b"git-credential-kelos: git reports a credential for github.com was refused \
          (no password given)\n"
    );
    // Another host's erase is not this helper's business.
    let served = run(
        Operation::Erase,
        b"protocol=https\nhost=example.com\npassword=x\n\n",
    );
    assert_eq!((served.out, served.err), (vec![], vec![]));
}

#[test]
fn hosts_are_asked_only_for_a_well_formed_request_and_their_error_stops_it() {
    let pod = Pod::new(Some(TOKEN));
    let env = pod.env();
    let bad = || Err(crate::host::configured_hosts(&["a b"], &env).unwrap_err());
    for (input, fails) in [(REQUEST, true), (b"x\0\n".as_slice(), false)] {
        let world = World {
            env: &env,
            hosts: bad,
            clock,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = serve(
            Operation::Get,
            input,
            &mut out,
            &mut err,
            world,
            &mut Tracer::off(PROGRAM),
        );
        assert_eq!(matches!(result, Err(ServeError::Hosts(_))), fails);
        assert_eq!((out, err), (vec![], vec![]));
    }
}

#[test]
fn a_closed_stdout_is_an_error_and_a_closed_stderr_is_not() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let pod = Pod::new(Some(TOKEN));
    let env = pod.env();
    let serve_to = |out: &mut dyn Write, err: &mut dyn Write, input: &[u8]| {
        let world = World {
            env: &env,
            hosts: github,
            clock,
        };
        serve(
            Operation::Get,
            input,
            out,
            err,
            world,
            &mut Tracer::off(PROGRAM),
        )
    };
    let result = serve_to(&mut Closed, &mut Vec::new(), REQUEST);
    assert!(matches!(result, Err(ServeError::Write(_))), "{result:?}");
    drop(pod);
    let pod = Pod::new(None);
    let env = pod.env();
    let world = World {
        env: &env,
        hosts: github,
        clock,
    };
    let result = serve(
        Operation::Get,
        REQUEST,
        Vec::new(),
        Closed,
        world,
        &mut Tracer::off(PROGRAM),
    );
    assert!(result.is_ok());
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"protocol=https".to_vec()),
        Just(b"protocol=http".to_vec()),
        Just(b"host=github.com".to_vec()),
        Just(b"host=example.com".to_vec()),
        Just(b"url=https://github.com/o/r".to_vec()),
        Just(b"username=x-access-token".to_vec()),
        Just(b"password=p".to_vec()),
        Just(b"unknown=1".to_vec()),
        Just(b"".to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever comes in: stdout holds the one answer or nothing, stderr
    /// and the trace never the token, and nothing is read past the bound.
    #[test]
    fn any_input_gets_the_answer_or_nothing(lines in prop::collection::vec(line(), 0..8)) {
        let input = lines.join(&b'\n');
        for op in [Operation::Get, Operation::Erase, Operation::Store] {
            let served = run(op, &input);
            prop_assert!(served.out.is_empty() || (op == Operation::Get && served.out == ANSWER));
            let err = String::from_utf8_lossy(&served.err);
            prop_assert!(!err.contains(TOKEN));
            prop_assert!(!served.trace.join("\n").contains(TOKEN));
            prop_assert!(err.is_empty() || err.ends_with('\n') && err.matches('\n').count() == 1);
        }
    }

    /// A NUL anywhere before the blank line: nothing is said, all is read.
    #[test]
    fn a_nul_in_the_request_silences_it(
        lines in prop::collection::vec("[a-z=]{1,10}", 0..4),
        at in 0usize..64,
        after in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let request = ["protocol=https\nhost=github.com\n", &lines.join("\n")].concat();
        let at = at.min(request.len());
        let input = [&request.as_bytes()[..at], b"\0", &request.as_bytes()[at..], b"\n\n", &after].concat();
        let served = run(Operation::Get, &input);
        prop_assert_eq!((served.out, served.err), (vec![], vec![]));
        prop_assert_eq!(served.unread, 0);
        prop_assert!(!served.hosts_asked);
    }
}

const GITLAB_TOKEN: &str = "glpat-0123456789abcdefghijKLMN";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Both providers configured, each with its own file and a frozen
    /// fallback of its own: every generated request is answered with the
    /// token of the provider whose host it names (and that provider's
    /// username unless the request brings one), or not at all; never the
    /// other's, never a frozen fallback.
    #[test]
    fn both_providers_each_request_gets_its_own_provider_s_token_or_none(
        protocol in "https|http|ssh|HTTPS|",
        name in "(github\\.com|gist\\.github\\.com|gl\\.svc|gitlab\\.com|127\\.0\\.0\\.1|ghe\\.x|x)",
        port in proptest::option::of(prop_oneof![Just(443u16), Just(80), Just(8181), Just(8443)]),
        username in proptest::option::of("(oauth2|x-access-token|me)"),
        gitlab in "(http://gl\\.svc:8181|https://gl\\.svc|gl\\.svc:8443|http://127\\.0\\.0\\.1:8181|gitlab\\.com)",
        gh_host in "(github\\.com|ghe\\.x|127\\.0\\.0\\.1|127\\.0\\.0\\.1:8181)",
    ) {
        let pod = Pod::new(Some(TOKEN));
        let gl_file = pod.dir.join("gitlab-token");
        std::fs::write(&gl_file, format!("{GITLAB_TOKEN}\n")).unwrap();
        let token = pod.dir.join("token");
        let env = EnvSnapshot::from_pairs([
            ("KELOS_GITHUB_TOKEN_FILE", token.to_str().unwrap()),
            ("KELOS_GITLAB_TOKEN_FILE", gl_file.to_str().unwrap()),
            ("GITLAB_HOST", gitlab.as_str()),
            ("GH_HOST", gh_host.as_str()),
            ("GITLAB_TOKEN", "glpat-frozenFallback000000000"),
            ("GITHUB_TOKEN", "ghs_frozenFallback00000000"),
        ]);
        let host = match port { Some(p) => format!("{name}:{p}"), None => name.clone() };
        let mut input = format!("protocol={protocol}\nhost={host}\n");
        if let Some(u) = &username {
            input.push_str(&format!("username={u}\n"));
        }
        input.push('\n');
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let world = World {
            env: &env,
            hosts: || crate::served::served_hosts(&Vec::<String>::new(), &env),
            clock,
        };
        serve(Operation::Get, input.as_bytes(), &mut out, &mut err, world, &mut Tracer::off(PROGRAM))
            .expect("served");
        let out = String::from_utf8(out).unwrap();
        let password = out.lines().find_map(|l| l.strip_prefix("password="));
        let user = out.lines().find_map(|l| l.strip_prefix("username="));
        // Each provider's own rule, alone.
        let r = crate::protocol::parse_request(input.as_bytes()).unwrap();
        let gh = Host::parse(&gh_host).unwrap();
        let github_says = crate::credential::match_request(&r, [&gh]).is_ok();
        let instance = crate::provider::GITLAB.instance(&env).unwrap();
        let gitlab_says = instance.answers(&protocol, &host).is_some();
        let (want, default_user) = match (github_says, gitlab_says) {
            (true, false) => (Some(TOKEN), "x-access-token"),
            (false, true) => (Some(GITLAB_TOKEN), "oauth2"),
            _ => (None, ""),
        };
        prop_assert_eq!(password, want, "{}://{}", protocol, host);
        if want.is_some() {
            prop_assert_eq!(user, Some(username.as_deref().unwrap_or(default_user)));
        }
        let err = String::from_utf8_lossy(&err);
        prop_assert!(!err.contains(TOKEN) && !err.contains(GITLAB_TOKEN));
    }
}
