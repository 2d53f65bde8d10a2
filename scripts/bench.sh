#!/usr/bin/env bash
# The benchmark: builds the static musl release binaries (the helpers and the
# no-op floor, same toolchain, target and profile) and the runner, then times
# them as whole processes side by side against Kelos's shell snippets and gh.
# Prints a markdown report and writes it to target/bench/report.md.
#
#   bash scripts/bench.sh [--runs N] [--warmup N] [--max-wait SECS] [--strict] ...
#
# (bash scripts/bench.sh --help lists every option.) Timing lives here, never
# in a test. It waits (up to 10 min by default) for the 1-minute load average
# to fall below 0.7 before measuring.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

require gh gh
[ -x /bin/sh ] || { echo "/bin/sh not found" >&2; exit 1; }

build_static
step "cargo build --release --target $TARGET -p kelos-bench-noop -p kelos-bench-rss (the floor, the RSS launcher)"
cargo build --locked --release --target "$TARGET" -p kelos-bench-noop -p kelos-bench-rss
step "cargo build --release -p kelos-bench (the runner)"
cargo build --locked --release -p kelos-bench

step "kelos-bench"
exec target/release/kelos-bench --bin-dir "$(static_bin_dir)" "$@"
