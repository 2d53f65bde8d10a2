//! A Debian root file system to run an agent image's steps in, without a container engine.
//!
//! [`rootfs_for`] builds one with `debootstrap` from the Debian mirror apt uses on this
//! machine, runs an image's distribution steps in it (as root, in a `chroot`), and keeps the
//! result as a tarball under `target/rootfs-cache/` (keyed by everything that went into it),
//! so that later runs only unpack it. A [`Rootfs`] is one copy, removed on drop.
//!
//! Every command runs in a private mount namespace (`unshare --mount`), where `/proc`, a
//! small `/dev` (a tmpfs with a few device nodes, never the host's `/dev`) and the requested
//! bind mounts are mounted before the `chroot`. The mounts exist only in that namespace and
//! vanish when its last process exits, even when the test fails or is killed: nothing is ever
//! mounted in the test's own namespace, so removing a root file system cannot reach into the
//! host. As a second guard, a directory is only removed when `/proc/self/mountinfo` shows no
//! mount under it.
//!
//! [`read_final_stage`] reads the final stage of a Dockerfile (a small reader for the few
//! instructions the example image uses; the structure is checked with buildkit's own parser
//! by `tests/images/test_dockerfiles.py`) so that the test runs the Dockerfile's own steps.
//!
//! All of this needs root (CI runs as root); [`require_root`] fails with a clear message.
//!
//! The jobs, one module each: [`host`] (root, tools, directories), [`debian`] (the archive),
//! [`build`] (debootstrap and the cache), [`rootfs`] (a copy and running in it),
//! [`dockerfile`] (the final stage's steps).

pub mod build;
pub mod debian;
pub mod dockerfile;
pub mod host;
pub mod rootfs;

pub use build::*;
pub use debian::*;
pub use dockerfile::*;
pub use host::*;
pub use rootfs::*;
