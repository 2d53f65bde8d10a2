//! The Debian archive to bootstrap from: the mirror and suite apt uses on this machine
//! (one-line and deb822 sources), or the environment's override.

use std::fs;
use std::path::PathBuf;

/// A Debian archive to bootstrap from.
#[derive(Debug, Clone)]
pub struct DebianSource {
    pub mirror: String,
    pub suite: String,
}

/// The Debian mirror apt uses on this machine (from `/etc/apt/sources.list` and
/// `/etc/apt/sources.list.d/*.list|*.sources`), and its suite. `KELOS_DEBIAN_MIRROR` and
/// `KELOS_DEBIAN_SUITE` override; the defaults are `http://deb.debian.org/debian` and
/// `bookworm`.
pub fn debian_source() -> DebianSource {
    let mut found: Option<DebianSource> = None;
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        let entries = if f.extension().is_some_and(|e| e == "sources") {
            deb822_entries(&text)
        } else {
            one_line_entries(&text)
        };
        if let Some(e) = entries.into_iter().find(is_debian_archive) {
            found = Some(e);
            break;
        }
    }
    let found = found.unwrap_or_else(|| DebianSource {
        mirror: "http://deb.debian.org/debian".into(),
        suite: "bookworm".into(),
    });
    DebianSource {
        mirror: env_or("KELOS_DEBIAN_MIRROR", found.mirror),
        suite: env_or("KELOS_DEBIAN_SUITE", found.suite),
    }
}

fn env_or(var: &str, default: String) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or(default)
}

/// A main Debian archive (not security, not updates, not a third-party repository).
fn is_debian_archive(e: &DebianSource) -> bool {
    let m = e.mirror.trim_end_matches('/');
    (m.ends_with("/debian") || m.ends_with("/debian-archive/debian"))
        && !e.suite.contains('-')
        && !e.suite.contains('/')
}

fn one_line_entries(text: &str) -> Vec<DebianSource> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().filter(|w| !w.starts_with('['));
            if w.next()? != "deb" {
                return None;
            }
            let (mirror, suite) = (w.next()?, w.next()?);
            Some(DebianSource {
                mirror: mirror.into(),
                suite: suite.into(),
            })
        })
        .collect()
}

fn deb822_entries(text: &str) -> Vec<DebianSource> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
        };
        if field("Enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            continue;
        }
        if !field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb")) {
            continue;
        }
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        for uri in uris.split_whitespace() {
            for suite in suites.split_whitespace() {
                out.push(DebianSource {
                    mirror: uri.into(),
                    suite: suite.into(),
                });
            }
        }
    }
    out
}
