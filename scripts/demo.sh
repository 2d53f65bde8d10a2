#!/usr/bin/env bash
# The main job, on one machine with no network: build the static binaries
# (for this machine's architecture: x86_64 or aarch64), then show the real git
# (and gh, when installed) getting the token from a kubelet-style Secret
# volume, before and after a rotation, and git getting nothing for a host the
# token does not belong to, or over plain http (refused, as it must be).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
require git git

build_static
bin="$(static_bin_dir)"
for b in git-credential-kelos kelos-gh; do
  [ ! -f "$bin/$b" ] || printf '%-22s %8d bytes, %s\n' "$b" "$(stat -c %s "$bin/$b")" "$(file -b "$bin/$b" 2>/dev/null | cut -d, -f1-4)"
done

demo="$(mktemp -d)"
trap 'rm -rf "$demo"' EXIT
vol="$demo/kelos/github-token"
mkdir -p "$vol" "$demo/home"

# What kubelet does to a Secret volume: write a new generation directory,
# then swap the ..data link to it in one rename.
publish() {
  local gen old
  gen="..$(date +%Y_%m_%d_%H_%M_%S).$RANDOM$RANDOM"
  old="$(readlink "$vol/..data" 2>/dev/null || true)"
  mkdir "$vol/$gen"
  printf '%s\n' "$1" >"$vol/$gen/GITHUB_TOKEN"
  printf '%s\n' "$(($(date +%s) + 3600))" >"$vol/$gen/GITHUB_TOKEN_EXPIRES_AT"
  ln -s "$gen" "$vol/..data_tmp"
  mv -T "$vol/..data_tmp" "$vol/..data"
  for f in GITHUB_TOKEN GITHUB_TOKEN_EXPIRES_AT; do
    [ -L "$vol/$f" ] || ln -s "..data/$f" "$vol/$f"
  done
  [ -z "$old" ] || rm -rf "${vol:?}/$old"
}

export HOME="$demo/home" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
export KELOS_GITHUB_TOKEN_FILE="$vol/GITHUB_TOKEN"
export GH_TOKEN="ghs_stale_token_frozen_at_pod_start" GH_CONFIG_DIR="$demo/gh-config"
# Configured for every host (not just https://github.com), so that the
# refusals below are the helper's own decision, not git's URL matching.
git config --global credential.helper ''
git config --global --add credential.helper "$bin/git-credential-kelos"

# The helper's trace says why it refused; it never holds a token.
export KELOS_CREDENTIAL_TRACE="$demo/trace"

# A request the helper must answer: prints what git got (demo tokens only).
fill() {
  if ! printf 'protocol=%s\nhost=%s\n\n' "$1" "$2" | git credential fill 2>"$demo/git.err"; then
    echo "demo failed: git got no credential for $1://$2:" >&2
    cat "$demo/git.err" >&2
    exit 1
  fi
}

# A request the helper must refuse: git gets nothing, and with prompts off it
# gives up (its "fatal: could not read Username" is the refusal working).
refused() {
  local out
  : >"$KELOS_CREDENTIAL_TRACE"
  if out="$(printf 'protocol=%s\nhost=%s\n\n' "$1" "$2" | git credential fill 2>"$demo/git.err")"; then
    echo "demo failed: git got a credential for $1://$2, which must be refused:" >&2
    printf '%s\n' "$out" | sed 's/^password=.*/password=<hidden>/' >&2
    exit 1
  fi
  echo "refused, as it must be: no credential for $1://$2"
  sed -n 's/^.*: not answered: /  the helper: /p' "$KELOS_CREDENTIAL_TRACE"
  sed -n 's/^fatal: /  git then gives up: /p' "$demo/git.err"
}

publish "ghs_demoFirstToken000000000000000000001"
step "git credential fill for https://github.com (token file holds generation 1)"
fill https github.com

publish "ghs_demoSecondToken00000000000000000002"
step "kubelet rotated the Secret; git credential fill again"
fill https github.com

step "a host the token does not belong to: https://github.com.evil.example"
refused https github.com.evil.example
step "plain http to github.com (https only; http only for loopback hosts)"
refused http github.com

if [ -x "$bin/kelos-gh" ] && command -v gh >/dev/null; then
  mkdir -p "$demo/bin"
  cp "$bin/kelos-gh" "$demo/bin/gh"
  step "gh auth token through kelos-gh (GH_TOKEN is stale; the file wins)"
  PATH="$demo/bin:$PATH" gh auth token
  publish "ghs_demoThirdToken000000000000000000003"
  step "after another rotation"
  PATH="$demo/bin:$PATH" gh auth token
fi
step "done: every answer came from the file, read at the moment of use"
