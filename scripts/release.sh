#!/usr/bin/env bash
# Builds the release: stripped static musl executables of git-credential-kelos
# and kelos-gh for x86_64 and aarch64 Linux, into dist/<target>/, with
# dist/SHA256SUMS, the shell completions (dist/completions/) and man pages
# (dist/man/man1/), and prints their sizes.
#
#   bash scripts/release.sh [TARGET...]
#
# TARGET defaults to both x86_64-unknown-linux-musl and aarch64-unknown-linux-musl.
# Missing rustup targets are added. A target for another architecture than this
# machine's is linked with rust-lld (shipped with rustup's toolchains), so no
# cross C toolchain is needed; set CARGO_TARGET_<TRIPLE>_LINKER to override.
# dist/ is emptied first: what is in it afterwards is exactly this build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BINARIES=(git-credential-kelos kelos-gh)
if [ "$#" -gt 0 ]; then targets=("$@"); else
  targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
fi

for b in "${BINARIES[@]}"; do
  [ -d "crates/$b" ] || { echo "release.sh: crates/$b is missing" >&2; exit 1; }
done
command -v cargo >/dev/null || { echo "release.sh: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

# ELF machine number of a target's architecture, and of this machine.
elf_machine_of() {
  case "$1" in
    x86_64*) echo 62 ;;
    aarch64*) echo 183 ;;
    *) echo "release.sh: unsupported target $1 (x86_64-unknown-linux-musl, aarch64-unknown-linux-musl)" >&2; return 1 ;;
  esac
}
host_arch="$(uname -m)"
[ "$host_arch" != arm64 ] || host_arch=aarch64

# Reads an unsigned little-endian integer of $3 bytes at offset $2 of file $1.
u_le() { od -An -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# Checks that $1 is a stripped, statically linked ELF executable for machine $2:
# no PT_INTERP program header (no dynamic loader) and no .symtab section.
check_elf() {
  local f="$1" want="$2" magic machine phoff phentsize phnum shoff shentsize shnum i
  magic="$(od -An -c -N 4 "$f" | tr -d ' \n')"
  [ "$magic" = '177ELF' ] || { echo "release.sh: $f is not an ELF file" >&2; return 1; }
  machine="$(u_le "$f" 18 2)"
  [ "$machine" = "$want" ] || { echo "release.sh: $f is for ELF machine $machine, expected $want" >&2; return 1; }
  phoff="$(u_le "$f" 32 8)" phentsize="$(u_le "$f" 54 2)" phnum="$(u_le "$f" 56 2)"
  for ((i = 0; i < phnum; i++)); do
    if [ "$(u_le "$f" $((phoff + i * phentsize)) 4)" = 3 ]; then
      echo "release.sh: $f has a dynamic loader (PT_INTERP): not a static executable" >&2
      return 1
    fi
  done
  shoff="$(u_le "$f" 40 8)" shentsize="$(u_le "$f" 58 2)" shnum="$(u_le "$f" 60 2)"
  for ((i = 0; i < shnum; i++)); do
    if [ "$(u_le "$f" $((shoff + i * shentsize + 4)) 4)" = 2 ]; then
      echo "release.sh: $f has a symbol table: not stripped" >&2
      return 1
    fi
  done
}

target_dir="${CARGO_TARGET_DIR:-target}"
rm -rf dist
mkdir -p dist
packages=()
for b in "${BINARIES[@]}"; do packages+=(-p "$b"); done

for target in "${targets[@]}"; do
  machine="$(elf_machine_of "$target")"
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    step "rustup target add $target"
    rustup target add "$target"
  fi
  linker_var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
  if [ "${target%%-*}" != "$host_arch" ] && [ -z "${!linker_var:-}" ]; then
    export "$linker_var=rust-lld"
  fi
  step "cargo build --release --target $target${!linker_var:+ ($linker_var=${!linker_var})}"
  cargo build --locked --release --target "$target" "${packages[@]}"
  mkdir -p "dist/$target"
  for b in "${BINARIES[@]}"; do
    cp "$target_dir/$target/release/$b" "dist/$target/$b"
    check_elf "dist/$target/$b" "$machine"
  done
done

# Shell completions and man pages, from the same clap definition the helper
# parses with (kelos-docgen runs on this machine; nothing of it is shipped
# inside the binaries).
step "cargo run -p kelos-docgen (completions and man pages into dist/)"
cargo run --locked --quiet -p kelos-docgen -- dist >/dev/null

(cd dist && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum -- >SHA256SUMS)

step "dist/"
for target in "${targets[@]}"; do
  for b in "${BINARIES[@]}"; do
    printf '%-28s %-22s %9d bytes\n' "$target" "$b" "$(stat -c %s "dist/$target/$b")"
  done
done
printf '\ndist/SHA256SUMS:\n'
cat dist/SHA256SUMS
