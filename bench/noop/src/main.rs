//! The floor of the benchmark: what any static Rust helper costs before it
//! does anything. Built with the same toolchain, target and release profile
//! as the helpers, it reads stdin to the end (as a credential helper must)
//! and exits 0.

use std::io::{self, Read};

fn main() {
    let mut input = Vec::new();
    let _ = io::stdin().lock().read_to_end(&mut input);
}
