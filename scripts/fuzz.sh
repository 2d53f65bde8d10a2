#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for SECONDS each (default 15),
# starting from the committed corpus, and fails if any target crashes.
#
#   scripts/fuzz.sh [SECONDS]
#
# The committed corpus is left as it is: each target works on a temporary
# copy. A crashing input is kept in fuzz/artifacts/<target>/ (ignored by git)
# and printed in base64; turn it into a test in
# crates/kelos-token/tests/fuzz_regressions.rs.
#
# Needs a nightly toolchain (installed with rustup when missing) and
# cargo-fuzz (installed with `cargo install cargo-fuzz --locked` when missing).
# FUZZ_TOOLCHAIN picks another toolchain than `nightly`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

seconds="${1:-15}"
case "$seconds" in
  '' | *[!0-9]* | 0)
    echo "usage: $0 [SECONDS]  (a whole number of seconds per target, default 15)" >&2
    exit 2
    ;;
esac
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
exec </dev/null

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
  command -v rustup >/dev/null || { echo "no $toolchain toolchain and no rustup to install it" >&2; exit 1; }
  step "rustup toolchain install $toolchain"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked
fi

# The code under test is safe Rust, which AddressSanitizer has nothing to
# find in but slows down: no sanitizer. Debug assertions and overflow checks
# stay on, as cargo-fuzz builds by default.
fuzz=(cargo "+$toolchain" fuzz)
build=(--sanitizer none)

step "cargo +$toolchain fuzz build"
"${fuzz[@]}" build "${build[@]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mapfile -t targets < <("${fuzz[@]}" list)
[ "${#targets[@]}" -ne 0 ] || { echo "cargo fuzz list found no targets" >&2; exit 1; }
failed=()
summary=()
for target in "${targets[@]}"; do
  step "fuzz $target for ${seconds}s"
  mkdir -p "$work/$target"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$work/$target/"
  fi
  log="$work/$target.log"
  # New inputs go to the temporary copy only; the committed corpus is not
  # passed to libFuzzer at all.
  set +e
  "${fuzz[@]}" run "${build[@]}" "$target" "$work/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | tee "$log" |
    grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|DONE)|panicked|Test unit written|^Base64'
  status="${PIPESTATUS[0]}"
  set -e
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    summary+=("$(printf '%-20s CRASHED (exit %s), see its log above' "$target" "$status")")
    tail -n 40 "$log" >&2
  else
    summary+=("$(printf '%-20s ok, %s executions in %ss' "$target" "${runs:-?}" "$seconds")")
  fi
done

step "summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzzing found a crash in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
