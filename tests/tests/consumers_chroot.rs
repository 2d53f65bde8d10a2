//! The shell snippet in the example image's root file system: `images/install.sh` installs
//! `/etc/profile.d/kelos-env.sh`, the Dockerfile's `ENV BASH_ENV=...` names it, and a
//! long-lived parent with a frozen environment (as UID 61100, `GITHUB_TOKEN` and `GH_TOKEN` =
//! the first token) starts `bash -lc`, `sh -lc`, `bash -c` and `exec` children across
//! kubelet-style rotations of the token volume mounted at /kelos/github-token. Each child sees
//! the file's token of that moment; with a bad file, the parent's values untouched; a
//! `bash -lc`, which reads the snippet twice (/etc/profile, then BASH_ENV), runs the helper
//! once. Needs root (debootstrap, chroot; see tests/src/chroot/); the root file system is
//! the one tests/tests/images.rs uses (cached under target/rootfs-cache/).

use kelos_e2e::text;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use kelos_e2e::chroot::{
    debian_source, host_architecture, read_final_stage, require_root, require_rootfs_tools,
    rootfs_for, workspace_root, RootfsRecipe, RunSpec, Step, CONTAINER_PATH,
};
use kelos_e2e::secrets::redacted;
use kelos_e2e::{assert_no_token_in, bin, unique_token, TempDir, TokenVolume, HELPER};

const AGENT: (u32, u32) = (61100, 61100);
const VOLUME_MOUNT: &str = "/kelos/github-token";
const TOKEN_FILE: &str = "/kelos/github-token/GITHUB_TOKEN";
const SYNC: &str = "/kelos-e2e-sync";

/// Publishes `token` readable by the agent, as kubelet's Secret volumes are (0755/0644).
fn publish(vol: &mut TokenVolume, token: &[u8]) {
    vol.publish(token, None);
    fs::set_permissions(vol.dir(), fs::Permissions::from_mode(0o755)).unwrap();
    let generation = vol.dir().join(vol.current_generation().unwrap());
    fs::set_permissions(&generation, fs::Permissions::from_mode(0o755)).unwrap();
    for e in fs::read_dir(&generation).unwrap().flatten() {
        fs::set_permissions(e.path(), fs::Permissions::from_mode(0o644)).unwrap();
    }
}

const SHOW: &str = r#"printf "%s|%s\n" "${GITHUB_TOKEN-<unset>}" "${GH_TOKEN-<unset>}""#;

/// The children, each writing `GITHUB_TOKEN|GH_TOKEN` to `$SYNC/out.N.LABEL` (stderr to
/// `.err`). `lc-traced` also traces the helper, to count its runs.
fn children() -> Vec<(&'static str, String)> {
    vec![
        ("bash-lc", format!("bash -lc '{SHOW}'")),
        (
            "bash-lc-no-bash-env",
            format!("env -u BASH_ENV bash -lc '{SHOW}'"),
        ),
        ("sh-lc", format!("sh -lc '{SHOW}'")),
        ("bash-c", format!("bash -c '{SHOW}'")),
        ("exec", format!("git-credential-kelos exec sh -c '{SHOW}'")),
        (
            "lc-traced",
            format!("KELOS_CREDENTIAL_TRACE=$SYNC/trace.$i bash -lc '{SHOW}'"),
        ),
        ("parent", SHOW.to_string()),
    ]
}

/// The parent: for each round `i`, waits for `$SYNC/go.$i`, starts every child, then
/// writes `$SYNC/done.$i`. dash reads no BASH_ENV: its own variables stay as they started.
fn parent_script(rounds: usize) -> String {
    let mut s = format!("SYNC={SYNC}\ni=0\nwhile [ $i -lt {rounds} ]; do\n");
    s.push_str("  n=0; while [ ! -e $SYNC/go.$i ]; do sleep 0.02; n=$((n+1)); [ $n -lt 3000 ] || exit 3; done\n");
    for (label, line) in children() {
        s.push_str(&format!(
            "  {line} >$SYNC/out.$i.{label} 2>$SYNC/out.$i.{label}.err\n"
        ));
    }
    s.push_str("  : >$SYNC/done.$i\n  i=$((i+1))\ndone\n");
    s
}

#[test]
fn login_shells_and_bash_c_in_the_image_see_the_file_s_token_of_the_moment() {
    require_root("the consumers chroot test");
    require_rootfs_tools();
    // The example image's distribution layers (as tests/tests/images.rs builds them), then
    // the helpers and images/install.sh, which installs the snippet.
    let dockerfile = workspace_root().join("images/example-agent/Dockerfile");
    let stage = read_final_stage(&dockerfile);
    let root_steps = stage.distribution_steps();
    let mut root = rootfs_for(&RootfsRecipe {
        source: debian_source(),
        arch: host_architecture(),
        root_steps,
    });
    root.install_file(&bin(HELPER), "/opt/kelos/git-credential-kelos", 0o755);
    root.install_file(&bin("kelos-gh"), "/opt/kelos/kelos-gh", 0o755);
    root.install_file(
        &workspace_root().join("images/install.sh"),
        "/tmp/install.sh",
        0o644,
    );
    let out = root.run(&RunSpec::as_root(
        &["/bin/sh", "/tmp/install.sh", "/opt/kelos"],
        Duration::from_secs(120),
    ));
    assert!(
        out.status.success(),
        "install.sh failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let installed = root.host_path("/etc/profile.d/kelos-env.sh");
    assert_eq!(
        fs::read(&installed).expect("install.sh installs /etc/profile.d/kelos-env.sh"),
        fs::read(workspace_root().join("images/kelos-env.sh")).unwrap(),
        "the installed snippet is not images/kelos-env.sh"
    );
    assert_eq!(
        fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // The agent's environment: the image's ENV lines (BASH_ENV among them) and the pod's.
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), CONTAINER_PATH.into()),
        ("HOME".into(), "/home/agent".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    for step in &stage.steps {
        if let Step::Env(vars) = step {
            for (k, v) in vars {
                env.retain(|(e, _)| e != k);
                env.push((k.clone(), v.clone()));
            }
        }
    }
    assert!(
        env.iter()
            .any(|(k, v)| k == "BASH_ENV" && v == "/etc/profile.d/kelos-env.sh"),
        "the image does not set BASH_ENV=/etc/profile.d/kelos-env.sh: {env:?}"
    );
    let first = unique_token("ChrootFirst");
    env.extend(
        [
            ("KELOS_GITHUB_TOKEN_FILE", TOKEN_FILE),
            ("GITHUB_TOKEN", first.as_str()),
            ("GH_TOKEN", first.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );

    let mut vol = TokenVolume::new();
    publish(&mut vol, first.as_bytes());
    root.bind(vol.dir(), VOLUME_MOUNT, true);
    let sync = TempDir::new("kelos-e2e-chroot-sync");
    fs::set_permissions(sync.path(), fs::Permissions::from_mode(0o777)).unwrap();
    root.bind(sync.path(), SYNC, false);

    // What the file holds in each round, and what every child must then see.
    let mut secrets = vec![first.clone()];
    let mut plan: Vec<(String, Vec<u8>, String)> =
        vec![("start".into(), Vec::new(), first.clone())];
    for n in 0..3 {
        let t = unique_token("ChrootNext");
        secrets.push(t.clone());
        plan.push((format!("rotation {n}"), t.as_bytes().to_vec(), t));
    }
    for (label, bad) in [("inner whitespace", &b"ghs_two words"[..]), ("empty", b"")] {
        plan.push((format!("bad file: {label}"), bad.to_vec(), first.clone()));
    }
    let last = unique_token("ChrootLast");
    secrets.push(last.clone());
    plan.push(("good again".into(), last.as_bytes().to_vec(), last.clone()));

    let spec = RunSpec {
        user: Some(AGENT),
        env,
        cwd: "/home/agent".into(),
        argv: vec!["/bin/sh".into(), "-c".into(), parent_script(plan.len())],
        stdin: Vec::new(),
        timeout: Duration::from_secs(300),
    };
    let parent = thread::scope(|scope| {
        let handle = scope.spawn(|| root.run(&spec));
        let s: Vec<&str> = secrets.iter().map(String::as_str).collect();
        for (i, (moment, content, want)) in plan.iter().enumerate() {
            if i > 0 {
                publish(&mut vol, content);
            }
            fs::write(sync.join(format!("go.{i}")), "").unwrap();
            wait_for(&sync.join(format!("done.{i}")), &handle);
            for (label, _) in children() {
                let got = fs::read(sync.join(format!("out.{i}.{label}"))).unwrap_or_default();
                let err = fs::read(sync.join(format!("out.{i}.{label}.err"))).unwrap_or_default();
                assert_no_token_in(&format!("{moment}: {label} stderr"), &err, &s);
                assert!(
                    err.is_empty(),
                    "{moment}: {label} wrote to stderr: {}",
                    redacted(&err, &s)
                );
                let want = if label == "parent" { &first } else { want };
                assert_eq!(
                    text(&got).trim_end(),
                    format!("{want}|{want}"),
                    "{moment}: {label} saw {} (want {})",
                    redacted(&got, &s),
                    redacted(want.as_bytes(), &s)
                );
            }
            let trace = fs::read(sync.join(format!("trace.{i}"))).unwrap_or_default();
            assert_no_token_in("the trace", &trace, &s);
            let runs = text(&trace)
                .lines()
                .filter(|l| l.contains(": env: "))
                .count();
            assert_eq!(
                runs,
                1,
                "{moment}: bash -lc ran the helper {runs} times:\n{}",
                text(&trace)
            );
        }
        handle.join().expect("the parent thread")
    });
    assert!(
        parent.status.success(),
        "the parent failed ({}): {}",
        parent.status,
        text(&parent.stderr)
    );
}

/// Waits for `path` to appear (the parent's round is done), failing if the parent ended.
fn wait_for(path: &Path, parent: &thread::ScopedJoinHandle<'_, std::process::Output>) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            !parent.is_finished() || path.exists(),
            "the parent ended before {}",
            path.display()
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {}",
            path.display()
        );
        thread::sleep(Duration::from_millis(10));
    }
}
