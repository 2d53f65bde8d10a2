//! Which credential helpers git runs for a host, worked out from the
//! `credential.*helper` entries `git config` lists, and what `configure`
//! writes there.

use kelos_token::gitlab_host::Scheme;
use kelos_token::host::Host;
use kelos_token::served::Served;

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

/// The value `configure` writes for `served`: plain `program` (`kelos`)
/// for github.com (the helper's default), `program --host HOST` otherwise,
/// so the entry keeps working whatever `GH_HOST` (or `GITLAB_HOST`) says at
/// run time; a GitLab instance's `--host` is its host and port, which the
/// helper gives to GitLab while `GITLAB_HOST` names that instance.
pub fn helper_value(program: &str, served: &Served) -> String {
    match served {
        Served::GitHub(host) if host.as_str() == "github.com" => program.to_owned(),
        _ => format!("{program} --host {}", served.host()),
    }
}

/// The config keys `configure` owns for `served`: one per URL git asks
/// for ([`Served::urls`]): a GitHub host and its gist host; a GitLab
/// instance's host over https and, for an `http://` instance, its http URL
/// on its port.
pub fn helper_keys(served: &Served) -> Vec<String> {
    served
        .urls()
        .iter()
        .map(|(scheme, h)| helper_key(*scheme, h))
        .collect()
}

/// The plain `credential.helper` value `configure --exclusive` writes after
/// its reset: `kelos` when github.com is the only host (as [`helper_value`]),
/// else `kelos --host A --host B ...`, so that one entry serves every host.
pub fn exclusive_value(program: &str, hosts: &[Served]) -> String {
    match hosts {
        [only] => helper_value(program, only),
        _ => hosts.iter().fold(program.to_owned(), |mut v, h| {
            v.push_str(" --host ");
            v.push_str(h.host().as_str());
            v
        }),
    }
}

/// Whether `configure --exclusive` has nothing to do in one config file,
/// given its entries in file order: a plain reset followed by `value` among
/// the plain `credential.helper` entries, and after the reset nothing git
/// would run but kelos helpers and resets (no other helper, no include).
pub fn exclusive_in_place<E: Entry>(file: &[E], value: &str) -> bool {
    let harmless = |e: &E| {
        let (key, v) = (e.key(), e.value());
        !(is_helper_key(key) || is_include_key(key))
            || (is_helper_key(key) && (v.is_empty() || is_kelos_helper(v)))
    };
    let plain: Vec<usize> = (0..file.len())
        .filter(|&i| file[i].key() == PLAIN_HELPER_KEY)
        .collect();
    matches!(plain[..], [.., reset, last]
        if file[reset].value().is_empty()
            && file[last].value() == value
            && file[reset + 1..].iter().all(harmless))
}

/// A config entry's key and value, from git's listing or from the file's bytes.
pub trait Entry {
    fn key(&self) -> &str;
    fn value(&self) -> &str;
}

impl Entry for ConfigEntry {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> &str {
        &self.value
    }
}

impl Entry for crate::gitfile::FileEntry {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> &str {
        &self.value
    }
}

/// What `configure` or `unconfigure` does to one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The file's new bytes; `None` when nothing changes.
    pub bytes: Option<Vec<u8>>,
    /// Per key: whether it changes (`true`) or already is as asked.
    pub keys: Vec<(String, bool)>,
    /// The entries (`key`, `value`) the new bytes must hold, in order.
    pub expected: Vec<(String, String)>,
}

/// The change `configure` (`add`) or `unconfigure` makes to a file of
/// `bytes`, scanned as `file`. configure appends, for each key it owns, a new
/// section at the end of the file holding an empty reset and `kelos` (so
/// they come after every entry and include of the file); unconfigure removes
/// the last `kelos` of the key and the last reset before it (whatever a
/// person put between them), and their section header if that leaves it
/// empty. A key counts as configured when git, reading this file alone, runs
/// nothing for its URL after the reset and kelos (git's URL matching: every
/// section that matches the URL counts).
pub fn plan(
    bytes: &[u8],
    file: &crate::gitfile::ScannedFile,
    hosts: &[Served],
    program: &str,
    exclusive: bool,
    add: bool,
) -> Plan {
    use crate::gitfile::{append_section, remove_entries};
    let entries = &file.entries;
    // (key, url (None: plain), value, the file's entries of that key in order)
    let mut owned: Vec<(String, Option<String>, String, Vec<usize>)> = Vec::new();
    if exclusive {
        let plain = (0..entries.len())
            .filter(|&i| entries[i].key == PLAIN_HELPER_KEY)
            .collect();
        owned.push((
            PLAIN_HELPER_KEY.to_owned(),
            None,
            exclusive_value(program, hosts),
            plain,
        ));
    } else {
        for served in hosts {
            let value = helper_value(program, served);
            for (scheme, h) in served.urls() {
                let matching = (0..entries.len())
                    .filter(|&i| {
                        scoped_url(&entries[i].key)
                            .is_some_and(|url| url_matches(url, scheme.as_str(), &h))
                    })
                    .collect();
                owned.push((
                    helper_key(scheme, &h),
                    Some(format!("{scheme}://{h}")),
                    value.clone(),
                    matching,
                ));
            }
        }
    }
    let mut keys = Vec::new();
    let mut new = bytes.to_vec();
    let mut added: Vec<(String, String)> = Vec::new();
    let mut removed: Vec<usize> = Vec::new();
    for (key, url, value, list) in owned {
        let values: Vec<&str> = list.iter().map(|&i| entries[i].value.as_str()).collect();
        let in_place = match &url {
            None => exclusive_in_place(entries, &value),
            Some(_) => matches!(values[..], [.., "", last] if last == value),
        };
        if add {
            keys.push((key.clone(), !in_place));
            if !in_place {
                append_section(
                    &mut new,
                    "credential",
                    url.as_deref(),
                    &[("helper", ""), ("helper", &value)],
                );
                added.push((key.clone(), String::new()));
                added.push((key, value));
            }
            continue;
        }
        let found = list.iter().rposition(|&i| entries[i].value == value);
        keys.push((key, found.is_some()));
        if let Some(k) = found {
            removed.push(list[k]);
            if let Some(r) = list[..k].iter().rposition(|&i| entries[i].value.is_empty()) {
                removed.push(list[r]);
            }
        }
    }
    if !add {
        new = remove_entries(bytes, file, &removed);
    }
    let expected = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(_, e)| (e.key.clone(), e.value.clone()))
        .chain(added)
        .collect();
    let changed = keys.iter().any(|(_, c)| *c);
    Plan {
        bytes: changed.then_some(new),
        keys,
        expected,
    }
}

/// The plain key `configure --exclusive` writes to.
pub const PLAIN_HELPER_KEY: &str = "credential.helper";

/// `credential.SCHEME://HOST.helper`.
fn helper_key(scheme: Scheme, host: &Host) -> String {
    format!("credential.{scheme}://{host}.helper")
}

/// The URL of a `credential.<url>.helper` key.
fn scoped_url(key: &str) -> Option<&str> {
    key.strip_prefix("credential.")?.strip_suffix(".helper")
}

fn is_include_key(key: &str) -> bool {
    key == "include.path" || (key.starts_with("includeif.") && key.ends_with(".path"))
}

/// git's URL matching for `credential.<url>.*` (`urlmatch.c`), for the
/// request `PROTOCOL://HOST` (no user, no path): the scheme the same but for
/// case, the host equal but for case (a `*` matches one label), the port
/// equal, a scheme's default port (443 for https, 80 for http) equal to
/// none, the path empty or `/`. The one rule configure, unconfigure and
/// doctor share.
pub fn url_matches(pattern: &str, protocol: &str, host: &Host) -> bool {
    let Some((scheme, rest)) = pattern.split_once("://") else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(protocol) {
        return false;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "/") || authority.contains('@') {
        return false;
    }
    let pattern_host = authority.to_ascii_lowercase();
    let pattern_host = without_default_port(&pattern_host, protocol);
    let host = without_default_port(host.as_str(), protocol);
    let mut pat_labels = pattern_host.split('.');
    let mut host_labels = host.split('.');
    loop {
        match (pat_labels.next(), host_labels.next()) {
            (None, None) => return true,
            (Some(p), Some(h)) if p == h || (p == "*" && !h.contains(':')) => {}
            _ => return false,
        }
    }
}

/// `host` without `:443` (https) or `:80` (http): git's URL normalisation
/// drops a scheme's default port.
fn without_default_port<'a>(host: &'a str, protocol: &str) -> &'a str {
    let default = if protocol.eq_ignore_ascii_case("https") {
        ":443"
    } else if protocol.eq_ignore_ascii_case("http") {
        ":80"
    } else {
        return host;
    };
    host.strip_suffix(default).unwrap_or(host)
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

    fn served(h: &str) -> Served {
        Served::GitHub(host(h))
    }

    fn gitlab(url: &str) -> Served {
        Served::GitLab(
            kelos_token::gitlab_host::parse_gitlab_host("GITLAB_HOST", url.as_ref()).unwrap(),
        )
    }

    #[test]
    fn gitlab_values_and_keys() {
        let http = gitlab("http://gl.svc:8181/gitlab");
        assert_eq!(helper_value(HELPER_NAME, &http), "kelos --host gl.svc:8181");
        assert_eq!(
            helper_keys(&http),
            [
                "credential.http://gl.svc:8181.helper",
                "credential.https://gl.svc.helper"
            ]
        );
        let https = gitlab("https://gitlab.example.com");
        assert_eq!(
            helper_keys(&https),
            ["credential.https://gitlab.example.com.helper"]
        );
        assert_eq!(
            exclusive_value(HELPER_NAME, &[served("github.com"), http]),
            "kelos --host github.com --host gl.svc:8181"
        );
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
        assert_eq!(helper_value(HELPER_NAME, &served("github.com")), "kelos");
        assert_eq!(
            helper_value(HELPER_NAME, &served("ghe.example.com:8443")),
            "kelos --host ghe.example.com:8443"
        );
        assert_eq!(
            helper_keys(&served("github.com")),
            [
                "credential.https://github.com.helper",
                "credential.https://gist.github.com.helper"
            ]
        );
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
        assert_eq!(
            exclusive_value(HELPER_NAME, &[served("github.com")]),
            "kelos"
        );
        assert_eq!(
            exclusive_value(HELPER_NAME, &[served("ghe.example.com")]),
            "kelos --host ghe.example.com"
        );
        assert_eq!(
            exclusive_value(
                HELPER_NAME,
                &[served("github.com"), served("ghe.example.com:8443")]
            ),
            "kelos --host github.com --host ghe.example.com:8443"
        );
    }

    #[test]
    fn exclusive_in_place_rules() {
        let controller = "!f() { echo password=$GITHUB_TOKEN; }; f";
        let file = entries(&[
            ("core.bare", "false"),
            ("credential.helper", controller),
            ("credential.username", "x-access-token"),
        ]);
        assert!(!exclusive_in_place(&file, "kelos"));
        let mut done = file.clone();
        done.extend(entries(&[
            ("credential.helper", ""),
            ("credential.helper", "kelos"),
        ]));
        assert!(exclusive_in_place(&done, "kelos"));
        assert!(!exclusive_in_place(&done, "kelos --host h"));
        let mut again = done.clone();
        again.extend(entries(&[("credential.helper", controller)]));
        assert!(!exclusive_in_place(&again, "kelos"));
        let mut scoped = done.clone();
        scoped.extend(entries(&[
            ("credential.https://github.com.helper", ""),
            ("credential.https://github.com.helper", "kelos"),
            ("user.name", "x"),
        ]));
        assert!(exclusive_in_place(&scoped, "kelos"));
        let mut included = done.clone();
        included.extend(entries(&[("include.path", "/x")]));
        assert!(!exclusive_in_place(&included, "kelos"));
        assert!(!exclusive_in_place::<ConfigEntry>(&[], "kelos"));
    }

    #[test]
    fn urls_match_as_git_matches_them() {
        let gh = host("github.com");
        for pattern in [
            "https://github.com",
            "HTTPS://GitHub.com",
            "https://github.com:443",
            "https://github.com/",
            "https://*.com",
        ] {
            assert!(url_matches(pattern, "https", &gh), "{pattern}");
        }
        for pattern in [
            "http://github.com",
            "https://github.com:8443",
            "https://github.com/org",
            "https://u@github.com",
            "https://gist.github.com",
        ] {
            assert!(!url_matches(pattern, "https", &gh), "{pattern}");
        }
        assert!(url_matches("HTTP://GitHub.com", "http", &gh));
        assert!(url_matches("http://github.com:80", "http", &gh));
        assert!(!url_matches("http://github.com:443", "http", &gh));
        assert!(url_matches(
            "https://ghe.example.com:8443",
            "https",
            &host("GHE.example.com:8443")
        ));
    }

    #[test]
    fn plans_append_and_remove_exactly() {
        let hosts = [served("github.com")];
        let before = b"[credential \"HTTPS://GitHub.com\"]\n\thelper = store\n";
        let file = crate::gitfile::scan(before).unwrap();
        let p = plan(before, &file, &hosts, "kelos", false, true);
        let after = p.bytes.unwrap();
        assert_eq!(
            String::from_utf8(after.clone()).unwrap(),
            "[credential \"HTTPS://GitHub.com\"]\n\thelper = store\n\
             [credential \"https://github.com\"]\n\thelper = \n\thelper = kelos\n\
             [credential \"https://gist.github.com\"]\n\thelper = \n\thelper = kelos\n"
        );
        let scanned = crate::gitfile::scan(&after).unwrap();
        assert_eq!(
            plan(&after, &scanned, &hosts, "kelos", false, true).bytes,
            None
        );
        // A person's helper between the reset and kelos: both ours go.
        let edited = String::from_utf8(after).unwrap().replace(
            "\thelper = \n\thelper = kelos\n[credential \"https://gist",
            "\thelper = \n\thelper = mine\n\thelper = kelos\n[credential \"https://gist",
        );
        let scanned = crate::gitfile::scan(edited.as_bytes()).unwrap();
        let back = plan(edited.as_bytes(), &scanned, &hosts, "kelos", false, false);
        assert_eq!(
            String::from_utf8(back.bytes.unwrap()).unwrap(),
            "[credential \"HTTPS://GitHub.com\"]\n\thelper = store\n\
             [credential \"https://github.com\"]\n\thelper = mine\n"
        );
    }
}
