//! doctor's report: the checks' ids, levels and findings, and the two ways
//! it is shown (text for a terminal, `--json` for a machine). No check ever
//! carries a token: [`Report::redacted`] masks every message and fix.

use std::fmt::Write as _;

use crate::quote::json_string;
use kelos_token::redact::redact;
use kelos_token::text::escape_controls;
use kelos_token::Token;

/// Every check doctor makes; [`CheckId::as_str`] is its stable id in the
/// text and in `--json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckId {
    TokenFile,
    TokenValid,
    TokenMode,
    TokenExpiry,
    TokenFallback,
    GitlabToken,
    Host,
    GhVars,
    Git,
    GitHelper,
    GitLeak,
    Gh,
    Glab,
}

impl CheckId {
    pub const ALL: [CheckId; 13] = [
        CheckId::TokenFile,
        CheckId::TokenValid,
        CheckId::TokenMode,
        CheckId::TokenExpiry,
        CheckId::TokenFallback,
        CheckId::GitlabToken,
        CheckId::Host,
        CheckId::GhVars,
        CheckId::Git,
        CheckId::GitHelper,
        CheckId::GitLeak,
        CheckId::Gh,
        CheckId::Glab,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::TokenFile => "token.file",
            CheckId::TokenValid => "token.valid",
            CheckId::TokenMode => "token.mode",
            CheckId::TokenExpiry => "token.expiry",
            CheckId::TokenFallback => "token.fallback",
            CheckId::GitlabToken => "gitlab.token",
            CheckId::Host => "host",
            CheckId::GhVars => "gh.vars",
            CheckId::Git => "git",
            CheckId::GitHelper => "git.helper",
            CheckId::GitLeak => "git.leak",
            CheckId::Gh => "gh",
            CheckId::Glab => "glab",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Which check: its stable id (`token.file`) is [`CheckId::as_str`].
    pub id: CheckId,
    pub level: Level,
    pub message: String,
    /// What to do about it; `None` when nothing needs doing.
    pub fix: Option<String>,
}

/// What git's configuration and binary say. Helper command lines are

#[derive(Clone, Debug)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Every message and fix with every token-shaped word masked: the one
    /// place doctor's output passes through before anyone sees it.
    pub fn redacted(self, known: &[&Token]) -> Report {
        Report {
            checks: self
                .checks
                .into_iter()
                .map(|c| Check {
                    message: redact(&c.message, known),
                    fix: c.fix.map(|f| redact(&f, known)),
                    ..c
                })
                .collect(),
        }
    }

    pub fn failed(&self) -> bool {
        self.worst() == Level::Fail
    }

    /// The worst level of any check: the report's result.
    pub fn worst(&self) -> Level {
        self.checks
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The report for a terminal: one line per check (and its fix), with
    /// control characters escaped (a helper command line or gh's
    /// `--version` may hold ESC or BEL; `--json` escapes them as JSON does).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(
                out,
                "[{:<4}] {:<14} {}",
                c.level.as_str(),
                c.id.as_str(),
                escape_controls(&c.message)
            );
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "       {:<14} fix: {}", "", escape_controls(fix));
            }
        }
        let worst = self.worst();
        let _ = writeln!(out, "result: {}", worst.as_str());
        out
    }

    /// One JSON object: `{"result": "...", "checks": [{"id", "level",
    /// "message", "fix"}]}`; keys are stable.
    pub fn to_json(&self) -> String {
        let worst = self.worst();
        let mut out = format!("{{\"result\":{},\"checks\":[", json_string(worst.as_str()));
        for (i, c) in self.checks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"id\":{},\"level\":{},\"message\":{},\"fix\":{}}}",
                json_string(c.id.as_str()),
                json_string(c.level.as_str()),
                json_string(&c.message),
                c.fix.as_deref().map_or("null".to_owned(), json_string)
            );
        }
        out.push_str("]}\n");
        out
    }
}

pub(super) fn check(id: CheckId, level: Level, message: String, fix: Option<&str>) -> Check {
    Check {
        id,
        level,
        message,
        fix: fix.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_masked_as_a_whole() {
        let token = kelos_token::clean_token(b"SecretKnownTokenValue1234").unwrap();
        let report = Report {
            checks: vec![check(
                CheckId::GitHelper,
                Level::Warn,
                "helpers: store SecretKnownTokenValue1234 → ghp_abcdefghijklmnopqrstuvwxyz".into(),
                Some("see https://u:pw1234567@x/"),
            )],
        }
        .redacted(&[&token]);
        let text = report.to_text();
        assert!(!text.contains("SecretKnown"), "{text}");
        assert!(!text.contains("ghp_abcdefghij"), "{text}");
        assert!(!text.contains("pw1234567"), "{text}");
    }

    #[test]
    fn ids_are_distinct_and_have_the_shape_of_their_subject() {
        let ids: Vec<&str> = CheckId::ALL.iter().map(|id| id.as_str()).collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(!ids[..i].contains(id), "{id} twice");
            assert!(
                id.split('.')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())),
                "{id}"
            );
            assert!(id.len() <= 14, "{id} is wider than the text's id column");
        }
    }
}
