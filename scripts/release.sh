#!/usr/bin/env bash
# Builds a release: every asset a release uploads, exactly as uploaded, into
# dist/ (flat: what a user downloads), and nothing else there:
#
#   kelos-credential-helpers-vVERSION-<target>.tar.gz   one per target: the static
#       binaries, kelos-env.sh, install.sh, LICENSE, README.md, man pages, completions
#   kelos-credential-helpers-vVERSION.oci.tar           the helpers image, both platforms
#                                                       (scripts/image.sh)
#   kelos-credential-helpers-vVERSION.cdx.json          the SBOM of the shipped binaries
#                                                       (CycloneDX 1.5, by cargo-cyclonedx:
#                                                       scripts/sbom.py)
#   SHA256SUMS                                          over all of the above:
#                                                       `sha256sum -c SHA256SUMS` in the
#                                                       download directory passes
#
#   bash scripts/release.sh [--binaries] [TARGET...]
#
# TARGET defaults to both x86_64-unknown-linux-musl and aarch64-unknown-linux-musl
# (the image needs both: with only some targets, or --binaries, there is no image).
# --binaries: only the stripped static binaries, into target/dist/<target>/ (where
# every build puts them: the archives are made from there, the image too).
#
# Reproducible: the same commit gives the same bytes whatever the checkout path or
# CARGO_HOME. The paths are remapped (scripts/lib.sh), the binaries name the commit
# (KELOS_COMMIT, else `git rev-parse HEAD`), every time inside is the commit's time
# (SOURCE_DATE_EPOCH, else `git log -1 --format=%ct`; without either the release
# stops rather than guess), archives have fixed owners, modes and order and gzip
# stores no name or time.
#
# Missing rustup targets are added. A target for another architecture than this
# machine's is linked with rust-lld (shipped with rustup's toolchains), so no
# cross C toolchain is needed; set CARGO_TARGET_<TRIPLE>_LINKER to override.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BINARIES=(git-credential-kelos kelos-gh kelos-glab)
ALL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
binaries_only=false
targets=()
for arg in "$@"; do
  case "$arg" in
    --binaries) binaries_only=true ;;
    -h | --help) sed -n '2,34p' "$0"; exit 0 ;;
    -*) echo "release.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[ "${#targets[@]}" -gt 0 ] || targets=("${ALL_TARGETS[@]}")

for b in "${BINARIES[@]}"; do
  [ -d "crates/$b" ] || { echo "release.sh: crates/$b is missing" >&2; exit 1; }
done
command -v cargo >/dev/null || { echo "release.sh: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

version="$(workspace_version)"
tag="v$version"
commit="$(commit_id)"
[ -n "$commit" ] || { echo "release.sh: no commit: \`git rev-parse HEAD\` failed in $PWD (in a container whose checkout another user owns: \`git config --global --add safe.directory $PWD\`); or set KELOS_COMMIT to the commit id" >&2; exit 1; }
SOURCE_DATE_EPOCH="$(commit_time)" || exit 1
export KELOS_COMMIT="$commit" SOURCE_DATE_EPOCH

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
stage="$(release_stage_dir)"
packages=()
for b in "${BINARIES[@]}"; do packages+=(-p "$b"); done

# The binaries, into the stage.
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
  step "cargo build --release --target $target (commit $commit, paths remapped)${!linker_var:+ ($linker_var=${!linker_var})}"
  release_build "$target" "${packages[@]}"
  rm -rf "${stage:?}/$target"
  mkdir -p "$stage/$target"
  for b in "${BINARIES[@]}"; do
    cp "$target_dir/$target/release/$b" "$stage/$target/$b"
    check_elf "$stage/$target/$b" "$machine"
    size="$(stat -c %s "$stage/$target/$b")"
    [ "$size" -le $((1 << 20)) ] || { echo "release.sh: $target/$b is $size bytes, over the 1 MiB limit (README, Dependencies)" >&2; exit 1; }
  done
done
if $binaries_only; then
  step "$stage/"
  for target in "${targets[@]}"; do
    for b in "${BINARIES[@]}"; do
      printf '%-28s %-22s %9d bytes\n' "$target" "$b" "$(stat -c %s "$stage/$target/$b")"
    done
  done
  exit 0
fi

command -v python3 >/dev/null || { echo "release.sh: python3 not found: install it with \`apt-get install python3\`" >&2; exit 1; }
case "$(cargo cyclonedx --version 2>/dev/null)" in
  *" $CYCLONEDX_VERSION") ;;
  "") echo "release.sh: cargo-cyclonedx not found: install it with \`$(cyclonedx_install_command)\` (or \`bash scripts/deps.sh\`)" >&2; exit 1 ;;
  *) echo "release.sh: $(cargo cyclonedx --version) is not the release's $CYCLONEDX_VERSION: install it with \`$(cyclonedx_install_command)\`" >&2; exit 1 ;;
esac

# The assets are written beside the stage, and become dist/ only when all are
# there: a failed release leaves no dist/ that looks complete.
out="$stage/assets"
rm -rf "$out"
mkdir -p "$out"

# Shell completions and man pages, from the same clap definition the helper
# parses with (kelos-docgen runs on this machine; nothing of it is shipped
# inside the binaries).
docs="$stage/docs"
rm -rf "$docs"
step "cargo run -p kelos-docgen (completions and man pages)"
cargo run --locked --quiet -p kelos-docgen -- "$docs" >/dev/null

# One archive per target: kelos-credential-helpers-vVERSION-<target>/ and in it
# what an operator installs from (install.sh DIR takes that directory).
for target in "${targets[@]}"; do
  name="kelos-credential-helpers-$tag-$target"
  tree="$stage/archive/$name"
  rm -rf "$stage/archive"
  mkdir -p "$tree"
  for b in "${BINARIES[@]}"; do install -m 0755 "$stage/$target/$b" "$tree/$b"; done
  install -m 0755 images/install.sh "$tree/install.sh"
  install -m 0644 images/kelos-env.sh LICENSE README.md "$tree/"
  mkdir -p "$tree/man/man1" "$tree/completions"
  install -m 0644 "$docs"/man/man1/* "$tree/man/man1/"
  install -m 0644 "$docs"/completions/* "$tree/completions/"
  find "$tree" -type d -exec chmod 0755 {} +
  step "$name.tar.gz"
  # Fixed order, owners, modes and times; gzip without the name and time.
  LC_ALL=C tar -C "$stage/archive" --format=ustar --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$SOURCE_DATE_EPOCH" --no-acls --no-xattrs --no-selinux -cf - "$name" |
    gzip -9 -n >"$out/$name.tar.gz"
  rm -rf "$stage/archive"
done

# The image, from the staged binaries (needs both targets).
image="$out/kelos-credential-helpers-$tag.oci.tar"
have_all=true
for t in "${ALL_TARGETS[@]}"; do [ -f "$stage/$t/${BINARIES[0]}" ] && printf '%s\n' "${targets[@]}" | grep -qx "$t" || have_all=false; done
if $have_all; then
  bash scripts/image.sh --version "$version" --revision "$commit" --output "$image"
else
  step "no image: it needs both targets (${ALL_TARGETS[*]})"
fi

# The SBOM: every crate of the shipped binaries' dependency graphs, for the
# release's targets, by cargo-cyclonedx, merged into one document and made
# reproducible (scripts/sbom.py says how).
step "kelos-credential-helpers-$tag.cdx.json (cargo cyclonedx $CYCLONEDX_VERSION)"
target_args=()
for target in "${targets[@]}"; do target_args+=(--target "$target"); done
python3 scripts/sbom.py --version "$version" --commit "$commit" --epoch "$SOURCE_DATE_EPOCH" \
  "${target_args[@]}" "${BINARIES[@]}" >"$out/kelos-credential-helpers-$tag.cdx.json"

step "SHA256SUMS"
sums="$(cd "$out" && LC_ALL=C find . -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort | xargs sha256sum --)"
printf '%s\n' "$sums" >"$out/SHA256SUMS"
(cd "$out" && sha256sum --quiet -c SHA256SUMS)
rm -rf dist
mv "$out" dist

step "dist/ (commit $commit, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH)"
for target in "${targets[@]}"; do
  for b in "${BINARIES[@]}"; do
    printf '%-28s %-22s %9d bytes\n' "$target" "$b" "$(stat -c %s "$stage/$target/$b")"
  done
done
echo
(cd dist && for f in *; do printf '%-64s %10d bytes\n' "$f" "$(stat -c %s "$f")"; done)
printf '\ndist/SHA256SUMS:\n'
cat dist/SHA256SUMS
