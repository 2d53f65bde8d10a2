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
