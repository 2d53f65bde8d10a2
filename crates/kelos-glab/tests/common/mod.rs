//! Generated glab configs: the one generator the editor's property tests use,
//! both the unit tests (src/glab_config.rs, against the model) and
//! tests/real_glab.rs (against the real glab).
#![allow(dead_code)]

use std::collections::BTreeMap;

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

/// A scalar as written in the file.
#[derive(Clone, Debug)]
pub enum Scalar {
    Empty,
    Plain(String),
    Double(String),
    Single(String),
}

impl Scalar {
    pub fn render(&self) -> String {
        match self {
            Scalar::Empty => String::new(),
            Scalar::Plain(s) => format!(" {s}"),
            Scalar::Double(s) => format!(" \"{s}\""),
            Scalar::Single(s) => format!(" '{}'", s.replace('\'', "''")),
        }
    }

    /// What glab reads (yaml.v3's node value; a null reads as "").
    pub fn value(&self) -> &str {
        match self {
            Scalar::Empty => "",
            Scalar::Plain(s) | Scalar::Double(s) | Scalar::Single(s) => s,
        }
    }
}

/// One `key: value` line with the comments around it.
#[derive(Clone, Debug)]
pub struct Line {
    pub key: String,
    pub value: Scalar,
    /// Comment lines (text, extra indentation) and blank lines (None) before it.
    pub before: Vec<Option<(String, usize)>>,
    pub trailing: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Host {
    pub host: String,
    pub quoted: bool,
    pub before: Vec<Option<(String, usize)>>,
    pub keys: Vec<Line>,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Indentation step (glab writes 4; people write 2).
    pub unit: usize,
    pub top: Vec<Line>,
    /// Where `hosts:` goes among the top-level keys, and its entries.
    pub hosts: Option<(usize, Vec<Host>)>,
    pub tail: Vec<Option<(String, usize)>>,
    pub final_newline: bool,
}

fn render_before(out: &mut String, indent: usize, before: &[Option<(String, usize)>]) {
    for item in before {
        match item {
            None => out.push('\n'),
            Some((text, extra)) => {
                out.push_str(&" ".repeat(indent + extra));
                out.push('#');
                out.push_str(text);
                out.push('\n');
            }
        }
    }
}

fn render_line(out: &mut String, indent: usize, line: &Line) {
    render_before(out, indent, &line.before);
    out.push_str(&" ".repeat(indent));
    out.push_str(&line.key);
    out.push(':');
    out.push_str(&line.value.render());
    if let Some(c) = &line.trailing {
        out.push_str(" #");
        out.push_str(c);
    }
    out.push('\n');
}

impl Config {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let u = self.unit;
        for (i, line) in self.top.iter().enumerate() {
            if let Some((at, hosts)) = &self.hosts {
                if *at == i {
                    self.render_hosts(&mut out, hosts);
                }
            }
            render_line(&mut out, 0, line);
        }
        if let Some((at, hosts)) = &self.hosts {
            if *at >= self.top.len() {
                self.render_hosts(&mut out, hosts);
            }
        }
        render_before(&mut out, 0, &self.tail);
        if !self.final_newline && out.ends_with('\n') {
            out.pop();
        }
        let _ = u;
        out
    }

    fn render_hosts(&self, out: &mut String, hosts: &[Host]) {
        let u = self.unit;
        out.push_str("hosts:\n");
        for host in hosts {
            render_before(out, u, &host.before);
            out.push_str(&" ".repeat(u));
            if host.quoted {
                out.push_str(&format!("\"{}\":\n", host.host));
            } else {
                out.push_str(&format!("{}:\n", host.host));
            }
            for line in &host.keys {
                render_line(out, 2 * u, line);
            }
        }
    }

    /// Every value glab would read: (None, key) at the top, (Some(host), key)
    /// under `hosts`.
    pub fn values(&self) -> BTreeMap<(Option<String>, String), String> {
        let mut map = BTreeMap::new();
        for line in &self.top {
            map.insert((None, line.key.clone()), line.value.value().to_string());
        }
        if let Some((_, hosts)) = &self.hosts {
            for host in hosts {
                for line in &host.keys {
                    map.insert(
                        (Some(host.host.clone()), line.key.clone()),
                        line.value.value().to_string(),
                    );
                }
            }
        }
        map
    }

    pub fn host_names(&self) -> Vec<String> {
        match &self.hosts {
            Some((_, hosts)) => hosts.iter().map(|h| h.host.clone()).collect(),
            None => Vec::new(),
        }
    }
}

pub fn host_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,4}){0,2}(:[1-9][0-9]{1,4})?"
}

fn comment_text() -> impl Strategy<Value = String> {
    // Comments may say anything, including things that look like YAML.
    "[ a-z0-9:#{}&*|>'\"-]{0,16}"
}

fn before() -> impl Strategy<Value = Vec<Option<(String, usize)>>> {
    vec(
        prop_oneof![
            3 => Just(None),
            7 => (comment_text(), 0usize..6).prop_map(Some),
        ],
        0..2,
    )
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        2 => Just(Scalar::Empty),
        6 => "[a-z0-9][a-z0-9./:_-]{0,12}"
            .prop_filter("a plain scalar does not end in ':'", |s| !s.ends_with(':'))
            .prop_map(Scalar::Plain),
        2 => "[a-zA-Z0-9 ./:#{}&*-]{0,12}".prop_map(Scalar::Double),
        1 => "[a-zA-Z0-9 ./:#'-]{0,12}".prop_map(Scalar::Single),
        2 => "glpat-[A-Za-z0-9_-]{20}".prop_map(Scalar::Plain),
    ]
}

fn line(key: String) -> impl Strategy<Value = Line> {
    (
        scalar(),
        before(),
        proptest::option::weighted(0.2, comment_text()),
    )
        .prop_map(move |(value, before, trailing)| Line {
            key: key.clone(),
            value,
            before,
            trailing,
        })
}

fn lines(keys: impl Strategy<Value = Vec<String>>) -> impl Strategy<Value = Vec<Line>> {
    keys.prop_flat_map(|keys| keys.into_iter().map(line).collect::<Vec<_>>())
        .prop_shuffle()
}

const HOST_KEYS: [&str; 7] = [
    "token",
    "api_protocol",
    "api_host",
    "git_protocol",
    "user",
    "container_registry_domains",
    "job_token",
];

fn host() -> impl Strategy<Value = Host> {
    (
        host_name(),
        proptest::bool::weighted(0.2),
        before(),
        lines(
            proptest::sample::subsequence(HOST_KEYS.to_vec(), 0..=HOST_KEYS.len())
                .prop_map(|v| v.into_iter().map(String::from).collect()),
        ),
    )
        .prop_map(|(host, quoted, before, keys)| Host {
            host,
            quoted,
            before,
            keys,
        })
}

pub fn config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![Just(2usize), Just(3), Just(4)],
        lines(
            btree_set("[a-z][a-z_]{0,12}", 0..6)
                .prop_map(|s| s.into_iter().filter(|k| k != "hosts").collect()),
        ),
        proptest::option::weighted(
            0.85,
            (
                0usize..8,
                btree_map(host_name(), host(), 0..4).prop_map(|m| {
                    m.into_iter()
                        .map(|(name, mut h)| {
                            h.host = name;
                            h
                        })
                        .collect::<Vec<_>>()
                }),
            ),
        ),
        before(),
        proptest::bool::weighted(0.9),
    )
        .prop_map(|(unit, top, hosts, tail, final_newline)| Config {
            unit,
            top,
            hosts,
            tail,
            final_newline,
        })
}
