//! git-credential-kelos's commands for people: `configure` and `unconfigure`
//! (with the git config reading and editing they share with `doctor`),
//! `doctor`, `install`, and `sh` quoting. A crate of its own so that it can
//! be compiled for size (`opt-level = "z"` in the workspace's release
//! profile): none of it runs on git's calls, and under LTO the helper's hot
//! path (`kelos-token`, `main.rs`) stays at `opt-level = 3` (see README,
//! Dependencies). `git_credential_kelos` re-exports every module under its
//! old path.

pub mod child;
pub mod cli;
pub mod configure;
pub mod doctor;
pub mod gitconfig;
pub mod gitfile;
pub mod install;
pub mod quote;
