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

# Builds the release binaries for $TARGET, adding the Rust target if missing.
build_static() {
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
    step "rustup target add $TARGET"
    rustup target add "$TARGET"
  fi
  step "cargo build --release --target $TARGET"
  local packages=(-p git-credential-kelos)
  [ -d crates/kelos-gh ] && packages+=(-p kelos-gh)
  cargo build --locked --release --target "$TARGET" "${packages[@]}"
}

require() {
  command -v "$1" >/dev/null || { echo "$1 not found: install it with \`apt-get install $2\`" >&2; exit 1; }
}
