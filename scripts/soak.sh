#!/usr/bin/env bash
# Rotation soak: concurrent git fetch / git push / gh api user through the static binaries
# while the token rotates kubelet-style underneath them, then fault phases (non-atomic
# writer, file removed, directory / FIFO / oversized file in its place, ..data dangling), and
# a configure phase (configure/unconfigure in a loop while a controller stand-in rewrites its
# helper, and git fetches through it), and a GitLab phase (git fetch/push as oauth2 and glab
# api user through kelos-glab while the GitLab token rotates; it runs until 2,000 operations).
#
#   bash scripts/soak.sh                                  # the CI length, about 100 s
#                                                         # (70 of them: GitLab's 2,000 ops)
#   bash scripts/soak.sh --duration 600 --min-ops 10000 --workers 6 --fault-duration 10
#                                                         # a full run
#   bash scripts/soak.sh --help                           # every option
#
# Prints a table and writes target/soak/report.md. Exits non-zero on any auth failure in the
# rotation phases, any hang, any token in captured output, or any fault phase whose stated
# outcome did not hold. Works from a fresh clone, as root, with no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
target=x86_64-unknown-linux-musl

missing=()
command -v git >/dev/null || missing+=(git)
command -v gh >/dev/null || missing+=(gh)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "soak: ${missing[*]} not found: install with \`apt-get install ${missing[*]}\`" >&2
    exit 1
  fi
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  echo "==> rustup target add $target" >&2
  rustup target add "$target" </dev/null
fi

echo "==> cargo build --release --locked --target $target -p git-credential-kelos -p kelos-gh -p kelos-glab" >&2
# As every release build is made (scripts/lib.sh): the same flags, so nothing is rebuilt.
release_build "$target" -p git-credential-kelos -p kelos-gh -p kelos-glab </dev/null
echo "==> cargo build --locked -p kelos-e2e --bin soak" >&2
cargo build --locked -p kelos-e2e --bin soak </dev/null

target_dir="$(cargo metadata --format-version 1 --no-deps </dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$PWD/target}"
export KELOS_BIN_DIR="$target_dir/$target/release"
mkdir -p target/soak
echo "==> soak (KELOS_BIN_DIR=$KELOS_BIN_DIR; git $(git --version | cut -d' ' -f3), $(gh --version | head -n1 | cut -d' ' -f1-3); load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
exec "$target_dir/debug/soak" --report "$PWD/target/soak/report.md" "$@" </dev/null
