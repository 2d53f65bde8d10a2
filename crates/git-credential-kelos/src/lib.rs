//! git-credential-kelos as a library: the command line's definition and
//! the commands for people (configure, doctor) and for the agent's own
//! processes (token, env, exec: [`consumers`]). The binary (`main.rs`) is a
//! thin layer that reads git's request and calls these and `kelos_token`;
//! `kelos-docgen` builds the shell completions and the man page from the
//! same [`cli::Cli`].

pub mod consumers;

// The people's commands are compiled for size in their own crate
// (kelos-setup); their paths here stay as they were.
pub use kelos_setup::{child, cli, configure, doctor, gitconfig, gitfile, install, quote};
