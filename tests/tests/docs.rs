//! The project's own documentation: every Markdown link stays inside the
//! repository (or is a public https address), the man pages carry every
//! option and an ENVIRONMENT section, and the shell completions complete,
//! driven through bash's and fish's own completion machinery.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use kelos_docgen::{completion, helper_command, man_pages, GH_WRAPPER, GLAB_WRAPPER, HELPER};
use kelos_e2e::{require_tool, TempDir};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repository")
        .canonicalize()
        .expect("repository root")
}

// ---------------------------------------------------------------- links

/// Directories that hold no documentation of the project's own: build
/// output, the fuzz corpus, VCS data, other worktrees' checkouts.
const SKIPPED_DIRS: &[&str] = &["target", "dist", "node_modules", "corpus", "artifacts"];

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            let hidden = name.starts_with('.') && name != ".github" && name != ".ci";
            if !hidden && !SKIPPED_DIRS.contains(&name.as_str()) {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// A link found in a Markdown file: its line and destination.
#[derive(Debug)]
struct Link {
    line: usize,
    dest: String,
}

/// Inline links and images `[text](dest "title")`, reference definitions
/// `[label]: dest` and autolinks `<https://…>`, outside fenced code blocks
/// and code spans.
fn links(markdown: &str) -> Vec<Link> {
    let mut found = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, raw) in markdown.lines().enumerate() {
        let trimmed = raw.trim_start();
        for marker in ["```", "~~~"] {
            if trimmed.starts_with(marker) {
                fence = match fence {
                    Some(open) if open == marker => None,
                    None => Some(marker),
                    other => other,
                };
            }
        }
        if fence.is_some() || trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            continue;
        }
        let text = without_code_spans(raw);
        let line = i + 1;
        if let Some(rest) = text.trim_start().strip_prefix('[') {
            if let Some((label, dest)) = rest.split_once("]:") {
                if !label.is_empty() && !label.contains(']') {
                    if let Some(dest) = dest.split_whitespace().next() {
                        found.push(Link {
                            line,
                            dest: dest.trim_matches(['<', '>']).to_owned(),
                        });
                    }
                }
            }
        }
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let dest = match after.strip_prefix('<') {
                Some(angled) => angled.split('>').next().unwrap_or(""),
                None => {
                    let end = after.find([')', ' ']).unwrap_or(after.len());
                    &after[..end]
                }
            };
            found.push(Link {
                line,
                dest: dest.to_owned(),
            });
            rest = after;
        }
        let mut rest = text.as_str();
        while let Some(at) = rest.find("<http") {
            let after = &rest[at + 1..];
            let end = after.find('>').unwrap_or(after.len());
            found.push(Link {
                line,
                dest: after[..end].to_owned(),
            });
            rest = &after[end..];
        }
    }
    found
}

fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// GitHub's anchors of a Markdown file's headings: lower-cased, markup and
/// punctuation dropped, spaces as hyphens, `-1`, `-2` for repeats.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#').trim().trim_end_matches('#');
        // A link in a heading counts by its text.
        let mut plain = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("](") {
            plain.push_str(&rest[..at]);
            rest = rest[at..].split_once(')').map_or("", |(_, r)| r);
        }
        plain.push_str(rest);
        let slug: String = plain
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => {
                    Some(c.to_lowercase().next().unwrap_or(c))
                }
                _ => None,
            })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// What is wrong with one link, if anything.
fn link_problem(root: &Path, file: &Path, dest: &str) -> Option<String> {
    if dest.is_empty() {
        return Some("an empty destination".into());
    }
    if dest.contains("../shared") || dest.contains("/work/") {
        return Some("points outside the repository (../shared is not in a clone)".into());
    }
    if let Some(rest) = dest.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or(host);
        let name = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let local = name.is_empty()
            || name == "localhost"
            || name.ends_with(".localhost")
            || name.ends_with(".local")
            || name.ends_with(".internal")
            || name.ends_with(".example")
            || name.parse::<std::net::IpAddr>().is_ok()
            || name.starts_with('[');
        return local.then(|| format!("{host} is not a public site"));
    }
    if dest.contains(':') && !dest.starts_with('#') && !dest.starts_with("./") {
        let scheme = dest.split(':').next().unwrap_or("");
        if !scheme.contains('/') {
            return Some(format!("{scheme}: links are not allowed (https only)"));
        }
    }
    if dest.starts_with('/') {
        return Some("an absolute path: it leaves the repository in a clone".into());
    }
    let (path, anchor) = match dest.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (dest, None),
    };
    let target = if path.is_empty() {
        file.to_path_buf()
    } else {
        let joined = file.parent().expect("file in a directory").join(path);
        if joined
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            match joined.canonicalize() {
                Ok(p) => p,
                Err(_) => return Some(format!("{path} does not exist")),
            }
        } else {
            joined
        }
    };
    if !target.exists() {
        return Some(format!("{path} does not exist"));
    }
    let target = target.canonicalize().expect("existing path");
    if !target.starts_with(root) {
        return Some(format!("{path} is outside the repository"));
    }
    if let Some(anchor) = anchor {
        if target.extension().is_some_and(|e| e == "md") {
            let text = fs::read_to_string(&target).expect("Markdown target");
            if !anchors(&text).contains(anchor) {
                return Some(format!(
                    "{} has no heading #{anchor}",
                    target.strip_prefix(root).unwrap_or(&target).display()
                ));
            }
        }
    }
    None
}

#[test]
fn every_markdown_link_resolves_inside_the_repository() {
    let root = repo_root();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("README.md")),
        "no README.md found under {}",
        root.display()
    );
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).expect("Markdown file");
        for link in links(&text) {
            checked += 1;
            if let Some(problem) = link_problem(&root, file, &link.dest) {
                problems.push(format!(
                    "{}:{}: ({}) {problem}",
                    file.strip_prefix(&root).unwrap_or(file).display(),
                    link.line,
                    link.dest
                ));
            }
        }
        if text.contains("../shared") {
            problems.push(format!(
                "{}: mentions ../shared, which is not in the repository",
                file.strip_prefix(&root).unwrap_or(file).display()
            ));
        }
    }
    assert!(
        checked > 5,
        "only {checked} links found: the scanner is broken"
    );
    assert!(problems.is_empty(), "links:\n{}", problems.join("\n"));
}

#[test]
fn the_link_rules_themselves() {
    let root = repo_root();
    let readme = root.join("README.md");
    let bad = [
        "../shared/CONTRACT.md",
        "/etc/passwd",
        "http://example.com/",
        "https://localhost/x",
        "https://127.0.0.1/",
        "file:///etc/passwd",
        "no-such-file.md",
        "#no-such-heading-here",
        "docs/REFERENCE.md#no-such-heading-here",
        "../../outside",
    ];
    for dest in bad {
        assert!(
            link_problem(&root, &readme, dest).is_some(),
            "{dest} was accepted"
        );
    }
    let good = [
        "https://github.com/git-lfs/git-lfs/issues",
        "images/README.md",
        "docs/REFERENCE.md",
        "LICENSE",
        "#configuring-git",
        "docs/REFERENCE.md#environment",
    ];
    for dest in good {
        assert_eq!(link_problem(&root, &readme, dest), None, "{dest}");
    }
    let md = "# A `code` Title\n\n## Exit status & messages\n\n## Dup\n## Dup\n\
              ```\n# not a heading [x](nowhere)\n```\n\
              see [a](b.md) and ![i](<c d.png> \"t\") and `[e](f)` and <https://x.org/y>\n\
              [ref]: g.md \"title\"\n";
    assert_eq!(
        anchors(md),
        ["a-code-title", "dup", "dup-1", "exit-status--messages"]
            .map(String::from)
            .into()
    );
    let dests: Vec<String> = links(md).into_iter().map(|l| l.dest).collect();
    assert_eq!(dests, ["b.md", "c d.png", "https://x.org/y", "g.md"]);
}

// ------------------------------------------------------------ man pages

fn section<'a>(page: &'a str, name: &str) -> &'a str {
    // roff quotes a heading of several words.
    let quoted = format!(".SH \"{name}\"\n");
    let plain = format!(".SH {name}\n");
    let Some((start, head)) = [quoted, plain]
        .into_iter()
        .find_map(|h| page.find(&h).map(|at| (at, h)))
    else {
        return "";
    };
    let body = &page[start + head.len()..];
    &body[..body.find("\n.SH ").map_or(body.len(), |e| e + 1)]
}

/// `--name` as roff writes it.
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

#[test]
fn man_pages_carry_every_option_environment_and_exit_status() {
    let pages: BTreeMap<String, String> = man_pages().unwrap().into_iter().collect();
    let cmd = helper_command();
    let mut expected: Vec<(String, &clap::Command)> = vec![(format!("{HELPER}.1"), &cmd)];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        expected.push((format!("{HELPER}-{}.1", sub.get_name()), sub));
    }
    let mut names: Vec<String> = expected.iter().map(|(f, _)| f.clone()).collect();
    names.push(format!("{GH_WRAPPER}.1"));
    names.push(format!("{GLAB_WRAPPER}.1"));
    names.sort();
    assert_eq!(pages.keys().cloned().collect::<Vec<_>>(), names);

    for (file, command) in &expected {
        let page = &pages[file];
        let options = section(page, "OPTIONS");
        for arg in command.get_arguments() {
            let shown = match (arg.get_long(), arg.get_short()) {
                (Some(long), _) => roff(&format!("--{long}")),
                (None, Some(short)) => roff(&format!("-{short}")),
                (None, None) => arg
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| arg.get_id().to_string()),
            };
            assert!(
                options.contains(&shown),
                "{file}: OPTIONS lacks {shown}:\n{options}"
            );
        }
        let takes_host = command
            .get_arguments()
            .any(|a| a.get_long() == Some("host"));
        assert_eq!(
            options.contains(&roff("--host")),
            takes_host,
            "{file}: --host in OPTIONS"
        );
    }
    assert!(
        section(&pages[&format!("{HELPER}-doctor.1")], "OPTIONS").contains(&roff("--host")),
        "doctor takes --host"
    );

    // Each page explains every variable its binary reads (docgen's table, which its own test
    // keeps equal to what the binaries read).
    for (file, page) in &pages {
        let environment = section(page, "ENVIRONMENT");
        let reads = |v: &kelos_docgen::EnvVar| match file.trim_end_matches(".1") {
            GH_WRAPPER => v.gh.is_some(),
            GLAB_WRAPPER => v.glab.is_some(),
            _ => v.helper.is_some(),
        };
        for var in kelos_docgen::ENVIRONMENT.iter().filter(|v| reads(v)) {
            for name in var.names {
                assert!(
                    environment.contains(name),
                    "{file}: ENVIRONMENT lacks {name}"
                );
            }
        }
        for head in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"] {
            assert!(!section(page, head).is_empty(), "{file}: no {head} section");
        }
        // Every page this one names exists.
        let text = page
            .replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fR", "");
        for (at, _) in text.match_indices("(1)") {
            let start = text[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(0, |s| s + 1);
            let named = &text[start..at];
            if named.starts_with(HELPER) || named == GH_WRAPPER || named == GLAB_WRAPPER {
                assert!(
                    pages.contains_key(&format!("{named}.1")),
                    "{file} names {named}(1), which is not generated"
                );
            }
        }
        assert!(!page.contains("help(1)"), "{file} names a help page");
    }
    // git passes `--host HOST` to its operations (`helper = kelos --host
    // ghe.example.com`): their pages say so, whatever clap's layout.
    for op in ["get", "store", "erase", "capability"] {
        let page = &pages[&format!("{HELPER}-{op}.1")];
        assert!(page.contains(&roff("--host")), "{op}'s page lacks --host");
    }
    // The pages of git's operations say what they do, not only their name.
    for (op, words) in [
        (
            "get",
            &[
                "x\\-access\\-token",
                "https",
                "loopback",
                "password_expiry_utc",
            ][..],
        ),
        ("erase", &["rotated", "never prints a token"]),
        ("store", &["only store"]),
        ("capability", &["version 0"]),
    ] {
        let description = section(&pages[&format!("{HELPER}-{op}.1")], "DESCRIPTION");
        for word in words {
            assert!(
                description.contains(word),
                "{op}: {word} not in {description}"
            );
        }
    }
    // Examples are shown as written (no filling), under NOTES.
    let token = &pages[&format!("{HELPER}-token.1")];
    assert!(section(token, "NOTES").starts_with(".nf\n"), "{token}");
    assert!(section(token, "EXTRA").is_empty());
    let top = &pages[&format!("{HELPER}.1")];
    assert!(section(top, "EXIT STATUS").contains("126"));
    assert!(section(&pages[&format!("{GH_WRAPPER}.1")], "EXIT STATUS").contains("127"));
    let glab = &pages[&format!("{GLAB_WRAPPER}.1")];
    assert!(section(glab, "EXIT STATUS").contains("127"));
    for name in [
        "KELOS_GITLAB_TOKEN_FILE",
        "GITLAB_HOST",
        "GITLAB_TOKEN",
        "KELOS_GLAB_PATH",
        "GLAB_CONFIG_DIR",
    ] {
        assert!(
            section(glab, "ENVIRONMENT").contains(&roff(name)),
            "kelos-glab(1) does not explain {name}"
        );
    }
    assert!(
        !section(glab, "ENVIRONMENT").contains("GH_HOST"),
        "kelos-glab(1) explains a variable it does not read"
    );
}

#[test]
fn man_pages_render_without_warnings() {
    let groff = require_tool("groff");
    let dir = TempDir::new("kelos-man");
    for (file, page) in man_pages().unwrap() {
        let path = dir.join(&file);
        fs::write(&path, &page).unwrap();
        let out = Command::new(&groff)
            .args(["-man", "-ww", "-Tutf8", "-z"])
            .arg(&path)
            .output()
            .expect("run groff");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{file}: groff says:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------- completions

/// A run of completion requests: each line as typed, completed at its end.
fn run_lines(mut cmd: Command, lines: &[String]) -> Vec<Vec<String>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the shell");
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the shell failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Vec<String>> = stdout
        .lines()
        .map(|l| {
            l.split('\x1f')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(
        results.len(),
        lines.len(),
        "one answer per line expected; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

/// Drives bash's programmable completion as readline does on TAB: the
/// function `complete -p` registers for the command is called with
/// COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT set, and COMPREPLY read.
const BASH_DRIVER: &str = r#"
source "$1" || exit 3
spec=$(complete -p git-credential-kelos) || exit 4
fn=$(sed -E 's/.* -F ([^ ]+) .*/\1/' <<<"$spec")
while IFS= read -r line; do
  read -ra COMP_WORDS <<<"$line"
  [[ "$line" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMPREPLY=()
  "$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  (IFS=$'\x1f'; printf '%s\n' "${COMPREPLY[*]}")
done
"#;

fn bash_complete(dir: &TempDir, lines: &[String]) -> Vec<Vec<String>> {
    let bash = require_tool("bash");
    let script = dir.join("git-credential-kelos.bash");
    fs::write(&script, completion(clap_complete::Shell::Bash).unwrap()).unwrap();
    let driver = dir.join("drive.bash");
    fs::write(&driver, BASH_DRIVER).unwrap();
    let mut cmd = Command::new(bash);
    cmd.args(["--norc", "--noprofile"])
        .arg(&driver)
        .arg(&script)
        .env("HOME", dir.path())
        .env("HOSTFILE", dir.join("no-hosts"));
    run_lines(cmd, lines)
}

/// fish completes a command line itself (`complete -C`).
fn fish_complete(dir: &TempDir, lines: &[String]) -> Vec<Vec<String>> {
    let fish = require_tool("fish");
    let script = dir.join("git-credential-kelos.fish");
    fs::write(&script, completion(clap_complete::Shell::Fish).unwrap()).unwrap();
    let mut cmd = Command::new(fish);
    cmd.arg("--no-config")
        .arg("-c")
        .arg(
            "source $argv[1]; or exit 3
             while read -l line
               set -l found (complete -C \"$line\" | string replace -r '\\t.*' '')
               echo (string join \\x1f -- $found)
             end",
        )
        .arg(&script)
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_RUNTIME_DIR", dir.path());
    run_lines(cmd, lines)
}

/// What a person types and what TAB must offer, exactly.
const TRANSCRIPT: &[(&str, &[&str])] = &[
    ("git-credential-kelos configure --ex", &["--exclusive"]),
    ("git-credential-kelos do", &["doctor"]),
    ("git-credential-kelos unc", &["unconfigure"]),
    ("git-credential-kelos doctor --no", &["--no-token-ok"]),
    ("git-credential-kelos doctor --j", &["--json"]),
    ("git-credential-kelos configure --sy", &["--system"]),
    (
        "git-credential-kelos --host ghe.example.com unconfigure --l",
        &["--local"],
    ),
    (
        "git-credential-kelos token --format ",
        &["plain", "header-json"],
    ),
    ("git-credential-kelos env --format j", &["json"]),
    ("git-credential-kelos exec --s", &["--set"]),
];

/// Every subcommand, and every long option of every subcommand, by each of
/// their prefixes, as the clap definition has them.
fn every_option_lines() -> Vec<(String, String)> {
    let cmd = helper_command();
    let mut cases = Vec::new();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        // Every prefix of the subcommand's name, and of each of its long
        // options (after `--`), completes to a set that holds it.
        for end in 1..=name.len() {
            cases.push((format!("{HELPER} {}", &name[..end]), name.into()));
        }
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                for end in 1..=long.len() {
                    cases.push((
                        format!("{HELPER} {name} --{}", &long[..end]),
                        format!("--{long}"),
                    ));
                }
            }
        }
    }
    assert!(cases.len() > 100, "{cases:?}");
    cases
}

/// Completes the transcript and every option, typed as `command` (the
/// binary's name, or `git credential-kelos`).
fn check_completions(
    shell: &str,
    command: &str,
    complete: impl Fn(&TempDir, &[String]) -> Vec<Vec<String>>,
) {
    let dir = TempDir::new(&format!("kelos-{shell}-completion"));
    let typed = |line: &str| line.replacen(HELPER, command, 1);
    let mut lines: Vec<String> = TRANSCRIPT.iter().map(|(l, _)| typed(l)).collect();
    let every = every_option_lines();
    lines.extend(every.iter().map(|(l, _)| typed(l)));
    let results = complete(&dir, &lines);
    let mut transcript = String::new();
    for ((line, want), got) in lines
        .iter()
        .zip(TRANSCRIPT.iter().map(|(_, w)| w))
        .zip(&results)
    {
        transcript.push_str(&format!("{line}<TAB> -> {got:?}\n"));
        let got_set: BTreeSet<&str> = got.iter().map(String::as_str).collect();
        let want_set: BTreeSet<&str> = want.iter().copied().collect();
        assert_eq!(got_set, want_set, "{shell}: {line}<TAB>\n{transcript}");
    }
    let options: BTreeSet<&str> = every.iter().map(|(_, want)| want.as_str()).collect();
    for (((_, want), line), got) in every
        .iter()
        .zip(&lines[TRANSCRIPT.len()..])
        .zip(&results[TRANSCRIPT.len()..])
    {
        // zsh's `_arguments` takes a word that is already an option in full
        // (`--help`, also a prefix of `--helper`) as that option, complete:
        // its answer is the word itself. Every shorter prefix must still
        // offer the longer option (`--helpe` -> `--helper`).
        let typed_word = line.rsplit(' ').next().unwrap_or_default();
        let want = if shell == "zsh" && typed_word != want && options.contains(typed_word) {
            typed_word
        } else {
            want.as_str()
        };
        assert!(
            got.iter().any(|g| g == want),
            "{shell}: {line}<TAB> gave {got:?}, lacks {want}"
        );
    }
    println!("{shell} completion transcript:\n{transcript}");
}

#[test]
fn bash_completes_subcommands_and_their_options() {
    check_completions("bash", HELPER, bash_complete);
}

/// git's own bash completion (Debian's git package), for `git
/// credential-kelos ...`: the same driver, calling the function `complete -p
/// git` registers.
const GIT_COMPLETION: &str = "/usr/share/bash-completion/completions/git";

fn git_split_complete(dir: &TempDir, lines: &[String]) -> Vec<Vec<String>> {
    let bash = require_tool("bash");
    require_tool("git");
    assert!(
        Path::new(GIT_COMPLETION).is_file(),
        "{GIT_COMPLETION} is missing: install Debian's git package (`apt-get install git`)"
    );
    let script = dir.join("git-credential-kelos.bash");
    fs::write(&script, completion(clap_complete::Shell::Bash).unwrap()).unwrap();
    let driver = dir.join("drive.bash");
    let git_driver = BASH_DRIVER
        .replace(
            "source \"$1\" || exit 3",
            &format!("source {GIT_COMPLETION} || exit 3\nsource \"$1\" || exit 3"),
        )
        .replace("complete -p git-credential-kelos", "complete -p git");
    fs::write(&driver, git_driver).unwrap();
    let mut cmd = Command::new(bash);
    cmd.args(["--norc", "--noprofile"])
        .arg(&driver)
        .arg(&script)
        .env("HOME", dir.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOSTFILE", dir.join("no-hosts"));
    run_lines(cmd, lines)
        .into_iter()
        .map(|words| {
            words
                .into_iter()
                .map(|w| {
                    // git's completion is `-o nospace`: a complete word
                    // brings its own space.
                    assert!(w.ends_with(' '), "{w:?} has no trailing space");
                    w.trim_end().to_owned()
                })
                .collect()
        })
        .collect()
}

#[test]
fn bash_completes_git_credential_kelos_through_gits_own_completion() {
    check_completions("git's bash", "git credential-kelos", git_split_complete);
}

#[test]
fn fish_completes_subcommands_and_their_options() {
    check_completions("fish", HELPER, fish_complete);
}

/// Drives zsh's completion system as a person at a terminal does: an
/// interactive `zsh -f -i` in a pseudo-terminal (zsh/zpty), compinit with the
/// generated function in `fpath`, each line typed and TAB pressed; `compadd`
/// is wrapped to print what the completion function offers, and
/// `comppostfuncs` marks the end of each completion.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty zsh/zselect || exit 3
dir=$1 dump=$2
zpty z zsh -f -i || { print -u2 "zsh/zpty cannot open a pseudo-terminal: is devpts mounted on /dev/pts?"; exit 5; }
fd=$REPLY
zpty -w z "PS1=''; fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -d $dump"
zpty -w z "bindkey -e; bindkey '^I' complete-word; zstyle ':completion:*' list-grouped false; zstyle ':completion:*' insert-tab false"
zpty -w z 'compadd () { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a __hits; builtin compadd -A __hits "$@"; local m="@@""HIT"; (( $#__hits )) && print -rl -- "$m:"${^__hits} }'
zpty -w z 'kelos_done () { local m="@@""END"; print -r -- "$m" }'
while IFS= read -r line; do
  zpty -w z 'comppostfuncs=( kelos_done )'
  zpty -w -n z "$line"$'\t'
  out=
  until [[ $out == *@@END* ]]; do
    if zpty -r -t z chunk 2>/dev/null; then out+=$chunk; continue; fi
    zselect -t 1000 -r $fd || { print -u2 "no completion for: $line"; exit 4; }
  done
  hits=( ${(f)"$(print -r -- "$out" | tr -d '\r' | grep -o '@@HIT:[^[:space:]]*' | sed 's/^@@HIT://' | sort -u)"} )
  print -r -- ${(pj:\x1f:)hits}
  zpty -w -n z $'\x05\x15'
done
zpty -d z
"#;

fn zsh_complete(dir: &TempDir, lines: &[String]) -> Vec<Vec<String>> {
    let zsh = require_tool("zsh");
    let functions = dir.join("functions");
    fs::create_dir_all(&functions).unwrap();
    fs::write(
        functions.join("_git-credential-kelos"),
        completion(clap_complete::Shell::Zsh).unwrap(),
    )
    .unwrap();
    let driver = dir.join("drive.zsh");
    fs::write(&driver, ZSH_DRIVER).unwrap();
    let mut cmd = Command::new(zsh);
    cmd.arg("-f")
        .arg(&driver)
        .arg(&functions)
        .arg(dir.join("zcompdump"))
        .env("HOME", dir.path())
        .env("ZDOTDIR", dir.path())
        .env_remove("EDITOR")
        .env_remove("VISUAL");
    run_lines(cmd, lines)
}

#[test]
fn zsh_completes_subcommands_and_their_options() {
    check_completions("zsh", HELPER, zsh_complete);
}

// ---------------------------------------------------------------- demo

/// The demo (and every script that builds with `scripts/lib.sh`) builds for
/// the architecture of the machine it runs on, so that it runs there: an
/// aarch64 host gets aarch64 binaries, not x86_64 ones it cannot execute.
#[test]
fn scripts_build_for_the_machine_they_run_on() {
    let bash = require_tool("bash");
    let dir = TempDir::new("kelos-host-target");
    let fake = dir.join("bin");
    fs::create_dir(&fake).unwrap();
    let uname = fake.join("uname");
    fs::write(&uname, "#!/bin/sh\necho \"$FAKE_MACHINE\"\n").unwrap();
    fs::set_permissions(&uname, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // `$TARGET` after sourcing scripts/lib.sh on `machine`, with `KELOS_TARGET` set or not.
    let target_with = |machine: &str, kelos_target: Option<&str>| {
        let mut c = Command::new(&bash);
        c.args([
            "--norc",
            "--noprofile",
            "-c",
            "source scripts/lib.sh && echo \"$TARGET\"",
        ])
        .current_dir(repo_root())
        .env("PATH", &path)
        .env("FAKE_MACHINE", machine);
        match kelos_target {
            Some(t) => c.env("KELOS_TARGET", t),
            None => c.env_remove("KELOS_TARGET"),
        };
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let target = |machine: &str| target_with(machine, None);
    for (machine, want) in [
        ("x86_64", "x86_64-unknown-linux-musl"),
        ("aarch64", "aarch64-unknown-linux-musl"),
        ("arm64", "aarch64-unknown-linux-musl"),
    ] {
        let (ok, got, err) = target(machine);
        assert!(ok && got == want, "{machine}: {got:?} {err}");
    }
    let (ok, _, err) = target("riscv64");
    assert!(!ok && err.contains("riscv64"), "riscv64: {err}");
    // KELOS_TARGET still chooses.
    let (_, got, _) = target_with("x86_64", Some("aarch64-unknown-linux-musl"));
    assert_eq!(got, "aarch64-unknown-linux-musl");
    let demo = fs::read_to_string(repo_root().join("scripts/demo.sh")).unwrap();
    assert!(demo.contains("source scripts/lib.sh") && demo.contains("build_static"));
}

// ------------------------------------------------------------ reference

/// docs/REFERENCE.md names every command, every option of each and every
/// variable the binaries read: a new option without its documentation fails
/// here.
#[test]
fn the_reference_names_every_command_option_and_variable() {
    let reference = fs::read_to_string(repo_root().join("docs/REFERENCE.md")).unwrap();
    let cmd = helper_command();
    let mut missing = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        if !reference.contains(&format!("`{name}`")) && !reference.contains(&format!("### {name}"))
        {
            missing.push(format!("command {name}"));
        }
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                if !["help", "version"].contains(&long) && !reference.contains(&format!("--{long}"))
                {
                    missing.push(format!("{name} --{long}"));
                }
            }
        }
    }
    for var in kelos_token::env::KNOWN_VARS {
        if !section_md(&reference, "## Environment").contains(var) {
            missing.push(format!("variable {var} (in ## Environment)"));
        }
    }
    assert!(missing.is_empty(), "docs/REFERENCE.md lacks: {missing:?}");
}

/// The text of a Markdown section, from its heading to the next of its level.
fn section_md<'a>(text: &'a str, heading: &str) -> &'a str {
    let Some(start) = text.find(&format!("\n{heading}\n")) else {
        return "";
    };
    let body = &text[start + heading.len() + 2..];
    &body[..body.find("\n## ").unwrap_or(body.len())]
}
