//! Shared by `git-credential-kelos` and `kelos-gh` (and only what both use): where the current
//! GitHub token comes from, which hosts may have it, and how to speak of it
//! without ever showing it.
//!
//! Everything here is a pure function of its inputs except [`source::lookup`]
//! and [`source::read_token_file`] (the file), [`trace::Tracer`] (the trace
//! sink) and [`serve::serve`] (git's protocol on the streams it is given).

pub mod arena;
pub mod credential;
pub mod decision;
pub mod env;
pub mod expiry;
pub mod gh;
pub mod gitlab_host;
pub mod host;
pub mod launch;
pub mod protocol;
pub mod provider;
pub mod real_gh;
pub mod redact;
pub mod serve;
pub mod served;
pub mod source;
pub mod text;
pub mod token;
pub mod trace;
pub mod version;

pub use env::EnvSnapshot;
pub use host::{Host, HostClass};
pub use provider::{Provider, GITHUB, GITLAB};
pub use source::{lookup, Lookup, Origin};
pub use token::{clean_token, InvalidToken, Token};
pub use trace::Tracer;
