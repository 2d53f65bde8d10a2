//! One rule for masking every token-shaped word in a text before anyone sees
//! it (doctor's lines, helper command lines from git's config, trace lines).
//!
//! Masked are:
//! - every occurrence of a known token (the file's, a fallback's, a password
//!   a probe received), wherever it stands;
//! - every word of token shape ([`is_token_shaped`]: `gh[pousr]_…`,
//!   `github_pat_…`, 40 hex digits), a word being a run of ASCII letters,
//!   digits and `_`; and every GitLab token (`glpat-…` and GitLab's other
//!   prefixes, [`crate::token::gitlab_token_len`]) starting where a word does;
//! - the password of URL userinfo: `scheme://user:PASSWORD@`;
//! - the value after `password=` in every quoting (bare, `'...'`, `"..."`,
//!   a word of several, or the key itself inside quotes), unless it is a
//!   shell expansion (`$NAME`, `${...}`, `$(...)`):
//!   `echo "password=$GITHUB_TOKEN"` names a variable, not a token, and
//!   stays readable.
//!
//! Each masked span becomes [`mask`] of its text, as [`Token::masked`] shows
//! a token (type prefix, length, at most the last four characters); everything else is left
//! exactly as it was. Masking twice is masking once (a value holding `…`
//! is a mask already).

use crate::token::{gitlab_token_len, is_token_shaped, mask, Token};

/// `text` with every token-shaped word masked (see the module docs).
pub fn redact(text: &str, known: &[&Token]) -> String {
    let values: Vec<&str> = known.iter().map(|t| t.expose()).collect();
    redact_values(text, &values)
}

/// [`redact`] with the known secrets as plain values: what the trace holds
/// (a username or password from git's request need not be a valid token).
pub fn redact_values(text: &str, known: &[&str]) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for value in known.iter().copied().filter(|v| !v.is_empty()) {
        let mut from = 0;
        while let Some(at) = text[from..].find(value) {
            let start = from + at;
            spans.push((start, start + value.len()));
            from = start + value.len();
        }
    }
    token_words(text, &mut spans);
    url_passwords(text, &mut spans);
    password_values(text, &mut spans);
    if spans.is_empty() {
        return text.to_owned();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            i += 1;
        }
        if start < at {
            // Inside a span already written (cannot happen after merging;
            // kept so that a bug here can never reveal a token).
            at = at.max(end);
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&mask(&text[start..end]));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every word of token shape.
fn token_words(text: &str, spans: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        if let Some(len) = gitlab_token_len(&text[i..]) {
            spans.push((i, i + len));
            i += len;
            continue;
        }
        let len = bytes[i..].iter().take_while(|b| is_word_byte(**b)).count();
        // A word is ASCII, so these are char boundaries.
        if is_token_shaped(&text[i..i + len]) {
            spans.push((i, i + len));
        }
        i += len;
    }
}

/// Characters that end a value in a command line or a URL.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || "\"'`;&|<>(){}".contains(c)
}

/// `scheme://user:PASSWORD@host`: the password.
fn url_passwords(text: &str, spans: &mut Vec<(usize, usize)>) {
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        from = start;
        let authority_end = text[start..]
            .find(|c: char| ends_value(c) || c == '/' || c == '?' || c == '#')
            .map_or(text.len(), |e| start + e);
        let authority = &text[start..authority_end];
        let Some(at_sign) = authority.rfind('@') else {
            continue;
        };
        let userinfo = &authority[..at_sign];
        if userinfo.contains('…') {
            continue; // masked already
        }
        if let Some(colon) = userinfo.find(':') {
            let pw_start = start + colon + 1;
            let pw_end = start + at_sign;
            if pw_end > pw_start {
                spans.push((pw_start, pw_end));
            }
        }
    }
}

/// `password=VALUE`: the value, in every quoting, unless it is a shell
/// expansion. The value is
/// - inside the quotes that open just before the key (`"password=V"`,
///   `'password=V'`): up to the closing quote;
/// - else the shell word that starts after `=`: bare characters and quoted
///   segments (`password='V'`, `password="V"`, `password=a"b"c`), up to white
///   space or shell punctuation outside quotes. A word that is one quoted
///   segment is masked inside its quotes.
fn password_values(text: &str, spans: &mut Vec<(usize, usize)>) {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(KEY) {
        let key_start = from + at;
        let start = key_start + KEY.len();
        from = start;
        let opened_before = text[..key_start]
            .chars()
            .next_back()
            .filter(|c| *c == '"' || *c == '\'');
        let (value_start, value_end) = match opened_before {
            Some(quote) => (start, closing_quote(text, start, quote)),
            None => shell_word(text, start),
        };
        let value = &text[value_start..value_end];
        if value.is_empty() || is_shell_expansion(&text[value_start..]) || value.contains('…') {
            continue;
        }
        spans.push((value_start, value_end));
        from = value_end;
    }
}

/// Where the quote `quote` opened before `from` closes (a backslash escapes
/// within double quotes, nothing within single ones); the end of `text`
/// when it never does.
fn closing_quote(text: &str, from: usize, quote: char) -> usize {
    let mut chars = text[from..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return from + i;
        }
        if c == '\\' && quote == '"' {
            chars.next();
        }
    }
    text.len()
}

/// The shell word starting at `start`, as the span to mask: without its
/// quotes when it is one quoted segment.
fn shell_word(text: &str, start: usize) -> (usize, usize) {
    let mut end = start;
    let mut chars = text[start..].char_indices();
    while let Some((i, c)) = chars.next() {
        let at = start + i;
        match c {
            '"' | '\'' => {
                let close = closing_quote(text, at + 1, c);
                end = (close + 1).min(text.len());
                // Skip what the quoted segment holds.
                while chars.next().is_some_and(|(j, _)| start + j < close) {}
                if close >= text.len() {
                    break;
                }
                continue;
            }
            '\\' => {
                let next = chars.next().map_or(0, |(_, n)| n.len_utf8());
                end = at + 1 + next;
                continue;
            }
            c if ends_value(c) => break,
            c => end = at + c.len_utf8(),
        }
    }
    let word = &text[start..end];
    match word.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let close = closing_quote(text, start + 1, quote);
            if close + 1 >= end {
                return (start + 1, close.min(end));
            }
            (start, end)
        }
        _ => (start, end),
    }
}

/// `$NAME...` (a variable), `${` or `$(`: the shell fills it in; it is not
/// a literal value.
fn is_shell_expansion(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next() == Some('$')
        && chars
            .next()
            .is_some_and(|c| c == '{' || c == '(' || c == '_' || c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::token::clean_token;

    fn token(s: &str) -> Token {
        clean_token(s.as_bytes()).unwrap()
    }

    #[test]
    fn table() {
        let file = token("s3cretFileTokenValue0123XYZW");
        let cases: &[(&str, &str)] = &[
            ("nothing here", "nothing here"),
            ("", ""),
            (
                "!f() { echo password=ghs_0123456789abcdefghijWXYZ; }; f",
                "!f() { echo password=ghs_…WXYZ (28 chars); }; f",
            ),
            (
                "token ghp_0123456789abcdefghijWXYZ, and github_pat_0123456789abcdefghij!",
                "token ghp_…WXYZ (28 chars), and github_pat_…ghij (31 chars)!",
            ),
            (
                "store --file=/x s3cretFileTokenValue0123XYZW",
                "store --file=/x …XYZW (28 chars)",
            ),
            (
                "https://x-access-token:hunter2hunter2hunter2@github.com/o/r",
                "https://x-access-token:…ter2 (21 chars)@github.com/o/r",
            ),
            ("https://user@github.com/o/r", "https://user@github.com/o/r"),
            (
                r#"!f() { if [ -r F ]; then echo "password=$(cat F)"; else echo "password=$GITHUB_TOKEN"; fi; }; f"#,
                r#"!f() { if [ -r F ]; then echo "password=$(cat F)"; else echo "password=$GITHUB_TOKEN"; fi; }; f"#,
            ),
            ("echo Password=abc", "echo Password=… (3 chars)"),
            (
                "the ghost_town and xghp_abc stay",
                "the ghost_town and xghp_abc stay",
            ),
            ("ghs_ alone", "ghs_ alone"),
            (
                "GITLAB_TOKEN=glpat-AbCdEf0123456789_-xy. glpat-short and glpat- stay",
                "GITLAB_TOKEN=glpat-…_-xy (26 chars). glpat-short and glpat- stay",
            ),
            (
                "routable glpat-0123456789abcdefghijklmnopq.01.120abcdef9 end",
                "routable glpat-…def9 (47 chars) end",
            ),
            (
                "old 0123456789abcdef0123456789abcdef01234567 form",
                "old …4567 (40 chars) form",
            ),
            // Every quoting of a password value.
            (
                "!f() { echo password='secret'; }; f",
                "!f() { echo password='… (6 chars)'; }; f",
            ),
            (
                "!f() { echo password=\"secret\"; }; f",
                "!f() { echo password=\"… (6 chars)\"; }; f",
            ),
            (
                "!f() { echo \"password=secret\"; }; f",
                "!f() { echo \"password=… (6 chars)\"; }; f",
            ),
            (
                "!f() { echo 'password=my secret'; }; f",
                "!f() { echo 'password=… (9 chars)'; }; f",
            ),
            (
                "echo password=sec\"ret\"more; x",
                "echo password=… (12 chars); x",
            ),
            (
                "echo password='sec'\"ret\" x",
                "echo password=… (10 chars) x",
            ),
            ("echo password='unterminated", "echo password='… (12 chars)"),
            (
                "echo password=\"a\\\"b\"; x",
                "echo password=\"… (4 chars)\"; x",
            ),
            (
                "echo password=\"$GITHUB_TOKEN\" password='${T}' password=\"$(cat F)\"",
                "echo password=\"$GITHUB_TOKEN\" password='${T}' password=\"$(cat F)\"",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input, &[&file]), *want, "{input}");
        }
    }

    #[test]
    fn overlapping_rules_mask_once() {
        let t = token("ghs_0123456789abcdefghijWXYZ");
        assert_eq!(
            redact("password=ghs_0123456789abcdefghijWXYZ", &[&t]),
            "password=ghs_…WXYZ (28 chars)"
        );
        assert_eq!(
            redact(
                "x ghs_0123456789abcdefghijWXYZghs_0123456789abcdefghijWXYZ",
                &[&t]
            ),
            "x ghs_…WXYZ (56 chars)"
        );
    }

    /// Text that no rule can touch: no `_`, `=`, `@` or `:` (so no token
    /// shape, no `password=`, no userinfo), and lower case only, so that no
    /// generated token (each has upper case and a `_`) can occur in it.
    fn filler() -> impl Strategy<Value = String> {
        "[a-z0-9 ./(){};$!\"'-]{0,24}"
    }

    /// How a `password=` value is written.
    #[derive(Clone, Copy, Debug)]
    enum Quoting {
        Bare,
        Single,
        Double,
        /// The key and value inside double quotes: `"password=V"`.
        KeyInDouble,
        /// The key and value inside single quotes: `'password=V'`.
        KeyInSingle,
    }

    impl Quoting {
        fn around(self) -> (&'static str, &'static str) {
            match self {
                Quoting::Bare => ("password=", ""),
                Quoting::Single => ("password='", "'"),
                Quoting::Double => ("password=\"", "\""),
                Quoting::KeyInDouble => ("\"password=", "\""),
                Quoting::KeyInSingle => ("'password=", "'"),
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Secret {
        /// A known token of any shape: masked wherever it stands.
        Known(String),
        /// A GitHub-shaped token nobody told us about.
        Shaped(String),
        /// `password=VALUE`, in a quoting.
        PasswordValue(String, Quoting),
        /// `https://user:VALUE@host`.
        UrlPassword(String),
    }

    fn secret() -> impl Strategy<Value = Secret> {
        prop_oneof![
            "[A-Z0-9]{2,12}_[A-Za-z0-9.+-]{2,20}".prop_map(Secret::Known),
            (
                "(glpat|gloas|gldt|glrt|glcbt|glptt|glft|glagent)",
                "[A-Za-z0-9_-]{15,30}[A-Za-z0-9_](\\.[a-z0-9]{2,9}){0,2}",
            )
                .prop_map(|(p, b)| Secret::Shaped(format!("{p}-{b}"))),
            (
                "(ghp|gho|ghu|ghs|ghr|github_pat)",
                "[A-Z][A-Za-z0-9_]{3,40}"
            )
                .prop_map(|(p, b)| Secret::Shaped(format!("{p}_{b}"))),
            (
                "[A-Z][A-Z0-9._~-]{2,30}",
                prop_oneof![
                    Just(Quoting::Bare),
                    Just(Quoting::Single),
                    Just(Quoting::Double),
                    Just(Quoting::KeyInDouble),
                    Just(Quoting::KeyInSingle),
                ]
            )
                .prop_map(|(v, q)| Secret::PasswordValue(v, q)),
            "[A-Z][A-Z0-9._~-]{2,30}".prop_map(Secret::UrlPassword),
        ]
    }

    proptest! {
        #[test]
        fn masks_every_secret_and_nothing_else(
            parts in proptest::collection::vec((filler(), secret()), 0..6),
            tail in filler(),
        ) {
            let mut text = String::new();
            let mut want = String::new();
            let mut known: Vec<Token> = Vec::new();
            let mut values: Vec<String> = Vec::new();
            for (fill, secret) in &parts {
                text.push_str(fill);
                want.push_str(fill);
                text.push(' ');
                want.push(' ');
                let (before, value, after) = match secret {
                    Secret::Known(v) => {
                        known.push(token(v));
                        ("", v, "")
                    }
                    Secret::Shaped(v) => ("", v, ""),
                    Secret::PasswordValue(v, quoting) => {
                        let (before, after) = quoting.around();
                        (before, v, after)
                    }
                    Secret::UrlPassword(v) => ("https://u:", v, "@h.example/p"),
                };
                text.push_str(before);
                text.push_str(value);
                text.push_str(after);
                want.push_str(before);
                want.push_str(&token(value).masked());
                want.push_str(after);
                text.push(' ');
                want.push(' ');
                values.push(value.clone());
            }
            text.push_str(&tail);
            want.push_str(&tail);
            let refs: Vec<&Token> = known.iter().collect();
            let out = redact(&text, &refs);
            for v in &values {
                prop_assert!(!out.contains(v.as_str()), "{v} in {out}");
            }
            prop_assert_eq!(&redact(&out, &refs), &out, "masking twice is masking once");
            prop_assert_eq!(out, want);
        }

        #[test]
        fn text_without_secrets_is_unchanged(text in filler()) {
            let t = token("ghs_SomeKnownTokenValue");
            prop_assert_eq!(redact(&text, &[&t]), text);
        }
    }
}
