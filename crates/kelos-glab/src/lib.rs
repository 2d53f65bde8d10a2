//! `kelos-glab`'s library: what the wrapper does before it execs the real glab.
//!
//! glab takes a host's API protocol and port from its config's host entry, not
//! from `GITLAB_HOST`; [`glab_config`] makes sure that entry exists, without
//! ever writing a token, keeping every other byte of the user's config.

pub mod glab_config;

pub use glab_config::{
    config_path, ensure_host_entry, ensure_host_entry_in_file, ApiProtocol, GitProtocol,
    GlabConfigError, HostEntry, Outcome, Problem,
};
