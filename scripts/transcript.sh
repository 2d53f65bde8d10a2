#!/usr/bin/env bash
# Records what the binaries in BIN_DIR do, byte for byte, over a fixed seeded
# set of a few hundred cases, as one normalized transcript: the proof of a
# refactor without behaviour change (issue 19) is that the transcript of the
# build before and the build after are identical.
#
#   bash scripts/transcript.sh BIN_DIR OUT
#
# BIN_DIR holds git-credential-kelos and kelos-gh (the static builds). Each
# case runs under `env -i` with a sandbox HOME, system config and PATH, so
# nothing of the machine's own set-up leaks in; stdout, stderr, the exit
# status, the trace file and (for configure) the config file's bytes are
# recorded. Normalized: the sandbox path (<ROOT>), trace time stamps and pids,
# ages and durations (the token files' times are fixed, so only "now" moves
# them), the commit in --version. Token values are fake fixed strings.
# Bytes that are not printable UTF-8 are shown as \xNN; a last line without
# a newline is marked.
set -euo pipefail
umask 022

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN_DIR OUT   (BIN_DIR: git-credential-kelos and kelos-gh)" >&2
  exit 2
fi
BIN_DIR=$(cd "$1" && pwd)
OUT=$(realpath -m "$2")
for b in git-credential-kelos kelos-gh; do
  [ -x "$BIN_DIR/$b" ] || { echo "$0: $BIN_DIR/$b is missing or not executable" >&2; exit 2; }
done
command -v perl >/dev/null || { echo "$0: perl is needed (apt-get install perl)" >&2; exit 2; }
GIT=$(command -v git) || { echo "$0: git is needed (bash scripts/deps.sh)" >&2; exit 2; }

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/kelos-transcript.XXXXXX")
ROOT=$(realpath "$ROOT")
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,stand,home,etc,work,vol,cfg}
# Copies, so the binaries' own path is the same for every BIN_DIR.
cp "$BIN_DIR/git-credential-kelos" "$BIN_DIR/kelos-gh" "$ROOT/bin/"
: >"$OUT"

# ---------------------------------------------------------------- stand-ins
cat >"$ROOT/stand/show" <<'EOF'
#!/bin/sh
printf 'argv:'; for a in "$@"; do printf ' [%s]' "$a"; done; echo
env | LC_ALL=C sort
EOF
cat >"$ROOT/stand/fake-gh" <<'EOF'
#!/bin/sh
printf 'gh argv:'; for a in "$@"; do printf ' [%s]' "$a"; done; echo
for v in GH_TOKEN GITHUB_TOKEN GH_ENTERPRISE_TOKEN GITHUB_ENTERPRISE_TOKEN GH_HOST; do
  eval "s=\${$v+set}; x=\${$v-}"
  if [ -n "$s" ]; then echo "$v=[$x]"; else echo "$v unset"; fi
done
exit 3
EOF
printf '#!/bin/sh\necho never runs\n' >"$ROOT/stand/not-executable"
printf 'echo run by sh: "$@"\n' >"$ROOT/stand/no-shebang"
chmod 0755 "$ROOT/stand/show" "$ROOT/stand/fake-gh" "$ROOT/stand/no-shebang"
chmod 0644 "$ROOT/stand/not-executable"

# ---------------------------------------------------------------- recording
N=0
BASE_ENV=(HOME="$ROOT/home" PATH="$ROOT/bin:$ROOT/stand:/usr/local/bin:/usr/bin:/bin"
  GIT_CONFIG_SYSTEM="$ROOT/etc/gitconfig" GIT_CEILING_DIRECTORIES="$ROOT" LC_ALL=C TZ=UTC)
CASE_ENV=()   # extra variables of the next case
CASE_IN=""    # stdin file of the next case (empty: /dev/null)
CASE_CWD="$ROOT/work"
CASE_TRACE="" # KELOS_CREDENTIAL_TRACE of the next case: "", "1" or "file"
CASE_SHOW=()  # files whose bytes are recorded after the case

# Printable UTF-8 as is; other bytes as \xNN.
# shellcheck disable=SC2016 # perl code
PERL_ESCAPE='sub esc { my $d = shift; $d =~ s/((?:[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2})+)|([\x00-\x09\x0b-\x1f\x7f-\xff])/defined $1 ? $1 : sprintf("\\x%02x", ord $2)/ge; $d }'

# Shows a file's bytes, each line prefixed with "| "; a file over 16 KiB (the
# over-long requests) as its length, sha256 (after <ROOT> is put in) and first
# bytes; a last line without a newline is marked.
show_bytes() {
  ROOT="$ROOT" perl -e "$PERL_ESCAPE"'
    local $/; open(my $f, "<:raw", $ARGV[0]) or do { print "  (no file)\n"; exit };
    my $d = <$f> // ""; my $n = length $d;
    exit if $n == 0;
    if ($n > 16384) {
      $d =~ s/\Q$ENV{ROOT}\E/<ROOT>/g; $n = length $d;
      require Digest::SHA;
      printf "  (%d bytes, sha256 %s, starting:)\n", $n, Digest::SHA::sha256_hex($d);
      $d = substr($d, 0, 160);
    }
    my $open = substr($d, -1) ne "\n";
    $d =~ s/\n\z//;
    print map { "| $_\n" } ($d eq "" ? ("") : split(/\n/, esc($d), -1));
    print "\\ no newline at end\n" if $open;
  ' "$1"
}

# Shows each argument on its own line, in brackets, escaped as show_bytes does.
show_words() {
  perl -e "$PERL_ESCAPE"' for (@ARGV) { my $w = esc($_); $w =~ s/\n/\\x0a/g; print "  [$w]\n" }' -- "$@"
}

normalize() {
  ROOT="$ROOT" perl -pe '
    s/\Q$ENV{ROOT}\E/<ROOT>/g;
    s/\b\d{9,}\.\d{3} ([\w.-]+)\[\d+\]:/<TIME> $1\[<PID>\]:/g;
    s/\b\d+(?:ms|[dhms])(?:\d+[hms])?(?= ago)/<AGE>/g;
    s/(?<=\(in )\d+(?:ms|[dhms])(?:\d+[hms])?\b/<DUR>/g;
    s/\(commit [^)]*\)/(commit <COMMIT>)/g;
  '
}

# run TITLE ARGV...: runs one case with CASE_* and appends its record to OUT.
run() {
  local title=$1 rc=0 f
  shift
  N=$((N + 1))
  local env=("${BASE_ENV[@]}" "${CASE_ENV[@]}")
  rm -f "$ROOT/trace.log"
  case "$CASE_TRACE" in
    1) env+=(KELOS_CREDENTIAL_TRACE=1) ;;
    file) : >"$ROOT/trace.log"; env+=(KELOS_CREDENTIAL_TRACE="$ROOT/trace.log") ;;
  esac
  (cd "$CASE_CWD" && exec env -i "${env[@]}" "$@" <"${CASE_IN:-/dev/null}" >"$ROOT/out" 2>"$ROOT/err") || rc=$?
  {
    printf '=== %s: ' "$N"; perl -e "$PERL_ESCAPE"' print esc($ARGV[0]), "\n"' -- "$title"
    echo "argv:"; show_words "$@"
    if [ ${#CASE_ENV[@]} -gt 0 ] || [ -n "$CASE_TRACE" ]; then
      echo "env (besides HOME PATH GIT_CONFIG_SYSTEM GIT_CEILING_DIRECTORIES LC_ALL TZ):"
      show_words "${CASE_ENV[@]}" ${CASE_TRACE:+"KELOS_CREDENTIAL_TRACE=${env[-1]#*=}"}
    fi
    [ "$CASE_CWD" = "$ROOT/work" ] || echo "cwd: $CASE_CWD"
    if [ -n "$CASE_IN" ]; then echo "stdin:"; show_bytes "$CASE_IN"; fi
    echo "stdout:"; show_bytes "$ROOT/out"
    echo "stderr:"; show_bytes "$ROOT/err"
    echo "exit: $rc"
    if [ "$CASE_TRACE" = file ]; then echo "trace file:"; show_bytes "$ROOT/trace.log"; fi
    for f in "${CASE_SHOW[@]}"; do echo "file $f:"; show_bytes "$f"; done
    echo
  } | normalize >>"$OUT"
}

reset_case() { CASE_ENV=(); CASE_IN=""; CASE_CWD="$ROOT/work"; CASE_TRACE=""; CASE_SHOW=(); }

# A seeded generator (32-bit xorshift): the same cases on every run.
SEED=20261206
R=0
rnd() {
  SEED=$(((SEED ^ (SEED << 13)) & 0xffffffff)); SEED=$((SEED ^ (SEED >> 17))); SEED=$(((SEED ^ (SEED << 5)) & 0xffffffff))
  R=$((SEED % $1))
}
PICK=""
pick() { rnd $#; shift "$R"; PICK=$1; }

# ---------------------------------------------------------------- token states
FILE_TOKEN=ghs_FAKEfileTOKEN000000000000000000001
OLD_TOKEN=ghs_FAKEoldTOKEN0000000000000000000009
T0=@1577836800 # every file's time: 2020-01-01T00:00:00Z
TOKEN_STATES=(unset empty-var missing plain plain-exp-future plain-exp-past plain-exp-rfc3339
  plain-exp-junk empty whitespace bom-crlf kubelet kubelet-exp directory quote-shaped)
# token_state STATE: builds $ROOT/vol afresh and adds the variable to CASE_ENV.
token_state() {
  TOKEN_STATE=$1
  rm -rf "$ROOT/vol"; mkdir -p "$ROOT/vol"
  local v="$ROOT/vol" f="$ROOT/vol/GITHUB_TOKEN"
  case $1 in
    unset) return ;;
    empty-var) CASE_ENV+=(KELOS_GITHUB_TOKEN_FILE=); return ;;
    missing) ;;
    plain) printf '%s\n' "$FILE_TOKEN" >"$f" ;;
    plain-exp-future) printf '%s\n' "$FILE_TOKEN" >"$f"; echo 2000000000 >"${f}_EXPIRES_AT" ;;
    plain-exp-past) printf '%s\n' "$FILE_TOKEN" >"$f"; echo 1000000000 >"${f}_EXPIRES_AT" ;;
    plain-exp-rfc3339) printf '%s\n' "$FILE_TOKEN" >"$f"; echo 2033-05-18T03:33:20Z >"${f}_EXPIRES_AT" ;;
    plain-exp-junk) printf '%s\n' "$FILE_TOKEN" >"$f"; echo soon >"${f}_EXPIRES_AT" ;;
    empty) : >"$f" ;;
    whitespace) printf 'two words\n' >"$f" ;;
    bom-crlf) printf '\xef\xbb\xbf  %s\r\n' "$FILE_TOKEN" >"$f" ;;
    kubelet | kubelet-exp)
      local gen="..2020_01_01_00_00_00.000000001"
      mkdir "$v/$gen"
      printf '%s' "$FILE_TOKEN" >"$v/$gen/GITHUB_TOKEN"
      ln -s "$gen" "$v/..data"
      ln -s ..data/GITHUB_TOKEN "$f"
      if [ "$1" = kubelet-exp ]; then
        echo 2000000000 >"$v/$gen/GITHUB_TOKEN_EXPIRES_AT"
        ln -s ..data/GITHUB_TOKEN_EXPIRES_AT "${f}_EXPIRES_AT"
      fi
      chmod 0440 "$v/$gen"/*
      ;;
    directory) mkdir "$f" ;;
    quote-shaped) printf '%s\n' "ghs_it's\$(id)\`x\`\"q\"" >"$f" ;;
  esac
  find "$v" -exec touch -h -d "$T0" {} +
  CASE_ENV+=(KELOS_GITHUB_TOKEN_FILE="$f")
}

FALLBACKS=(GH_TOKEN=gho_FAKEfallbackGH_TOKEN00000000000000 GITHUB_TOKEN=ghp_FAKEfallbackGITHUB_TOKEN000000000
  GH_ENTERPRISE_TOKEN=ghp_FAKEfallbackGH_ENTERPRISE0000000 GITHUB_ENTERPRISE_TOKEN=ghp_FAKEfallbackGITHUB_ENT00000000
  "GH_TOKEN=not valid" GITHUB_TOKEN=)
# random_fallbacks: each fallback variable present with probability 1/3.
random_fallbacks() {
  local kv seen=" "
  for kv in "${FALLBACKS[@]}"; do
    rnd 3
    [ "$R" -eq 0 ] || continue
    case "$seen" in *" ${kv%%=*} "*) continue ;; esac
    seen+="${kv%%=*} "
    CASE_ENV+=("$kv")
  done
}
GH_HOSTS=(unset unset unset unset unset unset unset unset github.com GitHub.COM. acme.ghe.com ghe.example.com ghe.example.com:8443
  localhost:3000 https://ghe.example.com/ "" "bad host" $'ctl\x01host' github.localhost)
random_gh_host() { pick "${GH_HOSTS[@]}"; [ "$PICK" = unset ] || CASE_ENV+=("GH_HOST=$PICK"); }

# ---------------------------------------------------------------- git's protocol
PROTOCOLS=(https https https https https https https http http ssh git HTTPS "")
HOSTS=(github.com github.com github.com github.com github.com GitHub.com. github.com:443 gist.github.com api.github.com acme.ghe.com
  x.acme.ghe.com gist.acme.ghe.com ghe.example.com ghe.example.com:8443 gist.ghe.example.com
  localhost localhost:3000 a.localhost 127.0.0.1:8080 127.1.2.3 "[::1]:3000" 10.0.0.1
  github.localhost api.github.localhost evil.example github.com.evil.example gitlab.example.com "")
USERS=(omit omit omit "" alice x-access-token oauth2 ghp_FAKEusernameTOKEN00000000000000000
  github_pat_FAKE0000000000000000_usernameTOKEN)
MALFORMED=(none none none none none none none none none none none none none none none none none none none none none none none none nul-in-host no-newline no-blank-line overlong no-equals
  duplicate-host crlf unknown-attribute after-blank leading-blank capability-attr empty-value url-with-user)
OPS=(get get get get get get erase erase store capability fetch Get)
ARGSETS=(none none none none none none one two two bad)

request_cases() {
  local i op proto host user mal form path pass in args kv
  for i in $(seq 1 400); do
    reset_case
    pick "${OPS[@]}"; op=$PICK
    pick "${PROTOCOLS[@]}"; proto=$PICK
    pick "${HOSTS[@]}"; host=$PICK
    pick "${USERS[@]}"; user=$PICK
    pick "${MALFORMED[@]}"; mal=$PICK
    pick lines lines url; form=$PICK
    pick "" "" owner/repo.git; path=$PICK
    pick "" "$FILE_TOKEN" "$OLD_TOKEN"; pass=$PICK
    pick plain plain plain-exp-future plain-exp-future kubelet-exp "${TOKEN_STATES[@]}"; token_state "$PICK"
    random_fallbacks
    random_gh_host
    pick "" "" "" "" file 1; CASE_TRACE=$PICK
    pick "${ARGSETS[@]}"
    case $PICK in
      none) args=() ;;
      one) args=(--host ghe.example.com) ;;
      two) args=(--host github.com --host acme.ghe.com) ;;
      bad) args=(--host "bad host") ;;
    esac
    # Half the requests are for a host the case configures (as given, or
    # spelt the ways git may send it), so that most of them are answered.
    rnd 2
    if [ "$R" -eq 0 ]; then
      host=github.com
      for kv in "${CASE_ENV[@]}"; do case $kv in GH_HOST=?*) host=${kv#GH_HOST=} ;; esac; done
      [ ${#args[@]} -eq 0 ] || { pick "${args[@]}"; [ "$PICK" = --host ] && host=${args[1]} || host=$PICK; }
      pick https https https "$proto"; proto=$PICK
      pick "$host" "$host" "$host" "gist.$host" "${host^^}" "$host." "$host:443"; host=$PICK
    fi
    in="$ROOT/in"
    {
      [ "$mal" != leading-blank ] || printf '\n'
      if [ "$form" = url ]; then
        local u=""
        [ "$user" = omit ] || [ -z "$user" ] || u="$user@"
        [ "$mal" != url-with-user ] || u="alice:pw@"
        printf 'url=%s://%s%s/%s\n' "${proto:-https}" "$u" "$host" "$path"
      else
        [ -z "$proto" ] || printf 'protocol=%s\n' "$proto"
        case $mal in
          nul-in-host) printf 'host=%s\0evil.example\n' "$host" ;;
          duplicate-host) printf 'host=evil.example\nhost=%s\n' "$host" ;;
          empty-value) printf 'host=\n' ;;
          *) [ -z "$host" ] || printf 'host=%s\n' "$host" ;;
        esac
        [ "$user" = omit ] || printf 'username=%s\n' "$user"
        [ -z "$path" ] || printf 'path=%s\n' "$path"
      fi
      [ -z "$pass" ] || printf 'password=%s\n' "$pass"
      case $mal in
        no-equals) printf 'justaword\n' ;;
        overlong) printf 'wwwauth[]=%s\n' "$(head -c 70000 /dev/zero | tr '\0' a)" ;;
        unknown-attribute) printf 'wwwauth[]=Basic realm="GitHub"\n' ;;
        capability-attr) printf 'capability[]=authtype\n' ;;
      esac
      case $mal in
        no-newline) printf 'quit=0' ;;
        no-blank-line) ;;
        after-blank) printf '\nhost=evil.example\n' ;;
        *) printf '\n' ;;
      esac
    } >"$in"
    if [ "$mal" = crlf ]; then sed -i 's/$/\r/' "$in"; fi
    CASE_IN=$in
    run "request $i ($op, token $TOKEN_STATE, $mal)" git-credential-kelos "${args[@]}" "$op"
  done
}

# ---------------------------------------------------------------- token, env, exec
consumer_cases() {
  local st fmt host kv i
  for st in "${TOKEN_STATES[@]}"; do
    for fmt in "" plain header-json; do
      reset_case; token_state "$st"; CASE_ENV+=(GH_TOKEN=gho_FAKEfallbackGH_TOKEN00000000000000)
      run "token, $st, format '${fmt}'" git-credential-kelos token ${fmt:+--format "$fmt"}
    done
  done
  for host in github.com acme.ghe.com x.acme.ghe.com ghe.example.com localhost:3000 GitHub.COM. "bad host" ""; do
    reset_case; token_state missing
    for kv in "${FALLBACKS[@]:0:4}"; do CASE_ENV+=("$kv"); done
    run "token --host '$host' from the fallbacks" git-credential-kelos token --host "$host"
  done
  for i in $(seq 1 20); do
    reset_case; pick "${TOKEN_STATES[@]}"; token_state "$PICK"; random_fallbacks; random_gh_host
    pick "" "" file 1; CASE_TRACE=$PICK
    run "token, random $i, $TOKEN_STATE" git-credential-kelos token
  done
  for args in "--format bogus" "--host a --host b" "--host" "--hots x" "--format"; do
    reset_case; token_state plain
    # shellcheck disable=SC2086 # the words are the case
    run "token $args" git-credential-kelos token $args
  done

  for st in "${TOKEN_STATES[@]}"; do
    for fmt in "" sh json; do
      reset_case; token_state "$st"; CASE_ENV+=(GH_TOKEN=gho_FAKEfallbackGH_TOKEN00000000000000 GITHUB_ENTERPRISE_TOKEN=)
      run "env, $st, format '${fmt}'" git-credential-kelos env ${fmt:+--format "$fmt"} --set NPM_TOKEN
    done
  done
  for i in $(seq 1 20); do
    reset_case; pick "${TOKEN_STATES[@]}"; token_state "$PICK"; random_fallbacks; random_gh_host
    pick "" "" file 1; CASE_TRACE=$PICK
    pick sh json; fmt=$PICK
    run "env, random $i, $TOKEN_STATE" git-credential-kelos env --format "$fmt"
  done
  for args in "--set 1BAD" "--set A-B" "--set ok_NAME --set ok_NAME" "--format yaml" "--host github.com" "--set" "extra"; do
    reset_case; token_state plain; CASE_ENV+=(GITHUB_TOKEN=x)
    # shellcheck disable=SC2086
    run "env $args" git-credential-kelos env $args
  done

  for st in unset plain empty whitespace kubelet-exp missing; do
    reset_case; token_state "$st"; CASE_ENV+=(GH_TOKEN=old GITHUB_TOKEN=old2 GH_HOST=acme.ghe.com)
    run "exec show, $st" git-credential-kelos exec --set NPM_TOKEN -- show 'a b' '' -- --set $'\xff'
  done
  local cmd
  for cmd in show "$ROOT/stand/show" missing-command "$ROOT/stand/missing" not-executable \
    "$ROOT/stand/not-executable" no-shebang "$ROOT/stand" ./show ""; do
    reset_case; token_state plain; CASE_ENV+=(GITHUB_TOKEN=old)
    run "exec '$cmd'" git-credential-kelos exec "$cmd" arg1
  done
  reset_case; token_state plain; CASE_TRACE="file"; CASE_ENV+=(GH_ENTERPRISE_TOKEN=old)
  run "exec traced" git-credential-kelos exec show
  reset_case; token_state plain; CASE_CWD="$ROOT/stand"
  run "exec ./show from its directory" git-credential-kelos exec ./show x
  for args in "" "--set" "--set 9 show" "--host github.com show" "--format sh show"; do
    reset_case; token_state plain
    # shellcheck disable=SC2086
    run "exec $args" git-credential-kelos exec $args
  done
}

# ---------------------------------------------------------------- configure, unconfigure, doctor
reset_configs() {
  rm -rf "${ROOT:?}/home" "$ROOT/cfg" "$ROOT/repo" "$ROOT/etc/gitconfig"
  mkdir -p "$ROOT/home" "$ROOT/cfg" "$ROOT/repo"
  (cd "$ROOT/repo" && GIT_CONFIG_SYSTEM=/dev/null GIT_CONFIG_GLOBAL=/dev/null "$GIT" init -q . && rm -rf .git/hooks .git/description .git/info)
}

setup_cases() {
  local scope seq args
  reset_configs
  for scope in "--global" "--file $ROOT/cfg/kelos.conf" "--system" "--local" ""; do
    for args in "" "--host ghe.example.com --host acme.ghe.com" "--exclusive" "--helper /opt/kelos/git-credential-kelos" "--exclusive --host localhost:3000"; do
      reset_case; CASE_CWD="$ROOT/repo"
      CASE_SHOW=("$ROOT/home/.gitconfig" "$ROOT/cfg/kelos.conf" "$ROOT/etc/gitconfig" "$ROOT/repo/.git/config")
      for seq in configure configure unconfigure unconfigure; do
        # shellcheck disable=SC2086
        run "$seq $scope $args" git-credential-kelos $seq $scope $args
      done
      reset_configs
    done
  done
  # Hand-written configs: other helpers kept, a controller helper, a broken file.
  reset_case; CASE_CWD="$ROOT/repo"; CASE_SHOW=("$ROOT/repo/.git/config")
  cat >>"$ROOT/repo/.git/config" <<'EOF'
[credential]
	helper = "!f() { cat /kelos/github-token/GITHUB_TOKEN 2>/dev/null | sed 's/^/password=/' || echo password=$GITHUB_TOKEN; }; f"
	username = x-access-token
[credential "https://github.com"]
	helper = store
EOF
  for seq in "configure --local" "configure --exclusive --local" "unconfigure --local" "unconfigure --exclusive --local"; do
    # shellcheck disable=SC2086
    run "$seq over the controller's helper" git-credential-kelos $seq
  done
  reset_configs
  printf '[credential\n\thelper = broken\n' >"$ROOT/home/.gitconfig"
  reset_case; CASE_SHOW=("$ROOT/home/.gitconfig")
  run "configure over a broken global config" git-credential-kelos configure --global
  run "unconfigure over a broken global config" git-credential-kelos unconfigure --global
  reset_configs
  reset_case; CASE_SHOW=("$ROOT/cfg/kelos.conf")
  for args in "--file" "--file --system" "--global --system" "--helper relative/path" "--file $ROOT/cfg/missing-dir/x.conf" "--host" "--host bad_host!" "--exclusiv"; do
    # shellcheck disable=SC2086
    run "configure $args" git-credential-kelos configure $args
  done
  reset_configs
}

doctor_cases() {
  local layout fmt st
  for layout in empty configured configured-exclusive controller-leak broken include wrapper-in-path; do
    for st in plain-exp-future kubelet-exp plain-exp-past missing; do
      for fmt in "" --json; do
        reset_configs; reset_case; CASE_CWD="$ROOT/repo"; token_state "$st"
        local path="${BASE_ENV[1]#PATH=}"
        case $layout in
          configured) env -i "${BASE_ENV[@]}" git-credential-kelos configure --global >/dev/null 2>&1 || true ;;
          configured-exclusive) env -i "${BASE_ENV[@]}" git-credential-kelos configure --global --exclusive >/dev/null 2>&1 || true ;;
          controller-leak)
            env -i "${BASE_ENV[@]}" git-credential-kelos configure --global >/dev/null 2>&1 || true
            printf '[credential]\n\thelper = "!f() { echo username=x-access-token; echo password=ghs_FAKEleakedTOKEN00000000000000000; }; f"\n' >>"$ROOT/repo/.git/config" ;;
          broken) printf '[credential\n' >"$ROOT/home/.gitconfig" ;;
          include)
            printf '[include]\n\tpath = %s\n' "$ROOT/cfg/kelos.conf" >"$ROOT/home/.gitconfig"
            env -i "${BASE_ENV[@]}" git-credential-kelos configure --file "$ROOT/cfg/kelos.conf" >/dev/null 2>&1 || true ;;
          wrapper-in-path)
            env -i "${BASE_ENV[@]}" git-credential-kelos configure --global >/dev/null 2>&1 || true
            mkdir -p "$ROOT/ghwrap"; cp "$ROOT/bin/kelos-gh" "$ROOT/ghwrap/gh"
            path="$ROOT/ghwrap:$path" ;;
        esac
        CASE_ENV+=("PATH=$path")
        run "doctor${fmt:+ $fmt}, $layout, $st" git-credential-kelos doctor $fmt
      done
    done
  done
  for args in "--no-token-ok" "--host ghe.example.com --host acme.ghe.com" "--host bad_host!" "--json --no-token-ok"; do
    reset_configs; reset_case; token_state unset
    # shellcheck disable=SC2086
    run "doctor $args" git-credential-kelos doctor $args
  done
  for v in "bad host" "https://ghe.example.com/" ""; do
    for fmt in "" --json; do
      reset_configs; reset_case; token_state plain; CASE_ENV+=("GH_HOST=$v")
      run "doctor $fmt with GH_HOST '$v'" git-credential-kelos doctor $fmt
    done
  done
  reset_configs; reset_case; token_state plain; CASE_ENV+=(GH_TOKEN=gho_FAKEfallbackGH_TOKEN00000000000000); CASE_TRACE="file"
  run "doctor traced" git-credential-kelos doctor
  reset_configs
}

# ---------------------------------------------------------------- kelos-gh
gh_cases() {
  local host st pre
  for host in unset github.com acme.ghe.com ghe.example.com localhost:3000 "bad host"; do
    for st in plain empty missing kubelet; do
      for pre in none all; do
        reset_case; token_state "$st"; CASE_ENV+=("KELOS_GH_PATH=$ROOT/stand/fake-gh")
        [ "$host" = unset ] || CASE_ENV+=("GH_HOST=$host")
        [ "$pre" = none ] || CASE_ENV+=(GH_TOKEN=old1 GITHUB_TOKEN=old2 GH_ENTERPRISE_TOKEN=old3 GITHUB_ENTERPRISE_TOKEN=old4)
        run "kelos-gh, GH_HOST $host, $st, variables $pre" kelos-gh api user --jq .login
      done
    done
  done
  local args
  for args in "--version" "--help" "auth status" "" "$(printf 'non\xffutf8')"; do
    reset_case; token_state plain; CASE_ENV+=("KELOS_GH_PATH=$ROOT/stand/fake-gh")
    # shellcheck disable=SC2086
    run "kelos-gh $args" kelos-gh $args
  done
  local p
  for p in "$ROOT/stand/missing" "$ROOT/stand/not-executable" "$ROOT/stand" relative/gh ""; do
    reset_case; token_state plain; CASE_ENV+=("KELOS_GH_PATH=$p")
    run "kelos-gh, KELOS_GH_PATH '$p'" kelos-gh version
  done
  # The PATH walk: kelos-gh as gh ahead of a stand-in gh, repeated entries, none.
  rm -rf "$ROOT/w1" "$ROOT/w2"; mkdir -p "$ROOT/w1" "$ROOT/w2"
  cp "$ROOT/bin/kelos-gh" "$ROOT/w1/gh"; cp "$ROOT/stand/fake-gh" "$ROOT/w2/gh"
  for p in "$ROOT/w1:$ROOT/w2" "$ROOT/w1:$ROOT/w1:$ROOT/w2:$ROOT/w1" "$ROOT/w2:$ROOT/w1" "$ROOT/w1" ":rel:$ROOT/w1:$ROOT/w2" "$ROOT/w1:/bin"; do
    reset_case; token_state plain; CASE_ENV+=("PATH=$p")
    run "gh through PATH '$p'" "$ROOT/w1/gh" pr list
  done
}

# ---------------------------------------------------------------- help, version, misc
help_cases() {
  local c
  reset_case
  run "help" git-credential-kelos --help
  run "-h" git-credential-kelos -h
  run "version" git-credential-kelos --version
  run "no arguments" git-credential-kelos
  for c in get store erase capability configure unconfigure doctor token env exec install help; do
    run "$c --help" git-credential-kelos "$c" --help
    run "help $c" git-credential-kelos help "$c"
  done
  for c in tokn doctr confgure "" --bogus "--host"; do
    run "unknown '$c'" git-credential-kelos "$c"
  done
  reset_case; CASE_IN="$ROOT/in"; printf '\n' >"$CASE_IN"
  run "capability" git-credential-kelos capability
  reset_case; rm -rf "$ROOT/inst"
  CASE_SHOW=()
  run "install" git-credential-kelos install "$ROOT/inst/sub"
  {
    echo "installed files (name, mode, the same bytes as BIN_DIR's):"
    (cd "$ROOT/inst/sub" && for f in *; do
      printf '  %s %s %s\n' "$f" "$(stat -c %a "$f")" "$(cmp -s "$f" "$ROOT/bin/$f" 2>/dev/null && echo same || echo -)"
    done) || echo "  (no directory)"
    echo "file kelos-env.sh:"; show_bytes "$ROOT/inst/sub/kelos-env.sh"; echo
  } | normalize >>"$OUT"
  run "install again" git-credential-kelos install "$ROOT/inst/sub"
  run "install, no DIR" git-credential-kelos install
}

help_cases
request_cases
consumer_cases
setup_cases
doctor_cases
gh_cases
echo "$N cases, $(wc -l <"$OUT") lines: $OUT" >&2
