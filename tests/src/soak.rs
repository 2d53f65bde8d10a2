//! The rotation soak (`scripts/soak.sh`, binary `soak`): many concurrent git fetches, git
//! pushes and `gh api user` calls through the built binaries while a rotator replaces the
//! token kubelet-style, then fault phases (a non-atomic writer, the file removed, a
//! directory, a FIFO or an oversized file in its place, `..data` dangling), each with its
//! own counts and asserted expectations.
//!
//! - [`tokens`]: the soak's tokens (one recognisable shape) and the leak scanner.
//! - [`exec`]: one operation, with captured output and a hard time limit (a hang is killed
//!   and counted, never waited for).
//! - [`api`]: a GitHub API stand-in that accepts a *set* of tokens (current + previous).
//! - [`run`]: workers, rotator, phases and their expectations.
//! - [`report`]: the table and `target/soak/report.md`.

pub mod api;
pub mod exec;
pub mod report;
pub mod run;
pub mod tokens;
