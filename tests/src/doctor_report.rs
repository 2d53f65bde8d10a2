//! doctor's report, parsed: `doctor --json` and `doctor` run for the same state, each
//! checked for its shape (one JSON object; one `[level] id message` line per check, a `fix:`
//! line under each one that has one, `result:` last), and the two cross-checked.

use std::process::Output;

use serde_json::Value;

use crate::text;

/// Every check id the contract names.
pub const CHECK_IDS: &[&str] = &[
    "token.file",
    "token.mode",
    "token.valid",
    "token.expiry",
    "token.fallback",
    // Only when a GitLab setting is in play (issue 20).
    "gitlab.token",
    "host",
    "gh.vars",
    "git",
    "git.helper",
    "git.leak",
    "gh",
    // Only when a GitLab setting is in play: kelos-glab's chain.
    "glab",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub level: String,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    /// Asserts that the check has a fix and the fix contains `needle`; the failure shows
    /// `report`.
    #[track_caller]
    pub fn assert_fix_says(&self, needle: &str, report: &str) {
        assert!(
            self.fix.as_deref().is_some_and(|f| f.contains(needle)),
            "{}'s fix does not say {needle:?}:\n{report}",
            self.id
        );
    }
}

/// One doctor invocation, run twice (`--json` and text) and cross-checked.
pub struct Doctor {
    pub result: String,
    pub checks: Vec<Check>,
    pub code: i32,
    /// The text report (for failure messages: it holds no token, that is checked).
    pub text: String,
}

/// `message` with every duration-like word (`59m`, `1h00m`, `0s`) replaced by `<t>`.
pub fn without_durations(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let core = word.trim_matches(|c: char| "()[],;".contains(c));
            let duration = core.chars().any(|c| c.is_ascii_digit())
                && core
                    .chars()
                    .all(|c| c.is_ascii_digit() || "dhms".contains(c));
            if duration {
                word.replace(core, "<t>")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn level_rank(level: &str) -> u8 {
    match level {
        "ok" => 0,
        "warn" => 1,
        "fail" => 2,
        other => panic!("unknown level {other:?}"),
    }
}

impl Doctor {
    /// Runs `doctor --json ARGS` and `doctor ARGS` through `kelos` (which checks each
    /// output for tokens) and cross-checks them.
    pub fn run(kelos: impl Fn(&[&str]) -> Output, args: &[&str]) -> Doctor {
        let mut json_args = vec!["doctor", "--json"];
        json_args.extend_from_slice(args);
        let mut text_args = vec!["doctor"];
        text_args.extend_from_slice(args);
        let json_out = kelos(&json_args);
        let text_out = kelos(&text_args);
        let report = text(&text_out.stdout);
        for out in [&json_out, &text_out] {
            assert!(
                out.stderr.is_empty(),
                "doctor wrote to stderr: {}",
                text(&out.stderr)
            );
        }

        // JSON: one object, exactly {"result", "checks": [{"id","level","message","fix"}]}.
        let v: Value = serde_json::from_slice(&json_out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor --json is not one JSON value ({e}):\n{}",
                text(&json_out.stdout)
            )
        });
        let obj = v.as_object().expect("a JSON object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["checks", "result"], "top-level keys");
        let result = obj["result"]
            .as_str()
            .expect("result is a string")
            .to_owned();
        let checks: Vec<Check> = obj["checks"]
            .as_array()
            .expect("checks is an array")
            .iter()
            .map(|c| {
                let c = c.as_object().expect("a check is an object");
                let mut keys: Vec<&str> = c.keys().map(String::as_str).collect();
                keys.sort();
                assert_eq!(keys, ["fix", "id", "level", "message"], "check keys");
                let s = |k: &str| {
                    c[k].as_str()
                        .unwrap_or_else(|| panic!("{k} is not a string: {}", c[k]))
                        .to_owned()
                };
                let fix = match &c["fix"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => panic!("fix is neither null nor a string: {other}"),
                };
                Check {
                    id: s("id"),
                    level: s("level"),
                    message: s("message"),
                    fix,
                }
            })
            .collect();
        assert!(!checks.is_empty(), "no checks");
        let worst = checks
            .iter()
            .map(|c| c.level.as_str())
            .max_by_key(|l| level_rank(l))
            .unwrap();
        assert_eq!(result, worst, "result is the worst level");
        for c in &checks {
            assert!(
                CHECK_IDS.contains(&c.id.as_str()),
                "unknown check id {:?}",
                c.id
            );
            assert!(!c.message.is_empty(), "{} has no message", c.id);
            if c.level != "ok" {
                assert!(
                    c.fix.as_deref().is_some_and(|f| !f.trim().is_empty()),
                    "{} is {} but gives no fix",
                    c.id,
                    c.level
                );
            }
            if c.id != "git.helper" {
                assert_eq!(
                    checks.iter().filter(|o| o.id == c.id).count(),
                    1,
                    "{} reported twice",
                    c.id
                );
            }
        }

        // Exit status: non-zero exactly when a check fails; the same for text and JSON.
        let code = json_out.status.code().expect("doctor exited");
        assert_eq!(
            text_out.status.code(),
            Some(code),
            "text and JSON exit alike"
        );
        assert_eq!(
            code != 0,
            result == "fail",
            "exit {code} with result {result}"
        );

        // Text: one `[level] id message` line per check, a `fix:` line under each one that
        // has a fix, and `result: X` last, agreeing with the JSON.
        let mut parsed: Vec<Check> = Vec::new();
        let mut text_result = None;
        for line in report.lines() {
            if let Some(rest) = line.strip_prefix('[') {
                let (level, rest) = rest.split_once(']').expect("`[level]`");
                let rest = rest.trim_start();
                let (id, message) = rest.split_once(' ').unwrap_or((rest, ""));
                parsed.push(Check {
                    id: id.to_owned(),
                    level: level.trim().to_owned(),
                    message: message.trim_start().to_owned(),
                    fix: None,
                });
            } else if let Some(fix) = line.trim_start().strip_prefix("fix: ") {
                let last = parsed.last_mut().expect("a fix line follows a check");
                assert!(last.fix.is_none(), "two fix lines for {}", last.id);
                last.fix = Some(fix.to_owned());
            } else if let Some(r) = line.strip_prefix("result: ") {
                text_result = Some(r.to_owned());
            } else {
                panic!("unexpected line in the text report: {line:?}\n{report}");
            }
        }
        // The two runs are moments apart: durations ("in 59m", "0s ago") may differ.
        let timeless = |cs: &[Check]| -> Vec<Check> {
            cs.iter()
                .map(|c| Check {
                    message: without_durations(&c.message),
                    ..c.clone()
                })
                .collect()
        };
        assert_eq!(
            timeless(&parsed),
            timeless(&checks),
            "text and JSON report the same checks:\n{report}"
        );
        assert_eq!(text_result.as_deref(), Some(result.as_str()), "{report}");
        assert!(report.trim_end().ends_with(&format!("result: {result}")));

        Doctor {
            result,
            checks,
            code,
            text: report,
        }
    }

    pub fn find(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn check(&self, id: &str) -> &Check {
        self.find(id)
            .unwrap_or_else(|| panic!("no {id} check in:\n{}", self.text))
    }

    pub fn level(&self, id: &str) -> &str {
        &self.check(id).level
    }

    pub fn ids(&self) -> Vec<&str> {
        self.checks.iter().map(|c| c.id.as_str()).collect()
    }

    /// Asserts `id` is at `level` and its message says each of `words`; the check.
    #[track_caller]
    pub fn assert_check(&self, id: &str, level: &str, words: &[&str]) -> &Check {
        let c = self.check(id);
        assert_eq!(c.level, level, "{}", self.text);
        for word in words {
            assert!(c.message.contains(word), "{word:?} not in:\n{}", self.text);
        }
        c
    }

    /// Asserts `id`'s message contains `needle`.
    #[track_caller]
    pub fn assert_says(&self, id: &str, needle: &str) {
        assert!(
            self.check(id).message.contains(needle),
            "{id} does not say {needle:?}:\n{}",
            self.text
        );
    }

    /// [`Doctor::only`], and the result is `level`: exit 0, or non-zero for `fail`.
    #[track_caller]
    pub fn assert_only(&self, id: &str, level: &str) {
        self.only(id, level);
        assert_eq!(self.result, level);
        assert_eq!(self.code != 0, level == "fail", "exit {}", self.code);
    }

    /// Asserts `id` is at `level`, and every other check is ok.
    pub fn only(&self, id: &str, level: &str) {
        assert_eq!(self.level(id), level, "{id}:\n{}", self.text);
        for c in &self.checks {
            if c.id != id {
                assert_eq!(c.level, "ok", "{} should be ok:\n{}", c.id, self.text);
            }
        }
    }
}
