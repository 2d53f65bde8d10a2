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
# (the variables then keep the values they have). Under set -x the token is not
# traced. One helper run per shell: bash -lc reads it twice (/etc/profile, then
# BASH_ENV) and runs the helper once.
if [ "${KELOS_ENV_SH_DONE-}" != "$$" ] && command -v git-credential-kelos >/dev/null 2>&1; then
  KELOS_ENV_SH_DONE=$$
  case $- in
    *x*) kelos_env_sh_x=1; set +x ;;
    *) kelos_env_sh_x= ;;
  esac
  # `command eval`: an assignment that fails (a readonly variable) must not end
  # a POSIX shell, as a failing special built-in otherwise would.
  kelos_env_sh_out=$(git-credential-kelos env 2>/dev/null) &&
    command eval "$kelos_env_sh_out" 2>/dev/null || :
  unset kelos_env_sh_out
  [ -z "$kelos_env_sh_x" ] || set -x
  unset kelos_env_sh_x
fi
