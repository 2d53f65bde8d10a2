//! One git config file as bytes: a scanner that finds each entry's bytes
//! the way git's own parser reads them (`config.c`: `git_parse_source`,
//! `get_base_var`, `get_value`, `parse_value`), and the edits `configure`
//! and `unconfigure` make: whole sections appended at the end, or exactly
//! their own lines removed. Everything else keeps its bytes.
//!
//! The scanner is checked against git on every write (`configure.rs`
//! compares its entries with `git config --file F --null --list` before and
//! after), so a file it would read differently from git is refused, never
//! edited.

use std::fmt;
use std::ops::Range;

/// One `key = value` as the file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// `section.subsection.name` as git lists it: section and name
    /// lower-case, an extended (`"quoted"`) subsection as written.
    pub key: String,
    /// The value as git reads it (unquoted, escapes resolved); empty for a
    /// key without `=`.
    pub value: String,
    /// The bytes `unconfigure` removes for it: the whole line (with its
    /// newline) when only blanks come before the key on that line, else from
    /// the key to the end of its value.
    pub span: Range<usize>,
    /// Index into [`ScannedFile::sections`].
    pub section: usize,
}

/// A `[section]` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSection {
    /// From the start of the header's line to the end of the section (the
    /// start of the next header's line, or the end of the file).
    pub range: Range<usize>,
    /// Whether the header line is the header alone: `[` at its start, `]`
    /// followed by the newline.
    pub alone: bool,
    /// The end of the header line (after its newline).
    pub header_end: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScannedFile {
    pub entries: Vec<FileEntry>,
    pub sections: Vec<FileSection>,
}

/// A place where the scanner cannot follow the file (git may, or may call it
/// a syntax error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanError {
    pub line: usize,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} is not a section header, key or comment",
            self.line
        )
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    /// The next character as git's `get_next_char` gives it: `\r\n` as one
    /// `\n`, and `\n` (without advancing) at the end.
    fn next(&mut self) -> (u8, bool) {
        match self.bytes.get(self.pos) {
            None => (b'\n', true),
            Some(b'\r') if self.bytes.get(self.pos + 1) == Some(&b'\n') => {
                self.pos += 2;
                (b'\n', false)
            }
            Some(&c) => {
                self.pos += 1;
                (c, false)
            }
        }
    }

    fn line(&self) -> usize {
        1 + self.bytes[..self.pos.min(self.bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    fn line_start(&self, at: usize) -> usize {
        self.bytes[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
    }
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn is_space(c: u8) -> bool {
    // C's isspace as git uses it (sane_ctype): space, \t, \n, \r (and \v,
    // \f are not spaces in git's ctype).
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Reads `bytes` as git's config parser does, keeping where each entry and
/// section is.
pub fn scan(bytes: &[u8]) -> Result<ScannedFile, ScanError> {
    let mut r = Reader { bytes, pos: 0 };
    if bytes.starts_with(b"\xef\xbb\xbf") {
        r.pos = 3;
    }
    let mut out = ScannedFile::default();
    let mut section: Option<String> = None;
    let mut comment = false;
    loop {
        let start = r.pos;
        let (c, eof) = r.next();
        if eof {
            break;
        }
        if c == b'\n' {
            comment = false;
            continue;
        }
        if comment || is_space(c) {
            continue;
        }
        if c == b'#' || c == b';' {
            comment = true;
            continue;
        }
        let error = |r: &Reader| ScanError { line: r.line() };
        if c == b'[' {
            let name = base_var(&mut r).ok_or_else(|| error(&r))?;
            let line_start = r.line_start(start);
            let after = r.pos;
            let alone =
                line_start == start && (bytes[after..].starts_with(b"\n") || after == bytes.len());
            let header_end = if alone {
                (after + 1).min(bytes.len())
            } else {
                after
            };
            if let Some(last) = out.sections.last_mut() {
                last.range.end = line_start;
            }
            out.sections.push(FileSection {
                range: line_start..bytes.len(),
                alone,
                header_end,
            });
            section = Some(name);
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(error(&r));
        }
        let Some(prefix) = &section else {
            return Err(error(&r));
        };
        let mut name = vec![c.to_ascii_lowercase()];
        let mut c;
        loop {
            let (d, eof) = r.next();
            c = d;
            if eof || !is_key_char(c) {
                break;
            }
            name.push(c.to_ascii_lowercase());
        }
        while c == b' ' || c == b'\t' {
            c = r.next().0;
        }
        let value = if c == b'\n' {
            String::new()
        } else if c == b'=' {
            parse_value(&mut r).ok_or_else(|| error(&r))?
        } else {
            return Err(error(&r));
        };
        let end = r.pos;
        let line_start = r.line_start(start);
        let own_line = bytes[line_start..start]
            .iter()
            .all(|b| *b == b' ' || *b == b'\t');
        let span = if own_line {
            line_start..end
        } else {
            start..end - usize::from(bytes[..end].ends_with(b"\n"))
        };
        out.entries.push(FileEntry {
            key: format!("{prefix}.{}", String::from_utf8_lossy(&name)),
            value,
            span,
            section: out.sections.len() - 1,
        });
    }
    Ok(out)
}

/// After `[`: the section name, lower-case, and `."subsection"` as written.
fn base_var(r: &mut Reader) -> Option<String> {
    let mut name = Vec::new();
    loop {
        let (c, eof) = r.next();
        if eof {
            return None;
        }
        if c == b']' {
            return (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned());
        }
        if is_space(c) {
            return extended_base_var(r, c, name);
        }
        if !is_key_char(c) && c != b'.' {
            return None;
        }
        name.push(c.to_ascii_lowercase());
    }
}

fn extended_base_var(r: &mut Reader, mut c: u8, mut name: Vec<u8>) -> Option<String> {
    loop {
        if c == b'\n' {
            return None;
        }
        c = r.next().0;
        if !is_space(c) {
            break;
        }
    }
    if c != b'"' {
        return None;
    }
    name.push(b'.');
    loop {
        let (mut c, eof) = r.next();
        if eof || c == b'\n' {
            return None;
        }
        if c == b'"' {
            break;
        }
        if c == b'\\' {
            let (d, eof) = r.next();
            if eof || d == b'\n' {
                return None;
            }
            c = d;
        }
        name.push(c);
    }
    (r.next().0 == b']').then(|| String::from_utf8_lossy(&name).into_owned())
}

/// After `=`: the value up to and including the end of its line.
fn parse_value(r: &mut Reader) -> Option<String> {
    let (mut quote, mut comment, mut space) = (false, false, 0usize);
    let mut value: Vec<u8> = Vec::new();
    loop {
        let (c, _) = r.next();
        if c == b'\n' {
            if quote {
                return None;
            }
            return Some(String::from_utf8_lossy(&value).into_owned());
        }
        if comment {
            continue;
        }
        if is_space(c) && !quote {
            if !value.is_empty() {
                space += 1;
            }
            continue;
        }
        if !quote && (c == b';' || c == b'#') {
            comment = true;
            continue;
        }
        value.resize(value.len() + space, b' ');
        space = 0;
        if c == b'\\' {
            let (d, eof) = r.next();
            let resolved = match d {
                b'\n' if !eof => continue,
                b't' => b'\t',
                b'b' => 8,
                b'n' => b'\n',
                b'\\' | b'"' => d,
                _ => return None,
            };
            value.push(resolved);
            continue;
        }
        if c == b'"' {
            quote = !quote;
            continue;
        }
        value.push(c);
    }
}

/// `value` as git writes it after `key = `: quoted when git would read it
/// otherwise (leading or trailing blanks, `;`, `#`), `"` and `\` escaped,
/// newline and tab as `\n`, `\t`.
pub fn quote_value(value: &str) -> String {
    let needs_quotes = value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t'])
        || value.contains([';', '#']);
    let mut out = String::with_capacity(value.len() + 2);
    if needs_quotes {
        out.push('"');
    }
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            c => out.push(c),
        }
    }
    if needs_quotes {
        out.push('"');
    }
    out
}

/// A section header `[section "subsection"]` (or `[section]`), as git
/// writes one.
pub fn section_header(section: &str, subsection: Option<&str>) -> String {
    match subsection {
        None => format!("[{section}]"),
        Some(sub) => {
            let escaped = sub.replace('\\', "\\\\").replace('"', "\\\"");
            format!("[{section} \"{escaped}\"]")
        }
    }
}

/// `bytes` with a new section at the end holding `lines` (`(name, value)`),
/// on a line of its own.
pub fn append_section(
    bytes: &mut Vec<u8>,
    section: &str,
    subsection: Option<&str>,
    lines: &[(&str, &str)],
) {
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(section_header(section, subsection).as_bytes());
    bytes.push(b'\n');
    for (name, value) in lines {
        // git's own form: a tab, `name = value`.
        bytes.extend_from_slice(format!("\t{name} = {}\n", quote_value(value)).as_bytes());
    }
}

/// `bytes` without the entries `remove` (indexes into `file.entries`), and
/// without the header of a section that held nothing else but them.
pub fn remove_entries(bytes: &[u8], file: &ScannedFile, remove: &[usize]) -> Vec<u8> {
    // The cuts in file order (sections, then their entries, as scanned): no
    // sorting needed.
    let mut cuts: Vec<Range<usize>> = Vec::new();
    for (s, section) in file.sections.iter().enumerate() {
        let ours: Vec<Range<usize>> = (0..file.entries.len())
            .filter(|i| file.entries[*i].section == s && remove.contains(i))
            .map(|i| file.entries[i].span.clone())
            .collect();
        if section.alone && !ours.is_empty() {
            // What stays of the section after its header line, in bytes.
            let mut left = 0;
            let mut at = section.header_end;
            for cut in &ours {
                left += cut.start.saturating_sub(at);
                at = at.max(cut.end);
            }
            left += section.range.end.saturating_sub(at);
            if left == 0 {
                cuts.push(section.range.start..section.header_end);
            }
        }
        cuts.extend(ours);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for cut in cuts {
        out.extend_from_slice(&bytes[at..cut.start.max(at)]);
        at = at.max(cut.end);
    }
    out.extend_from_slice(&bytes[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
        scan(bytes)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn reads_as_git_does() {
        let file = b"# c\n[Credential \"https://GitHub.com\"]\n\tHelper = \n\thelper = kelos ; c\n[core] bare = \"a ; b\" \\\n  x\n[a.B]\nk\n  v = \" x\"  y  \n";
        assert_eq!(
            pairs(file),
            [
                ("credential.https://GitHub.com.helper", ""),
                ("credential.https://GitHub.com.helper", "kelos"),
                ("core.bare", "a ; b   x"),
                ("a.b.k", ""),
                ("a.b.v", " x  y"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(scan(b"[x\n").is_err());
        assert!(scan(b"key = v\n").is_err());
        assert!(scan(b"[a]\nk = \"open\n").is_err());
    }

    #[test]
    fn appends_and_removes_exactly() {
        let before = b"[user]\n\tname = x".to_vec();
        let mut after = before.clone();
        append_section(
            &mut after,
            "credential",
            Some("https://github.com"),
            &[("helper", ""), ("helper", "kelos")],
        );
        assert_eq!(
            after,
            b"[user]\n\tname = x\n[credential \"https://github.com\"]\n\thelper = \n\thelper = kelos\n"
        );
        let file = scan(&after).unwrap();
        assert_eq!(
            remove_entries(&after, &file, &[1, 2]),
            b"[user]\n\tname = x\n"
        );
        assert_eq!(
            remove_entries(&after, &file, &[2]),
            b"[user]\n\tname = x\n[credential \"https://github.com\"]\n\thelper = \n"
        );
    }

    #[test]
    fn quotes_values() {
        assert_eq!(quote_value("kelos --host h"), "kelos --host h");
        assert_eq!(quote_value("!'/a b/c' #x"), "\"!'/a b/c' #x\"");
        assert_eq!(quote_value("a\"b\\"), "a\\\"b\\\\");
        let mut bytes = Vec::new();
        let tricky = " !f() { echo \"a;b\"; }; f\t";
        append_section(
            &mut bytes,
            "credential",
            Some("x\"y"),
            &[("helper", tricky)],
        );
        assert_eq!(
            pairs(&bytes),
            [("credential.x\"y.helper".to_owned(), tricky.to_owned())]
        );
    }
}
