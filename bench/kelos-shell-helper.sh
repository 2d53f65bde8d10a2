# Kelos's git credential helper as it is today (peers.md §1), as a script.
# The controller writes it into .git/config as
#   credential.helper = !f() { if [ -r FILE ]; then echo "password=$(cat FILE)"; else echo "password=$GITHUB_TOKEN"; fi; }; f
# with FILE the literal token path; git runs it with /bin/sh and the
# operation as its argument (ignored). Here FILE comes from the environment
# so that the benchmark can point it at its own token file.
FILE="${KELOS_GITHUB_TOKEN_FILE:-/kelos/github-token/GITHUB_TOKEN}"
f() { if [ -r "$FILE" ]; then echo "password=$(cat "$FILE")"; else echo "password=$GITHUB_TOKEN"; fi; }; f
