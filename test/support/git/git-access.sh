#!/usr/bin/env bash
# The test sshd's gitlab-shell: every deploy key's authorized_keys line runs
#   command="bash git-access.sh GRANTS_FILE"
# GRANTS_FILE lists what that key may reach, one "read|write /abs/path/to/repo.git" a line
# (rewritten by test/support/git/repos.ts as the key is enabled on projects). As GitLab does for
# a deploy key: fetch (git-upload-pack, git-upload-archive) from a granted repository; push
# (git-receive-pack) only where granted "write" (can_push); nothing else. Refusals say what
# gitlab-shell says, framed as it frames them, on stderr, and exit 1.
set -uo pipefail

refuse() {
  local rule="========================================================================"
  printf 'remote: \nremote: %s\nremote: \nremote: %s\nremote: \nremote: %s\nremote: \n' "$rule" "$1" "$rule" >&2
  exit 1
}

grants=${1:-}
cmd=${SSH_ORIGINAL_COMMAND-}

# `ssh host` with no command: gitlab-shell greets a deploy key as nobody in particular.
if [ -z "$cmd" ]; then
  echo "Welcome to GitLab, Anonymous!"
  exit 0
fi

# What git sends: `git-upload-pack '/path'` (older clients: `git upload-pack '/path'`). The path
# is taken only single-quoted without quotes inside, or bare with no shell characters, so
# nothing in it is ever interpreted.
re="^(git-upload-pack|git-receive-pack|git-upload-archive|git upload-pack|git receive-pack|git upload-archive) ('([^'\\\\]*)'|([A-Za-z0-9._/~-]+))$"
if ! [[ $cmd =~ $re ]]; then
  refuse "Disallowed command"
fi
verb=${BASH_REMATCH[1]/ /-}
repo=${BASH_REMATCH[3]:-${BASH_REMATCH[4]}}

# Exact paths only: no `..`, no symlinked detours, no guessing of a `.git` suffix.
access=""
if [ -n "$grants" ] && [ -r "$grants" ]; then
  while read -r mode path; do
    if [ "$path" = "$repo" ]; then access=$mode; fi
  done <"$grants"
fi

# GitLab does not say whether a project it will not show exists.
if [ "$access" != read ] && [ "$access" != write ]; then
  refuse "The project you were looking for could not be found or you don't have permission to view it."
fi

case $verb in
  git-upload-pack) exec git upload-pack --strict "$repo" ;;
  git-upload-archive) exec git upload-archive "$repo" ;;
  git-receive-pack)
    if [ "$access" != write ]; then refuse "This deploy key does not have write access to this project."; fi
    exec git receive-pack "$repo"
    ;;
esac
