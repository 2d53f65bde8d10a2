//! glab's host entry in its `config.yml`, ensured without a token.
//!
//! glab (1.53) reads a host's `api_protocol`, `api_host` and `git_protocol`
//! from `hosts.<host>` in `config.yml`; `GITLAB_HOST=http://host:port` alone
//! makes it call `https://host:port`. With the entry present and no token
//! stored, glab calls the right URL and sends `GITLAB_TOKEN` from the
//! environment. This module writes exactly that entry:
//!
//! - [`ensure_host_entry`] is the decision, a pure function of the file's
//!   bytes: it edits the three keys of one host in place and keeps every other
//!   byte (other hosts and keys, a token the user stored, comments, order,
//!   indentation). It understands the block-style YAML glab writes (any
//!   consistent indentation, plain or quoted scalars, comments) and refuses
//!   everything else (tabs, flow style, anchors, aliases, tags, block scalars,
//!   sequences, duplicate keys, multi-line values, non-UTF-8) rather than
//!   guess: a refused file is never rewritten.
//! - [`ensure_host_entry_in_file`] is the I/O edge: one read when the entry is
//!   already as wanted; otherwise a lock file, a re-read under the lock, a
//!   sibling temporary file (the old file's mode and owner, or 0600), fsync,
//!   a check that the file did not change since it was read, and a rename.
//!
//! Errors name the file and a line number, never a line's content (the file
//! may hold a token).

#[cfg(test)]
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// glab's config file name inside its config directory.
pub use kelos_token::gitlab_host::GLAB_CONFIG_FILE_NAME as CONFIG_FILE_NAME;

/// The indentation glab (yaml.v3) writes; used when the file shows none.
const GLAB_INDENT: usize = 4;

/// How long a run waits for another kelos-glab's lock before giving up. The
/// lock is held for one small write: a lock older than this is a killed run.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// How often the whole locked cycle is retried when something other than
/// kelos-glab (glab itself, an editor) replaced the file in between.
const CHANGED_RETRIES: usize = 3;

/// Where glab 1.53 keeps `config.yml` ([`kelos_token::gitlab_host::glab_config_file`]:
/// one rule, which the trace also follows to never write into it).
pub fn config_path(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, GlabConfigError> {
    kelos_token::gitlab_host::glab_config_file(env).ok_or(GlabConfigError::NoConfigDir)
}

/// glab's `api_protocol` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiProtocol {
    Http,
    Https,
}

impl ApiProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiProtocol::Http => "http",
            ApiProtocol::Https => "https",
        }
    }
}

/// glab's `git_protocol` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitProtocol {
    Ssh,
    Https,
    Http,
}

impl GitProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            GitProtocol::Ssh => "ssh",
            GitProtocol::Https => "https",
            GitProtocol::Http => "http",
        }
    }
}

/// One host's entry as wanted: the key under `hosts:` (glab's host name,
/// `host` or `host:port`) and the three values. No token field: there is no
/// way to ask this module to write one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    host: String,
    api_protocol: ApiProtocol,
    api_host: String,
    git_protocol: GitProtocol,
}

impl HostEntry {
    /// `host` and `api_host` are host names with an optional port (or a path,
    /// for `api_host`): printable ASCII without spaces, quotes, backslashes or
    /// `#`, so that they are written as one unambiguous YAML scalar.
    pub fn new(
        host: &str,
        api_protocol: ApiProtocol,
        api_host: &str,
        git_protocol: GitProtocol,
    ) -> Result<Self, GlabConfigError> {
        for (what, value) in [("host", host), ("api_host", api_host)] {
            let ok = !value.is_empty()
                && value.len() <= 1024
                && value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\' | b'#'));
            if !ok {
                return Err(GlabConfigError::InvalidEntry {
                    what,
                    value: value.to_string(),
                });
            }
        }
        Ok(HostEntry {
            host: host.to_string(),
            api_protocol,
            api_host: api_host.to_string(),
            git_protocol,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn api_protocol(&self) -> ApiProtocol {
        self.api_protocol
    }

    /// The keys in the order glab's `config set` appends them.
    fn wanted(&self) -> [(&'static str, &str); 3] {
        [
            ("api_protocol", self.api_protocol.as_str()),
            ("api_host", &self.api_host),
            ("git_protocol", self.git_protocol.as_str()),
        ]
    }
}

/// What in a config file kelos-glab will not edit (a line number comes with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("it is not UTF-8")]
    NotUtf8,
    #[error("it starts with a byte order mark")]
    ByteOrderMark,
    #[error("a tab character")]
    Tab,
    #[error("a carriage return (CRLF line ends)")]
    CarriageReturn,
    #[error("a control character")]
    ControlCharacter,
    #[error("a document marker or directive (---, ..., %)")]
    DocumentMarker,
    #[error("a line that is not `key: value` (a sequence, a multi-line value or plain text)")]
    NotAKeyValue,
    #[error("flow style ({{...}} or [...])")]
    FlowStyle,
    #[error("an anchor, alias or tag (&, *, !)")]
    AnchorAliasOrTag,
    #[error("a block scalar (| or >)")]
    BlockScalar,
    #[error("a sequence (- item) or complex key (?)")]
    Sequence,
    #[error(
        "a quoted string that does not end on its line, or an escape other than \\\\ and \\\""
    )]
    Quoting,
    #[error("a value with `: ` in it or ending in `:`")]
    AmbiguousValue,
    #[error("indentation that matches no enclosing key (or a value continued on the next line)")]
    Indentation,
    #[error("a key that appears twice in the same mapping")]
    DuplicateKey,
    #[error("`hosts` is not a mapping")]
    HostsNotAMapping,
    #[error("the host's entry is not a mapping")]
    HostNotAMapping,
    #[error("api_protocol, api_host or git_protocol is not a single value")]
    KeyNotAScalar,
}

#[derive(Debug, thiserror::Error)]
pub enum GlabConfigError {
    /// From [`ensure_host_entry`], which has no file name.
    #[error("glab's config, line {line}: {problem}")]
    Unsupported { line: usize, problem: Problem },
    #[error(
        "{}, line {line}: {problem}; kelos-glab edits only the block-style YAML glab writes, \
         so it left the file unchanged and glab may call the host over the wrong protocol; \
         fix that line (spaces for indentation, `key: value`), or set the entry yourself with \
         `glab config set --host {host} api_protocol ...`",
        path.display()
    )]
    UnsupportedFile {
        path: PathBuf,
        host: String,
        line: usize,
        problem: Problem,
    },
    #[error(
        "{} is not a regular file; glab's config must be one (remove it or set GLAB_CONFIG_DIR)",
        path.display()
    )]
    NotRegular { path: PathBuf },
    #[error(
        "{} is a symbolic link to a missing file; kelos-glab will not replace the link \
         (point it at a file, or remove it)",
        path.display()
    )]
    DanglingSymlink { path: PathBuf },
    #[error(
        "{} exists: another kelos-glab has been updating glab's config for over {}s; \
         if no glab is running, a run was killed: remove that file",
        lock.display(),
        LOCK_WAIT.as_secs()
    )]
    LockTimeout { lock: PathBuf },
    #[error(
        "{} kept changing while kelos-glab updated it ({CHANGED_RETRIES} tries); left as it is",
        path.display()
    )]
    ChangedConcurrently { path: PathBuf },
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no glab config directory: set GLAB_CONFIG_DIR (or XDG_CONFIG_HOME or HOME)")]
    NoConfigDir,
    #[error("{what} {value:?} cannot be written to glab's config: it must be a host name with an optional port, printable ASCII without spaces, quotes, backslashes or #")]
    InvalidEntry { what: &'static str, value: String },
}

// ---------------------------------------------------------------------------
// The parser: block-style YAML mappings of scalars, nothing else.

/// A scalar value after `key:`; `Empty` is `key:` with nothing (or a comment)
/// after it: null, or a nested mapping when deeper lines follow.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Empty,
    Scalar(String),
}

/// One `key: value` line, placed in the tree.
#[derive(Debug)]
struct Node {
    /// Index into `Doc::lines`.
    line: usize,
    indent: usize,
    key: String,
    value: Value,
    /// Byte range of the value in the text (quotes included); for `Empty`,
    /// the empty range right after the colon.
    value_span: (usize, usize),
    children: Vec<usize>,
}

#[derive(Debug)]
struct Doc {
    /// (start, end) byte offsets of each line, `end` excluding the newline.
    lines: Vec<(usize, usize)>,
    nodes: Vec<Node>,
    /// The top-level entries and their indentation.
    root: Vec<usize>,
    root_indent: usize,
    /// The first nesting step seen (what new levels use), else glab's.
    indent_unit: usize,
}

fn unsupported(line: usize, problem: Problem) -> GlabConfigError {
    GlabConfigError::Unsupported {
        line: line + 1,
        problem,
    }
}

/// The first character of a plain scalar may not be one of these (YAML 1.2's
/// indicators); the rest of a key may not hold the flow and quoting ones.
fn plain_start_problem(c: u8) -> Option<Problem> {
    match c {
        b'{' | b'}' | b'[' | b']' | b',' => Some(Problem::FlowStyle),
        b'&' | b'*' | b'!' => Some(Problem::AnchorAliasOrTag),
        b'|' | b'>' => Some(Problem::BlockScalar),
        b'-' | b'?' | b':' => Some(Problem::Sequence),
        b'%' | b'@' | b'`' | b'#' | b'"' | b'\'' => Some(Problem::NotAKeyValue),
        _ => None,
    }
}

/// A quoted scalar starting at `s[0]`: its value and the length it spans.
fn parse_quoted(s: &str) -> Result<(String, usize), Problem> {
    let bytes = s.as_bytes();
    let quote = bytes[0];
    let mut out = String::new();
    let mut i = 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == quote {
            if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            return Ok((out, i + 1));
        }
        if quote == b'"' && c == b'\\' {
            match bytes.get(i + 1) {
                Some(b'\\') => out.push('\\'),
                Some(b'"') => out.push('"'),
                _ => return Err(Problem::Quoting),
            }
            i += 2;
            continue;
        }
        // Whole characters: `s` is UTF-8 and `i` is on a boundary here.
        let ch = s[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    Err(Problem::Quoting)
}

/// After a quoted scalar: only spaces, then the end or a comment.
fn rest_is_comment(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < s.len())
}

/// One content line `indent key: value # comment` (`text` is the line without
/// its indentation, `base` its offset in the file).
fn parse_entry(text: &str, base: usize) -> Result<(String, Value, (usize, usize)), Problem> {
    let bytes = text.as_bytes();
    let (key, colon) = if bytes[0] == b'"' || bytes[0] == b'\'' {
        let (key, len) = parse_quoted(text)?;
        if bytes.get(len) != Some(&b':') {
            return Err(Problem::NotAKeyValue);
        }
        (key, len)
    } else {
        if let Some(p) = plain_start_problem(bytes[0]) {
            return Err(p);
        }
        // The mapping indicator: the first `:` followed by a space or the end.
        let colon = (0..bytes.len())
            .find(|&i| bytes[i] == b':' && matches!(bytes.get(i + 1), None | Some(b' ')))
            .ok_or(Problem::NotAKeyValue)?;
        let key = &text[..colon];
        if key.ends_with(' ') || key.contains(" #") {
            return Err(Problem::NotAKeyValue);
        }
        if let Some(p) = key.bytes().find_map(|b| match b {
            b'{' | b'}' | b'[' | b']' | b',' => Some(Problem::FlowStyle),
            b'&' | b'*' | b'!' => Some(Problem::AnchorAliasOrTag),
            b'"' | b'\'' | b'`' | b'#' => Some(Problem::NotAKeyValue),
            _ => None,
        }) {
            return Err(p);
        }
        (key.to_string(), colon)
    };
    let after = colon + 1;
    let rest = &text[after..];
    let trimmed = rest.trim_start_matches(' ');
    if trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len()) {
        return Ok((key, Value::Empty, (base + after, base + after)));
    }
    if trimmed.len() == rest.len() {
        // `key:x` was caught above (no `: `); a quoted key glued to its value.
        return Err(Problem::NotAKeyValue);
    }
    let start = after + (rest.len() - trimmed.len());
    let tb = trimmed.as_bytes();
    if tb[0] == b'"' || tb[0] == b'\'' {
        let (value, len) = parse_quoted(trimmed)?;
        if !rest_is_comment(&trimmed[len..]) {
            return Err(Problem::Quoting);
        }
        return Ok((
            key,
            Value::Scalar(value),
            (base + start, base + start + len),
        ));
    }
    if tb[0] == b'-' && matches!(tb.get(1), None | Some(b' ')) {
        return Err(Problem::Sequence);
    }
    if tb[0] != b'-' {
        if let Some(p) = plain_start_problem(tb[0]) {
            return Err(p);
        }
    }
    let end = trimmed.find(" #").unwrap_or(trimmed.len());
    let value = trimmed[..end].trim_end_matches(' ');
    if value.contains(": ") || value.ends_with(':') {
        return Err(Problem::AmbiguousValue);
    }
    Ok((
        key,
        Value::Scalar(value.to_string()),
        (base + start, base + start + value.len()),
    ))
}

fn parse(text: &str) -> Result<Doc, GlabConfigError> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            lines.push((start, i));
            start = i + 1;
        }
    }
    if start < text.len() {
        lines.push((start, text.len()));
    }

    let mut doc = Doc {
        lines,
        nodes: Vec::new(),
        root: Vec::new(),
        root_indent: 0,
        indent_unit: 0,
    };
    // Open mappings: (their entries' indentation, the key that holds them).
    let mut open: Vec<(usize, Option<usize>)> = Vec::new();
    let mut may_nest: Option<usize> = None;
    for (n, &(s, e)) in doc.lines.iter().enumerate() {
        let line = &text[s..e];
        if n == 0 && line.starts_with('\u{feff}') {
            return Err(unsupported(n, Problem::ByteOrderMark));
        }
        for c in line.chars() {
            match c {
                '\t' => return Err(unsupported(n, Problem::Tab)),
                '\r' => return Err(unsupported(n, Problem::CarriageReturn)),
                c if c.is_control() => return Err(unsupported(n, Problem::ControlCharacter)),
                _ => {}
            }
        }
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if content.starts_with("---") || content.starts_with("...") || content.starts_with('%') {
            return Err(unsupported(n, Problem::DocumentMarker));
        }
        let (key, value, value_span) =
            parse_entry(content, s + indent).map_err(|p| unsupported(n, p))?;

        // Place it: a deeper line opens the mapping of the key just before
        // it (only if that key had no value); otherwise it must line up with
        // an open mapping.
        match (open.last(), may_nest) {
            (None, _) => {
                open.push((indent, None));
                doc.root_indent = indent;
            }
            (Some(&(top, _)), Some(parent)) if indent > top => {
                if doc.indent_unit == 0 {
                    doc.indent_unit = indent - doc.nodes[parent].indent;
                }
                open.push((indent, Some(parent)));
            }
            _ => {
                while open.last().is_some_and(|&(top, _)| indent < top) {
                    open.pop();
                }
                if open.last().map(|&(top, _)| top) != Some(indent) {
                    return Err(unsupported(n, Problem::Indentation));
                }
            }
        }
        let parent = open.last().expect("pushed or kept above").1;
        let siblings = match parent {
            Some(p) => &doc.nodes[p].children,
            None => &doc.root,
        };
        if siblings.iter().any(|&c| doc.nodes[c].key == key) {
            return Err(unsupported(n, Problem::DuplicateKey));
        }
        let id = doc.nodes.len();
        may_nest = (value == Value::Empty).then_some(id);
        doc.nodes.push(Node {
            line: n,
            indent,
            key,
            value,
            value_span,
            children: Vec::new(),
        });
        match parent {
            Some(p) => doc.nodes[p].children.push(id),
            None => doc.root.push(id),
        }
    }
    if doc.indent_unit == 0 {
        doc.indent_unit = GLAB_INDENT;
    }
    Ok(doc)
}

impl Doc {
    fn child(&self, children: &[usize], key: &str) -> Option<usize> {
        children.iter().copied().find(|&c| self.nodes[c].key == key)
    }

    /// The last line of a node's subtree (its last descendant's line).
    fn last_line(&self, mut id: usize) -> usize {
        while let Some(&last) = self.nodes[id].children.last() {
            id = last;
        }
        self.nodes[id].line
    }

    /// Where text goes to follow line `n`: after its newline.
    fn after_line(&self, n: usize) -> usize {
        self.lines[n].1 + 1
    }
}

/// A value as YAML: plain when that reads back as the same string for sure,
/// else double-quoted (`HostEntry::new` keeps `"` and `\` out).
fn yaml_scalar(s: &str) -> String {
    let b = s.as_bytes();
    let plain = b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'/'))
        && !s.ends_with(':');
    if plain {
        s.to_string()
    } else {
        format!("\"{s}\"")
    }
}

/// One edit of the text: replace `start..end` with `text`.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

fn key_lines(out: &mut String, indent: usize, keys: &[(&str, &str)]) {
    for (key, value) in keys {
        out.push_str(&" ".repeat(indent));
        out.push_str(key);
        out.push_str(": ");
        out.push_str(&yaml_scalar(value));
        out.push('\n');
    }
}

/// A new host's entry: its key, then its three keys one step deeper.
fn host_block(out: &mut String, entry: &HostEntry, indent: usize, unit: usize) {
    out.push_str(&" ".repeat(indent));
    out.push_str(&yaml_scalar(&entry.host));
    out.push_str(":\n");
    key_lines(out, indent + unit, &entry.wanted());
}

/// Text inserted after line `n` (or at the end of an empty file).
fn insert_after(doc: &Doc, text: &str, line: Option<usize>, block: String) -> Edit {
    let at = match line {
        Some(n) => doc.after_line(n).min(text.len()),
        None => text.len(),
    };
    let needs_newline = at > 0 && !text[..at].ends_with('\n');
    Edit {
        start: at,
        end: at,
        text: if needs_newline {
            format!("\n{block}")
        } else {
            block
        },
    }
}

/// The config with `entry`'s three keys set under `hosts.<host>`, or `None`
/// when they already hold those values (nothing to write). Every other byte is
/// kept; a token is never written and never removed. `existing` is `None` for
/// a missing file. Anything outside the block-style YAML glab writes is
/// refused with the line and the problem.
pub fn ensure_host_entry(
    existing: Option<&[u8]>,
    entry: &HostEntry,
) -> Result<Option<Vec<u8>>, GlabConfigError> {
    let text = std::str::from_utf8(existing.unwrap_or_default()).map_err(|e| {
        let line = existing.unwrap_or_default()[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        unsupported(line, Problem::NotUtf8)
    })?;
    let doc = parse(text)?;
    let unit = doc.indent_unit;
    let wanted = entry.wanted();
    let mut edits = Vec::new();

    match doc.child(&doc.root, "hosts") {
        None => {
            let indent = doc.root_indent;
            let mut block = format!("{}hosts:\n", " ".repeat(indent));
            host_block(&mut block, entry, indent + unit, unit);
            let last = doc.root.last().map(|&r| doc.last_line(r));
            edits.push(insert_after(&doc, text, last, block));
        }
        Some(hosts) => {
            let h = &doc.nodes[hosts];
            if h.value != Value::Empty {
                return Err(unsupported(h.line, Problem::HostsNotAMapping));
            }
            let host_indent = h
                .children
                .first()
                .map_or(h.indent + unit, |&c| doc.nodes[c].indent);
            match doc.child(&h.children, &entry.host) {
                None => {
                    let mut block = String::new();
                    host_block(&mut block, entry, host_indent, unit);
                    edits.push(insert_after(&doc, text, Some(doc.last_line(hosts)), block));
                }
                Some(host) => {
                    let e = &doc.nodes[host];
                    if e.value != Value::Empty {
                        return Err(unsupported(e.line, Problem::HostNotAMapping));
                    }
                    let key_indent = e
                        .children
                        .first()
                        .map_or(e.indent + unit, |&c| doc.nodes[c].indent);
                    let mut missing = Vec::new();
                    for (key, value) in wanted {
                        let Some(k) = doc.child(&e.children, key) else {
                            missing.push((key, value));
                            continue;
                        };
                        let node = &doc.nodes[k];
                        if !node.children.is_empty() {
                            return Err(unsupported(node.line, Problem::KeyNotAScalar));
                        }
                        let (start, end) = node.value_span;
                        match &node.value {
                            Value::Scalar(v) if v == value => {}
                            Value::Scalar(_) => edits.push(Edit {
                                start,
                                end,
                                text: yaml_scalar(value),
                            }),
                            Value::Empty => edits.push(Edit {
                                start,
                                end,
                                text: format!(" {}", yaml_scalar(value)),
                            }),
                        }
                    }
                    if !missing.is_empty() {
                        let mut block = String::new();
                        key_lines(&mut block, key_indent, &missing);
                        edits.push(insert_after(&doc, text, Some(doc.last_line(host)), block));
                    }
                }
            }
        }
    }

    if edits.is_empty() {
        return Ok(None);
    }
    edits.sort_by_key(|e| e.start);
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for edit in &edits {
        out.push_str(&text[at..edit.start]);
        out.push_str(&edit.text);
        at = edit.end;
    }
    out.push_str(&text[at..]);
    Ok(Some(out.into_bytes()))
}

// ---------------------------------------------------------------------------
// The I/O edge.

/// What [`ensure_host_entry_in_file`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The entry was already as wanted: the file was read once, not written.
    AlreadySet,
    /// The file was (created or) replaced with the entry set.
    Written,
}

fn io_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> GlabConfigError + 'a {
    move |source| GlabConfigError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The file as read, with what identifies that version of it.
struct Snapshot {
    bytes: Vec<u8>,
    meta: fs::Metadata,
}

/// What tells one version of the file from another: a rename brings a new
/// inode, an in-place write a new size, mtime or ctime.
fn identity(meta: &fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// Reads the config (through a symbolic link, as glab does): `None` if it does
/// not exist. Only a regular file is read (a FIFO would block, a device is not
/// a config); `O_NONBLOCK` so that opening a FIFO cannot hang.
fn read_config(path: &Path) -> Result<Option<Snapshot>, GlabConfigError> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if fs::symlink_metadata(path).is_ok() {
                return Err(GlabConfigError::DanglingSymlink {
                    path: path.to_path_buf(),
                });
            }
            return Ok(None);
        }
        Err(e) => return Err(io_error("read", path)(e)),
    };
    let meta = file.metadata().map_err(io_error("read", path))?;
    if !meta.is_file() {
        return Err(GlabConfigError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    // Through `Take`: `File::read_to_end` would fstat and lseek again for a
    // size hint we already have.
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    io::Read::by_ref(&mut file)
        .take(u64::MAX)
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    Ok(Some(Snapshot { bytes, meta }))
}

/// The file to replace: a symbolic link's target (glab's `WriteFile` does the
/// same: `filepath.EvalSymlinks`, then writes there), so a config kept
/// elsewhere and linked in stays linked.
fn write_target(path: &Path) -> Result<PathBuf, GlabConfigError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => Ok(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(GlabConfigError::DanglingSymlink {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => Err(io_error("resolve", path)(e)),
        },
        _ => Ok(path.to_path_buf()),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// An `O_EXCL` lock file next to the config, as git's `config.lock`: held
/// only by kelos-glab runs (glab itself takes none; the identity check before
/// the rename covers it).
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(target: &Path) -> Result<Lock, GlabConfigError> {
        let path = sibling(target, ".lock");
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_micros(200);
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(Lock { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        return Err(GlabConfigError::LockTimeout { lock: path });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(io_error("create the lock file", &path)(e)),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A temporary file that is removed unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to a new sibling of `target` with the old file's mode and
/// owner (0600 and ours for a new file), flushed to disk.
fn write_temp(
    target: &Path,
    bytes: &[u8],
    old: Option<&fs::Metadata>,
) -> Result<TempFile, GlabConfigError> {
    let path = sibling(target, &format!(".kelos-glab-{}.tmp", std::process::id()));
    // Under the lock no other kelos-glab uses this name; one left by a killed
    // run with the same PID is ours to replace.
    let _ = fs::remove_file(&path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_error("create a temporary file", &path))?;
    let temp = TempFile { path, keep: false };
    let write = |file: &mut File| -> io::Result<()> {
        if let Some(old) = old {
            if old.uid() != unsafe { libc::geteuid() } || old.gid() != unsafe { libc::getegid() } {
                std::os::unix::fs::fchown(&*file, Some(old.uid()), Some(old.gid()))?;
            }
            file.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
        } else {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()
    };
    write(&mut file).map_err(io_error("write", &temp.path))?;
    Ok(temp)
}

/// Makes sure glab's config at `path` has `entry` (see [`ensure_host_entry`]):
/// one read when it already does; else, under a lock, the whole new file or
/// the file as it was, never a half-written one, and never a file kelos-glab
/// cannot read or parse. A missing directory is created 0700.
pub fn ensure_host_entry_in_file(
    path: &Path,
    entry: &HostEntry,
) -> Result<Outcome, GlabConfigError> {
    ensure_in_file(path, entry, &mut |_| {})
}

/// [`ensure_host_entry_in_file`], with `before_rename` run between the new
/// file's fsync and the check that the old one is unchanged (where the tests
/// play glab writing the file meanwhile).
fn ensure_in_file(
    path: &Path,
    entry: &HostEntry,
    before_rename: &mut dyn FnMut(&Path),
) -> Result<Outcome, GlabConfigError> {
    let in_file = |path: &Path| {
        let path = path.to_path_buf();
        let host = entry.host.clone();
        move |e| match e {
            GlabConfigError::Unsupported { line, problem } => GlabConfigError::UnsupportedFile {
                path,
                host,
                line,
                problem,
            },
            other => other,
        }
    };

    // The fast path: one open, one fstat, one read.
    let first = read_config(path)?;
    let wanted = ensure_host_entry(first.as_ref().map(|s| s.bytes.as_slice()), entry)
        .map_err(in_file(path))?;
    if wanted.is_none() {
        return Ok(Outcome::AlreadySet);
    }

    let target = write_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error("create the directory", &dir))?;
    }

    let _lock = Lock::acquire(&target)?;
    for _ in 0..CHANGED_RETRIES {
        // Another run may have written it since the first read.
        let snapshot = read_config(&target)?;
        let Some(bytes) = ensure_host_entry(snapshot.as_ref().map(|s| s.bytes.as_slice()), entry)
            .map_err(in_file(&target))?
        else {
            return Ok(Outcome::AlreadySet);
        };
        let mut temp = write_temp(&target, &bytes, snapshot.as_ref().map(|s| &s.meta))?;
        before_rename(&target);
        let unchanged = match (&snapshot, fs::symlink_metadata(&target)) {
            (None, Err(e)) if e.kind() == io::ErrorKind::NotFound => true,
            // Same inode, size and times, and (times being as coarse as the
            // kernel's clock tick) the same bytes.
            (Some(s), Ok(now)) => {
                identity(&s.meta) == identity(&now)
                    && read_config(&target)?.is_some_and(|again| again.bytes == s.bytes)
            }
            (_, Err(e)) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error("read", &target)(e))
            }
            _ => false,
        };
        if !unchanged {
            continue;
        }
        fs::rename(&temp.path, &target).map_err(io_error("replace", &target))?;
        temp.keep = true;
        // The rename itself on disk (best effort: the new file is complete
        // either way).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        return Ok(Outcome::Written);
    }
    Err(GlabConfigError::ChangedConcurrently { path: target })
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::AlreadySet => "already set",
            Outcome::Written => "written",
        })
    }
}

#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod generated;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(host: &str) -> HostEntry {
        HostEntry::new(host, ApiProtocol::Http, host, GitProtocol::Http).unwrap()
    }

    fn ensure(text: &str, e: &HostEntry) -> Result<Option<String>, GlabConfigError> {
        ensure_host_entry(Some(text.as_bytes()), e)
            .map(|o| o.map(|b| String::from_utf8(b).unwrap()))
    }

    fn problem(text: &str) -> (usize, Problem) {
        match ensure(text, &entry("h:1")) {
            Err(GlabConfigError::Unsupported { line, problem }) => (line, problem),
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    /// What glab 1.53 writes into an empty GLAB_CONFIG_DIR on its first run
    /// (verbatim, `glab config set` there).
    const GLAB_DEFAULT: &str = "\
# What protocol to use when performing Git operations. Supported values: ssh, https.
git_protocol: ssh
# What editor glab should run when creating issues, merge requests, etc. This global config cannot be overridden by hostname.
editor:
# What browser glab should run when opening links. This global config cannot be overridden by hostname.
browser:
# Set your desired Markdown renderer style. Available options are [dark, light, notty]. To set a custom style, refer to https://github.com/charmbracelet/glamour#styles
glamour_style: dark
# Allow glab to automatically check for updates and notify you when there are new updates.
check_update: false
# Last update check timestamp, used for checking when the last update check was performed.
last_update_check_timestamp:
# Whether or not to display hyperlink escape characters when listing items like issues or merge requests. Set to TRUE to display hyperlinks in TTYs only. Force hyperlinks by setting FORCE_HYPERLINKS=1 as an environment variable.
display_hyperlinks: false
# Default GitLab hostname to use.
host: gitlab.com
# Set to true (1) to disable prompts, or false (0) to enable them.
no_prompt: false
# Configuration specific for GitLab instances.
hosts:
    gitlab.com:
        # What protocol to use to access the API endpoint. Supported values: http, https.
        api_protocol: https
        # Configure host for API endpoint. Defaults to the host itself.
        api_host: gitlab.com
        # Your GitLab access token. To get one, read https://docs.gitlab.com/ee/user/profile/personal_access_tokens.html
        token:
";

    #[test]
    fn a_missing_file_gets_the_host_entry_in_glabs_layout() {
        let out = ensure_host_entry(None, &entry("127.0.0.1:8181"))
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "hosts:\n    127.0.0.1:8181:\n        api_protocol: http\n        api_host: 127.0.0.1:8181\n        git_protocol: http\n"
        );
        assert_eq!(
            ensure("", &entry("h")).unwrap().unwrap(),
            ensure_host_entry(None, &entry("h"))
                .unwrap()
                .map(|b| String::from_utf8(b).unwrap())
                .unwrap()
        );
    }

    #[test]
    fn glabs_default_file_gets_the_host_appended_as_glab_config_set_does() {
        // `glab config set --host 127.0.0.1:8181 api_protocol http` (then
        // api_host, git_protocol) on that file appends exactly these lines.
        let out = ensure(GLAB_DEFAULT, &entry("127.0.0.1:8181"))
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            format!("{GLAB_DEFAULT}    127.0.0.1:8181:\n        api_protocol: http\n        api_host: 127.0.0.1:8181\n        git_protocol: http\n")
        );
        assert_eq!(ensure(&out, &entry("127.0.0.1:8181")).unwrap(), None);
    }

    #[test]
    fn an_existing_host_keeps_its_token_and_comments_and_gets_the_missing_keys() {
        let text = "hosts:\n  gitlab.example.com:\n    token: glpat-aaaaaaaaaaaaaaaaaaaa # mine\n    api_protocol: https  # was\n  other:\n    token: glpat-bbbbbbbbbbbbbbbbbbbb\n# tail\n";
        let e = HostEntry::new(
            "gitlab.example.com",
            ApiProtocol::Http,
            "gitlab.example.com:8181",
            GitProtocol::Https,
        )
        .unwrap();
        let out = ensure(text, &e).unwrap().unwrap();
        assert_eq!(
            out,
            "hosts:\n  gitlab.example.com:\n    token: glpat-aaaaaaaaaaaaaaaaaaaa # mine\n    api_protocol: http  # was\n    api_host: gitlab.example.com:8181\n    git_protocol: https\n  other:\n    token: glpat-bbbbbbbbbbbbbbbbbbbb\n# tail\n"
        );
        assert_eq!(ensure(&out, &e).unwrap(), None);
    }

    #[test]
    fn values_already_set_quoted_or_plain_need_no_write() {
        let text = "hosts:\n  'h:1':\n    api_protocol: \"http\"\n    api_host: 'h:1'\n    git_protocol: http # set\n";
        assert_eq!(ensure(text, &entry("h:1")).unwrap(), None);
    }

    #[test]
    fn an_empty_value_is_filled_in_after_its_colon_keeping_the_comment() {
        let text = "hosts:\n    h:1:\n        api_protocol: # which\n        api_host:\n        git_protocol: ''\n";
        assert_eq!(
            ensure(text, &entry("h:1")).unwrap().unwrap(),
            "hosts:\n    h:1:\n        api_protocol: http # which\n        api_host: h:1\n        git_protocol: http\n"
        );
    }

    #[test]
    fn an_empty_hosts_key_and_an_empty_host_key_get_children() {
        assert_eq!(
            ensure("a: 1\nhosts:\nb: 2", &entry("h")).unwrap().unwrap(),
            "a: 1\nhosts:\n    h:\n        api_protocol: http\n        api_host: h\n        git_protocol: http\nb: 2"
        );
        assert_eq!(
            ensure("hosts:\n  h:\n  i:\n    x: y", &entry("h")).unwrap().unwrap(),
            "hosts:\n  h:\n    api_protocol: http\n    api_host: h\n    git_protocol: http\n  i:\n    x: y"
        );
        // No final newline: one is added before the new lines.
        assert_eq!(
            ensure("# only a comment", &entry("h")).unwrap().unwrap(),
            "# only a comment\nhosts:\n    h:\n        api_protocol: http\n        api_host: h\n        git_protocol: http\n"
        );
    }

    #[test]
    fn a_value_yaml_would_misread_is_quoted() {
        let e = HostEntry::new(
            "[::1]:8181",
            ApiProtocol::Http,
            "[::1]:8181",
            GitProtocol::Http,
        )
        .unwrap();
        let out = ensure_host_entry(None, &e).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "hosts:\n    \"[::1]:8181\":\n        api_protocol: http\n        api_host: \"[::1]:8181\"\n        git_protocol: http\n"
        );
        assert_eq!(ensure_host_entry(Some(&out), &e).unwrap(), None);
    }

    #[test]
    fn a_host_entry_cannot_carry_yaml_or_lines() {
        for bad in ["", "a b", "a\nb", "a#b", "a\"b", "a'b", "a\\b", "a\tb", "é"] {
            assert!(
                HostEntry::new(bad, ApiProtocol::Http, "x", GitProtocol::Http).is_err(),
                "{bad:?}"
            );
            assert!(
                HostEntry::new("x", ApiProtocol::Http, bad, GitProtocol::Http).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn what_it_cannot_read_for_certain_is_refused_with_its_line() {
        let cases: &[(&str, usize, Problem)] = &[
            ("a: 1\n\tb: 2\n", 2, Problem::Tab),
            ("a: 1\r\n", 1, Problem::CarriageReturn),
            ("\u{feff}a: 1\n", 1, Problem::ByteOrderMark),
            ("a: \u{7}\n", 1, Problem::ControlCharacter),
            ("---\na: 1\n", 1, Problem::DocumentMarker),
            ("%YAML 1.2\n", 1, Problem::DocumentMarker),
            ("hosts: {h: {api_protocol: http}}\n", 1, Problem::FlowStyle),
            (
                "hosts:\n    h: {api_protocol: http}\n",
                2,
                Problem::FlowStyle,
            ),
            ("a: [1, 2]\n", 1, Problem::FlowStyle),
            ("{a: 1}\n", 1, Problem::FlowStyle),
            ("a: &x 1\nb: *x\n", 1, Problem::AnchorAliasOrTag),
            ("a: !!str 1\n", 1, Problem::AnchorAliasOrTag),
            ("&x a: 1\n", 1, Problem::AnchorAliasOrTag),
            ("a: |\n  hosts:\n", 1, Problem::BlockScalar),
            ("a: >\n  x\n", 1, Problem::BlockScalar),
            ("a:\n  - 1\n", 2, Problem::Sequence),
            ("a: -\n", 1, Problem::Sequence),
            ("? a\n: 1\n", 1, Problem::Sequence),
            ("a: \"x\n  y\"\n", 1, Problem::Quoting),
            ("a: \"x\\ty\"\n", 1, Problem::Quoting),
            ("a: \"x\" y\n", 1, Problem::Quoting),
            ("a: b: c\n", 1, Problem::AmbiguousValue),
            ("a: b:\n", 1, Problem::AmbiguousValue),
            ("a: 1\n  b: 2\n", 2, Problem::Indentation),
            ("a: x\n  y\n", 2, Problem::NotAKeyValue),
            ("a:\n    b: 1\n  c: 2\n", 3, Problem::Indentation),
            ("  a: 1\nb: 2\n", 2, Problem::Indentation),
            ("plain text\n", 1, Problem::NotAKeyValue),
            ("a:b\n", 1, Problem::NotAKeyValue),
            ("a : 1\n", 1, Problem::NotAKeyValue),
            ("a: 1\na: 2\n", 2, Problem::DuplicateKey),
            (
                "hosts:\n  h:1:\n    x: 1\n  h:1:\n    y: 1\n",
                4,
                Problem::DuplicateKey,
            ),
            ("hosts:\n  'h:1':\n  h:1:\n", 3, Problem::DuplicateKey),
            (
                "hosts:\n  h:1:\n    api_protocol: http\n    api_protocol: https\n",
                4,
                Problem::DuplicateKey,
            ),
            ("hosts: none\n", 1, Problem::HostsNotAMapping),
            ("hosts:\n  h:1: x\n", 2, Problem::HostNotAMapping),
            (
                "hosts:\n  h:1:\n    api_host:\n      x: 1\n",
                3,
                Problem::KeyNotAScalar,
            ),
        ];
        for (text, line, want) in cases {
            assert_eq!(problem(text), (*line, *want), "{text:?}");
        }
        assert_eq!(
            ensure_host_entry(Some(b"a: 1\nb: \xff\n"), &entry("h"))
                .unwrap_err()
                .to_string(),
            "glab's config, line 2: it is not UTF-8"
        );
    }

    #[test]
    fn an_error_names_the_line_never_its_content() {
        let text = "hosts:\n  h:1:\n    token: glpat-SECRETSECRETSECRET\n\tx: 1\n";
        let e = ensure(text, &entry("h:1")).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("SECRET"), "{e}");
    }

    #[test]
    fn the_config_path_is_glabs() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = &[
            ("GLAB_CONFIG_DIR", "/g"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(config_path(env(all)).unwrap(), Path::new("/g/config.yml"));
        let no_glab = &[
            ("GLAB_CONFIG_DIR", ""),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            config_path(env(no_glab)).unwrap(),
            Path::new("/x/glab-cli/config.yml")
        );
        let home = &[("XDG_CONFIG_HOME", ""), ("HOME", "/h")];
        assert_eq!(
            config_path(env(home)).unwrap(),
            Path::new("/h/.config/glab-cli/config.yml")
        );
        assert!(matches!(
            config_path(env(&[])),
            Err(GlabConfigError::NoConfigDir)
        ));
    }

    /// The lines of `text` that are not `host`'s wanted keys (nor, when
    /// `added`, the `hosts:` and host key lines the edit added).
    fn other_lines(text: &str, host: &str, added: (bool, bool)) -> (Vec<String>, Vec<String>) {
        let doc = parse(text).unwrap();
        let mut skip = Vec::new();
        if let Some(h) = doc.child(&doc.root, "hosts") {
            if added.0 {
                skip.push(doc.nodes[h].line);
            }
            if let Some(e) = doc.child(&doc.nodes[h].children, host) {
                if added.1 {
                    skip.push(doc.nodes[e].line);
                }
                for key in ["api_protocol", "api_host", "git_protocol"] {
                    if let Some(k) = doc.child(&doc.nodes[e].children, key) {
                        skip.push(doc.nodes[k].line);
                    }
                }
            }
        }
        let (ours, others): (Vec<_>, Vec<_>) = text
            .lines()
            .enumerate()
            .partition(|(i, _)| skip.contains(i));
        let strings = |v: Vec<(usize, &str)>| v.into_iter().map(|(_, l)| l.to_string()).collect();
        (strings(others), strings(ours))
    }

    fn target() -> impl Strategy<Value = (Option<usize>, String, HostEntry)> {
        (
            proptest::option::weighted(0.6, 0usize..4),
            super::generated::host_name(),
            prop_oneof![Just(ApiProtocol::Http), Just(ApiProtocol::Https)],
            super::generated::host_name(),
            prop_oneof![
                Just(GitProtocol::Http),
                Just(GitProtocol::Https),
                Just(GitProtocol::Ssh)
            ],
        )
            .prop_map(|(pick, host, api, api_host, git)| {
                (
                    pick,
                    host.clone(),
                    HostEntry::new(&host, api, &api_host, git).unwrap(),
                )
            })
    }

    /// A unique empty directory under the system's temporary one.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kelos-glab-unit-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// glab does not take kelos-glab's lock: a file replaced between the read
    /// and the rename is read again (the outside change kept, the entry added),
    /// and one that keeps changing is left as the outside writer left it.
    #[test]
    fn a_file_replaced_meanwhile_is_read_again_never_overwritten() {
        let dir = temp_dir("replaced");
        let path = dir.join("config.yml");
        fs::write(
            &path,
            "hosts:\n    a:\n        token: glpat-AAAAAAAAAAAAAAAAAAAA\n",
        )
        .unwrap();
        let mut writes = 0;
        let outcome = ensure_in_file(&path, &entry("h:1"), &mut |target| {
            writes += 1;
            if writes == 1 {
                // As glab's renameio does: a new file renamed over the old.
                let tmp = target.with_file_name("glab-tmp");
                fs::write(
                    &tmp,
                    "hosts:\n    a:\n        token: glpat-BBBBBBBBBBBBBBBBBBBB\n",
                )
                .unwrap();
                fs::rename(&tmp, target).unwrap();
            }
        })
        .unwrap();
        assert_eq!((outcome, writes), (Outcome::Written, 2));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "hosts:\n    a:\n        token: glpat-BBBBBBBBBBBBBBBBBBBB\n    h:1:\n        api_protocol: http\n        api_host: h:1\n        git_protocol: http\n"
        );

        fs::write(&path, "x: 0\n").unwrap();
        let mut n = 0;
        let err = ensure_in_file(&path, &entry("h:2"), &mut |target| {
            n += 1;
            fs::write(target, format!("x: {n}\n")).unwrap();
        })
        .unwrap_err();
        assert!(
            matches!(err, GlabConfigError::ChangedConcurrently { .. }),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("x: {CHANGED_RETRIES}\n")
        );
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["config.yml"], "no temporary or lock file left");
        fs::remove_dir_all(&dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On generated configs: applying twice is applying once; every value
        /// but the host's three is what it was; every other line is kept byte
        /// for byte and in order; nothing added mentions a token.
        #[test]
        fn ensure_is_idempotent_and_keeps_everything_else(
            config in super::generated::config(),
            (pick, fresh, wanted) in target(),
        ) {
            let hosts = config.host_names();
            let host = match pick {
                Some(i) if !hosts.is_empty() => hosts[i % hosts.len()].clone(),
                _ => fresh,
            };
            let wanted = HostEntry::new(&host, wanted.api_protocol, &wanted.api_host, wanted.git_protocol).unwrap();
            let text = config.render();
            let out = ensure(&text, &wanted).unwrap();
            let mut expect = config.values();
            for (k, v) in wanted.wanted() {
                expect.insert((Some(host.clone()), k.to_string()), v.to_string());
            }
            let Some(out) = out else {
                prop_assert_eq!(config.values(), expect);
                return Ok(());
            };
            prop_assert_eq!(ensure(&out, &wanted).unwrap(), None);

            // Values as read back.
            let doc = parse(&out).unwrap();
            let mut got = BTreeMap::new();
            for &r in &doc.root {
                let n = &doc.nodes[r];
                if n.key == "hosts" {
                    for &h in &n.children {
                        for &k in &doc.nodes[h].children {
                            let Value::Scalar(v) = &doc.nodes[k].value else {
                                got.insert((Some(doc.nodes[h].key.clone()), doc.nodes[k].key.clone()), String::new());
                                continue;
                            };
                            got.insert((Some(doc.nodes[h].key.clone()), doc.nodes[k].key.clone()), v.clone());
                        }
                    }
                } else if let Value::Scalar(v) = &n.value {
                    got.insert((None, n.key.clone()), v.clone());
                } else {
                    got.insert((None, n.key.clone()), String::new());
                }
            }
            prop_assert_eq!(&got, &expect);

            // Every other line, byte for byte, in order.
            let had_hosts = config.hosts.is_some();
            let had_host = hosts.contains(&host);
            let (others, ours) = other_lines(&out, &host, (!had_hosts, !had_host));
            prop_assert_eq!(others, other_lines(&text, &host, (false, false)).0);

            // What it wrote (the only lines not kept) holds nothing token-shaped.
            for line in ours {
                prop_assert!(!line.contains("token") && !line.contains("glpat"), "{}", line);
            }
        }

        /// Bytes that are not what glab writes: refused or understood, never a
        /// panic, and an accepted result is stable.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Some(out)) = ensure_host_entry(Some(&bytes), &entry("h:1")) {
                prop_assert_eq!(ensure_host_entry(Some(&out), &entry("h:1")).unwrap(), None);
            }
        }

        #[test]
        fn yaml_like_text_never_panics(text in "([a-z:#\"' {}\\[\\]&*|>-]{0,12}\n){0,8}") {
            if let Ok(Some(out)) = ensure(&text, &entry("h:1")) {
                prop_assert_eq!(ensure(&out, &entry("h:1")).unwrap(), None);
            }
        }
    }
}
