//! The one list of programs the tests may start: `scripts/deps.sh --list`.
//!
//! `scripts/deps.sh` installs every program on its list (`TOOLS`). A test that finds a
//! program by name ([`crate::require_tool`], [`crate::find_in_path`],
//! [`crate::chroot::require_system_tool`]) is refused when the program is not on that list,
//! even when this machine happens to have it: a missing entry fails on the developer's own
//! machine, not only on a fresh one.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Program name -> where `scripts/deps.sh` gets it (`apt:PACKAGES`, `pip:PACKAGE`, `rustup`,
/// or `trixie:PACKAGE@PATH`: Debian 13's package unpacked off PATH, the program at PATH).
pub type ToolList = BTreeMap<String, String>;

/// Parses `deps.sh --list` output: `PROGRAM<TAB>SOURCE` lines.
pub fn parse_tool_list(text: &str) -> ToolList {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.split_once('\t') {
            Some((tool, source)) => (tool.trim().to_string(), source.trim().to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect()
}

/// The decision: `Ok(source)` when `tool` is on `list`, else the message that says what to do.
pub fn check_listed<'a>(tool: &str, list: &'a ToolList) -> Result<&'a str, String> {
    list.get(tool).map(String::as_str).ok_or_else(|| {
        format!(
            "{tool} is required by this test but is not on scripts/deps.sh's list; add it there \
             (TOOLS: the program and the package that installs it)"
        )
    })
}

/// Where a program that `scripts/deps.sh` keeps off PATH is (`trixie:PACKAGE@PATH`: the
/// path `deps.sh --list` printed, after its `KELOS_GLAB_PREFIX` and the like); `None` for a
/// program found in PATH.
pub fn off_path_location(source: &str) -> Option<&Path> {
    let (kind, rest) = source.split_once(':')?;
    let (_, path) = rest.split_once('@')?;
    (kind == "trixie").then_some(Path::new(path))
}

/// How to install a listed tool, for a "not found" message.
pub fn install_hint(source: &str) -> String {
    let how = match source.split_once(':') {
        Some(("apt", pkgs)) => format!("the Debian package(s) {pkgs}"),
        Some(("pip", pkg)) => format!("PyPI's {pkg}"),
        Some(("trixie", rest)) => match rest.split_once('@') {
            Some((pkg, path)) => format!("Debian 13's {pkg} package, unpacked to {path}"),
            None => format!("Debian 13's {rest} package"),
        },
        _ => source.to_string(),
    };
    format!("install everything the tests need with `bash scripts/deps.sh` (as root; it installs {how})")
}

/// The list, read once per test process from `bash scripts/deps.sh --list`.
pub fn tool_list() -> &'static ToolList {
    static LIST: OnceLock<ToolList> = OnceLock::new();
    LIST.get_or_init(|| {
        let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deps.sh");
        // bash itself is on the list; it runs the list's own script.
        let out = Command::new("bash")
            .arg(&deps)
            .arg("--list")
            .output()
            .unwrap_or_else(|e| panic!("bash {} --list: {e}", deps.display()));
        assert!(
            out.status.success(),
            "bash {} --list failed ({}): {}",
            deps.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let list = parse_tool_list(&String::from_utf8_lossy(&out.stdout));
        assert!(
            list.contains_key("git"),
            "{} --list lists no git",
            deps.display()
        );
        list
    })
}

/// Panics unless `tool` is on the list; returns where deps.sh gets it.
pub fn require_listed(tool: &str) -> &'static str {
    check_listed(tool, tool_list()).unwrap_or_else(|msg| panic!("{msg}"))
}

/// For a listed program that `scripts/deps.sh` keeps off PATH (`source` from
/// [`require_listed`]): `Some(its path)`, panicking with the command that installs it when it
/// is not there; `None` for a program looked up in PATH.
pub fn require_off_path(tool: &str, source: &str) -> Option<std::path::PathBuf> {
    let path = off_path_location(source)?;
    assert!(
        path.is_file(),
        "{tool} not found at {}: {}",
        path.display(),
        install_hint(source)
    );
    Some(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_list() {
        let l = parse_tool_list("git\tapt:git\nnpm\tapt:nodejs npm\n\nzizmor\tpip:zizmor\n");
        assert_eq!(l.len(), 3);
        assert_eq!(check_listed("npm", &l), Ok("apt:nodejs npm"));
        let err = check_listed("busybox", &l).unwrap_err();
        assert!(
            err.starts_with(
                "busybox is required by this test but is not on scripts/deps.sh's list; add it there"
            ),
            "{err}"
        );
        assert!(install_hint("apt:nodejs npm").contains("nodejs npm"));
        assert!(install_hint("pip:zizmor").contains("zizmor"));
        let glab = "trixie:glab@/opt/kelos-test-tools/glab/usr/bin/glab";
        assert_eq!(
            off_path_location(glab),
            Some(Path::new("/opt/kelos-test-tools/glab/usr/bin/glab"))
        );
        assert_eq!(off_path_location("apt:git"), None);
        assert_eq!(off_path_location("pip:a@b"), None);
        assert!(
            install_hint(glab).contains("Debian 13's glab package"),
            "{glab}"
        );
        assert_eq!(
            require_off_path("glab", "apt:git"),
            None,
            "a PATH program is looked up in PATH"
        );
        let missing = std::panic::catch_unwind(|| {
            require_off_path("glab", "trixie:glab@/nonexistent/kelos/usr/bin/glab")
        })
        .expect_err("a missing off-PATH program panics");
        let msg = missing
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            msg.contains("glab not found at /nonexistent/kelos/usr/bin/glab")
                && msg.contains("bash scripts/deps.sh"),
            "{msg}"
        );
    }

    /// `deps.sh --list` names glab with its place, which follows `KELOS_GLAB_PREFIX` (as the
    /// install does): a test's glab is the one deps.sh installed.
    #[test]
    fn glab_is_listed_off_path_where_deps_installs_it() {
        let source = require_listed("glab");
        assert_eq!(
            off_path_location(source),
            Some(
                Path::new(
                    &std::env::var("KELOS_GLAB_PREFIX")
                        .unwrap_or_else(|_| "/opt/kelos-test-tools/glab".into())
                )
                .join("usr/bin/glab")
                .as_path()
            ),
            "{source}"
        );
        let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deps.sh");
        let out = Command::new("bash")
            .arg(&deps)
            .arg("--list")
            .env("KELOS_GLAB_PREFIX", "/elsewhere/glab")
            .output()
            .expect("bash deps.sh --list");
        let list = parse_tool_list(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            list.get("glab").map(String::as_str),
            Some("trixie:glab@/elsewhere/glab/usr/bin/glab")
        );
        assert_eq!(
            crate::require_tool("glab"),
            Path::new(off_path_location(source).unwrap())
        );
    }

    /// The rule itself: `ls` is on every machine, and not on the list, so it is refused.
    #[test]
    fn a_program_not_on_the_list_is_refused_even_when_installed() {
        assert!(which::which("ls").is_ok(), "ls is installed (the premise)");
        assert!(!tool_list().contains_key("ls"), "ls is not on the list");
        for lookup in [
            (|| drop(crate::require_tool("ls"))) as fn(),
            || drop(crate::find_in_path("ls")),
            || drop(crate::chroot::require_system_tool("ls", "coreutils")),
        ] {
            let panic = std::panic::catch_unwind(lookup).expect_err("ls must be refused");
            let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(
                msg.starts_with(
                    "ls is required by this test but is not on scripts/deps.sh's list; add it there"
                ),
                "{msg}"
            );
        }
    }

    /// Every program the test sources name where they start or look one up is on the list
    /// (a lookup that only some machines reach would otherwise fail only there).
    #[test]
    fn every_program_the_tests_name_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut dirs = vec![root.join("src"), root.join("tests")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let patterns = [
            "Command::new(\"",
            "require_tool(\"",
            "require_system_tool(\"",
            "find_tool(\"",
            "find_in_path(\"",
            "require_listed(\"",
            "add_tools(&[\"",
        ];
        let mut unlisted = Vec::new();
        let mut seen = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for pat in patterns {
                for (at, _) in text.match_indices(pat) {
                    let rest = &text[at + pat.len()..];
                    // For add_tools: every name in the array.
                    let end = if pat.starts_with("add_tools") {
                        rest.find(']').unwrap_or(0)
                    } else {
                        rest.find('"').unwrap_or(0)
                    };
                    for name in rest[..end].split(',') {
                        let name = name.trim().trim_matches('"');
                        let program = name.rsplit('/').next().unwrap_or(name);
                        if program.is_empty() || program == "ls" {
                            continue; // the refused example above
                        }
                        seen += 1;
                        if !tool_list().contains_key(program) {
                            unlisted.push(format!("{}: {program}", f.display()));
                        }
                    }
                }
            }
        }
        assert!(seen > 20, "the scan found only {seen} program names");
        assert!(
            unlisted.is_empty(),
            "started by the tests but not on scripts/deps.sh's list: {unlisted:#?}"
        );
    }

    /// And a listed, installed program is found (deps.sh installed everything on its list).
    #[test]
    fn every_listed_program_is_installed() {
        let missing: Vec<&String> = tool_list()
            .iter()
            .filter(|(t, source)| {
                if let Some(path) = off_path_location(source) {
                    return !path.is_file();
                }
                !["/usr/local/sbin", "/usr/sbin", "/sbin"]
                    .iter()
                    .any(|d| Path::new(d).join(t).is_file())
                    && which::which(t).is_err()
            })
            .map(|(t, _)| t)
            .collect();
        assert!(
            missing.is_empty(),
            "on scripts/deps.sh's list but not installed: {missing:?}: run `bash scripts/deps.sh` (as root)"
        );
    }
}
