//! The release: `scripts/release.sh` run for real, twice, and its `dist/` read as a user who
//! downloads it would.
//!
//! The workspace (its tracked and new files, as they are now) is copied to two checkouts
//! at different paths, each with its own `CARGO_HOME` (the registry copied in, offline) and
//! target directory; `bash scripts/release.sh` runs in each with the commit and its time
//! given (`KELOS_COMMIT`, `SOURCE_DATE_EPOCH`: the copies have no `.git`). Both builds are
//! kept under `target/release-repro/` so that a second run of this suite only rebuilds what
//! changed. Then:
//!
//! - `two_builds_from_other_paths_and_cargo_homes_are_byte_equal`: every asset, byte for
//!   byte; and no binary, archive or SBOM holds either checkout's or cargo home's path.
//! - `sha256sum_c_passes_in_a_directory_holding_exactly_the_uploaded_assets`: and
//!   `SHA256SUMS` lists each asset once; a changed byte fails it (the control).
//! - `the_archives_hold_what_an_operator_installs_from`: each target's archive, entry by
//!   entry (names, modes, owners, times), its files equal to their sources; gzip stores no
//!   name and no time.
//! - `the_sbom_lists_every_crate_of_the_binaries`: the SBOM's crates are exactly those
//!   `cargo tree -e normal --target T` gives for the shipped packages, for both targets, and
//!   each binary's dependency graph in it is its own tree.
//! - `the_image_archive_is_tagged_with_the_release_and_its_digest_printed`: and
//!   containers/image (buildah's, as skopeo's push) reads it by that tag, to that digest.
//! - `version_and_doctor_name_the_commit`: `--version` of the archive's helper names the
//!   commit; the archive's kelos-gh, installed as `gh`, is shown by `doctor` with its own
//!   version and commit.
//!
//! Without the builds:
//!
//! - `without_the_commit_from_git_the_scripts_stop_and_name_the_fix`: in a checkout git
//!   refuses (another user owns it), image.sh and release.sh stop instead of guessing.
//! - `release_notes_come_from_the_changelog_section_of_the_version`.

use kelos_e2e::text;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kelos_e2e::chroot::tail;
use kelos_e2e::chroot::{require_root, require_system_tool, target_dir, workspace_root};
use kelos_e2e::process::run_ok;
use kelos_e2e::{head_commit, json_pairs, require_tool, run_with_timeout, TempDir};

const TARGETS: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
const BINARIES: [&str; 3] = ["git-credential-kelos", "kelos-gh", "kelos-glab"];
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// A cold release (two targets, LTO, the image, the SBOM) on a busy 2-core machine.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const TIMEOUT: Duration = Duration::from_secs(120);

fn ok(mut c: Command, what: &str) -> Output {
    c.env("LC_ALL", "C");
    run_ok(c, what, TIMEOUT, 30)
}

fn tag() -> String {
    format!("v{VERSION}")
}

fn archive_name(target: &str) -> String {
    format!("kelos-credential-helpers-{}-{target}", tag())
}

/// The assets a release uploads, by name.
fn expected_assets() -> Vec<String> {
    let mut names: Vec<String> = TARGETS
        .iter()
        .map(|t| format!("{}.tar.gz", archive_name(t)))
        .collect();
    names.push(format!("kelos-credential-helpers-{}.oci.tar", tag()));
    names.push(format!("kelos-credential-helpers-{}.cdx.json", tag()));
    names.push("SHA256SUMS".into());
    names.sort();
    names
}

/// One run of release.sh in its own checkout.
struct Build {
    checkout: PathBuf,
    cargo_home: PathBuf,
    stdout: String,
}

impl Build {
    fn dist(&self) -> PathBuf {
        self.checkout.join("dist")
    }
    fn asset(&self, name: &str) -> PathBuf {
        self.dist().join(name)
    }
}

struct Builds {
    a: Build,
    b: Build,
    commit: String,
    epoch: u64,
}

/// The commit's time, as release.sh would read it.
fn commit_epoch() -> u64 {
    let root = workspace_root();
    let mut c = Command::new(require_tool("git"));
    c.arg("-c")
        .arg(format!("safe.directory={}", root.display()))
        .args(["log", "-1", "--format=%ct"])
        .current_dir(&root);
    text(&ok(c, "git log -1 --format=%ct").stdout)
        .trim()
        .parse()
        .expect("a commit time")
}

/// The workspace's files as they are now (tracked, and new ones not ignored).
fn copy_workspace(to: &Path) {
    let root = workspace_root();
    let mut c = Command::new(require_tool("git"));
    c.arg("-c")
        .arg(format!("safe.directory={}", root.display()))
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root);
    let listed = ok(c, "git ls-files").stdout;
    if to.exists() {
        // Keep target/ (the build cache); every source file is copied afresh.
        for e in fs::read_dir(to).unwrap().flatten() {
            if e.file_name() != "target" {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    fs::remove_dir_all(&p).unwrap();
                } else {
                    fs::remove_file(&p).unwrap();
                }
            }
        }
    }
    for rel in listed.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("UTF-8 path"));
        let from = root.join(rel);
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue; // deleted in the work tree
        };
        let dest = to.join(rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &dest).unwrap();
        } else {
            fs::copy(&from, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
    }
}

/// A cargo home with this machine's registry copied in (no download).
fn cargo_home(at: &Path) {
    let home = std::env::var_os("CARGO_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let registry = home.join("registry");
    assert!(
        registry.join("index").is_dir() && registry.join("cache").is_dir(),
        "{} has no registry to copy: run `cargo fetch --locked` in the workspace first",
        registry.display()
    );
    if at.join("registry/cache").is_dir() {
        return;
    }
    fs::create_dir_all(at.join("registry")).unwrap();
    for part in ["index", "cache"] {
        let mut c = Command::new(require_tool("cp"));
        c.arg("-a")
            .arg(registry.join(part))
            .arg(at.join("registry"));
        ok(c, "cp -a the registry");
    }
}

fn release(checkout: &Path, cargo_home: &Path, commit: &str, epoch: u64) -> String {
    let started = Instant::now();
    let mut c = Command::new(require_tool("bash"));
    c.arg("scripts/release.sh")
        .current_dir(checkout)
        .env("CARGO_HOME", cargo_home)
        .env("CARGO_NET_OFFLINE", "true")
        .env("KELOS_COMMIT", commit)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("KELOS_BUILDAH_ROOT");
    // rustup's proxies find the toolchain through RUSTUP_HOME, not CARGO_HOME.
    if std::env::var_os("RUSTUP_HOME").is_none() {
        if let Some(home) = std::env::var_os("HOME") {
            c.env("RUSTUP_HOME", PathBuf::from(home).join(".rustup"));
        }
    }
    let what = format!("bash scripts/release.sh in {}", checkout.display());
    let out = run_ok(c, &what, RELEASE_TIMEOUT, 40);
    let stdout = text(&out.stdout);
    eprintln!(
        "release: scripts/release.sh in {} in {:.0?}:\n{}",
        checkout.display(),
        started.elapsed(),
        tail(&stdout, 14)
    );
    stdout
}

fn builds() -> &'static Builds {
    static BUILT: OnceLock<Builds> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_root("building the image with buildah (vfs storage, chroot isolation)");
        require_system_tool("buildah", "buildah");
        let commit = head_commit();
        let epoch = commit_epoch();
        let base = target_dir().join("release-repro");
        // Two checkouts of different paths and lengths, two cargo homes.
        let (a, b) = (
            base.join("a/checkout"),
            base.join("b/another/kelos-credential-helpers"),
        );
        let (home_a, home_b) = (base.join("a/cargo"), base.join("b/cargo-home"));
        // Both copies first: the same sources, whatever changes in the work tree meanwhile.
        for (checkout, home) in [(&a, &home_a), (&b, &home_b)] {
            copy_workspace(checkout);
            cargo_home(home);
        }
        let mut built = Vec::new();
        for (checkout, home) in [(&a, &home_a), (&b, &home_b)] {
            let stdout = release(checkout, home, &commit, epoch);
            built.push(Build {
                checkout: checkout.clone(),
                cargo_home: home.clone(),
                stdout,
            });
        }
        let b = built.pop().unwrap();
        let a = built.pop().unwrap();
        Builds {
            a,
            b,
            commit,
            epoch,
        }
    })
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The files of an archive, unpacked into `into`.
fn unpack(archive: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    let mut c = Command::new(require_tool("tar"));
    c.arg("-xzf").arg(archive).arg("-C").arg(into);
    ok(c, "tar -xzf");
}

#[test]
fn two_builds_from_other_paths_and_cargo_homes_are_byte_equal() {
    let built = builds();
    let (a, b) = (&built.a, &built.b);
    assert_eq!(
        names_in(&a.dist()),
        expected_assets(),
        "dist/ of {}",
        a.checkout.display()
    );
    assert_eq!(
        names_in(&b.dist()),
        expected_assets(),
        "dist/ of {}",
        b.checkout.display()
    );
    let differing: Vec<String> = expected_assets()
        .into_iter()
        .filter(|name| fs::read(a.asset(name)).unwrap() != fs::read(b.asset(name)).unwrap())
        .collect();
    assert!(
        differing.is_empty(),
        "the same commit gave other bytes from {} (CARGO_HOME {}) and {} (CARGO_HOME {}): {differing:?}",
        a.checkout.display(),
        a.cargo_home.display(),
        b.checkout.display(),
        b.cargo_home.display()
    );

    // No build path inside: not in the binaries, the archives' other files, or the SBOM.
    let scratch = TempDir::new("kelos-e2e-release-paths");
    let mut looked_at = 0;
    for build in [a, b] {
        let needles: Vec<String> = [&build.checkout, &build.cargo_home]
            .iter()
            .map(|p| p.display().to_string())
            .chain([
                "/root/.cargo".to_string(),
                workspace_root().display().to_string(),
            ])
            .collect();
        let unpacked = scratch.join(build.checkout.file_name().unwrap());
        let mut files = vec![build.asset(&format!("kelos-credential-helpers-{}.cdx.json", tag()))];
        for target in TARGETS {
            unpack(
                &build.asset(&format!("{}.tar.gz", archive_name(target))),
                &unpacked,
            );
            for name in BINARIES {
                files.push(unpacked.join(archive_name(target)).join(name));
            }
        }
        for f in &files {
            let bytes = fs::read(f).unwrap();
            looked_at += 1;
            for needle in &needles {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{} holds the build path {needle}",
                    f.display()
                );
            }
        }
    }
    eprintln!(
        "release: {} assets byte-equal from {} and {}; no build path in {looked_at} files",
        expected_assets().len(),
        a.checkout.display(),
        b.checkout.display()
    );
}

fn sha256sum_c(dir: &Path) -> Output {
    let mut c = Command::new(require_tool("sha256sum"));
    c.args(["-c", "SHA256SUMS"]).current_dir(dir);
    run_with_timeout(c, b"", TIMEOUT)
}

#[test]
fn sha256sum_c_passes_in_a_directory_holding_exactly_the_uploaded_assets() {
    let built = builds();
    let download = TempDir::new("kelos-e2e-download");
    for name in expected_assets() {
        fs::copy(built.a.asset(&name), download.join(&name)).unwrap();
    }
    let out = sha256sum_c(download.path());
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "sha256sum -c SHA256SUMS failed in the download directory ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    // Every other asset is listed, once, by its bare name: nothing unchecked, nothing absent.
    let sums = fs::read_to_string(download.join("SHA256SUMS")).unwrap();
    let listed: Vec<&str> = sums
        .lines()
        .map(|l| {
            let (hash, name) = l.split_once("  ").unwrap_or_else(|| panic!("line {l:?}"));
            assert!(
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{l:?}"
            );
            name
        })
        .collect();
    let mut want: Vec<String> = expected_assets();
    want.retain(|n| n != "SHA256SUMS");
    assert_eq!(listed, want, "SHA256SUMS lists");
    let report = text(&out.stdout);
    for name in &want {
        assert!(report.contains(&format!("{name}: OK")), "{report}");
    }

    // The control: one changed byte in an asset fails it.
    let victim = download.join(&want[0]);
    let mut bytes = fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&victim, bytes).unwrap();
    let out = sha256sum_c(download.path());
    assert!(
        !out.status.success() && text(&out.stdout).contains(&format!("{}: FAILED", want[0])),
        "sha256sum -c did not catch a changed byte:\n{}",
        text(&out.stdout)
    );
    eprintln!("release: sha256sum -c SHA256SUMS:\n{}", report.trim_end());
}

#[test]
fn the_archives_hold_what_an_operator_installs_from() {
    let built = builds();
    // The sources the release was built from.
    let root = &built.a.checkout;
    let scratch = TempDir::new("kelos-e2e-archives");
    let docs = built.a.checkout.join("target/dist/docs");
    let man: Vec<String> = names_in(&docs.join("man/man1"))
        .into_iter()
        .map(|n| format!("man/man1/{n}"))
        .collect();
    let completions: Vec<String> = names_in(&docs.join("completions"))
        .into_iter()
        .map(|n| format!("completions/{n}"))
        .collect();
    assert!(
        man.iter().any(|m| m == "man/man1/git-credential-kelos.1")
            && man.iter().any(|m| m == "man/man1/kelos-glab.1")
            && completions
                .iter()
                .any(|c| c == "completions/git-credential-kelos.bash"),
        "kelos-docgen wrote {man:?} {completions:?}"
    );
    for target in TARGETS {
        let name = archive_name(target);
        let archive = built.a.asset(&format!("{name}.tar.gz"));
        let gz = fs::read(&archive).unwrap();
        // gzip: no FNAME flag (bit 3), MTIME zero.
        assert_eq!(&gz[..3], b"\x1f\x8b\x08", "{name}: not gzip");
        assert_eq!(gz[3] & 0x08, 0, "{name}: gzip stores a file name");
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "{name}: gzip stores a time");

        let mut c = Command::new(require_tool("tar"));
        c.args(["--numeric-owner", "--full-time", "-tvzf"])
            .arg(&archive);
        c.env("TZ", "UTC");
        let listing = text(&ok(c, "tar -tvzf").stdout);
        let mut entries = Vec::new();
        for line in listing.lines() {
            // -rwxr-xr-x 0/0 123 2026-12-01 12:00:00 NAME
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 6, "{name}: entry {line:?}");
            let (mode, owner, date, time, path) = (f[0], f[1], f[3], f[4], f[5]);
            assert_eq!(owner, "0/0", "{name}: {path} owner");
            let when = format!("{date} {time}");
            assert_eq!(
                when,
                utc(built.epoch),
                "{name}: {path} carries another time than the commit's"
            );
            let rel = path
                .strip_prefix(&format!("{name}/"))
                .or_else(|| (path == format!("{name}/")).then_some(""))
                .unwrap_or_else(|| panic!("{name}: {path} is outside {name}/"));
            let want_mode = if rel.is_empty() || rel.ends_with('/') {
                "drwxr-xr-x"
            } else if BINARIES.contains(&rel) || rel == "install.sh" {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert_eq!(mode, want_mode, "{name}: {path} mode");
            entries.push(rel.trim_end_matches('/').to_string());
        }
        let mut want: Vec<String> = [
            "",
            "LICENSE",
            "README.md",
            "completions",
            "git-credential-kelos",
            "install.sh",
            "kelos-env.sh",
            "kelos-gh",
            "kelos-glab",
            "man",
            "man/man1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        want.extend(man.iter().cloned());
        want.extend(completions.iter().cloned());
        want.sort();
        assert_eq!(entries, want, "{name}: entries, in order");

        let into = scratch.join(target);
        unpack(&archive, &into);
        let tree = into.join(&name);
        for (inside, source) in [
            ("LICENSE", root.join("LICENSE")),
            ("README.md", root.join("README.md")),
            ("kelos-env.sh", root.join("images/kelos-env.sh")),
            ("install.sh", root.join("images/install.sh")),
        ] {
            assert!(
                fs::read(tree.join(inside)).unwrap() == fs::read(&source).unwrap(),
                "{name}: {inside} is not {}",
                source.display()
            );
        }
        for doc in man.iter().chain(&completions) {
            assert!(
                fs::read(tree.join(doc)).unwrap() == fs::read(docs.join(doc)).unwrap(),
                "{name}: {doc} is not what kelos-docgen wrote"
            );
        }
        for bin in BINARIES {
            let staged = built.a.checkout.join("target/dist").join(target).join(bin);
            let bytes = fs::read(tree.join(bin)).unwrap();
            assert!(
                bytes == fs::read(&staged).unwrap(),
                "{name}: {bin} is not the build's"
            );
            assert!(bytes.len() <= 1 << 20, "{name}: {bin} is over 1 MiB");
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as `tar --full-time` with TZ=UTC shows it.
fn utc(epoch: u64) -> String {
    let mut c = Command::new(require_tool("date"));
    c.args(["-u", "-d"])
        .arg(format!("@{epoch}"))
        .arg("+%Y-%m-%d %H:%M:%S");
    text(&ok(c, "date").stdout).trim().to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `name version` of every package `cargo tree -e normal --target TARGET` shows for `packages`.
fn cargo_tree(target: &str, packages: &[&str]) -> BTreeSet<String> {
    let mut c = Command::new(require_tool("cargo"));
    c.args([
        "tree",
        "--locked",
        "--offline",
        "-e",
        "normal",
        "--prefix",
        "none",
    ])
    .args(["--format", "{p}", "--target", target])
    .current_dir(workspace_root());
    for p in packages {
        c.args(["-p", p]);
    }
    text(&ok(c, "cargo tree").stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // "clap_derive v4.6.9 (proc-macro)", "kelos-token v0.1.0 (/path) (*)"
            let mut words = l.split_whitespace();
            let name = words.next().unwrap();
            let version = words.next().unwrap().trim_start_matches('v');
            format!("{name} {version}")
        })
        .collect()
}

#[test]
fn the_sbom_lists_every_crate_of_the_binaries() {
    let built = builds();
    let sbom = read_json(
        &built
            .a
            .asset(&format!("kelos-credential-helpers-{}.cdx.json", tag())),
    );
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["specVersion"], "1.5");
    let meta = &sbom["metadata"];
    assert_eq!(meta["component"]["name"], "kelos-credential-helpers");
    assert_eq!(meta["component"]["version"], VERSION);
    assert_eq!(meta["tools"][0]["name"], "cargo-cyclonedx");
    let properties: Vec<(String, String)> = json_pairs(&meta["properties"], "name", "value");
    for target in TARGETS {
        assert!(
            properties.contains(&("cdx:rustc:sbom:target:triple".into(), target.into())),
            "the SBOM does not name {target}: {properties:?}"
        );
    }
    assert!(properties.contains(&("kelos:commit".into(), built.commit.clone())));

    // Crates by bom-ref; the binaries are the release's components.
    let mut by_ref = std::collections::BTreeMap::new();
    for c in sbom["components"].as_array().unwrap() {
        let id = format!(
            "{} {}",
            c["name"].as_str().unwrap(),
            c["version"].as_str().unwrap()
        );
        assert!(
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:cargo/")),
            "{id}: purl {}",
            c["purl"]
        );
        // Every registry crate with its .crate file's SHA-256.
        let local = c["purl"].as_str().unwrap().contains("download_url=file");
        assert!(
            local || c["hashes"][0]["alg"] == "SHA-256",
            "{id} has no SHA-256: {c}"
        );
        by_ref.insert(c["bom-ref"].as_str().unwrap().to_string(), id);
    }
    let binaries = meta["component"]["components"].as_array().unwrap();
    let mut binary_refs = Vec::new();
    for b in binaries {
        let id = format!(
            "{} {}",
            b["name"].as_str().unwrap(),
            b["version"].as_str().unwrap()
        );
        by_ref.insert(b["bom-ref"].as_str().unwrap().to_string(), id.clone());
        binary_refs.push((
            b["name"].as_str().unwrap().to_string(),
            b["bom-ref"].as_str().unwrap().to_string(),
        ));
    }
    let graph: std::collections::BTreeMap<String, Vec<String>> = sbom["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["ref"].as_str().unwrap().to_string(),
                d["dependsOn"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let closure = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(r) = todo.pop() {
            let id = by_ref
                .get(&r)
                .unwrap_or_else(|| panic!("the SBOM's graph names {r}, which it does not list"))
                .clone();
            if seen.insert(id) {
                todo.extend(graph.get(&r).cloned().unwrap_or_default());
            }
        }
        seen
    };

    let all: BTreeSet<String> = by_ref.values().cloned().collect();
    for target in TARGETS {
        let tree = cargo_tree(target, &BINARIES);
        assert_eq!(
            all, tree,
            "the SBOM's crates and `cargo tree --target {target}`"
        );
        for (name, r) in &binary_refs {
            assert_eq!(
                closure(r),
                cargo_tree(target, &[name]),
                "{name}'s graph in the SBOM and its `cargo tree --target {target}`"
            );
        }
    }
    eprintln!("release: the SBOM lists {} crates: {all:?}", all.len());
}

#[test]
fn the_image_archive_is_tagged_with_the_release_and_its_digest_printed() {
    let built = builds();
    let archive = built
        .a
        .asset(&format!("kelos-credential-helpers-{}.oci.tar", tag()));
    let layout = TempDir::new("kelos-e2e-release-oci");
    let mut c = Command::new(require_tool("tar"));
    c.arg("-xf").arg(&archive).arg("-C").arg(layout.path());
    ok(c, "tar -xf the OCI archive");
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        tag().as_str(),
        "the archive's reference is the tag the release pushes"
    );
    let digest = manifests[0]["digest"].as_str().unwrap();
    for build in [&built.a, &built.b] {
        assert!(
            build
                .stdout
                .lines()
                .any(|l| l == format!("digest: {digest}")),
            "release.sh did not print the archive's digest {digest}:\n{}",
            build.stdout
        );
    }
    // containers/image (what skopeo pushes it with) reads it by the tag, and finds that list.
    let storage = TempDir::new("kelos-e2e-release-pull");
    let buildah = |args: &[&str]| {
        let mut c = kelos_e2e::chroot::buildah_in(storage.path());
        c.args(args);
        ok(c, &format!("buildah {args:?}"))
    };
    let reference = format!("oci-archive:{}:{}", archive.display(), tag());
    buildah(&["pull", "--quiet", &reference]);
    let pulled = text(&buildah(&["images", "--format", "{{.Digest}}"]).stdout);
    assert_eq!(pulled.trim(), digest, "buildah pull {reference}");

    let list = read_json(
        &layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    );
    for m in list["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        assert!(
            built.a.stdout.contains(&format!("  {d}  ")),
            "release.sh did not print the platform digest {d}:\n{}",
            built.a.stdout
        );
    }
}

#[test]
fn version_and_doctor_name_the_commit() {
    let built = builds();
    let scratch = TempDir::new("kelos-e2e-release-version");
    let target = "x86_64-unknown-linux-musl";
    assert_eq!(
        std::env::consts::ARCH,
        "x86_64",
        "this test runs the x86_64 archive"
    );
    unpack(
        &built.a.asset(&format!("{}.tar.gz", archive_name(target))),
        scratch.path(),
    );
    let tree = scratch.join(archive_name(target));
    let want = format!("{VERSION} (commit {})", built.commit);
    // doctor cuts the id to 12 digits (a whole one is masked as a token shape).
    let short = format!("{VERSION} (commit {})", &built.commit[..12]);

    let mut c = Command::new(tree.join("git-credential-kelos"));
    c.arg("--version").env_clear();
    assert_eq!(
        text(&ok(c, "git-credential-kelos --version").stdout),
        format!("git-credential-kelos {want}\n")
    );

    // kelos-gh, installed as gh ahead of a real gh: doctor shows its version and commit.
    let bin = scratch.join("bin");
    fs::create_dir(&bin).unwrap();
    fs::copy(tree.join("kelos-gh"), bin.join("gh")).unwrap();
    fs::set_permissions(bin.join("gh"), fs::Permissions::from_mode(0o755)).unwrap();
    let real = scratch.join("real");
    fs::create_dir(&real).unwrap();
    fs::write(
        real.join("gh"),
        "#!/bin/sh\necho 'gh version 9.9.9 (stand-in)'\n",
    )
    .unwrap();
    fs::set_permissions(real.join("gh"), fs::Permissions::from_mode(0o755)).unwrap();
    let home = scratch.join("home");
    fs::create_dir(&home).unwrap();
    let git_dir = require_tool("git").parent().unwrap().to_path_buf();
    let mut c = Command::new(tree.join("git-credential-kelos"));
    c.args(["doctor", "--json", "--no-token-ok"])
        .env_clear()
        .env(
            "PATH",
            format!("{}:{}:{}", bin.display(), real.display(), git_dir.display()),
        )
        .env("HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let out = run_with_timeout(c, b"", TIMEOUT);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out.stdout)));
    let gh = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "gh")
        .unwrap_or_else(|| panic!("no gh check: {report}"));
    let message = gh["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{} (kelos-gh {short})", bin.join("gh").display()))
            && message.contains("gh version 9.9.9"),
        "doctor's gh check does not show the wrapper's version and commit: {message}"
    );
    eprintln!("release: --version: git-credential-kelos {want}; doctor: {message}");
}

/// A checkout git refuses, as in GitHub's container jobs (another user owns it: "dubious
/// ownership"): image.sh and release.sh stop, naming the fix, instead of guessing a time
/// or a commit (image.sh once fell back to time 0: another digest, dated 1970).
#[test]
fn without_the_commit_from_git_the_scripts_stop_and_name_the_fix() {
    require_root("giving the checkout to another user (chown)");
    let dir = TempDir::new("kelos-e2e-dubious");
    let checkout = dir.join("checkout");
    let root = workspace_root();
    for f in [
        "Cargo.toml",
        "scripts/lib.sh",
        "scripts/image.sh",
        "scripts/release.sh",
    ] {
        fs::create_dir_all(checkout.join(f).parent().unwrap()).unwrap();
        fs::copy(root.join(f), checkout.join(f)).unwrap();
    }
    for b in BINARIES {
        fs::create_dir_all(checkout.join("crates").join(b)).unwrap();
        fs::write(checkout.join("crates").join(b).join("Cargo.toml"), "").unwrap();
    }
    let git = |args: &[&str]| {
        let mut c = Command::new(require_tool("git"));
        c.args(args)
            .current_dir(&checkout)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", dir.join("gitconfig"))
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
        c
    };
    ok(git(&["init", "-q"]), "git init");
    ok(git(&["add", "."]), "git add");
    ok(git(&["commit", "-q", "-m", "x"]), "git commit");
    fn give_away(path: &Path) {
        std::os::unix::fs::lchown(path, Some(12345), Some(12345))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        if path.is_dir() && !path.is_symlink() {
            for e in fs::read_dir(path).unwrap().flatten() {
                give_away(&e.path());
            }
        }
    }
    give_away(&checkout);
    fs::write(dir.join("gitconfig"), "").unwrap();
    // The control: git itself refuses the checkout.
    let refused = run_with_timeout(git(&["log", "-1", "--format=%ct"]), b"", TIMEOUT);
    assert!(
        !refused.status.success() && text(&refused.stderr).contains("dubious ownership"),
        "git did not refuse a checkout another user owns: {}",
        text(&refused.stderr)
    );
    for (script, args, says) in [
        (
            "scripts/image.sh",
            &[][..],
            "no commit for the revision label",
        ),
        // Given the commit, the time is still missing.
        (
            "scripts/image.sh",
            &["--revision", "0123456789abcdef"][..],
            "cannot read the commit's time",
        ),
        ("scripts/release.sh", &[][..], "no commit"),
    ] {
        let mut c = Command::new(require_tool("bash"));
        c.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", dir.join("gitconfig"))
            .arg(checkout.join(script))
            .args(args)
            .current_dir(&checkout)
            .env_remove("KELOS_COMMIT")
            .env_remove("SOURCE_DATE_EPOCH");
        let out = run_with_timeout(c, b"", TIMEOUT);
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success()
                && stderr.contains(says)
                && stderr.contains("git config --global --add safe.directory"),
            "bash {script} {args:?} in a checkout git refuses: {}\n{stderr}",
            out.status
        );
        assert!(
            !checkout.join("dist").exists(),
            "{script} wrote dist/ though it stopped"
        );
    }
}

/// The release's notes are CHANGELOG.md's section for the version, and a release is refused
/// without one, or (`--dated`, as the release workflow runs it) with an undated one.
#[test]
fn release_notes_come_from_the_changelog_section_of_the_version() {
    let root = workspace_root();
    let dir = TempDir::new("kelos-e2e-notes");
    fs::create_dir(dir.join("scripts")).unwrap();
    for f in ["Cargo.toml", "scripts/lib.sh", "scripts/release-notes.sh"] {
        fs::copy(root.join(f), dir.join(f)).unwrap();
    }
    let notes = |changelog: &str, args: &[&str]| {
        fs::write(dir.join("CHANGELOG.md"), changelog).unwrap();
        let mut c = Command::new(require_tool("bash"));
        c.arg(dir.join("scripts/release-notes.sh")).args(args);
        run_with_timeout(c, b"", TIMEOUT)
    };
    // The project's own CHANGELOG has a non-empty section for the workspace version.
    let own = fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    let out = notes(&own, &[]);
    assert!(
        out.status.success() && text(&out.stdout).contains("### Added"),
        "CHANGELOG.md has no section for {VERSION}: {}",
        text(&out.stderr)
    );

    let changelog = format!(
        "# Changelog\n\n## [Unreleased]\n\n- next\n\n## [{VERSION}] - 2026-12-06\n\n### Added\n\n\
         - this\n\n## [0.0.1] - 2026-01-01\n\n- older\n\n[{VERSION}]: https://example.invalid\n"
    );
    let out = notes(&changelog, &["--dated", &format!("v{VERSION}")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "### Added\n\n- this\n");

    let undated = changelog.replace(" - 2026-12-06", " - Unreleased");
    let out = notes(&undated, &["--dated"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("has no date"),
        "an undated section was published: {}",
        text(&out.stdout)
    );
    assert!(notes(&undated, &[]).status.success());
    let out = notes(&changelog, &["9.9.9"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("no section \"## [9.9.9]\""),
        "{}",
        text(&out.stderr)
    );
}
