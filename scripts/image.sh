#!/usr/bin/env bash
# Builds the helpers image (images/helpers/Dockerfile) for linux/amd64 and
# linux/arm64 with buildah, offline, from the release binaries in target/dist/
# (scripts/release.sh builds them, then runs this), joins both in one manifest
# list, and writes it as an OCI archive (an OCI image layout with an image
# index: both platforms) whose one reference is the release's tag, vVERSION:
#
#   bash scripts/image.sh [--version V] [--revision SHA] [--source URL] [--output FILE]
#
# Defaults: the workspace version from Cargo.toml, `git rev-parse HEAD`
# (or KELOS_COMMIT), the repository URL, dist/kelos-credential-helpers-vVERSION.oci.tar.
# Prints the manifest list's digest and each platform's, read from the archive
# written (what a push with --preserve-digests publishes). A release pushes
# that archive as it is:
#
#   skopeo copy --all --preserve-digests oci-archive:dist/kelos-credential-helpers-vVERSION.oci.tar:vVERSION docker://ghcr.io/OWNER/kelos-credential-helpers:vVERSION
#
# buildah runs with the vfs storage driver and chroot isolation, in a storage of
# its own ($KELOS_BUILDAH_ROOT, default target/buildah): no daemon, no registry,
# nothing pulled (every stage is FROM scratch), no emulation for arm64 (nothing
# runs: only COPY). Layers and the image's creation time carry the commit's
# time (--timestamp: SOURCE_DATE_EPOCH, else `git log -1 --format=%ct`; without
# either it stops, never guesses), so the same commit and binaries give the
# same digests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

version="$(workspace_version)"
revision="$(commit_id)"
source_url="$(sed -n '/^\[workspace.package\]/,/^\[/s/^repository *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)"
output=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --revision) revision="$2"; shift 2 ;;
    --source) source_url="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
version="${version#v}"
[ -n "$version" ] || { echo "image.sh: no version (Cargo.toml [workspace.package] version, or --version)" >&2; exit 2; }
tag="v$version"
output="${output:-dist/kelos-credential-helpers-$tag.oci.tar}"
[ -n "$revision" ] || { echo "image.sh: no commit for the revision label: \`git rev-parse HEAD\` failed in $PWD (in a container whose checkout another user owns: \`git config --global --add safe.directory $PWD\`); or pass --revision SHA" >&2; exit 1; }
timestamp="$(commit_time)" || { echo "image.sh: stopped: the image's time would be a guess" >&2; exit 1; }
stage="$(release_stage_dir)"

command -v buildah >/dev/null || { echo "image.sh: buildah not found: install it with \`apt-get install buildah\` (or \`bash scripts/deps.sh\`)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "image.sh: python3 not found: install it with \`apt-get install python3\`" >&2; exit 1; }

declare -A target_of=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
for arch in amd64 arm64; do
  for b in git-credential-kelos kelos-gh kelos-glab; do
    f="$stage/${target_of[$arch]}/$b"
    [ -f "$f" ] || { echo "image.sh: $f is missing: build the binaries first with \`bash scripts/release.sh --binaries\`" >&2; exit 1; }
  done
done

root="${KELOS_BUILDAH_ROOT:-$PWD/target/buildah}"
mkdir -p "$root"
root="$(cd "$root" && pwd)"
# /var/lib a private tmpfs for each buildah run: as root, containers/image writes its
# blob-info cache to /var/lib/containers/cache, and no flag moves it (everything this
# script writes stays under $root and dist/). unshare and sh exec in place.
# shellcheck disable=SC2016 # $0 and $@ are the inner sh's, not this script's
buildah=(unshare --mount --propagation private -- sh -c
  'mount -t tmpfs -o mode=0755 kelos-buildah-var-lib /var/lib && exec "$0" "$@"'
  buildah --root "$root/storage" --runroot "$root/run" --storage-driver vfs)
list="localhost/kelos-credential-helpers:$version"

# The build context: exactly what images/helpers/Dockerfile.dockerignore lets Docker see
# (the six binaries, the snippet, install.sh and the license), not the whole work tree.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
for arch in amd64 arm64; do
  mkdir -p "$context/dist/${target_of[$arch]}"
  cp -p "$stage/${target_of[$arch]}/git-credential-kelos" "$stage/${target_of[$arch]}/kelos-gh" "$stage/${target_of[$arch]}/kelos-glab" "$context/dist/${target_of[$arch]}/"
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

step "buildah manifest push --all $list oci:LAYOUT:$tag, then LAYOUT as $output"
mkdir -p "$(dirname "$output")"
rm -f "$output"
layout="$context/layout"
"${buildah[@]}" manifest push --quiet --all --format oci "$list" "oci:$layout:$tag"
# The archive itself reproducible too (buildah's oci-archive: would carry the time of the
# push): the layout's files in name order, owner 0, the commit's time, fixed modes.
find "$layout" -type d -exec chmod 0755 {} +
find "$layout" -type f -exec chmod 0644 {} +
mapfile -t top < <(cd "$layout" && LC_ALL=C ls -A)
LC_ALL=C tar -C "$layout" --format=ustar --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$timestamp" --no-acls --no-xattrs --no-selinux -cf "$output" -- "${top[@]}"

# What was written, from the archive itself: its index.json names the manifest
# list (by the tag), and the list names each platform's manifest.
step "$output"
read_back="$context/read-back"
mkdir -p "$read_back"
tar -xf "$output" -C "$read_back" index.json
list_digest="$(python3 - "$read_back/index.json" "$tag" <<'PY'
import json, sys
index = json.load(open(sys.argv[1]))
refs = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]]
if len(index["manifests"]) != 1 or len(refs) != 1:
    sys.exit("image.sh: the archive's index.json does not hold exactly one manifest list tagged %s: %s" % (sys.argv[2], index))
print(refs[0]["digest"])
PY
)"
tar -xf "$output" -C "$read_back" "blobs/sha256/${list_digest#sha256:}"
python3 - "$read_back/blobs/sha256/${list_digest#sha256:}" <<'PY'
import json, sys
index = json.load(open(sys.argv[1]))
for m in index["manifests"]:
    p = m["platform"]
    print("  platform %s/%s%s  %s  %d bytes" % (p["os"], p["architecture"], "/" + p["variant"] if p.get("variant") else "", m["digest"], m["size"]))
PY
printf 'manifest list: %s\n' "$list"
printf 'tag: %s\n' "$tag"
printf 'digest: %s\n' "$list_digest"
printf 'archive: %s (%d bytes)\n' "$output" "$(stat -c %s "$output")"
