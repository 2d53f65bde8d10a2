//! The token itself: cleaning, validation, redaction.
//!
//! A [`Token`] can only be built by [`clean_token`], so every token in the
//! program is non-empty and free of whitespace and control characters. It has
//! no `Display`, and its `Debug` shows only its length: a token cannot reach a
//! log line, a panic message or a trace by accident.

use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A valid token. The only ways to see its value are [`Token::expose`] and
/// [`Token::masked`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token's value, for the one place that must hand it on (git's
    /// `password=` line, gh's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A form safe to show people: the type prefix GitHub gives its tokens
    /// (`ghs_`, `ghp_`, `github_pat_` ...), the length, and at most the last
    /// four characters, and only when the token is long enough that they give
    /// nothing useful away.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// Compares with a candidate in time independent of where they differ, so
    /// that a diagnostic comparison leaks nothing through timing.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let ours = self.0.as_bytes();
        if ours.len() != candidate.len() {
            return false;
        }
        ours.iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted, {} bytes>)", self.0.len())
    }
}

/// The masked form of any value that is, or could be, a token (a username
/// from git's request, a word of a helper's command line): the one way
/// every message shows such a value. See [`Token::masked`].
pub fn mask(value: &str) -> String {
    let prefix = KNOWN_PREFIXES
        .iter()
        .chain(GITLAB_PREFIXES)
        .find(|p| value.starts_with(**p))
        .copied()
        .unwrap_or("");
    let len = value.chars().count();
    if len >= 20 {
        let tail: String = value.chars().skip(len - 4).collect();
        format!("{prefix}…{tail} ({len} chars)")
    } else {
        format!("{prefix}… ({len} chars)")
    }
}

/// Whether a word (a run of ASCII letters, digits and `_`) has the shape
/// of a GitHub token: a known type prefix, or 40 hex digits (the old
/// OAuth and personal token form).
pub fn is_token_shaped(word: &str) -> bool {
    KNOWN_PREFIXES
        .iter()
        .any(|p| word.len() > p.len() && word.starts_with(p))
        || (word.len() == 40 && word.bytes().all(|b| b.is_ascii_hexdigit()))
}

const KNOWN_PREFIXES: &[&str] = &["github_pat_", "ghs_", "ghp_", "gho_", "ghu_", "ghr_"];

/// GitLab's token prefixes (personal, OAuth application secret, deploy,
/// runner, CI/CD job, pipeline trigger, feed, incoming mail, agent, SCIM,
/// feature flags client): `glpat-` then letters, digits, `_`, `-` and, in
/// the routable form, `.`. Shown by [`mask`] like GitHub's prefixes.
pub const GITLAB_PREFIXES: &[&str] = &[
    "glpat-", "gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-", "glptt-", "glft-", "glimt-",
    "glagent-", "glsoat-", "glffct-",
];

/// The shortest body after a GitLab prefix that counts as a token (GitLab's
/// are 20 characters and more), so that prose naming the prefix stays.
pub const GITLAB_MIN_BODY: usize = 16;

/// The length of the GitLab token at the start of `text`, when one is
/// there: a [`GITLAB_PREFIXES`] prefix and at least [`GITLAB_MIN_BODY`]
/// characters of letters, digits, `_`, `-` and `.` (a final `.` or `-`
/// ends a sentence, not the token).
pub fn gitlab_token_len(text: &str) -> Option<usize> {
    let prefix = GITLAB_PREFIXES.iter().find(|p| text.starts_with(**p))?;
    let rest = &text.as_bytes()[prefix.len()..];
    let mut body = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    while body > 0 && matches!(rest[body - 1], b'.' | b'-') {
        body -= 1;
    }
    (body >= GITLAB_MIN_BODY).then_some(prefix.len() + body)
}

/// Why a candidate is not a valid token. Positions are byte offsets in the
/// cleaned value; the value itself is never carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("is empty")]
    Empty,
    #[error("is not valid UTF-8")]
    NotUtf8,
    #[error("has whitespace inside it (byte {at}); it must be one token on one line")]
    Whitespace { at: usize },
    #[error("has a control character inside it (byte {at})")]
    Control { at: usize },
    #[error("has a non-ASCII character inside it (byte {at})")]
    NotAscii { at: usize },
}

/// A candidate without a UTF-8 BOM and surrounding ASCII whitespace.
fn trimmed(raw: &[u8]) -> &[u8] {
    raw.strip_prefix(BOM).unwrap_or(raw).trim_ascii()
}

/// Whether [`clean_token`] would say [`InvalidToken::Empty`], without
/// validating the rest (a file read mid-rewrite is read again while so).
pub fn is_blank(raw: &[u8]) -> bool {
    trimmed(raw).is_empty()
}

/// Strips a UTF-8 BOM and surrounding ASCII whitespace, then validates:
/// non-empty, no whitespace, no control character, ASCII only.
pub fn clean_token(raw: &[u8]) -> Result<Token, InvalidToken> {
    let trimmed = trimmed(raw);
    if trimmed.is_empty() {
        return Err(InvalidToken::Empty);
    }
    let text = std::str::from_utf8(trimmed).map_err(|_| InvalidToken::NotUtf8)?;
    // Printable ASCII throughout is the common case, decided byte by byte;
    // only a damaged token is walked char by char to say what is wrong.
    if text.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(Token(text.to_owned()));
    }
    for (at, c) in text.char_indices() {
        if c.is_whitespace() {
            return Err(InvalidToken::Whitespace { at });
        }
        if c.is_control() {
            return Err(InvalidToken::Control { at });
        }
        // GitHub's tokens are ASCII; anything else (zero-width spaces, a BOM
        // inside, look-alike letters) is a damaged file, not a token.
        if !c.is_ascii() {
            return Err(InvalidToken::NotAscii { at });
        }
    }
    Ok(Token(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_table() {
        let ok: &[(&[u8], &str)] = &[
            (b"ghs_abc", "ghs_abc"),
            (b"ghs_abc\n", "ghs_abc"),
            (b"ghs_abc\r\n", "ghs_abc"),
            (b"  \tghs_abc \t\r\n\n", "ghs_abc"),
            (b"\xEF\xBB\xBFghs_abc\n", "ghs_abc"),
            (b"\xEF\xBB\xBF  ghs_abc", "ghs_abc"),
        ];
        for (raw, want) in ok {
            assert_eq!(clean_token(raw).unwrap().expose(), *want, "{raw:?}");
        }
        let bad: &[(&[u8], InvalidToken)] = &[
            (b"", InvalidToken::Empty),
            (b" \r\n\t", InvalidToken::Empty),
            (b"\xEF\xBB\xBF\n", InvalidToken::Empty),
            (b"ghs_a b", InvalidToken::Whitespace { at: 5 }),
            (b"ghs_a\nusername=evil", InvalidToken::Whitespace { at: 5 }),
            (b"ghs_a\rpassword=x", InvalidToken::Whitespace { at: 5 }),
            (b"ghs_a\0b", InvalidToken::Control { at: 5 }),
            (b"ghs_a\x1bb", InvalidToken::Control { at: 5 }),
            (b"ghs_a\x7fb", InvalidToken::Control { at: 5 }),
            (b"ghs_a\xC2\xA0b", InvalidToken::Whitespace { at: 5 }),
            (b"ghs_a\xC2\x85b", InvalidToken::Whitespace { at: 5 }),
            (b"ghs_a\xEF\xBB\xBFb", InvalidToken::NotAscii { at: 5 }),
            (b"t\xC3\xA9st", InvalidToken::NotAscii { at: 1 }),
            (b"ghs_a\xE2\x80\x8Bb", InvalidToken::NotAscii { at: 5 }),
            (b"ghs_\xff", InvalidToken::NotUtf8),
        ];
        for (raw, want) in bad {
            assert_eq!(clean_token(raw), Err(*want), "{raw:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_value() {
        let token = clean_token(b"ghs_secretvalue1234").unwrap();
        let shown = format!("{token:?} {:?}", Some(&token));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("19 bytes"));
    }

    #[test]
    fn masking_shows_prefix_length_and_at_most_four() {
        let long = clean_token(b"ghs_0123456789abcdefghijWXYZ").unwrap();
        assert_eq!(long.masked(), "ghs_…WXYZ (28 chars)");
        let pat = clean_token(b"github_pat_0123456789abcdefghij").unwrap();
        assert_eq!(pat.masked(), "github_pat_…ghij (31 chars)");
        let short = clean_token(b"abc123").unwrap();
        assert_eq!(short.masked(), "… (6 chars)");
    }

    #[test]
    fn matching() {
        let token = clean_token(b"ghs_one").unwrap();
        assert!(token.matches(b"ghs_one"));
        assert!(!token.matches(b"ghs_onf"));
        assert!(!token.matches(b"ghs_on"));
        assert!(!token.matches(b""));
    }

    proptest::proptest! {
        #[test]
        fn blank_is_exactly_what_cleaning_calls_empty(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b' '),
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'\t'),
                    proptest::strategy::Just(0xEF),
                    proptest::strategy::Just(0xBB),
                    proptest::strategy::Just(0xBF),
                    proptest::num::u8::ANY,
                ],
                0..8,
            )
        ) {
            proptest::prop_assert_eq!(is_blank(&raw), clean_token(&raw) == Err(InvalidToken::Empty));
        }
    }
}
