#!/bin/bash
# A transcript of the binaries' observable behaviour, for a refactor that must change none:
# run it against the build before and the build after, then diff the two files.
#
#   bash scripts/transcript.sh BIN_DIR OUT     (BIN_DIR holds git-credential-kelos and kelos-gh)
#
# About 2,100 runs of get, erase, store, token, env, exec, install and kelos-gh over a matrix of
# token files (valid, none, invalid, empty, missing, a directory, relative, a bad expiry file,
# kubelet's layout), GH_HOST values, fallback variables and trace settings; each records stdout,
# stderr, the exit status and the trace file, with the trace's time and PID masked. The sandbox
# is at one fixed path (in the transcript), so two runs compare byte for byte.
set -u
BIN=$1; OUT=$2
S=${TMPDIR:-/tmp}/kelos-transcript/sandbox; rm -rf $S; mkdir -p $S/tok $S/atomic/..g1 $S/bin $S/a $S/b $S/c $S/inst
cp $BIN/git-credential-kelos $S/bin/git-credential-kelos
cp $BIN/kelos-gh $S/a/gh
H=$S/bin/git-credential-kelos
cat > $S/b/gh <<'G'
#!/bin/sh
echo "fake-gh argv0=$0 args=$*"
env | grep -E '^(GH_|GITHUB_|NPM_)' | sort
G
chmod +x $S/b/gh
printf 'ghs_validtokenvalue0123456789\n' > $S/tok/valid; printf '1795428000\n' > $S/tok/valid_EXPIRES_AT
printf 'ghs_noexpiry\n' > $S/tok/noexp
printf 'two words\n' > $S/tok/bad
: > $S/tok/empty
printf 'ghs_badexp\n' > $S/tok/badexp; printf 'soon\n' > $S/tok/badexp_EXPIRES_AT
printf 'ghs_atomic_token_gen1\n' > $S/atomic/..g1/TOKEN; ln -s ..g1 $S/atomic/..data; ln -s ..data/TOKEN $S/atomic/TOKEN
mkdir $S/tok/dir
touch -d '2026-01-01 00:00:00' $S/tok/* $S/atomic/..g1/TOKEN
printf 'echo script-ran "$@" GH_TOKEN=$GH_TOKEN\n' > $S/c/noshebang; chmod +x $S/c/noshebang
printf 'x\n' > $S/c/noexec
printf '\x7fELFjunk\0\0' > $S/c/badelf; chmod +x $S/c/badelf
BASE="PATH=$S/a:$S/b:$S/c:/usr/bin:/bin HOME=$S"
run() { # label, env assignments..., -- , command...
  local label=$1; shift
  local envs=(); while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  rm -f $S/trace
  local input="${STDIN:-}"
  local out err rc
  out=$(printf '%b' "$input" | env -i $BASE "${envs[@]}" "$@" 2>$S/err; echo "rc=$?")
  echo "### $label :: ${envs[*]} :: $*"
  echo "$out"
  echo "--- stderr"; sed -E 's/^[0-9]+\.[0-9]{3} ([^ ]+)\[[0-9]+\]:/T \1[PID]:/' $S/err
  if [ -f $S/trace ]; then echo "--- trace"; sed -E 's/^[0-9]+\.[0-9]{3} ([^ ]+)\[[0-9]+\]:/T \1[PID]:/' $S/trace; fi
}
TOKENS=("" "KELOS_GITHUB_TOKEN_FILE=$S/tok/valid" "KELOS_GITHUB_TOKEN_FILE=$S/tok/noexp" "KELOS_GITHUB_TOKEN_FILE=$S/tok/bad" "KELOS_GITHUB_TOKEN_FILE=$S/tok/empty" "KELOS_GITHUB_TOKEN_FILE=$S/tok/missing" "KELOS_GITHUB_TOKEN_FILE=$S/tok/dir" "KELOS_GITHUB_TOKEN_FILE=relative/x" "KELOS_GITHUB_TOKEN_FILE=$S/tok/badexp" "KELOS_GITHUB_TOKEN_FILE=$S/atomic/TOKEN")
HOSTS=("" "GH_HOST=ghe.example.com" "GH_HOST=acme.ghe.com" "GH_HOST=https://bad.example/x" "GH_HOST=github.localhost")
FALLS=("" "GH_TOKEN=ghs_fallbackgh" "GH_TOKEN=bad_token_x_y GITHUB_TOKEN=ghs_fbgithub" "GH_ENTERPRISE_TOKEN=ghs_fbent GITHUB_TOKEN= GITHUB_ENTERPRISE_TOKEN=ghs_fbent2")
TRACES=("KELOS_CREDENTIAL_TRACE=$S/trace" "KELOS_CREDENTIAL_TRACE=1" "" "KELOS_CREDENTIAL_TRACE=relative")
{
for t in "${TOKENS[@]}"; do for h in "${HOSTS[@]}"; do for f in "${FALLS[@]}"; do
  tr=${TRACES[0]}
  E=($t $h $f $tr)
  STDIN='protocol=https\nhost=github.com\n\n' run get "${E[@]}" -- $H get
  STDIN='protocol=https\nhost=ghe.example.com\nusername=ghp_abcdefghijklmnopqrstuvwxyz0123\n\n' run get-ghe "${E[@]}" -- $H get
  STDIN='protocol=https\nhost=ghe.example.com\nusername=x\npassword=ghs_refusedtoken0123456789\n\n' run erase "${E[@]}" -- $H erase
  run token "${E[@]}" -- $H token
  run token-json "${E[@]}" -- $H token --format header-json --host acme.ghe.com
  run env "${E[@]}" -- $H env
  run env-json "${E[@]}" -- $H env --format json --set NPM_TOKEN
  run exec "${E[@]}" -- $H exec --set NPM_TOKEN -- sh -c 'env | grep -E "^(GH_|GITHUB_|NPM_)" | sort'
  run kelos-gh "${E[@]}" -- $S/a/gh api user --flag
  run kelos-gh-path "${E[@]}" KELOS_GH_PATH=$S/b/gh -- $S/a/gh x
done; done; done
for tr in "${TRACES[@]}"; do
  E=("KELOS_GITHUB_TOKEN_FILE=$S/tok/valid" "GH_TOKEN=ghs_fallbackgh" $tr)
  STDIN='protocol=https\nhost=github.com\n\n' run get-h "${E[@]}" -- $H --host github.com --host ghe.example.com get
  STDIN='protocol=https\nhost=github.com\n\n' run get-badh "${E[@]}" -- $H --host 'https://x/y' get
  STDIN='protocol=http\nhost=github.com\n\n' run get-http "${E[@]}" -- $H get
  STDIN='host=github.com\nprotocol=https\npath=a/b\n\n' run get-path "${E[@]}" -- $H get
  STDIN='protocol=https\n\n' run get-nohost "${E[@]}" -- $H get
  STDIN='garbage\n\n' run get-malformed "${E[@]}" -- $H get
  STDIN='protocol=https\nhost=github.com\n\n' run store "${E[@]}" -- $H store
  STDIN='protocol=https\nhost=github.com\n\n' run store-badh "${E[@]}" -- $H --host 'a b' store
  run cap "${E[@]}" -- $H capability
  run other "${E[@]}" -- $H frobnicate
  run token-2h "${E[@]}" -- $H token --host a.example --host b.example
  run token-badh "${E[@]}" -- $H token --host 'bad host'
  run env-h "${E[@]}" -- $H --host x.example env
  run env-h2 "${E[@]}" -- $H env --host x.example
  run env-badset "${E[@]}" -- $H env --set 1bad
  run exec-h "${E[@]}" -- $H --host x.example exec true
  run exec-none "${E[@]}" -- $H exec
  run exec-notfound "${E[@]}" -- $H exec no-such-command-xyz a
  run exec-slash "${E[@]}" -- $H exec /no/such/file
  run exec-dir "${E[@]}" -- $H exec $S/c
  run exec-noexec "${E[@]}" -- $H exec $S/c/noexec
  run exec-noshebang "${E[@]}" -- $H exec $S/c/noshebang one two
  run exec-noshebang-path "${E[@]}" -- $H exec noshebang one
  run exec-badelf "${E[@]}" -- $H exec badelf
  run exec-nopath "${E[@]}" -- env -u PATH $H exec true
  run install-h "${E[@]}" -- $H --host x install $S/inst
  run kelos-gh-badpath "${E[@]}" KELOS_GH_PATH=relative/gh -- $S/a/gh x
  run kelos-gh-self "${E[@]}" KELOS_GH_PATH=$S/a/gh -- $S/a/gh x
  run kelos-gh-noexec "${E[@]}" KELOS_GH_PATH=$S/c/noexec -- $S/a/gh x
  run kelos-gh-notinpath "${E[@]}" -- env PATH=$S/a:$S/c:rel: $S/a/gh x
  run kelos-gh-nopath "${E[@]}" -- env -u PATH $S/a/gh x
  run kelos-gh-badelf "${E[@]}" KELOS_GH_PATH=$S/c/badelf -- $S/a/gh x
  run kelos-gh-version "${E[@]}" -- $S/a/gh --version
done
} > $OUT 2>&1
