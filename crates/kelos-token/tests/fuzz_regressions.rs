//! Inputs the fuzz targets under `fuzz/` found, kept as plain tests so that
//! `cargo test` (stable, no cargo-fuzz) keeps checking them.

use kelos_token::Host;

/// `host_normalise`, crash-0af115bfd123b49ab85adbf5af0d40ea919e477b: `127..`
/// parsed as `127.`, which parses again as `127` (and `..` as `.`, which
/// parses again as an error). Only one trailing dot was
/// removed, so a second one stayed in the "canonical" form. Normalisation must
/// be idempotent and its output must never end in a dot, whether such names
/// are rejected or all their trailing dots dropped.
#[test]
fn host_with_two_trailing_dots_is_not_left_half_normalised() {
    for raw in [
        "127..",
        "a..",
        "github.com..",
        "GitHub.com..:443",
        "localhost...",
        "[::1]..",
        "..",
    ] {
        if let Ok(host) = Host::parse(raw) {
            assert!(!host.name().ends_with('.'), "{raw:?} → {:?}", host.as_str());
            assert_eq!(Host::parse(host.as_str()), Ok(host.clone()), "{raw:?}");
        }
    }
}
