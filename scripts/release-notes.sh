#!/usr/bin/env bash
# Prints the release notes of VERSION: its section of CHANGELOG.md, without the
# heading (the release's title is the tag), as the release workflow publishes them.
#
#   bash scripts/release-notes.sh [--dated] [VERSION]   (default: the workspace version)
#
# Fails, naming the heading it looked for, when CHANGELOG.md has no such section
# or the section is empty: a release is never published without notes. With
# --dated (the release workflow), also when the heading does not carry the
# release's date (`## [0.1.0] - 2026-12-06`, not `- Unreleased`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

dated=false
if [ "${1:-}" = --dated ]; then dated=true; shift; fi
version="${1:-$(workspace_version)}"
version="${version#v}"
notes="$(awk -v heading="## [$version]" '
  index($0, heading) == 1 && (length($0) == length(heading) || substr($0, length(heading) + 1, 1) == " ") { inside = 1; next }
  inside && /^## / { exit }
  inside && /^\[[^]]*\]: / { next }
  inside { print }
' CHANGELOG.md)"
# Without the blank lines around it.
notes="$(printf '%s\n' "$notes" | sed -e '/./,$!d' | tac | sed -e '/./,$!d' | tac)"
if [ -z "$notes" ]; then
  echo "release-notes.sh: CHANGELOG.md has no section \"## [$version]\" (or it is empty): add one (Keep a Changelog) before releasing v$version" >&2
  exit 1
fi
if $dated && ! grep -Eq "^## \[${version//./\\.}\] - [0-9]{4}-[0-9]{2}-[0-9]{2}\$" CHANGELOG.md; then
  echo "release-notes.sh: CHANGELOG.md's heading for $version has no date: write \"## [$version] - $(date -u +%Y-%m-%d)\" before tagging v$version" >&2
  exit 1
fi
printf '%s\n' "$notes"
