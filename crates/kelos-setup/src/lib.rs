//! git-credential-kelos's command line (clap) and its commands for people:
//! `configure` and `unconfigure` (with the git config reading and editing
//! they share with `doctor`), `doctor`, `install`, and quoting. A crate of
//! its own so that it can be compiled for size (`opt-level = "z"` in the
//! workspace's release profile): of all this, git's calls run only the few
//! comparisons of [`cli::parse_git_call`] (`env`: [`cli::parse_env_call`]
//! and [`quote`]), and under LTO each function keeps
//! its crate's level, so the helper's hot path (`kelos-token`, `main.rs`)
//! stays at `opt-level = 3` (see README, Dependencies: measured no slower).
//! `git_credential_kelos` re-exports every module under its old path.

pub mod child;
pub mod cli;
pub mod configure;
pub mod doctor;
pub mod gitconfig;
pub mod gitfile;
pub mod install;
mod lock;
pub mod quote;
