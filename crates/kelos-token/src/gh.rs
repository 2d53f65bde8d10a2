//! kelos-gh's GitHub-only pieces: the variables it sets ([`token_vars`],
//! over [`crate::provider::GITHUB`]) and the stamp by which `doctor` knows
//! it ([`wrapper_version`]). Which file is the real gh is
//! [`crate::real_gh`]; the environment it is started with and the exec are
//! [`crate::launch`]. Both are re-exported here, where callers found them.

use crate::host::HostClass;
use crate::version::{concat_bytes, total_len};

pub use crate::launch::exec_environment;
pub use crate::real_gh::{
    find_real_gh, gh_path_value, stat_file, FileId, FindGhError, Found, GhPathProblem, PassedOver,
};

/// The variables `kelos-gh` sets to the file's token for a `GH_HOST` of
/// `class` (CONTRACT: *kelos-gh*): GitHub's [`Provider::wrapper_vars`].
///
/// [`Provider::wrapper_vars`]: crate::provider::Provider::wrapper_vars
pub fn token_vars(class: HostClass, present: impl Fn(&str) -> bool) -> Vec<&'static str> {
    crate::provider::GITHUB.wrapper_vars(class, present)
}

/// Bytes the kelos-gh binary carries, by which `doctor` recognises it
/// (the real gh never contains them).
pub const WRAPPER_MARKER: [u8; 24] = *b"kelos-gh wrapper marker\0";

/// What kelos-gh carries: [`WRAPPER_MARKER`], then `kelos-gh VERSION (commit
/// ID)` and a NUL. The wrapper hands `--version` to gh untouched, so this is
/// how `doctor` tells which wrapper a copy is ([`wrapper_version`]).
pub const WRAPPER_STAMP: [u8; WRAPPER_STAMP_LEN] = concat_bytes(&WRAPPER_STAMP_PARTS);
const WRAPPER_STAMP_PARTS: [&[u8]; 4] = [
    &WRAPPER_MARKER,
    WRAPPER_NAME,
    crate::version::VERSION_TEXT.as_bytes(),
    b"\0",
];
const WRAPPER_STAMP_LEN: usize = total_len(&WRAPPER_STAMP_PARTS);
const WRAPPER_NAME: &[u8] = b"kelos-gh ";
/// A stamp's text is at most this long (a version and a 64-digit commit id).
const MAX_STAMP_TEXT: usize = 128;

/// Whether `contents` (a file's first bytes) are kelos-gh's: `None` when they
/// hold no [`WRAPPER_MARKER`]; else the version text of its stamp (`kelos-gh
/// 0.1.0 (commit ...)`), or `None` inside for a wrapper built before stamps.
pub fn wrapper_version(contents: &[u8]) -> Option<Option<String>> {
    stamped_version(contents, &WRAPPER_MARKER, WRAPPER_NAME)
}

/// Bytes the kelos-glab binary carries, by which it is told from the real
/// glab (which never contains them).
pub const GLAB_WRAPPER_MARKER: [u8; 26] = *b"kelos-glab wrapper marker\0";

/// What kelos-glab carries: [`GLAB_WRAPPER_MARKER`], then `kelos-glab
/// VERSION (commit ID)` and a NUL ([`glab_wrapper_version`] reads it back;
/// `--version` belongs to glab).
pub const GLAB_WRAPPER_STAMP: [u8; GLAB_WRAPPER_STAMP_LEN] =
    concat_bytes(&GLAB_WRAPPER_STAMP_PARTS);
const GLAB_WRAPPER_STAMP_PARTS: [&[u8]; 4] = [
    &GLAB_WRAPPER_MARKER,
    GLAB_WRAPPER_NAME,
    crate::version::VERSION_TEXT.as_bytes(),
    b"\0",
];
const GLAB_WRAPPER_STAMP_LEN: usize = total_len(&GLAB_WRAPPER_STAMP_PARTS);
const GLAB_WRAPPER_NAME: &[u8] = b"kelos-glab ";

/// [`wrapper_version`] for kelos-glab.
pub fn glab_wrapper_version(contents: &[u8]) -> Option<Option<String>> {
    stamped_version(contents, &GLAB_WRAPPER_MARKER, GLAB_WRAPPER_NAME)
}

/// The version text after `marker` when it starts with `name`.
fn stamped_version(contents: &[u8], marker: &[u8], name: &[u8]) -> Option<Option<String>> {
    let at = contents.windows(marker.len()).position(|w| w == marker)?;
    let rest = &contents[at + marker.len()..];
    let text = rest
        .iter()
        .position(|&b| b == 0)
        .filter(|&end| end <= MAX_STAMP_TEXT)
        .map(|end| &rest[..end])
        .filter(|t| t.starts_with(name) && t.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        .map(|t| String::from_utf8_lossy(t).into_owned());
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_stamp_is_read_back_from_a_binarys_bytes() {
        let mut file = b"\x7fELF...".to_vec();
        file.extend_from_slice(&WRAPPER_STAMP);
        file.extend_from_slice(b"more rodata\0");
        let want = format!("kelos-gh {}", crate::version::VERSION_TEXT);
        assert_eq!(wrapper_version(&file), Some(Some(want)));
        // A wrapper from before stamps: the marker, then whatever the linker put there.
        let mut old = b"\x7fELF...".to_vec();
        old.extend_from_slice(&WRAPPER_MARKER);
        old.extend_from_slice(b"\x01\x02random\0");
        assert_eq!(wrapper_version(&old), Some(None));
        assert_eq!(wrapper_version(b"\x7fELF gh version 2.23.0"), None);
        // kelos-glab's stamp is its own: neither reads as the other.
        let mut glab = b"\x7fELF...".to_vec();
        glab.extend_from_slice(&GLAB_WRAPPER_STAMP);
        let want = format!("kelos-glab {}", crate::version::VERSION_TEXT);
        assert_eq!(glab_wrapper_version(&glab), Some(Some(want)));
        assert_eq!(wrapper_version(&glab), None);
        assert_eq!(glab_wrapper_version(&file), None);
    }

    #[test]
    fn token_vars_table() {
        use HostClass::*;
        let none: &[&str] = &[];
        let all: &[&str] = &[
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "GH_ENTERPRISE_TOKEN",
            "GITHUB_ENTERPRISE_TOKEN",
        ];
        let github_only: &[&str] = &["GITHUB_TOKEN"];
        let enterprise_only: &[&str] = &["GITHUB_ENTERPRISE_TOKEN"];
        let cases: &[(HostClass, &[&str], &[&str])] = &[
            (Dotcom, none, &["GH_TOKEN"]),
            (Dotcom, github_only, &["GH_TOKEN", "GITHUB_TOKEN"]),
            (Dotcom, enterprise_only, &["GH_TOKEN"]),
            (Dotcom, all, &["GH_TOKEN", "GITHUB_TOKEN"]),
            (Local, none, &["GH_TOKEN"]),
            (Local, all, &["GH_TOKEN", "GITHUB_TOKEN"]),
            (Tenancy, none, &["GH_TOKEN", "GH_ENTERPRISE_TOKEN"]),
            (
                Tenancy,
                github_only,
                &["GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
            ),
            (
                Tenancy,
                enterprise_only,
                &["GH_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
            ),
            (
                Tenancy,
                all,
                &[
                    "GH_TOKEN",
                    "GH_ENTERPRISE_TOKEN",
                    "GITHUB_TOKEN",
                    "GITHUB_ENTERPRISE_TOKEN",
                ],
            ),
            (Enterprise, none, &["GH_ENTERPRISE_TOKEN"]),
            (
                Enterprise,
                github_only,
                &["GH_ENTERPRISE_TOKEN", "GITHUB_TOKEN"],
            ),
            (
                Enterprise,
                enterprise_only,
                &["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"],
            ),
            (
                Enterprise,
                all,
                &[
                    "GH_ENTERPRISE_TOKEN",
                    "GITHUB_ENTERPRISE_TOKEN",
                    "GITHUB_TOKEN",
                ],
            ),
        ];
        for (class, present, want) in cases {
            let got = token_vars(*class, |n| present.contains(&n));
            assert_eq!(got, *want, "{class} with {present:?}");
        }
    }

    #[test]
    fn every_token_variable_is_in_the_snapshot() {
        // Callers ask an EnvSnapshot whether a variable is present.
        use HostClass::*;
        for class in [Dotcom, Local, Tenancy, Enterprise] {
            for name in token_vars(class, |_| true) {
                assert!(crate::env::KNOWN_VARS.contains(&name), "{name}");
            }
        }
    }
}
