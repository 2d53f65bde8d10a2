//! Quoting, in one place for every command that prints for a shell or for a
//! JSON reader: `env`'s assignments, `token --format header-json`, doctor's
//! `--json` report and the commands its fixes show.

/// Appends `value` in single quotes, each `'` written as `'\''`: inside
/// single quotes a POSIX shell gives every other byte its literal meaning, so
/// `eval` of the result can only ever yield `value`.
pub fn sh_quote_into(value: &str, out: &mut String) {
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
}

/// `value` as one shell word for a person to paste: as it is when it holds
/// only characters no shell treats specially, else [`sh_quote_into`].
pub fn sh_word(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    sh_quote_into(value, &mut out);
    out
}

/// Appends `value` as a JSON string.
pub fn json_string_into(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `value` as a JSON string.
pub fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    json_string_into(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(sh_word("/workspace/repo"), "/workspace/repo");
        assert_eq!(sh_word("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(sh_word(""), "''");
    }

    #[test]
    fn json_strings() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }
}
