//! What a binary says it is: the workspace version and the commit it was built
//! from, fixed at compile time.
//!
//! The commit comes from `KELOS_COMMIT` in the build's environment
//! (`scripts/release.sh` and `scripts/lib.sh` pass `git rev-parse HEAD`), not
//! from a build script asking git: a source tarball without `.git` builds too
//! (and says `unknown commit`), and the same commit gives the same bytes
//! whatever the checkout. Anything but a hexadecimal commit id there is a
//! compile error, so nothing odd (a newline, a NUL) can reach `--version` or
//! the wrapper's stamp below.

/// The workspace version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit id the build was given, if any.
pub const COMMIT: Option<&str> = match option_env!("KELOS_COMMIT") {
    Some(c) if c.is_empty() => None,
    Some(c) => Some(checked_commit(c)),
    None => None,
};

/// `0.1.0 (commit 0123abc…)` or `0.1.0 (unknown commit)`: what `--version`
/// prints after the program's name.
pub const VERSION_TEXT: &str = match std::str::from_utf8(&VERSION_TEXT_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("the version text is ASCII"),
};

const COMMIT_PREFIX: &[u8] = b" (commit ";
const UNKNOWN_COMMIT: &[u8] = b" (unknown commit)";

const VERSION_TEXT_PARTS: [&[u8]; 4] = match COMMIT {
    Some(c) => [VERSION.as_bytes(), COMMIT_PREFIX, c.as_bytes(), b")"],
    None => [VERSION.as_bytes(), UNKNOWN_COMMIT, b"", b""],
};
const VERSION_TEXT_LEN: usize = total_len(&VERSION_TEXT_PARTS);
const VERSION_TEXT_BYTES: [u8; VERSION_TEXT_LEN] = concat_bytes(&VERSION_TEXT_PARTS);

/// Commit ids shown to people in reports (doctor) are cut to this many digits: a
/// whole one is 40 hexadecimal digits, which the redaction masks as a token shape
/// (GitHub's classic tokens had that form).
pub const SHORT_COMMIT: usize = 12;

/// `text` with the id of each `(commit ID)` in it cut to [`SHORT_COMMIT`]
/// digits: `kelos-gh 0.1.0 (commit 0123456789ab)`.
pub fn with_short_commit(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Checked splits (never short: the indices are found in `rest`): a
    // slice that cannot panic carries no panic location, which the helper's
    // size counts (1 MiB).
    while let Some(at) = rest.find("(commit ") {
        let Some((head, tail)) = rest.split_at_checked(at + "(commit ".len()) else {
            break;
        };
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        let (id, after) = tail.split_at_checked(digits).unwrap_or((tail, ""));
        out.push_str(id.get(..SHORT_COMMIT).unwrap_or(id));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The sum of the parts' lengths.
pub const fn total_len(parts: &[&[u8]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// The parts one after the other; `N` must be their [`total_len`].
pub const fn concat_bytes<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[at] = parts[i][j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(at == N, "concat_bytes: N is not the parts' total length");
    out
}

/// `c` if it is a commit id (7 to 64 lower-case hexadecimal digits); a
/// compile error otherwise.
const fn checked_commit(c: &str) -> &str {
    let b = c.as_bytes();
    assert!(
        b.len() >= 7 && b.len() <= 64,
        "KELOS_COMMIT must be a commit id (git rev-parse HEAD)"
    );
    let mut i = 0;
    while i < b.len() {
        assert!(
            matches!(b[i], b'0'..=b'9' | b'a'..=b'f'),
            "KELOS_COMMIT must be a commit id (git rev-parse HEAD): lower-case hexadecimal"
        );
        i += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_text_names_the_version_and_the_commit_or_says_it_is_unknown() {
        assert!(VERSION_TEXT.starts_with(VERSION));
        match COMMIT {
            Some(c) => assert_eq!(VERSION_TEXT, format!("{VERSION} (commit {c})")),
            None => assert_eq!(VERSION_TEXT, format!("{VERSION} (unknown commit)")),
        }
    }

    #[test]
    fn reports_cut_commit_ids_to_twelve_digits() {
        let full = "kelos-gh 0.1.0 (commit 324ce8622895519b7657911ad69989c231c50a75)";
        assert_eq!(
            with_short_commit(full),
            "kelos-gh 0.1.0 (commit 324ce8622895)"
        );
        for same in [
            "kelos-gh 0.1.0 (unknown commit)",
            "(commit abc)",
            "x (commit ",
        ] {
            assert_eq!(with_short_commit(same), same);
        }
    }

    #[test]
    fn concat_bytes_joins_the_parts() {
        const PARTS: [&[u8]; 3] = [b"ab", b"", b"cde"];
        const JOINED: [u8; total_len(&PARTS)] = concat_bytes(&PARTS);
        assert_eq!(&JOINED, b"abcde");
    }
}
