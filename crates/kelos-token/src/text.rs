//! Text for a person's terminal: one rule for every line the binaries show
//! (stderr messages, trace lines, doctor's text report).
//!
//! A control character never reaches the terminal raw: a path, a host, a
//! helper command line or gh's `--version` can hold ESC or BEL (which a
//! terminal obeys) or a newline (which would split one message into two
//! lines, the second looking like a message of its own). Each is shown
//! escaped instead, as `\n`, `\r`, `\t` or `\xHH` (C0 and DEL) and `\u{HH}`
//! (the C1 controls, which some terminals also obey). Everything else is
//! left exactly as it is.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

/// `text` with every control character escaped (see the module docs).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        let code = c as u32;
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0 and DEL as \xHH, C1 (U+0080..U+009F) as \u{HH}: two hex
            // digits each.
            c if c.is_control() => {
                out.push_str(if code < 0x80 { "\\x" } else { "\\u{" });
                out.push(char::from(HEX[(code >> 4) as usize & 0xf]));
                out.push(char::from(HEX[code as usize & 0xf]));
                if code >= 0x80 {
                    out.push('}');
                }
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Each line of `text` escaped on its own: the line breaks that separate a
/// report's lines stay, control characters within a line do not.
pub fn escape_controls_in_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        out.push_str(&escape_controls(body));
        out.push_str(end);
    }
    out
}

/// One message on stderr, `PROGRAM: MESSAGE` and a newline, in a single
/// write, with control characters escaped: always exactly one line.
pub fn say(program: &str, message: impl fmt::Display) {
    say_text(program, &message.to_string());
}

#[inline(never)]
fn say_text(program: &str, message: &str) {
    let _ = std::io::stderr().write_all(said(program, message).as_bytes());
}

/// The line [`say`] writes, for a caller that writes it elsewhere.
pub fn said(program: &str, message: &str) -> String {
    [program, ": ", &escape_controls(message), "\n"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            ("plain words / path:x", "plain words / path:x"),
            ("a\nb", "a\\nb"),
            ("\x1b[31mred\x07", "\\x1b[31mred\\x07"),
            ("cr\rtab\t", "cr\\rtab\\t"),
            ("del\x7f c1\u{9b}2J", "del\\x7f c1\\u{9b}2J"),
            ("… é ü", "… é ü"),
            ("back\\slash", "back\\slash"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_controls(input), want, "{input:?}");
        }
        assert_eq!(
            escape_controls_in_lines("a\x1b\nb\x07\n"),
            "a\\x1b\nb\\x07\n"
        );
    }

    proptest! {
        #[test]
        fn no_control_character_survives(text in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}a-z]{0,40}") {
            let out = escape_controls(&text);
            prop_assert!(!out.chars().any(char::is_control), "{out:?}");
            let lines = escape_controls_in_lines(&text);
            prop_assert!(!lines.chars().any(|c| c.is_control() && c != '\n'));
            prop_assert_eq!(lines.matches('\n').count(), text.matches('\n').count());
            if !text.chars().any(char::is_control) {
                prop_assert_eq!(out.as_ref(), text.as_str());
            }
        }
    }
}
