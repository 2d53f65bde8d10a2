//! The fenced blocks of a Markdown page of this repository (`images/KELOS-MAINTAINERS.md`),
//! so that a test runs and checks exactly what the page says: one source for both.

use std::fs;
use std::process::Command;

use crate::chroot::workspace_root;
use crate::process::DEFAULT_TIMEOUT;
use crate::{require_tool, run_with_timeout};

/// The page's text.
pub fn read(page: &str) -> String {
    fs::read_to_string(workspace_root().join(page))
        .unwrap_or_else(|e| panic!("cannot read {page}: {e}"))
}

/// The page's fenced blocks of `lang` (` ```lang `), in order, each with the fence's
/// indentation removed (blocks inside list items are indented).
pub fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(info)) if info.trim() == lang => current = Some((indent, String::new())),
            (Some((i, _)), Some("")) if *i == indent => out.push(current.take().unwrap().1),
            (Some((i, block)), _) => {
                block.push_str(line.get(*i..).unwrap_or("").trim_end_matches('\r'));
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block");
    out
}

/// The page's YAML blocks as `(id, JSON text)`: the id is the block's first line
/// (`# task-pod`), the JSON is what PyYAML's `safe_load` makes of the block (anchors,
/// folded scalars and all, as Kubernetes's YAML reader would).
pub fn yaml_blocks(text: &str) -> Vec<(String, String)> {
    blocks(text, "yaml")
        .into_iter()
        .map(|block| {
            let id = block
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# "))
                .unwrap_or_else(|| panic!("a yaml block without its `# id` line:\n{block}"))
                .trim()
                .to_owned();
            (id, yaml_to_json(&block))
        })
        .collect()
}

/// `yaml` as JSON, by PyYAML (on scripts/deps.sh's list).
pub fn yaml_to_json(yaml: &str) -> String {
    let python = require_tool("python3");
    let mut c = Command::new(python);
    c.args([
        "-c",
        "import json, sys\n\
         try:\n    import yaml\n\
         except ImportError:\n    sys.exit('PyYAML is missing: install it with `python3 -m pip install PyYAML` (or bash scripts/deps.sh)')\n\
         json.dump(yaml.safe_load(sys.stdin.read()), sys.stdout)",
    ]);
    let out = run_with_timeout(c, yaml.as_bytes(), DEFAULT_TIMEOUT);
    assert!(
        out.status.success(),
        "PyYAML could not read the block:\n{yaml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("JSON is UTF-8")
}
