#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317  # sh -c bodies take their arguments; cleanup runs from the trap
# Runs the CI entry point (`bash .ci/run`) on a fresh machine: a pristine Debian bookworm
# root file system (debootstrap --variant=minbase, nothing else) to which only what GitHub's
# `rust:*-bookworm` container adds is added: the Rust toolchain (this machine's rustup
# toolchains, at /usr/local/rustup and /usr/local/cargo as in that image) and git (to clone).
# The repository is a fresh clone of COMMIT owned by another uid, marked safe the way the
# workflow marks its checkout. Everything else (compilers, gh, buildah, npm, ...) must come
# from scripts/deps.sh, or the run fails: that is the point.
#
#   sudo bash scripts/fresh-machine.sh [COMMIT]     (default: HEAD)
#
# Slow (a cold cargo registry, a cold build, every test): 30 to 60 minutes on 2 cores.
# Prints the result and the time. Not part of .ci/run (it would run itself).
#
# Environment: KELOS_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# KELOS_FRESH_DIR (where the root file system goes; default a new directory in /var/tmp,
# removed afterwards unless KELOS_FRESH_KEEP=1), and the proxy variables (passed on).
set -euo pipefail
# Read whole before it runs (in braces, up to `exit`): editing this file during a run, which
# takes a while, must not change the running script.
{
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "fresh-machine: needs root (debootstrap, chroot, mounts): sudo bash $0 $*" >&2; exit 1; }
for tool in debootstrap unshare chroot git; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    { echo "fresh-machine: $tool not found: run \`bash scripts/deps.sh\` first" >&2; exit 1; }
done
commit="$(git rev-parse --verify "${1:-HEAD}^{commit}")"
mirror="${KELOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
[ -d "$rustup_home/toolchains" ] || { echo "fresh-machine: no rustup toolchains in $rustup_home" >&2; exit 1; }
git_dir="$(cd "$(git rev-parse --git-common-dir)" && pwd)"

work="${KELOS_FRESH_DIR:-$(mktemp -d /var/tmp/kelos-fresh.XXXXXX)}"
mkdir -p "$work"
root="$work/root"
log="$work/run.log"
cleanup() {
  if [ "${KELOS_FRESH_KEEP:-0}" = 1 ]; then
    echo "fresh-machine: kept $work"
    return
  fi
  # The mounts lived in the run's own mount namespace, gone with it; never remove through one.
  if grep -qF " $work" /proc/self/mountinfo; then
    echo "fresh-machine: something is still mounted under $work: not removing it" >&2
    return
  fi
  rm -rf "$work"
}
trap cleanup EXIT

started=$(date +%s)
elapsed() { local s=$(($(date +%s) - started)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
say() { printf '==> fresh-machine [%s] %s\n' "$(elapsed)" "$*"; }

say "debootstrap --variant=minbase bookworm $root $mirror"
unshare --mount --propagation private -- debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The registries are reached through this machine's network, whose TLS trust anchors may
# be local ones (/usr/local/share/ca-certificates, e.g. an egress proxy's): the root file
# system gets the same, which Debian's ca-certificates (installed by deps.sh) then adds.
mkdir -p "$root/usr/local/share/ca-certificates"
if [ -d /usr/local/share/ca-certificates ]; then
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
# As in Debian's container images: package scripts start no services.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

say "the Rust toolchain: $rustup_home -> /usr/local/rustup, rustup's proxies -> /usr/local/cargo/bin"
mkdir -p "$root/usr/local/rustup" "$root/usr/local/cargo/bin"
cp -a "$rustup_home/settings.toml" "$rustup_home/toolchains" "$root/usr/local/rustup/"
# rustup and its proxies only (symbolic or hard links to rustup), no tool a `cargo install`
# put there.
rustup_real="$(readlink -f "$cargo_bin/rustup")"
for f in "$cargo_bin"/*; do
  if [ "$(readlink -f "$f")" = "$rustup_real" ] || [ "$f" -ef "$rustup_real" ]; then
    cp -a "$f" "$root/usr/local/cargo/bin/"
  fi
done
[ -x "$root/usr/local/cargo/bin/cargo" ] || { echo "fresh-machine: no cargo proxy in $cargo_bin" >&2; exit 1; }

# One command in the root file system, in a private mount namespace: the root is a mount
# point of its own (as a container's is: `unshare --propagation`, which the tests use, fails
# on a root that is not one), /proc, /sys and the host's /dev are mounted for it; all of it
# vanishes with the namespace.
in_root() {
  unshare --mount --propagation private -- /bin/sh -ec '
    R=$1; shift
    mount --bind "$R" "$R"
    mount -t proc proc "$R/proc"
    mount --rbind /sys "$R/sys"
    mount --rbind /dev "$R/dev"
    exec chroot "$R" /usr/bin/env -i \
      PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo LANG=C.UTF-8 \
      ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
      ${no_proxy:+no_proxy=$no_proxy} "$@"' fresh-machine "$root" "$@"
}

say "apt-get install git (to clone)"
in_root /bin/sh -ec 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq --no-install-recommends git >/dev/null; git --version'

say "a fresh clone of $commit, owned by another uid and marked safe (as actions/checkout in a container)"
mkdir -p "$root/mnt/origin"
# The clone reads the repository through a read-only bind mount.
unshare --mount --propagation private -- /bin/sh -ec '
  mount --bind -o ro "$1" "$2/mnt/origin"
  mount -o remount,bind,ro "$2/mnt/origin"
  chroot "$2" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /bin/sh -ec "
    git clone -q --no-checkout /mnt/origin /__w/kelos/kelos
    git config --global --add safe.directory /__w/kelos/kelos
    git -C /__w/kelos/kelos checkout -q --detach $3
    git -C /__w/kelos/kelos remote remove origin
    chown -R 1001:1001 /__w/kelos
    git -C /__w/kelos/kelos log -1 --format=\"%H %s\""' fresh-machine "$git_dir" "$root" "$commit"

say "CI=true bash .ci/run </dev/null  (output: $log)"
run_started=$(date +%s)
set +e
in_root /bin/bash -c 'cd /__w/kelos/kelos && CI=true bash .ci/run </dev/null' >"$log" 2>&1
rc=$?
set -e
run_s=$(($(date +%s) - run_started))
tail -n 40 "$log"
echo
if [ "$rc" = 0 ]; then
  say "PASSED: .ci/run exited 0 in $((run_s / 60))m$((run_s % 60))s (commit $commit)"
else
  say "FAILED: .ci/run exited $rc after $((run_s / 60))m$((run_s % 60))s (commit $commit); log: $log"
  KELOS_FRESH_KEEP=1
fi
exit "$rc"
}
