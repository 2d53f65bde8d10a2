#!/bin/sh
# Installs the Kelos credential helpers into an agent image. Run as root, at
# image build time (POSIX sh: works in Debian, Ubuntu and Alpine images).
#
#   install.sh          the binaries are already in place: /usr/local/bin/git-credential-kelos
#                       and /usr/local/bin/gh (kelos-gh), as the two COPY lines put them
#   install.sh DIR      first install DIR/git-credential-kelos and DIR/kelos-gh (e.g. a
#                       release's dist/<target>/) as those two files
#
# Then writes the helper into the system git config (every user, every
# directory, for https://github.com and https://gist.github.com, or for
# $GH_HOST) and runs the helper's own check of the set-up. There is no token at
# build time (Kelos mounts it when the pod starts): that is a warning, anything
# else that is wrong fails the build.
set -eu

BIN=/usr/local/bin

if [ "$#" -gt 1 ]; then
  echo "usage: install.sh [DIR]" >&2
  exit 2
fi
if [ "$#" -eq 1 ]; then
  src=$1
  for f in git-credential-kelos kelos-gh; do
    [ -f "$src/$f" ] || { echo "install.sh: $src/$f not found" >&2; exit 1; }
  done
  mkdir -p "$BIN"
  # Through a temporary name and a rename: never a half-written executable in PATH.
  cp "$src/git-credential-kelos" "$BIN/.git-credential-kelos.tmp"
  chmod 0755 "$BIN/.git-credential-kelos.tmp"
  mv -f "$BIN/.git-credential-kelos.tmp" "$BIN/git-credential-kelos"
  cp "$src/kelos-gh" "$BIN/.gh.tmp"
  chmod 0755 "$BIN/.gh.tmp"
  mv -f "$BIN/.gh.tmp" "$BIN/gh"
fi

for f in "$BIN/git-credential-kelos" "$BIN/gh"; do
  [ -f "$f" ] || { echo "install.sh: $f is missing: COPY it from the helpers image, or pass the directory holding the binaries" >&2; exit 1; }
  chmod 0755 "$f"
done
command -v git >/dev/null || { echo "install.sh: git is not installed: install git before the helpers" >&2; exit 1; }

"$BIN/git-credential-kelos" --version
"$BIN/git-credential-kelos" configure --system
# With the PATH the image has: gh there must be this wrapper, ahead of the real gh.
"$BIN/git-credential-kelos" doctor --no-token-ok
