#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, and the end-to-end suites
# against the static musl binaries (what ships is what is tested). Installs what
# the tests need first (scripts/deps.sh: as root; otherwise it prints the command).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# What the tests need (installed when run as root; otherwise the command that installs it),
# before anything is built.
bash scripts/deps.sh

build_static
export KELOS_BIN_DIR
KELOS_BIN_DIR="$(static_bin_dir)"

step "scripts/release.sh (x86_64 and aarch64 static binaries into dist/)"
bash scripts/release.sh
export KELOS_AARCH64_BIN_DIR="$PWD/dist/aarch64-unknown-linux-musl"

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
step "cargo test (unit + end-to-end with the real git and gh)"
cargo test --locked --workspace --no-fail-fast
