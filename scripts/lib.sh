# Shared by the scripts: the static build and a little output formatting.
# shellcheck shell=bash

# The musl target of this machine's architecture (what runs here without
# emulation); KELOS_TARGET overrides it.
host_target() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x86_64-unknown-linux-musl ;;
    aarch64 | arm64) echo aarch64-unknown-linux-musl ;;
    *) echo "unsupported architecture $(uname -m): the release targets are x86_64 and aarch64 (set KELOS_TARGET)" >&2; return 1 ;;
  esac
}

TARGET="${KELOS_TARGET:-$(host_target)}" || return 1

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

static_bin_dir() { echo "$PWD/target/$TARGET/release"; }

# The commit the binaries name (`--version`, kelos-gh's stamp): $KELOS_COMMIT
# when set (a source tree without .git), else `git rev-parse HEAD`, else
# nothing (they then say "unknown commit").
commit_id() {
  if [ -n "${KELOS_COMMIT:-}" ]; then echo "$KELOS_COMMIT"; else git rev-parse HEAD 2>/dev/null || true; fi
}

# Compiler flags that keep the build's paths out of the binaries, so that the
# same commit gives the same bytes whatever the checkout path or CARGO_HOME
# (cargo's trim-paths is not stable on the toolchain this builds with): the
# checkout becomes /build, the target directory /target, the cargo home
# /cargo (rustc applies the last matching prefix: the most specific last).
# Printed as CARGO_ENCODED_RUSTFLAGS (separated by 0x1f: paths may hold
# spaces), after the user's own RUSTFLAGS.
reproducible_rustflags() {
  local home="${CARGO_HOME:-$HOME/.cargo}" target="${CARGO_TARGET_DIR:-$PWD/target}" flags=()
  # shellcheck disable=SC2206 # RUSTFLAGS is space-separated, as cargo reads it
  [ -z "${RUSTFLAGS:-}" ] || flags=($RUSTFLAGS)
  remap() { flags+=("--remap-path-prefix=$1=$2"); [ "$(realpath -m "$1")" = "$1" ] || flags+=("--remap-path-prefix=$(realpath -m "$1")=$2"); }
  remap "$PWD" /build
  remap "$target" /target
  remap "$home" /cargo
  local IFS=$'\x1f'
  echo "${flags[*]}"
}

# `cargo build --locked --release --target TARGET PACKAGE-ARGS...` as a
# release builds: the commit named, the paths remapped.
release_build() {
  local target="$1"; shift
  KELOS_COMMIT="$(commit_id)" CARGO_ENCODED_RUSTFLAGS="$(reproducible_rustflags)" \
    cargo build --locked --release --target "$target" "$@"
}

# Builds the release binaries for $TARGET, adding the Rust target if missing.
build_static() {
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    step "rustup target add $TARGET"
    rustup target add "$TARGET"
  fi
  step "cargo build --release --target $TARGET"
  local packages=(-p git-credential-kelos)
  [ -d crates/kelos-gh ] && packages+=(-p kelos-gh)
  [ -f crates/kelos-glab/src/main.rs ] && packages+=(-p kelos-glab)
  release_build "$TARGET" "${packages[@]}"
}

require() {
  command -v "$1" >/dev/null || { echo "$1 not found: install it with \`apt-get install $2\`" >&2; exit 1; }
}

# The workspace version (Cargo.toml, [workspace.package]), e.g. 0.1.0.
workspace_version() {
  sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1
}

# The time every file of a release carries: $SOURCE_DATE_EPOCH when set, else
# the commit's time. Fails (with the fix) rather than guess: a guessed time
# is a different image digest. In a CI container the checkout may belong to
# another user, and git then refuses it ("dubious ownership"): mark it safe.
commit_time() {
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    case "$SOURCE_DATE_EPOCH" in
      *[!0-9]*) echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH is not a number of seconds" >&2; return 1 ;;
    esac
    echo "$SOURCE_DATE_EPOCH"
    return
  fi
  local t err
  if t="$(git log -1 --format=%ct 2>&1)" && [ -n "$t" ]; then echo "$t"; return; fi
  err="$t"
  echo "cannot read the commit's time with \`git log -1 --format=%ct\` in $PWD: ${err:-no commit}" >&2
  echo "fix: run in a git checkout (in a container whose checkout another user owns: \`git config --global --add safe.directory $PWD\`), or set SOURCE_DATE_EPOCH" >&2
  return 1
}

# Where the release's binaries are put (<target>/) before they are packed.
release_stage_dir() { echo "$PWD/target/dist"; }

# The SBOM generator scripts/release.sh runs, at the version the release uses.
# Installed unoptimised and without debug info: a third of the CPU time of a
# release build (1.6 against 4.7 minutes), and the same SBOM in under a second.
CYCLONEDX_VERSION=0.5.9
cyclonedx_install_command() { echo "CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --debug cargo-cyclonedx --version $CYCLONEDX_VERSION"; }
