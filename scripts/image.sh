#!/usr/bin/env bash
# Builds the helpers image (images/helpers/Dockerfile) for linux/amd64 and
# linux/arm64 with buildah, offline, from the release binaries in dist/ (run
# scripts/release.sh first), joins both in one manifest list, and writes it as
# an OCI archive (an OCI image layout with an image index: both platforms):
#
#   bash scripts/image.sh [--version V] [--revision SHA] [--source URL] [--output FILE]
#
# Defaults: the workspace version from Cargo.toml, `git rev-parse HEAD`, the
# repository URL, dist/kelos-credential-helpers.oci.tar. Prints the manifest
# list's digest and its platforms. A release pushes that archive as it is:
#
#   skopeo copy --all oci-archive:dist/kelos-credential-helpers.oci.tar docker://ghcr.io/OWNER/kelos-credential-helpers:TAG
#
# buildah runs with the vfs storage driver and chroot isolation, in a storage of
# its own ($KELOS_BUILDAH_ROOT, default target/buildah): no daemon, no registry,
# nothing pulled (every stage is FROM scratch), no emulation for arm64 (nothing
# runs: only COPY). Layers and the image's creation time carry the commit's
# time (--timestamp), so the same commit and binaries give the same digests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source_url="$(sed -n '/^\[workspace.package\]/,/^\[/s/^repository *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
output="dist/kelos-credential-helpers.oci.tar"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --revision) revision="$2"; shift 2 ;;
    --source) source_url="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
version="${version#v}"
[ -n "$version" ] || { echo "image.sh: no version (Cargo.toml [workspace.package] version, or --version)" >&2; exit 2; }

command -v buildah >/dev/null || { echo "image.sh: buildah not found: install it with \`apt-get install buildah\` (or \`bash scripts/deps.sh\`)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "image.sh: python3 not found: install it with \`apt-get install python3\`" >&2; exit 1; }

declare -A target_of=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
for arch in amd64 arm64; do
  for b in git-credential-kelos kelos-gh; do
    f="dist/${target_of[$arch]}/$b"
    [ -f "$f" ] || { echo "image.sh: $f is missing: build the release first with \`bash scripts/release.sh\`" >&2; exit 1; }
  done
done

root="${KELOS_BUILDAH_ROOT:-$PWD/target/buildah}"
mkdir -p "$root"
root="$(cd "$root" && pwd)"
buildah=(buildah --root "$root/storage" --runroot "$root/run" --storage-driver vfs)
timestamp="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
list="localhost/kelos-credential-helpers:$version"

# The build context: exactly what images/helpers/Dockerfile.dockerignore lets Docker see
# (the four binaries, the snippet, install.sh and the license), not the whole work tree.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
for arch in amd64 arm64; do
  mkdir -p "$context/dist/${target_of[$arch]}"
  cp -p "dist/${target_of[$arch]}/git-credential-kelos" "dist/${target_of[$arch]}/kelos-gh" "$context/dist/${target_of[$arch]}/"
done
cp -p LICENSE "$context/LICENSE"
mkdir -p "$context/images"
cp images/kelos-env.sh images/install.sh "$context/images/"
chmod 0644 "$context/images/kelos-env.sh"
chmod 0755 "$context/images/install.sh"
cp images/helpers/Dockerfile "$context/Dockerfile"

"${buildah[@]}" manifest rm "$list" >/dev/null 2>&1 || true
"${buildah[@]}" rmi "$list-amd64" "$list-arm64" >/dev/null 2>&1 || true
"${buildah[@]}" manifest create "$list" >/dev/null
for arch in amd64 arm64; do
  step "buildah build --platform linux/$arch (images/helpers/Dockerfile, version $version, revision $revision)"
  "${buildah[@]}" build --quiet --isolation chroot --pull=never --platform "linux/$arch" \
    --timestamp "$timestamp" --identity-label=false \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
    --tag "$list-$arch" --manifest "$list" -f "$context/Dockerfile" "$context"
done

step "buildah manifest push --all $list oci-archive:$output"
mkdir -p "$(dirname "$output")"
rm -f "$output"
digestfile="$context/digest"
"${buildah[@]}" manifest push --quiet --all --format oci --digestfile "$digestfile" "$list" "oci-archive:$output:$version"

step "$output"
"${buildah[@]}" manifest inspect "$list" | python3 -c '
import json, sys
index = json.load(sys.stdin)
for m in index["manifests"]:
    p = m["platform"]
    print("  platform %s/%s%s  %s  %d bytes" % (p["os"], p["architecture"], "/" + p["variant"] if p.get("variant") else "", m["digest"], m["size"]))
'
printf 'manifest list: %s\n' "$list"
printf 'digest: %s\n' "$(cat "$digestfile")"
printf 'archive: %s (%d bytes)\n' "$output" "$(stat -c %s "$output")"
