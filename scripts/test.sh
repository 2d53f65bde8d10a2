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

step "scripts/release.sh --binaries (x86_64 and aarch64 static binaries into target/dist/)"
bash scripts/release.sh --binaries
KELOS_AARCH64_BIN_DIR="$(release_stage_dir)/aarch64-unknown-linux-musl"
export KELOS_AARCH64_BIN_DIR

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

# Nothing a test runs may write outside its temporary directories. Where a tool left to its
# defaults would write (gh's and npm's state under HOME, a HOME of /nonexistent, buildah's
# and git's configuration) is listed before and after the tests, and must not change. On CI
# (nothing else runs) the top level of /tmp and /var/tmp too. The tests' temporary
# directories go to a directory of their own, which must be empty again afterwards.
outside=(/nonexistent "$HOME/.config" "$HOME/.local" "$HOME/.cache" "$HOME/.npm" "$HOME/.npmrc"
  "$HOME/.gitconfig" "$HOME/.git-credentials" "$HOME/.ssh" /var/lib/containers /etc/containers)
snapshot() {
  find "${outside[@]}" -printf '%p %y %s %T@\n' 2>/dev/null | sort
  if [ "${CI:-}" = true ]; then find /tmp /var/tmp -mindepth 1 -maxdepth 1 -printf 'top level: %p\n' | sort; fi
}
test_tmp="$(mktemp -d "${TMPDIR:-/tmp}/kelos-test-tmp.XXXXXX")"
before="$(snapshot)"

step "cargo test (unit + end-to-end with the real gh, both generations, and the current git)"
status=0
TMPDIR="$test_tmp" KELOS_TEST_GIT=current cargo test --locked --workspace --no-fail-fast || status=$?

# The git generations: the suites whose client is this machine's git (the harness's
# GitSandbox, TokenSandbox, pod::Pod, SmartHttpServer or require_tool("git")) again with
# Debian's git. images runs git in its root file systems (their own Debian git), except its
# qemu test.
mapfile -t git_suites < <(grep -lE 'GitSandbox|SmartHttpServer|require_tool\("git"\)|git_generations|TokenSandbox|\bPod::|helper_pod|healthy\(\)' tests/tests/*.rs |
  xargs -n1 basename | sed 's/\.rs$//' | grep -vx images)
step "cargo test with Debian's git (KELOS_TEST_GIT=debian): ${git_suites[*]}, images' qemu test"
TMPDIR="$test_tmp" KELOS_TEST_GIT=debian cargo test --locked -p kelos-e2e --no-fail-fast --lib \
  "${git_suites[@]/#/--test=}" || status=$?
TMPDIR="$test_tmp" KELOS_TEST_GIT=debian cargo test --locked -p kelos-e2e --test images \
  aarch64_release_binaries_under_qemu || status=$?

step "nothing written outside the tests' temporary directories"
after="$(snapshot)"
if [ "$before" != "$after" ]; then
  echo "test.sh: the tests changed files outside their temporary directories:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  status=1
fi
if [ -n "$(ls -A "$test_tmp")" ]; then
  echo "test.sh: temporary files left behind in $test_tmp:" >&2
  find "$test_tmp" -mindepth 1 -maxdepth 1 | head -n 20 >&2
  status=1
else
  rmdir "$test_tmp"
fi
exit "$status"
