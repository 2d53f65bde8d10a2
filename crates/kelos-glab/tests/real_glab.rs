//! glab's host entry, written by `kelos_glab::glab_config` and read by the
//! real glab (1.53, Debian 13's package), on real files: generated configs,
//! glab's own files, concurrent runs, a full disk, an unreadable file, links.
//!
//! glab is found at [`GLAB`] (what `bash scripts/deps.sh` installs) or
//! `$KELOS_TEST_GLAB`; a missing glab fails every test with the command that
//! installs it.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kelos_glab::glab_config::{
    ensure_host_entry_in_file, ApiProtocol, GitProtocol, GlabConfigError, HostEntry, Outcome,
};
use proptest::prelude::*;

/// Where `scripts/deps.sh` unpacks glab (overridden by `KELOS_TEST_GLAB`).
const GLAB: &str = "/opt/kelos-test-tools/glab/usr/bin/glab";

fn glab() -> PathBuf {
    let path = std::env::var_os("KELOS_TEST_GLAB")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(GLAB), PathBuf::from);
    assert!(
        path.is_file(),
        "glab not found at {}: install it with `bash scripts/deps.sh` (or point KELOS_TEST_GLAB at a glab 1.53)",
        path.display()
    );
    path
}

/// A temporary directory, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "kelos-glab-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// glab with nothing from this process's environment but what is given:
/// no token variable, no `API_PROTOCOL`-style override (glab reads those
/// before its config), its home and working directory in `dir`.
fn glab_cmd(dir: &Path, config_dir: &Path) -> Command {
    let home = dir.join("home");
    fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(glab());
    cmd.env_clear()
        .env("HOME", &home)
        .env("GLAB_CONFIG_DIR", config_dir)
        .env("GLAB_NO_PROMPT", "true")
        .env("GLAB_CHECK_UPDATE", "false")
        .env("GLAB_SEND_TELEMETRY", "false")
        .current_dir(&home)
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `glab config get --host <host> <key>`.
fn glab_get(dir: &Path, config_dir: &Path, host: &str, key: &str) -> String {
    let out = run(glab_cmd(dir, config_dir).args(["config", "get", "--host", host, key]));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

fn glab_set(dir: &Path, config_dir: &Path, host: &str, key: &str, value: &str) {
    run(glab_cmd(dir, config_dir).args(["config", "set", "--host", host, key, value]));
}

fn assert_entry(dir: &Path, config_dir: &Path, entry: &Want) {
    for (key, value) in entry.values() {
        assert_eq!(
            glab_get(dir, config_dir, entry.host, key),
            value,
            "{} {key}",
            entry.host
        );
    }
}

/// A wanted entry, kept as values for the assertions.
struct Want<'a> {
    host: &'a str,
    api_protocol: ApiProtocol,
    api_host: &'a str,
    git_protocol: GitProtocol,
}

impl Want<'_> {
    fn entry(&self) -> HostEntry {
        HostEntry::new(
            self.host,
            self.api_protocol,
            self.api_host,
            self.git_protocol,
        )
        .unwrap()
    }

    fn values(&self) -> [(&'static str, &str); 3] {
        [
            ("api_protocol", self.api_protocol.as_str()),
            ("api_host", self.api_host),
            ("git_protocol", self.git_protocol.as_str()),
        ]
    }
}

fn http(host: &str) -> Want<'_> {
    Want {
        host,
        api_protocol: ApiProtocol::Http,
        api_host: host,
        git_protocol: GitProtocol::Http,
    }
}

/// Every token-shaped string in every file under `dir` (names too), so that a
/// test can say which ones may be there: those its fixture put there.
fn tokens_on_disk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = fs::symlink_metadata(&p).unwrap();
        let name = p.to_string_lossy().into_owned();
        assert!(!name.contains("glpat-"), "a token in a file name: {name}");
        if meta.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if meta.is_file() {
            let Ok(text) = fs::read(&p) else { continue };
            let text = String::from_utf8_lossy(&text).into_owned();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("glpat-") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(tail.len());
                found.push(tail[..end].to_string());
                rest = &tail[end..];
            }
        }
    }
    found.sort();
    found
}

fn assert_tokens_on_disk(dir: &Path, fixture: &[&str]) {
    let mut want: Vec<String> = fixture.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        tokens_on_disk(dir),
        want,
        "token-shaped strings under {}",
        dir.display()
    );
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn write_config(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// (inode, size, mtime, ctime): changes with any write or replacement.
fn identity(path: &Path) -> (u64, u64, i64, i64, i64, i64) {
    let m = fs::symlink_metadata(path).unwrap();
    (
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

fn target() -> impl Strategy<Value = (Option<usize>, String, ApiProtocol, String, GitProtocol)> {
    (
        proptest::option::weighted(0.6, 0usize..4),
        common::host_name(),
        prop_oneof![Just(ApiProtocol::Http), Just(ApiProtocol::Https)],
        common::host_name(),
        prop_oneof![
            Just(GitProtocol::Http),
            Just(GitProtocol::Https),
            Just(GitProtocol::Ssh)
        ],
    )
}

proptest! {
    // Each case runs glab a few times (~0.1 s each).
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Generated configs (other hosts with tokens, comments, 2/3/4-space
    /// indentation, quoted keys and values): after the edit the real glab
    /// reads the wanted values for the host and every other host's non-empty
    /// values as they were; a second run writes nothing; no token was added.
    #[test]
    fn the_real_glab_reads_the_entry_in_generated_configs(
        config in common::config(),
        (pick, fresh, api, api_host, git) in target(),
    ) {
        let dir = TempDir::new();
        let config_dir = dir.path().join("glab");
        let path = config_dir.join("config.yml");
        let hosts = config.host_names();
        let host = match pick {
            Some(i) if !hosts.is_empty() => hosts[i % hosts.len()].clone(),
            _ => fresh,
        };
        let text = config.render();
        write_config(&path, &text);
        let fixture_tokens = tokens_on_disk(dir.path());

        let want = Want { host: &host, api_protocol: api, api_host: &api_host, git_protocol: git };
        ensure_host_entry_in_file(&path, &want.entry()).unwrap();
        assert_entry(dir.path(), &config_dir, &want);

        // Other hosts' values (the non-empty ones: glab falls back to the
        // top level for an empty one), tokens included.
        let values: BTreeMap<_, _> = config.values();
        for ((h, key), value) in &values {
            let Some(h) = h else { continue };
            if value.is_empty() || (*h == host && ["api_protocol", "api_host", "git_protocol"].contains(&key.as_str())) {
                continue;
            }
            prop_assert_eq!(&glab_get(dir.path(), &config_dir, h, key), value, "{} {}", h, key);
        }

        let written = identity(&path);
        prop_assert_eq!(ensure_host_entry_in_file(&path, &want.entry()).unwrap(), Outcome::AlreadySet);
        prop_assert_eq!(identity(&path), written);
        prop_assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        prop_assert_eq!(names(&config_dir), vec!["config.yml".to_string()]);
        // Nothing token-shaped that the fixture did not hold (fewer, when a
        // generated "glpat-" value sat in one of the three keys).
        for token in tokens_on_disk(dir.path()) {
            prop_assert!(fixture_tokens.contains(&token), "{} appeared", token);
        }
    }
}

/// glab's own files: its default config (first run) with a token stored by
/// `glab config set` for the very host and for another one; the edit keeps
/// both tokens (glab still reads them) and a second run changes no byte.
#[test]
fn glabs_own_config_with_stored_tokens_keeps_them() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("glab");
    let path = config_dir.join("config.yml");
    glab_set(
        dir.path(),
        &config_dir,
        "other.example",
        "token",
        "glpat-OTHEROTHEROTHEROTHER",
    );
    glab_set(
        dir.path(),
        &config_dir,
        "127.0.0.1:8181",
        "token",
        "glpat-MINEMINEMINEMINE00",
    );
    let before = fs::read_to_string(&path).unwrap();

    let want = http("127.0.0.1:8181");
    assert_eq!(
        ensure_host_entry_in_file(&path, &want.entry()).unwrap(),
        Outcome::Written
    );
    let after = fs::read_to_string(&path).unwrap();
    assert!(
        after.starts_with(&before),
        "the entry was the file's last: only lines were appended\n{after}"
    );
    assert_eq!(
        &after[before.len()..],
        "        api_protocol: http\n        api_host: 127.0.0.1:8181\n        git_protocol: http\n"
    );
    assert_entry(dir.path(), &config_dir, &want);
    assert_eq!(
        glab_get(dir.path(), &config_dir, "127.0.0.1:8181", "token"),
        "glpat-MINEMINEMINEMINE00"
    );
    assert_eq!(
        glab_get(dir.path(), &config_dir, "other.example", "token"),
        "glpat-OTHEROTHEROTHEROTHER"
    );
    assert_eq!(
        ensure_host_entry_in_file(&path, &want.entry()).unwrap(),
        Outcome::AlreadySet
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), after);
    assert_tokens_on_disk(
        dir.path(),
        &["glpat-MINEMINEMINEMINE00", "glpat-OTHEROTHEROTHEROTHER"],
    );
}

/// The mechanism the wrapper relies on, against a loopback stand-in: with
/// only `GITLAB_HOST=http://127.0.0.1:PORT` and `GITLAB_TOKEN`, glab speaks
/// TLS to the plain port and fails; after the edit it sends
/// `GET /api/v4/user` over http with the token from the environment, and the
/// token is nowhere on disk.
#[test]
fn glab_api_calls_http_with_the_environments_token_once_the_entry_exists() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("glab");
    let path = config_dir.join("config.yml");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let token = "glpat-ENVENVENVENVENVENV12";
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
                if head.first() == Some(&0x16) {
                    break; // a TLS ClientHello: no reply, the client fails
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            if head.starts_with("GET ") {
                let body = r#"{"id":1,"username":"kelos","name":"Kelos"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            heads.push(head);
        }
        heads
    });
    let api_user = |dir: &Path| {
        glab_cmd(dir, &config_dir)
            .env("GITLAB_HOST", format!("http://{host}"))
            .env("GITLAB_TOKEN", token)
            .args(["api", "user"])
            .output()
            .unwrap()
    };

    // Before: TLS to a plain port (the stand-in sees a ClientHello).
    let before = api_user(dir.path());
    assert!(
        !before.status.success(),
        "glab without the entry: {before:?}"
    );

    ensure_host_entry_in_file(&path, &http(&format!("127.0.0.1:{port}")).entry()).unwrap();
    let after = api_user(dir.path());
    assert!(
        after.status.success(),
        "glab with the entry: {}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(String::from_utf8_lossy(&after.stdout).contains("\"username\""));

    let heads = server.join().unwrap();
    assert!(
        !heads[0].starts_with("GET "),
        "the first call was not plain http"
    );
    assert!(heads[1].starts_with("GET /api/v4/user "), "{}", heads[1]);
    assert!(
        heads[1]
            .lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("private-token: {token}"))),
        "glab sent the environment's token as PRIVATE-TOKEN"
    );
    assert_tokens_on_disk(dir.path(), &[]);
}

// --- Concurrent runs: child processes of this test binary. ---------------

/// Not a test: the body of one concurrent kelos-glab run, started by
/// [`concurrent_runs`] as a child process (`--ignored --exact`).
#[test]
#[ignore = "run by concurrent_runs as a child process"]
fn child_ensure() {
    // Run by hand (`--include-ignored`) it has nothing to do.
    let Some(path) = std::env::var_os("KELOS_GLAB_CHILD_CONFIG").map(PathBuf::from) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let start = PathBuf::from(var("KELOS_GLAB_CHILD_START"));
    let host = var("KELOS_GLAB_CHILD_HOST");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !start.exists() {
        assert!(Instant::now() < deadline, "never started");
        std::thread::sleep(Duration::from_micros(200));
    }
    match ensure_host_entry_in_file(&path, &http(&host).entry()) {
        Ok(outcome) => println!("OUTCOME={outcome}"),
        Err(e) => println!("ERROR={e}"),
    }
}

/// Starts `hosts.len()` runs at once and returns what each printed.
fn concurrent_runs(path: &Path, hosts: &[String], uid: Option<u32>) -> Vec<String> {
    let start = path.with_file_name("start-flag");
    let children: Vec<_> = hosts
        .iter()
        .map(|host| {
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "--ignored",
                "--exact",
                "child_ensure",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KELOS_GLAB_CHILD_CONFIG", path)
            .env("KELOS_GLAB_CHILD_START", &start)
            .env("KELOS_GLAB_CHILD_HOST", host)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            if let Some(uid) = uid {
                // SAFETY: setgid/setuid are async-signal-safe system calls.
                unsafe {
                    cmd.pre_exec(move || {
                        if libc::setgid(uid) != 0 || libc::setuid(uid) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            cmd.spawn().unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    fs::write(&start, "").unwrap();
    let outs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            let at = stdout
                .find("OUTCOME=")
                .or_else(|| stdout.find("ERROR="))
                .unwrap_or_else(|| panic!("no outcome in {stdout}"));
            stdout[at..].lines().next().unwrap().to_string()
        })
        .collect();
    fs::remove_file(&start).unwrap();
    outs
}

#[test]
fn twenty_concurrent_runs_on_the_same_host_write_once() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("glab");
    let path = config_dir.join("config.yml");
    glab_set(
        dir.path(),
        &config_dir,
        "gitlab.example.com",
        "token",
        "glpat-KEEPKEEPKEEPKEEPKEEP",
    );
    let hosts = vec!["127.0.0.1:8181".to_string(); 20];
    let outs = concurrent_runs(&path, &hosts, None);
    assert_eq!(
        outs.iter().filter(|o| *o == "OUTCOME=written").count(),
        1,
        "{outs:?}"
    );
    assert_eq!(
        outs.iter().filter(|o| *o == "OUTCOME=already set").count(),
        19,
        "{outs:?}"
    );
    assert_entry(dir.path(), &config_dir, &http("127.0.0.1:8181"));
    assert_eq!(names(&config_dir), ["aliases.yml", "config.yml"]);
    assert_tokens_on_disk(dir.path(), &["glpat-KEEPKEEPKEEPKEEPKEEP"]);
}

#[test]
fn twenty_concurrent_runs_on_different_hosts_all_land() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("glab");
    let path = config_dir.join("config.yml");
    glab_set(
        dir.path(),
        &config_dir,
        "gitlab.example.com",
        "token",
        "glpat-KEEPKEEPKEEPKEEPKEEP",
    );
    let hosts: Vec<String> = (0..20)
        .map(|i| format!("10.0.0.{i}:{}", 8000 + i))
        .collect();
    let outs = concurrent_runs(&path, &hosts, None);
    assert!(outs.iter().all(|o| o == "OUTCOME=written"), "{outs:?}");
    for host in &hosts {
        assert_entry(dir.path(), &config_dir, &http(host));
    }
    assert_eq!(
        glab_get(dir.path(), &config_dir, "gitlab.example.com", "token"),
        "glpat-KEEPKEEPKEEPKEEPKEEP"
    );
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(names(&config_dir), ["aliases.yml", "config.yml"]);
    assert_tokens_on_disk(dir.path(), &["glpat-KEEPKEEPKEEPKEEPKEEP"]);
}

// --- Faults: nothing is ever half-written or rewritten. -----------------

/// A 64 KiB tmpfs, unmounted at the end.
struct SmallFs(TempDir);

impl SmallFs {
    fn mount() -> SmallFs {
        let dir = TempDir::new();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a 64k tmpfs (this test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs(dir)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_leaves_the_file_as_it_was() {
    let fs_ = SmallFs::mount();
    let config_dir = fs_.0.path().join("glab");
    let path = config_dir.join("config.yml");
    let mut text = String::from(
        "hosts:\n    gitlab.example.com:\n        token: glpat-FULLFULLFULLFULLFULL\n",
    );
    for i in 0..200 {
        text.push_str(&format!(
            "# padding line {i} so that a copy needs more than one page\n"
        ));
    }
    write_config(&path, &text);
    let before = identity(&path);

    // Fill the rest of it.
    let mut filler = fs::File::create(fs_.0.path().join("filler")).unwrap();
    let block = [b'x'; 4096];
    loop {
        match filler.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let _ = filler.write(&block[..1]);
    drop(filler);

    let err = ensure_host_entry_in_file(&path, &http("127.0.0.1:8181").entry()).unwrap_err();
    assert!(
        matches!(&err, GlabConfigError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC)),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(identity(&path), before);
    assert_eq!(
        names(&config_dir),
        ["config.yml"],
        "no temporary or lock file left"
    );
    assert_tokens_on_disk(fs_.0.path(), &["glpat-FULLFULLFULLFULLFULL"]);

    // With room again it goes through, and glab reads it.
    fs::remove_file(fs_.0.path().join("filler")).unwrap();
    ensure_host_entry_in_file(&path, &http("127.0.0.1:8181").entry()).unwrap();
    let home = TempDir::new();
    assert_entry(home.path(), &config_dir, &http("127.0.0.1:8181"));
}

/// A config the user (here: nobody, uid 65534) cannot read is never
/// replaced, though the directory would let the run replace it.
#[test]
fn an_unreadable_file_is_never_rewritten() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("glab");
    let path = config_dir.join("config.yml");
    let text = "hosts:\n    gitlab.example.com:\n        token: glpat-SECRETSECRETSECRET0\n";
    write_config(&path, text);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&config_dir, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o200)).unwrap();
    let before = identity(&path);
    // The run as nobody must reach the directory: every ancestor searchable.
    for dir in config_dir.ancestors() {
        let mode = fs::metadata(dir).unwrap().permissions().mode();
        assert!(
            mode & 0o001 != 0,
            "{} (mode {:04o}) is not searchable by other users, so the run as nobody \
             cannot reach its config: run with TMPDIR=/tmp, or `chmod o+x` it \
             (scripts/test.sh makes its TMPDIR 0711)",
            dir.display(),
            mode & 0o7777
        );
    }

    let outs = concurrent_runs(&path, &["127.0.0.1:8181".to_string()], Some(65534));
    assert!(
        outs[0].starts_with("ERROR=cannot read ") && outs[0].contains("Permission denied"),
        "{outs:?}"
    );
    assert!(!outs[0].contains("SECRET"));
    assert_eq!(identity(&path), before);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(names(&config_dir), ["config.yml"]);
    assert_tokens_on_disk(dir.path(), &["glpat-SECRETSECRETSECRET0"]);
}

/// A file it cannot parse for certain is left exactly as it is, and the error
/// names the file, the line and what to do, never the line's content.
#[test]
fn an_unparsable_file_is_never_rewritten() {
    let dir = TempDir::new();
    let path = dir.path().join("config.yml");
    for text in [
        "hosts:\n\tgitlab.example.com:\n        token: glpat-TABTABTABTABTABTABTAB\n",
        "hosts: {gitlab.example.com: {token: glpat-FLOWFLOWFLOWFLOWFLOW}}\n",
        "hosts:\n    h:\n        token: glpat-DUPDUPDUPDUPDUPDUPDU\n    h:\n        x: 1\n",
    ] {
        write_config(&path, text);
        let before = identity(&path);
        let err = ensure_host_entry_in_file(&path, &http("127.0.0.1:8181").entry()).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, GlabConfigError::UnsupportedFile { .. }),
            "{message}"
        );
        assert!(
            message.starts_with(&format!("{}, line ", path.display())),
            "{message}"
        );
        assert!(
            message.contains("glab config set --host 127.0.0.1:8181"),
            "{message}"
        );
        assert!(!message.contains("glpat-"), "{message}");
        assert_eq!(identity(&path), before);
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        assert_eq!(names(dir.path()), ["config.yml"]);
    }
    fs::write(&path, b"hosts:\n    h\xff:\n").unwrap();
    let err = ensure_host_entry_in_file(&path, &http("h").entry()).unwrap_err();
    assert!(err.to_string().contains("line 2: it is not UTF-8"), "{err}");
}

/// Not a regular file: refused without blocking (a FIFO) or writing.
#[test]
fn a_directory_or_fifo_named_config_yml_is_refused() {
    let dir = TempDir::new();
    let path = dir.path().join("config.yml");
    fs::create_dir(&path).unwrap();
    let err = ensure_host_entry_in_file(&path, &http("h").entry()).unwrap_err();
    assert!(matches!(err, GlabConfigError::NotRegular { .. }), "{err}");
    fs::remove_dir(&path).unwrap();

    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let err = ensure_host_entry_in_file(&path, &http("h").entry()).unwrap_err();
    assert!(matches!(err, GlabConfigError::NotRegular { .. }), "{err}");
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_fifo());
    assert_eq!(names(dir.path()), ["config.yml"]);
}

/// A symbolic link is followed (as glab's own WriteFile does): the target is
/// replaced and the link stays a link. A dangling link is refused.
#[test]
fn a_symlinked_config_is_written_through_and_stays_linked() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("glab");
    let real = dir.path().join("dotfiles").join("glab.yml");
    write_config(&real, "git_protocol: ssh\n");
    fs::create_dir(&config_dir).unwrap();
    let path = config_dir.join("config.yml");
    std::os::unix::fs::symlink("../dotfiles/glab.yml", &path).unwrap();

    ensure_host_entry_in_file(&path, &http("127.0.0.1:8181").entry()).unwrap();
    assert!(fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::read_to_string(&real)
        .unwrap()
        .starts_with("git_protocol: ssh\nhosts:\n"));
    assert_entry(dir.path(), &config_dir, &http("127.0.0.1:8181"));
    assert_eq!(names(&config_dir), ["config.yml"]);
    assert_eq!(names(real.parent().unwrap()), ["glab.yml"]);

    fs::remove_file(&real).unwrap();
    let err = ensure_host_entry_in_file(&path, &http("h").entry()).unwrap_err();
    assert!(
        matches!(err, GlabConfigError::DanglingSymlink { .. }),
        "{err}"
    );
    assert!(fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!real.exists());
}

/// A missing config directory is created 0700 (parents too) and the file
/// 0600, which glab requires.
#[test]
fn a_missing_directory_is_created_private() {
    let dir = TempDir::new();
    let config_dir = dir.path().join("workspace").join(".glab-config");
    let path = config_dir.join("config.yml");
    assert_eq!(
        ensure_host_entry_in_file(&path, &http("h:1").entry()).unwrap(),
        Outcome::Written
    );
    for d in [dir.path().join("workspace"), config_dir.clone()] {
        assert_eq!(
            fs::metadata(&d).unwrap().mode() & 0o777,
            0o700,
            "{}",
            d.display()
        );
    }
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_entry(dir.path(), &config_dir, &http("h:1"));
}

/// An existing file keeps its mode and owner.
#[test]
fn the_old_files_mode_and_owner_are_kept() {
    let dir = TempDir::new();
    let path = dir.path().join("config.yml");
    write_config(&path, "hosts:\n  a:\n    token:\n");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    ensure_host_entry_in_file(&path, &http("h").entry()).unwrap();
    let m = fs::metadata(&path).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 65534, 65534));
}

/// The fast path: the entry already there means one read, no lock, no write
/// (a lock left by another run would otherwise make it wait and fail).
#[test]
fn an_entry_already_set_is_read_once_and_nothing_is_locked_or_written() {
    let dir = TempDir::new();
    let path = dir.path().join("config.yml");
    ensure_host_entry_in_file(&path, &http("h:1").entry()).unwrap();
    let before = identity(&path);
    let lock = dir.path().join("config.yml.lock");
    fs::write(&lock, "").unwrap();
    let started = Instant::now();
    assert_eq!(
        ensure_host_entry_in_file(&path, &http("h:1").entry()).unwrap(),
        Outcome::AlreadySet
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(identity(&path), before);

    // With a change to make, the same lock is waited for, then named.
    let err = ensure_host_entry_in_file(&path, &http("h:2").entry()).unwrap_err();
    assert!(matches!(err, GlabConfigError::LockTimeout { .. }), "{err}");
    assert!(err.to_string().contains("config.yml.lock"), "{err}");
    assert_eq!(identity(&path), before);
    fs::remove_file(&lock).unwrap();
}

/// glab's default location: `$XDG_CONFIG_HOME/glab-cli`, else
/// `$HOME/.config/glab-cli` — where the real glab writes too.
#[test]
fn the_default_config_path_is_where_glab_writes() {
    let dir = TempDir::new();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    for xdg in [None, Some(dir.path().join("xdg"))] {
        let env = |name: &str| -> Option<OsString> {
            match name {
                "HOME" => Some(home.clone().into()),
                "XDG_CONFIG_HOME" => xdg.clone().map(Into::into),
                _ => None,
            }
        };
        let path = kelos_glab::config_path(env).unwrap();
        let mut cmd = Command::new(glab());
        cmd.env_clear()
            .env("HOME", &home)
            .env("GLAB_NO_PROMPT", "true")
            .env("GLAB_CHECK_UPDATE", "false")
            .env("GLAB_SEND_TELEMETRY", "false")
            .current_dir(&home)
            .args([
                "config",
                "set",
                "--host",
                "probe.example",
                "api_protocol",
                "http",
            ]);
        if let Some(x) = &xdg {
            cmd.env("XDG_CONFIG_HOME", x);
        }
        run(&mut cmd);
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("probe.example:"),
            "{}",
            path.display()
        );
    }
}
