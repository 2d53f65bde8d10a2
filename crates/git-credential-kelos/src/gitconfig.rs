//! Which credential helpers git runs for a host, worked out from the
//! `credential.*helper` entries `git config` lists, and what `configure`
//! writes there.

use kelos_token::host::Host;

/// The helper name git resolves to `git credential-kelos`.
pub const HELPER_NAME: &str = "kelos";

/// One `key=value` from `git config --null --get-regexp`, in config order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
}

/// Parses `git config --null --get-regexp` output: `key\nvalue\0` records
/// (`key\0` alone for a key with no value).
pub fn parse_null_config(output: &[u8]) -> Vec<ConfigEntry> {
    output
        .split(|b| *b == 0)
        .filter(|record| !record.is_empty())
        .map(|record| {
            let text = String::from_utf8_lossy(record);
            match text.split_once('\n') {
                Some((key, value)) => ConfigEntry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                },
                None => ConfigEntry {
                    key: text.into_owned(),
                    value: String::new(),
                },
            }
        })
        .collect()
}

/// The helpers git would run, in order, for `https://HOST`: entries of
/// `credential.helper` and of `credential.<url>.helper` whose URL matches,
/// with an empty value clearing the list so far (as git does).
pub fn helpers_for(entries: &[ConfigEntry], host: &Host) -> Vec<String> {
    let mut helpers = Vec::new();
    for entry in entries {
        let Some(rest) = entry.key.strip_prefix("credential.") else {
            continue;
        };
        let applies = if rest == "helper" {
            true
        } else {
            match rest.strip_suffix(".helper") {
                Some(url) => url_matches(url, host),
                None => false,
            }
        };
        if !applies {
            continue;
        }
        if entry.value.is_empty() {
            helpers.clear();
        } else {
            helpers.push(entry.value.clone());
        }
    }
    helpers
}

/// Whether the helper value names this project's helper (`kelos`, with or
/// without arguments, or a path ending in `git-credential-kelos`).
pub fn is_kelos_helper(value: &str) -> bool {
    let program = value.split_whitespace().next().unwrap_or("");
    program == HELPER_NAME || program.ends_with("/git-credential-kelos")
}

/// The value `configure` writes for `host`: plain `kelos` for github.com
/// (the helper's default), `kelos --host HOST` otherwise, so the entry keeps
/// working whatever `GH_HOST` says at run time.
pub fn helper_value(host: &Host) -> String {
    if host.as_str() == "github.com" {
        HELPER_NAME.to_owned()
    } else {
        format!("{HELPER_NAME} --host {host}")
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

/// git's URL matching for `credential.<url>.*`, for the request
/// `https://HOST` (no user, no path): the scheme must be https, the host
/// equal (a `*` matches one label), the port equal, the path empty or `/`.
fn url_matches(pattern: &str, host: &Host) -> bool {
    let Some(rest) = pattern.strip_prefix("https://") else {
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
        assert!(!is_kelos_helper("!f() { echo password=x; }; f"));
    }

    #[test]
    fn configure_values() {
        assert_eq!(helper_value(&host("github.com")), "kelos");
        assert_eq!(
            helper_value(&host("ghe.example.com:8443")),
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
}
