//! The soak's tokens and the leak scanner.
//!
//! Every token the soak ever makes (published, frozen in the environment, planted in a hostile
//! file) has the shape `ghs_kelosSoak` + 24 lower-case hex digits. The binaries never print a
//! token, and their masked form (`ghs_…abcd (37 chars)`) drops the marker, so *any* occurrence
//! of [`MARKER`] in captured output is a leak; an occurrence that is a whole known token is
//! reported as an exact leak. GitLab's tokens ([`Mint::gitlab_token`]) are the same with
//! `glpat-` in place of `ghs_`, as GitLab's personal access tokens start: the same marker,
//! scanned and redacted alike.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// What every soak token contains, and nothing else the soak produces does.
pub const MARKER: &str = "kelosSoak";
/// The start of every soak token.
pub const PREFIX: &str = "ghs_kelosSoak";
/// Length of every soak token.
pub const TOKEN_LEN: usize = PREFIX.len() + 24;
/// The start of every GitLab soak token.
pub const GITLAB_PREFIX: &str = "glpat-kelosSoak";
/// Length of every GitLab soak token.
pub const GITLAB_TOKEN_LEN: usize = GITLAB_PREFIX.len() + 24;

/// Makes unique tokens and remembers every one of them.
pub struct Mint {
    seed: u64,
    counter: AtomicU64,
    all: Mutex<HashSet<String>>,
}

impl Default for Mint {
    fn default() -> Self {
        Self::new()
    }
}

impl Mint {
    pub fn new() -> Mint {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        Mint {
            seed: h.finish(),
            counter: AtomicU64::new(0),
            all: Mutex::new(HashSet::new()),
        }
    }

    /// A new token, never made before by this mint.
    pub fn token(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mixed = splitmix(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let t = format!("{PREFIX}{:08x}{mixed:016x}", n as u32);
        debug_assert_eq!(t.len(), TOKEN_LEN);
        self.all.lock().unwrap().insert(t.clone());
        t
    }

    /// A new GitLab-shaped token (`glpat-kelosSoak…`), never made before by this mint.
    pub fn gitlab_token(&self) -> String {
        let github = self.token();
        let t = format!("glpat-{}", &github["ghs_".len()..]);
        debug_assert_eq!(t.len(), GITLAB_TOKEN_LEN);
        let mut all = self.all.lock().unwrap();
        all.remove(&github);
        all.insert(t.clone());
        t
    }

    /// How many tokens were made.
    pub fn count(&self) -> usize {
        self.all.lock().unwrap().len()
    }

    /// Scans `bytes` for tokens. Never returns or prints the token itself.
    pub fn scan(&self, bytes: &[u8]) -> Scan {
        let all = self.all.lock().unwrap();
        let mut scan = Scan::default();
        let marker = MARKER.as_bytes();
        let mut i = 0;
        while i + marker.len() <= bytes.len() {
            if &bytes[i..i + marker.len()] == marker {
                scan.marker_hits += 1;
                let known = [(PREFIX, TOKEN_LEN), (GITLAB_PREFIX, GITLAB_TOKEN_LEN)]
                    .iter()
                    .any(|(prefix, len)| {
                        let before = prefix.len() - MARKER.len();
                        i.checked_sub(before)
                            .and_then(|start| bytes.get(start..start + len))
                            .and_then(|w| std::str::from_utf8(w).ok())
                            .is_some_and(|w| all.contains(w))
                    });
                if known {
                    scan.exact += 1;
                }
                i += marker.len();
            } else {
                i += 1;
            }
        }
        scan
    }
}

/// What [`Mint::scan`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Occurrences of [`MARKER`] (whole or partial tokens).
    pub marker_hits: usize,
    /// Of those, whole known tokens.
    pub exact: usize,
}

impl Scan {
    pub fn leaked(&self) -> bool {
        self.marker_hits > 0
    }
}

/// `bytes` as text with every soak token (and any fragment carrying the marker) replaced by
/// `<TOKEN>`: safe to print.
pub fn redact(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(pos) = rest.find(MARKER) {
        // Drop a `ghs_`- or `glpat-`-like run before the marker, and the token characters
        // after it.
        let head = &rest[..pos];
        let keep = head.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let keep = keep.strip_suffix("glpat-").unwrap_or(keep);
        out.push_str(keep);
        out.push_str("<TOKEN>");
        let tail = &rest[pos + MARKER.len()..];
        rest = tail.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    out.push_str(rest);
    out
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_fixed_length() {
        let m = Mint::new();
        let a = m.token();
        let b = m.token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.starts_with(PREFIX));
        assert_eq!(m.count(), 2);
    }

    #[test]
    fn scan_finds_whole_and_partial_tokens() {
        let m = Mint::new();
        let t = m.token();
        assert!(!m.scan(b"fatal: Authentication failed").leaked());
        let s = m.scan(format!("x {t} y").as_bytes());
        assert_eq!((s.marker_hits, s.exact), (1, 1));
        let s = m.scan(&t.as_bytes()[..20]);
        assert_eq!((s.marker_hits, s.exact), (1, 0));
        assert_eq!(m.scan(t.as_bytes()).exact, 1, "token at offset 0");
        let g = m.gitlab_token();
        assert!(g.starts_with(GITLAB_PREFIX) && g.len() == GITLAB_TOKEN_LEN);
        let s = m.scan(format!("PRIVATE-TOKEN: {g}").as_bytes());
        assert_eq!((s.marker_hits, s.exact), (1, 1));
        assert_eq!(m.scan(g.as_bytes()).exact, 1, "GitLab token at offset 0");
        assert_eq!(m.count(), 2);
    }

    #[test]
    fn redact_hides_tokens() {
        let m = Mint::new();
        let t = m.token();
        let r = redact(format!("a {t} b password={t}\n").as_bytes());
        assert_eq!(r, "a <TOKEN> b password=<TOKEN>\n");
        assert!(!r.contains(MARKER));
        let g = m.gitlab_token();
        assert_eq!(redact(format!("a {g} b").as_bytes()), "a <TOKEN> b");
    }
}
