#!/bin/sh
# Kelos's gh wrapper as it is today (hack/agent-gh-wrapper.sh, described in
# peers.md §1), installed as /usr/local/bin/gh in the reference images:
# export the token file's contents for gh, then exec the packaged gh.
# Written from that description for the benchmark; not Kelos's file.
if [ -r "$KELOS_GITHUB_TOKEN_FILE" ]; then
  if [ -n "$GH_HOST" ] && [ "$GH_HOST" != "github.com" ]; then
    GH_ENTERPRISE_TOKEN=$(cat "$KELOS_GITHUB_TOKEN_FILE")
    export GH_ENTERPRISE_TOKEN
  else
    GH_TOKEN=$(cat "$KELOS_GITHUB_TOKEN_FILE")
    export GH_TOKEN
  fi
fi
exec /usr/bin/gh "$@"
