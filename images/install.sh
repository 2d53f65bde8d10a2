#!/bin/sh
# Installs the Kelos credential helpers into an agent image. Run as root, at
# image build time (POSIX sh: works in Debian, Ubuntu and Alpine images).
#
#   install.sh          the binaries are already in place: /usr/local/bin/git-credential-kelos
#                       and /usr/local/bin/gh (kelos-gh), as the two COPY lines put them (and
#                       /usr/local/bin/glab, kelos-glab, for GitLab workspaces)
#   install.sh DIR      first install DIR/git-credential-kelos and DIR/kelos-gh (e.g. a
#                       release's dist/<target>/) as those two files, and DIR/kelos-glab,
#                       when it is there, as /usr/local/bin/glab
#
# Then installs /etc/profile.d/kelos-env.sh (the shell snippet that refreshes
# the token variables in every login shell, and in every bash -c with
# BASH_ENV=/etc/profile.d/kelos-env.sh), writes the helper into the system git
# config (every user, every directory, for https://github.com and
# https://gist.github.com, or for $GH_HOST) and runs the helper's own check of
# the set-up. There is no token at
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
  # The glab wrapper is optional: an image without glab has no use for it.
  if [ -f "$src/kelos-glab" ]; then
    cp "$src/kelos-glab" "$BIN/.glab.tmp"
    chmod 0755 "$BIN/.glab.tmp"
    mv -f "$BIN/.glab.tmp" "$BIN/glab"
  fi
fi

for f in "$BIN/git-credential-kelos" "$BIN/gh"; do
  [ -f "$f" ] || { echo "install.sh: $f is missing: COPY it from the helpers image, or pass the directory holding the binaries" >&2; exit 1; }
  chmod 0755 "$f"
done
[ ! -f "$BIN/glab" ] || chmod 0755 "$BIN/glab"
command -v git >/dev/null || { echo "install.sh: git is not installed: install git before the helpers" >&2; exit 1; }

"$BIN/git-credential-kelos" --version

# images/kelos-env.sh, verbatim (a test keeps the two equal): this script is
# often all an image build has of the repository.
PROFILE_D=/etc/profile.d
mkdir -p "$PROFILE_D"
cat >"$PROFILE_D/.kelos-env.sh.tmp" <<'KELOS_ENV_SH'
# kelos-env.sh: refreshes the GitHub token variables that are already set
# (GITHUB_TOKEN, GH_TOKEN, GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN) from
# the token file Kelos keeps current (KELOS_GITHUB_TOKEN_FILE), so that the
# commands a long-running agent starts never see the token frozen at pod start.
#
# Installed as /etc/profile.d/kelos-env.sh (login shells: bash -l, sh -l) and
# named by BASH_ENV=/etc/profile.d/kelos-env.sh (every non-interactive bash:
# bash -c, bash scripts). POSIX sh (dash, bash, busybox sh).
#
# It prints nothing and never makes the shell fail: not under set -e or set -u,
# not without git-credential-kelos in PATH, not with a missing or bad token file
# (the variables then keep the values they have), not with a token variable
# readonly (it is skipped, the others refreshed). Under set -x the token is not
# traced. One helper run per shell: bash -lc reads it twice (/etc/profile, then
# BASH_ENV) and runs the helper once.
if [ "${KELOS_ENV_SH_DONE-}" != "$$" ] && command -v git-credential-kelos >/dev/null 2>&1; then
  KELOS_ENV_SH_DONE=$$
  case $- in
    *x*) kelos_env_sh_x=1; set +x ;;
    *) kelos_env_sh_x= ;;
  esac
  # One `export NAME='TOKEN'` line per variable, each assigned on its own and
  # only when a subshell could assign NAME: assigning a readonly variable ends
  # a POSIX shell (bash --posix even under `command eval`), and in dash and
  # busybox it would stop the lines after it. A readonly variable is skipped;
  # every other one is still refreshed.
  kelos_env_sh_out=$(git-credential-kelos env 2>/dev/null) || kelos_env_sh_out=
  kelos_env_sh_nl='
'
  while [ -n "$kelos_env_sh_out" ]; do
    kelos_env_sh_line=${kelos_env_sh_out%%"$kelos_env_sh_nl"*}
    kelos_env_sh_out=${kelos_env_sh_out#"$kelos_env_sh_line"}
    kelos_env_sh_out=${kelos_env_sh_out#"$kelos_env_sh_nl"}
    kelos_env_sh_name=${kelos_env_sh_line#export }
    kelos_env_sh_name=${kelos_env_sh_name%%=*}
    case $kelos_env_sh_name in
      '' | [0-9]* | *[!A-Za-z0-9_]*) ;;
      *) if (eval "$kelos_env_sh_name=") 2>/dev/null; then
           command eval "$kelos_env_sh_line" 2>/dev/null || :
         fi ;;
    esac
  done
  unset kelos_env_sh_out kelos_env_sh_nl kelos_env_sh_line kelos_env_sh_name
  [ -z "$kelos_env_sh_x" ] || set -x
  unset kelos_env_sh_x
fi
KELOS_ENV_SH
chmod 0644 "$PROFILE_D/.kelos-env.sh.tmp"
mv -f "$PROFILE_D/.kelos-env.sh.tmp" "$PROFILE_D/kelos-env.sh"
echo "installed $PROFILE_D/kelos-env.sh (login shells; set BASH_ENV=$PROFILE_D/kelos-env.sh for bash -c)"
"$BIN/git-credential-kelos" configure --system
# With the PATH the image has: gh there must be this wrapper, ahead of the real gh.
"$BIN/git-credential-kelos" doctor --no-token-ok
