//! The high step of the token source: what was decided from a [`Reading`]
//! of the token file ([`FileDecision`]: the file alone, all that kelos-gh,
//! `env` and `exec` use) and, with the frozen fallbacks of a host class, the
//! whole [`Lookup`] (`get`, `token`, doctor). Pure: values in, values out.
//! The "why not" sentence is [`why_not_file`], written once.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::env::EnvSnapshot;
use crate::expiry::{parse_expiry, ExpiryError};
use crate::host::HostClass;
use crate::provider::{Provider, GITHUB};
use crate::source::{read_file, FileProblem, FileRead, Layout, Reading};
use crate::token::{clean_token, InvalidToken, Token};

/// Where the token in a [`Lookup`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    File,
    Env(&'static str),
}

/// Why the file's token was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileRejection {
    #[error(transparent)]
    Problem(FileProblem),
    #[error(transparent)]
    Invalid(InvalidToken),
}

/// Why the expiry file was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryProblem {
    #[error(transparent)]
    File(FileProblem),
    #[error(transparent)]
    Parse(ExpiryError),
}

/// What was decided from the file alone (the first of the two steps after
/// the read): the token it holds, or why it was passed over. kelos-gh,
/// `env` and `exec` use this and nothing else: they hand on only the
/// file's token (a frozen fallback is left where it is).
#[derive(Clone, Debug)]
pub struct FileDecision {
    pub provider: &'static Provider,
    /// The configured file path, when there is one.
    pub path: Option<PathBuf>,
    pub layout: Option<Layout>,
    pub modified: Option<SystemTime>,
    pub outcome: Result<FileToken, FileRejection>,
}

/// The file's valid token and what its expiry file said.
#[derive(Clone, Debug)]
pub struct FileToken {
    pub token: Token,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub expiry_problem: Option<ExpiryProblem>,
}

impl FileDecision {
    /// Judges what [`read_file`] read: the token, else why not.
    pub fn from_reading(reading: Reading) -> FileDecision {
        let Reading {
            provider,
            path,
            read,
        } = reading;
        let (layout, modified, outcome) = match read {
            Err(problem) => (None, None, Err(FileRejection::Problem(problem))),
            Ok(read) => {
                let outcome = match clean_token(&read.contents) {
                    Err(invalid) => Err(FileRejection::Invalid(invalid)),
                    Ok(token) => {
                        let (expires_at, expiry_problem) = match read.expiry {
                            None => (None, None),
                            Some(Err(problem)) => (None, Some(ExpiryProblem::File(problem))),
                            Some(Ok(bytes)) => match parse_expiry(&bytes) {
                                Ok(at) => (Some(at), None),
                                Err(e) => (None, Some(ExpiryProblem::Parse(e))),
                            },
                        };
                        Ok(FileToken {
                            token,
                            expires_at,
                            expiry_problem,
                        })
                    }
                };
                (Some(read.layout), read.modified, outcome)
            }
        };
        FileDecision {
            provider,
            path,
            layout,
            modified,
            outcome,
        }
    }

    /// The file's token, when it holds a valid one.
    pub fn token(&self) -> Option<&Token> {
        self.outcome.as_ref().ok().map(|t| &t.token)
    }

    /// Why the file's token is not used ([`why_not_file`]); `None` when it is.
    pub fn why_not(&self) -> Option<String> {
        why_not_file(
            self.provider,
            self.path.as_deref(),
            self.outcome.as_ref().err(),
        )
    }
}

/// The one sentence on why a provider's token file gave no token, naming
/// the file, its variable and what is wrong; `None` when the file's token
/// is used (a path and no rejection). Never a token.
pub fn why_not_file(
    provider: &Provider,
    path: Option<&Path>,
    rejection: Option<&FileRejection>,
) -> Option<String> {
    let var = provider.token_file_var;
    match (path, rejection) {
        (Some(path), Some(rejection)) => {
            Some(format!("token file {} ({var}) {rejection}", path.display()))
        }
        (None, _) => Some(format!("{var} is not set")),
        (Some(_), None) => None,
    }
}

/// The outcome of looking for a token: the token (if any), where it came
/// from, and everything a diagnostic needs to explain the choice.
#[derive(Clone, Debug)]
pub struct Lookup {
    pub token: Option<Token>,
    pub origin: Option<Origin>,
    /// The configured file path, when there is one.
    pub path: Option<PathBuf>,
    /// Why the file was not used; `None` when it was.
    pub file_rejection: Option<FileRejection>,
    pub layout: Option<Layout>,
    pub modified: Option<SystemTime>,
    /// Unix seconds; only ever from the file, and only with the file's token.
    pub expires_at: Option<i64>,
    pub expiry_problem: Option<ExpiryProblem>,
    /// Fallback variables that were set but held no valid token.
    pub invalid_vars: Vec<(&'static str, InvalidToken)>,
    pub class: HostClass,
    pub provider: &'static Provider,
}

impl Lookup {
    /// One sentence on why there is no token (or why the file was passed
    /// over), naming the variable or file and the fix; never a token.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        parts.extend(why_not_file(
            self.provider,
            self.path.as_deref(),
            self.file_rejection.as_ref(),
        ));
        match self.origin {
            Some(Origin::Env(name)) => parts.push(format!("using {name} (frozen at start-up)")),
            Some(Origin::File) => {}
            None => {
                let vars = self.provider.fallbacks(self.class);
                for (name, why) in &self.invalid_vars {
                    parts.push(format!("{name} {why}"));
                }
                let unset: Vec<&str> = vars
                    .iter()
                    .copied()
                    .filter(|v| !self.invalid_vars.iter().any(|(n, _)| n == v))
                    .collect();
                if !unset.is_empty() {
                    parts.push(format!("{} unset or empty", unset.join(", ")));
                }
            }
        }
        parts.join("; ")
    }

    /// The token only if it came from the file: what kelos-gh, `env` and
    /// `exec` hand on (a frozen fallback is left where it is).
    pub fn file_token(&self) -> Option<&Token> {
        match self.origin {
            Some(Origin::File) => self.token.as_ref(),
            _ => None,
        }
    }
}

/// Reads GitHub's token for a host of `class`: the file named by
/// `KELOS_GITHUB_TOKEN_FILE`, else the frozen variables.
pub fn lookup(env: &EnvSnapshot, class: HostClass) -> Lookup {
    choose_for(&GITHUB, env, class)
}

/// Both steps for `provider`: [`read_file`], then [`decide`].
pub fn choose_for(provider: &'static Provider, env: &EnvSnapshot, class: HostClass) -> Lookup {
    decide(
        FileDecision::from_reading(read_file(provider, env)),
        env,
        class,
    )
}

/// The decision with the fallbacks (the high step): the file's token, else
/// the first valid frozen variable for `class`, in the provider's order.
pub fn decide(file: FileDecision, env: &EnvSnapshot, class: HostClass) -> Lookup {
    let FileDecision {
        provider,
        path,
        layout,
        modified,
        outcome,
    } = file;
    let mut lookup = Lookup {
        token: None,
        origin: None,
        path,
        file_rejection: None,
        layout,
        modified,
        expires_at: None,
        expiry_problem: None,
        invalid_vars: Vec::new(),
        class,
        provider,
    };
    match outcome {
        Ok(file) => {
            lookup.token = Some(file.token);
            lookup.origin = Some(Origin::File);
            lookup.expires_at = file.expires_at;
            lookup.expiry_problem = file.expiry_problem;
            return lookup;
        }
        Err(rejection) => lookup.file_rejection = Some(rejection),
    }
    for name in provider.fallbacks(class) {
        let Some(value) = env.non_empty(name) else {
            continue;
        };
        match clean_token(value.as_bytes()) {
            Ok(token) => {
                lookup.token = Some(token);
                lookup.origin = Some(Origin::Env(name));
                break;
            }
            Err(invalid) => lookup.invalid_vars.push((name, invalid)),
        }
    }
    lookup
}

/// Both decisions over one GitHub read, as a pair (see [`Reading`]).
pub fn choose(
    path: Option<PathBuf>,
    read: Result<FileRead, FileProblem>,
    env: &EnvSnapshot,
    class: HostClass,
) -> Lookup {
    let reading = Reading {
        provider: &GITHUB,
        path,
        read,
    };
    decide(FileDecision::from_reading(reading), env, class)
}
