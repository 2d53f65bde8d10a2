//! Token file contents → `clean_token`.
//!
//! Whatever a token file holds, cleaning must not panic; what it accepts must
//! be one printable word that cleans to itself, and the token's `Debug` and
//! `masked` forms must give away nothing beyond what they promise.

#![no_main]

use kelos_token::{clean_token, InvalidToken};
use libfuzzer_sys::fuzz_target;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const KNOWN_PREFIXES: &[&str] = &["github_pat_", "ghs_", "ghp_", "gho_", "ghu_", "ghr_"];

fuzz_target!(|data: &[u8]| {
    let token = match clean_token(data) {
        Ok(token) => token,
        Err(err) => {
            check_error(data, err);
            return;
        }
    };
    let value = token.expose();
    assert!(!value.is_empty());
    assert!(!token.is_empty());
    assert_eq!(token.len(), value.len());
    for c in value.chars() {
        assert!(!c.is_whitespace(), "whitespace {c:?}");
        assert!(!c.is_control(), "control {c:?}");
        assert!(c.is_ascii(), "non-ASCII {c:?}");
    }

    // Idempotent, and blind to what a file or an editor wraps around it.
    assert_eq!(clean_token(value.as_bytes()).as_ref(), Ok(&token));
    for (before, after) in [
        (BOM, &b"\n"[..]),
        (b"  \t", b"\r\n"),
        (b"\xEF\xBB\xBF \r\n", b" \t\r\n\n"),
    ] {
        let wrapped = [before, value.as_bytes(), after].concat();
        assert_eq!(clean_token(&wrapped).as_ref(), Ok(&token));
    }
    assert!(token.matches(value.as_bytes()));

    // Debug shows the length and nothing else: it is the same for any token of
    // that length. (A literal "the value is not in the Debug output" would be
    // false for tokens such as `byte` or `redacted`, which are words of the
    // redaction itself and so give nothing away.)
    let shown = format!("{token:?}|{:?}|{:?}", Some(&token), [&token]);
    let stand_in = clean_token(&vec![b'x'; value.len()]).expect("x... is a valid token");
    let stand_in_shown = format!("{stand_in:?}|{:?}|{:?}", Some(&stand_in), [&stand_in]);
    assert_eq!(shown, stand_in_shown);

    // masked() shows the known prefix, the length and (from 20 characters
    // on) the last four characters: it is the same for any token that shares
    // those.
    let prefix = KNOWN_PREFIXES
        .iter()
        .find(|p| value.starts_with(**p))
        .copied()
        .unwrap_or("");
    let chars = value.chars().count();
    let tail = if chars >= 20 { 4 } else { 0 };
    let kept_tail: String = value.chars().skip(chars - tail).collect();
    let middle = "x".repeat(chars - prefix.len() - tail);
    let look_alike = clean_token(format!("{prefix}{middle}{kept_tail}").as_bytes())
        .expect("a look-alike is a valid token");
    assert_eq!(token.masked(), look_alike.masked());
    assert!(token.masked().ends_with(&format!(" ({chars} chars)")));
});

fn check_error(data: &[u8], err: InvalidToken) {
    // Positions point into the cleaned value, at the offending character.
    let raw = data.strip_prefix(BOM).unwrap_or(data);
    let trimmed = raw.trim_ascii();
    match err {
        InvalidToken::Empty => assert!(trimmed.is_empty()),
        InvalidToken::NotUtf8 => assert!(std::str::from_utf8(trimmed).is_err()),
        InvalidToken::Whitespace { at }
        | InvalidToken::Control { at }
        | InvalidToken::NotAscii { at } => {
            let text = std::str::from_utf8(trimmed).expect("only UTF-8 is checked per char");
            let c = text[at..].chars().next().expect("at is inside the value");
            match err {
                InvalidToken::Whitespace { .. } => assert!(c.is_whitespace(), "{c:?}"),
                InvalidToken::Control { .. } => assert!(c.is_control(), "{c:?}"),
                _ => assert!(!c.is_ascii(), "{c:?}"),
            }
            // The first offending character.
            assert!(text[..at]
                .chars()
                .all(|c| c.is_ascii() && !(c.is_whitespace() || c.is_control())));
        }
    }
}
