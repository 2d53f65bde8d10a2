//! Which credential helpers git runs for a host, worked out from the
//! `credential.*helper` entries `git config` lists, and what `configure`
//! writes there.

use kelos_token::host::Host;

/// The helper name git resolves to `git credential-kelos`.
pub const HELPER_NAME: &str = "kelos";

/// One `key=value` from `git config --null --get-regexp` (or `--list`), in
/// config order; with `--show-scope --show-origin`, where it comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
    /// `system`, `global`, `local`, `worktree`, `command`; empty if unknown.
    pub scope: String,
    /// As git shows it: `file:PATH` (relative paths are relative to the
    /// repository's top level), `command line:`, `blob:...`; empty if unknown.
    pub origin: String,
}

/// Parses `git config --null --get-regexp` output: `key\nvalue\0` records
/// (`key\0` alone for a key with no value).
pub fn parse_null_config(output: &[u8]) -> Vec<ConfigEntry> {
    output
        .split(|b| *b == 0)
        .filter(|record| !record.is_empty())
        .map(|record| {
            let text = String::from_utf8_lossy(record);
            key_value(&text)
        })
        .collect()
}

fn key_value(text: &str) -> ConfigEntry {
    match text.split_once('\n') {
        Some((key, value)) => ConfigEntry {
            key: key.to_owned(),
            value: value.to_owned(),
            ..ConfigEntry::default()
        },
        None => ConfigEntry {
            key: text.to_owned(),
            ..ConfigEntry::default()
        },
    }
}

/// Parses `git config --show-scope --show-origin --null --get-regexp`
/// output: `scope\0origin\0key\nvalue\0` records.
pub fn parse_origin_config(output: &[u8]) -> Vec<ConfigEntry> {
    let fields: Vec<&[u8]> = output.split(|b| *b == 0).collect();
    fields
        .chunks_exact(3)
        .map(|record| {
            let mut entry = key_value(&String::from_utf8_lossy(record[2]));
            entry.scope = String::from_utf8_lossy(record[0]).into_owned();
            entry.origin = String::from_utf8_lossy(record[1]).into_owned();
            entry
        })
        .collect()
}

/// Whether `key` is a credential helper key: `credential.helper` or
/// `credential.<url>.helper`.
pub fn is_helper_key(key: &str) -> bool {
    key == "credential.helper"
        || key
            .strip_prefix("credential.")
            .is_some_and(|rest| rest.ends_with(".helper"))
}

/// Whether `key` belongs to the plain `[credential]` section (no URL).
fn is_plain_credential_key(key: &str) -> bool {
    key.strip_prefix("credential.")
        .is_some_and(|rest| !rest.contains('.'))
}

/// The helpers git would run, in order, for `https://HOST`: entries of
/// `credential.helper` and of `credential.<url>.helper` whose URL matches,
/// with an empty value clearing the list so far (as git does).
#[cfg(test)]
pub fn helpers_for(entries: &[ConfigEntry], host: &Host) -> Vec<String> {
    helper_entries(entries, "https", host)
        .into_iter()
        .map(|e| e.value.clone())
        .collect()
}

/// The entries whose helpers git would run, in order, for
/// `PROTOCOL://HOST` (no user, no path).
pub fn helper_entries<'a>(
    entries: &'a [ConfigEntry],
    protocol: &str,
    host: &Host,
) -> Vec<&'a ConfigEntry> {
    let mut helpers = Vec::new();
    for entry in entries {
        let Some(rest) = entry.key.strip_prefix("credential.") else {
            continue;
        };
        let applies = if rest == "helper" {
            true
        } else {
            match rest.strip_suffix(".helper") {
                Some(url) => url_matches(url, protocol, host),
                None => false,
            }
        };
        if !applies {
            continue;
        }
        if entry.value.is_empty() {
            helpers.clear();
        } else {
            helpers.push(entry);
        }
    }
    helpers
}

/// Whether the helper value names this project's helper (`kelos`, with or
/// without arguments, or a path ending in `git-credential-kelos`).
pub fn is_kelos_helper(value: &str) -> bool {
    let program = helper_program_path(value);
    program == HELPER_NAME || program.ends_with("/git-credential-kelos")
}

/// The program a helper value runs, as [`helper_program`] writes it: its
/// first word, or the single-quoted word after a `!`.
fn helper_program_path(value: &str) -> String {
    let Some(quoted) = value.strip_prefix("!'") else {
        return value.split_whitespace().next().unwrap_or("").to_owned();
    };
    // `'...'` with each `'` inside written as `'\''`.
    let mut out = String::new();
    let mut rest = quoted;
    while let Some(end) = rest.find('\'') {
        out.push_str(&rest[..end]);
        match rest[end..].strip_prefix("'\\''") {
            Some(after) => {
                out.push('\'');
                rest = after;
            }
            None => return out,
        }
    }
    out
}

/// The program part of the helper value `configure` writes: `kelos` (git
/// runs `git credential-kelos`, found in PATH), or with `--helper PATH` that
/// absolute path. git runs a value starting with `/` through the shell as it
/// is, so a path a shell would split is written as a `!` command instead,
/// the path quoted as one shell word.
pub fn helper_program(path: Option<&str>) -> String {
    match path {
        None => HELPER_NAME.to_owned(),
        Some(path) => {
            let word = crate::quote::sh_word(path);
            if word == path {
                word
            } else {
                format!("!{word}")
            }
        }
    }
}

/// The value `configure` writes for `host`: plain `program` (`kelos`) for
/// github.com (the helper's default), `program --host HOST` otherwise, so
/// the entry keeps working whatever `GH_HOST` says at run time.
pub fn helper_value(program: &str, host: &Host) -> String {
    if host.as_str() == "github.com" {
        program.to_owned()
    } else {
        format!("{program} --host {host}")
    }
}

/// The config keys `configure` owns for `host`: its own URL and, for a host
/// name, its gist URL.
pub fn helper_keys(host: &Host) -> Vec<String> {
    std::iter::once(host.clone())
        .chain(host.gist())
        .map(|h| format!("credential.https://{h}.helper"))
        .collect()
}

/// `values` with the `""`, `value` pair appended, unless it is already the
/// end of the list (so configuring twice is configuring once).
pub fn with_helper(values: &[String], value: &str) -> Option<Vec<String>> {
    if ends_with_pair(values, value) {
        return None;
    }
    let mut out = values.to_vec();
    out.push(String::new());
    out.push(value.to_owned());
    Some(out)
}

/// `values` without the last `""`, `value` pair, if there is one.
pub fn without_helper(values: &[String], value: &str) -> Option<Vec<String>> {
    let at = (0..values.len().saturating_sub(1))
        .rev()
        .find(|&i| values[i].is_empty() && values[i + 1] == value)?;
    let mut out = values.to_vec();
    out.drain(at..at + 2);
    Some(out)
}

fn ends_with_pair(values: &[String], value: &str) -> bool {
    matches!(values, [.., empty, last] if empty.is_empty() && last == value)
}

/// The plain `credential.helper` value `configure --exclusive` writes after
/// its reset: `kelos` when github.com is the only host (as [`helper_value`]),
/// else `kelos --host A --host B ...`, so that one entry serves every host.
pub fn exclusive_value(program: &str, hosts: &[Host]) -> String {
    match hosts {
        [only] => helper_value(program, only),
        _ => hosts.iter().fold(program.to_owned(), |mut v, h| {
            v.push_str(" --host ");
            v.push_str(h.as_str());
            v
        }),
    }
}

/// What `configure --exclusive` must do to one config file, given its
/// entries in file order (`git config --file F --null --list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExclusivePlan {
    /// The reset and `value` are the file's last helper entries: nothing.
    Already,
    /// `git config --add credential.helper ""`, then `value`: git puts them
    /// after the last entry of the file's last `[credential]` section.
    Append,
    /// Entries after that point that git would still run (helpers of a
    /// `[credential "URL"]` section, include directives): appending cannot
    /// come after them, and nothing of anyone else's is moved.
    Blocked(Vec<ConfigEntry>),
}

pub fn plan_exclusive(file: &[ConfigEntry], value: &str) -> ExclusivePlan {
    let harmless = |e: &ConfigEntry| {
        !(is_helper_key(&e.key) || is_include_key(&e.key))
            || (is_helper_key(&e.key) && (e.value.is_empty() || is_kelos_helper(&e.value)))
    };
    // Already: a plain reset followed by `value`, and after the reset
    // nothing but kelos helpers, resets, or keys that are no helpers.
    let plain: Vec<usize> = (0..file.len())
        .filter(|&i| file[i].key == "credential.helper")
        .collect();
    if let [.., reset, last] = plain[..] {
        if file[reset].value.is_empty()
            && file[last].value == value
            && file[reset + 1..].iter().all(harmless)
        {
            return ExclusivePlan::Already;
        }
    }
    let insert_at = file
        .iter()
        .rposition(|e| is_plain_credential_key(&e.key))
        .map_or(file.len(), |i| i + 1);
    let later: Vec<ConfigEntry> = file[insert_at..]
        .iter()
        .filter(|e| !harmless(e))
        .cloned()
        .collect();
    if later.is_empty() {
        ExclusivePlan::Append
    } else {
        ExclusivePlan::Blocked(later)
    }
}

fn is_include_key(key: &str) -> bool {
    key == "include.path" || (key.starts_with("includeif.") && key.ends_with(".path"))
}

/// git's URL matching for `credential.<url>.*`, for the request
/// `PROTOCOL://HOST` (no user, no path): the scheme must be the same, the host
/// equal (a `*` matches one label), the port equal, the path empty or `/`.
fn url_matches(pattern: &str, protocol: &str, host: &Host) -> bool {
    let Some(rest) = pattern
        .strip_prefix(protocol)
        .and_then(|p| p.strip_prefix("://"))
    else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") || authority.contains('@') {
        return false;
    }
    let Ok(pattern_host) = Host::parse(&authority.replace('*', "wildcard-label")) else {
        return false;
    };
    let pattern_host = pattern_host.as_str().replace("wildcard-label", "*");
    let (pat_labels, host_labels): (Vec<&str>, Vec<&str>) = (
        pattern_host.split('.').collect(),
        host.as_str().split('.').collect(),
    );
    pat_labels.len() == host_labels.len()
        && pat_labels
            .iter()
            .zip(&host_labels)
            .all(|(p, h)| p == h || (*p == "*" && !h.contains(':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> Vec<ConfigEntry> {
        pairs
            .iter()
            .map(|(k, v)| ConfigEntry {
                key: k.to_string(),
                value: v.to_string(),
                ..ConfigEntry::default()
            })
            .collect()
    }

    fn host(h: &str) -> Host {
        Host::parse(h).unwrap()
    }

    #[test]
    fn parses_git_null_output() {
        let out = b"credential.helper\ncache\0credential.https://github.com.helper\n\0credential.https://github.com.helper\nkelos\0";
        assert_eq!(
            parse_null_config(out),
            entries(&[
                ("credential.helper", "cache"),
                ("credential.https://github.com.helper", ""),
                ("credential.https://github.com.helper", "kelos"),
            ])
        );
    }

    #[test]
    fn helper_list_follows_git_rules() {
        let config = entries(&[
            ("credential.helper", "cache"),
            ("credential.https://github.com.helper", ""),
            ("credential.https://github.com.helper", "kelos"),
            ("credential.https://ghe.example.com.helper", "store"),
            ("credential.http://github.com.helper", "plain"),
            ("credential.https://github.com/org.helper", "path-scoped"),
            ("credential.https://*.github.com.helper", "wild"),
            ("credential.username", "x"),
        ]);
        assert_eq!(helpers_for(&config, &host("github.com")), ["kelos"]);
        assert_eq!(
            helpers_for(&config, &host("GHE.example.com")),
            ["cache", "store"]
        );
        assert_eq!(
            helpers_for(&config, &host("gist.github.com")),
            ["cache", "wild"]
        );
        assert_eq!(helpers_for(&config, &host("github.com:8443")), ["cache"]);
    }

    #[test]
    fn recognises_our_helper() {
        assert!(is_kelos_helper("kelos"));
        assert!(is_kelos_helper("kelos --host ghe.example.com"));
        assert!(is_kelos_helper("/usr/local/bin/git-credential-kelos"));
        assert!(!is_kelos_helper("kelosx"));
        assert!(is_kelos_helper(&helper_program(Some(
            "/it's a/git-credential-kelos"
        ))));
        assert!(is_kelos_helper("/bin/git-credential-kelos --host h"));
        assert_eq!(helper_program(Some("/a/b")), "/a/b");
        assert_eq!(helper_program(Some("/a b/c")), "!'/a b/c'");
        assert!(!is_kelos_helper("!f() { echo password=x; }; f"));
    }

    #[test]
    fn configure_values() {
        assert_eq!(helper_value(HELPER_NAME, &host("github.com")), "kelos");
        assert_eq!(
            helper_value(HELPER_NAME, &host("ghe.example.com:8443")),
            "kelos --host ghe.example.com:8443"
        );
        assert_eq!(
            helper_keys(&host("github.com")),
            [
                "credential.https://github.com.helper",
                "credential.https://gist.github.com.helper"
            ]
        );
    }

    #[test]
    fn adding_is_idempotent_and_removing_is_exact() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let user = s(&["", "cache"]);
        let added = with_helper(&user, "kelos").unwrap();
        assert_eq!(added, s(&["", "cache", "", "kelos"]));
        assert_eq!(with_helper(&added, "kelos"), None);
        assert_eq!(without_helper(&added, "kelos"), Some(user.clone()));
        assert_eq!(without_helper(&user, "kelos"), None);
        assert_eq!(with_helper(&[], "kelos"), Some(s(&["", "kelos"])));
        assert_eq!(without_helper(&s(&["", "kelos"]), "kelos"), Some(vec![]));
    }

    #[test]
    fn parses_origins() {
        let out = b"global\0file:/h/.gitconfig\0credential.helper\ncache\0local\0file:.git/config\0credential.https://x.helper\n\0";
        let got = parse_origin_config(out);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[0].scope.as_str(),
                got[0].origin.as_str(),
                got[0].key.as_str(),
                got[0].value.as_str()
            ),
            ("global", "file:/h/.gitconfig", "credential.helper", "cache")
        );
        assert_eq!(
            (
                got[1].scope.as_str(),
                got[1].origin.as_str(),
                got[1].value.as_str()
            ),
            ("local", "file:.git/config", "")
        );
    }

    #[test]
    fn helper_entries_by_protocol() {
        let config = entries(&[
            ("credential.helper", "leaky"),
            ("credential.https://github.com.helper", ""),
            ("credential.https://github.com.helper", "kelos"),
            ("credential.http://github.com.helper", "plain-http"),
        ]);
        let values = |p: &str, h: &str| -> Vec<String> {
            helper_entries(&config, p, &host(h))
                .into_iter()
                .map(|e| e.value.clone())
                .collect()
        };
        assert_eq!(values("https", "github.com"), ["kelos"]);
        assert_eq!(values("http", "github.com"), ["leaky", "plain-http"]);
        assert_eq!(values("https", "probe.invalid"), ["leaky"]);
    }

    #[test]
    fn exclusive_values() {
        assert_eq!(exclusive_value(HELPER_NAME, &[host("github.com")]), "kelos");
        assert_eq!(
            exclusive_value(HELPER_NAME, &[host("ghe.example.com")]),
            "kelos --host ghe.example.com"
        );
        assert_eq!(
            exclusive_value(
                HELPER_NAME,
                &[host("github.com"), host("ghe.example.com:8443")]
            ),
            "kelos --host github.com --host ghe.example.com:8443"
        );
    }

    #[test]
    fn exclusive_plans() {
        use ExclusivePlan::*;
        let controller = "!f() { echo password=$GITHUB_TOKEN; }; f";
        // The controller's repository: append, then already.
        let file = entries(&[
            ("core.bare", "false"),
            ("credential.helper", controller),
            ("credential.username", "x-access-token"),
        ]);
        assert_eq!(plan_exclusive(&file, "kelos"), Append);
        let mut done = file.clone();
        done.extend(entries(&[
            ("credential.helper", ""),
            ("credential.helper", "kelos"),
        ]));
        assert_eq!(plan_exclusive(&done, "kelos"), Already);
        // Another value (other hosts): append.
        assert_eq!(plan_exclusive(&done, "kelos --host h"), Append);
        // The controller added its helper again after ours.
        let mut again = done.clone();
        again.extend(entries(&[("credential.helper", controller)]));
        assert_eq!(plan_exclusive(&again, "kelos"), Append);
        // Our own scoped entries and other keys later are harmless.
        let mut scoped = done.clone();
        scoped.extend(entries(&[
            ("credential.https://github.com.helper", ""),
            ("credential.https://github.com.helper", "kelos"),
            ("user.name", "x"),
        ]));
        assert_eq!(plan_exclusive(&scoped, "kelos"), Already);
        // Someone else's scoped helper after the [credential] section: blocked.
        let mut blocked = file.clone();
        blocked.extend(entries(&[
            ("credential.https://a.example.helper", ""),
            ("credential.https://a.example.helper", "leaky"),
            ("include.path", "/x"),
        ]));
        assert_eq!(
            plan_exclusive(&blocked, "kelos"),
            Blocked(entries(&[
                ("credential.https://a.example.helper", "leaky"),
                ("include.path", "/x"),
            ]))
        );
        // A scoped helper before the [credential] section is reset: append.
        let mut before = entries(&[("credential.https://a.example.helper", "leaky")]);
        before.extend(file);
        assert_eq!(plan_exclusive(&before, "kelos"), Append);
        // An empty file: a new [credential] section at its end.
        assert_eq!(plan_exclusive(&[], "kelos"), Append);
    }
}
