# Shared helpers of the end-to-end tests: start real programs, wait for their output,
# checkpoint and restore them with the built ck commands.
# Environment (set by meson): CKDUMP CKRESTORE CKIMAGE PROGS SRCDIR
set -euo pipefail

WORK=$(mktemp -d /tmp/ck-e2e.XXXXXX)
chmod 755 "$WORK"
PIDS=()

cleanup() {
  local p pid c
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  # Whatever else still runs in the test's directory (a restored tree whose ckrestore the test
  # killed, say) would outlive the test: not this shell.
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    c=$(readlink "$p/cwd" 2>/dev/null) || continue
    if [ "$c" = "$WORK" ] || [ "${c#"$WORK"/}" != "$c" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

log() { echo "--- $*" >&2; }

# start_target OUTFILE CMD ARGS...: starts CMD with stdout+stderr to OUTFILE and every other fd
# closed (the test harness's own fds would otherwise be inherited), sets TARGET.
start_target() {
  local out=$1
  shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
    done
    exec "$@" >"$out" 2>&1 </dev/null
  ) &
  TARGET=$!
  PIDS+=("$TARGET")
}

# wait_line FILE REGEX [SECONDS]: waits until a line of FILE matches.
wait_line() {
  local file=$1 re=$2 t=${3:-30} i
  for ((i = 0; i < t * 20; i++)); do
    grep -qE -- "$re" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "--- $file:" >&2
  tail -20 "$file" >&2 || true
  fail "timed out waiting for /$re/ in $file"
}

# count_lines FILE REGEX
count_lines() { grep -cE -- "$1" "$2" 2>/dev/null || true; }

alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' /proc/$1/stat 2>/dev/null)" != Z ]; }

# wait_gone PID: until the PID is free (the test shell reaps its children).
wait_gone() {
  local i
  for ((i = 0; i < 200; i++)); do
    alive "$1" || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.05
  done
  fail "pid $1 still alive"
}

# restore_detached DIR: ckrestore -d; sets RESTORED.
restore_detached() {
  RESTORED=$("$CKRESTORE" -D "$1" -d "${@:2}") || fail "ckrestore -D $1 failed"
  PIDS+=("$RESTORED")
}

# expect_fail CODE REGEX CMD...: CMD must exit with CODE and say something matching REGEX on stderr.
expect_fail() {
  local code=$1 re=$2 rc=0
  shift 2
  "$@" 2>"$WORK/err" >/dev/null || rc=$?
  [ "$rc" = "$code" ] || { cat "$WORK/err" >&2; fail "'$*' exited $rc, expected $code"; }
  grep -qE -- "$re" "$WORK/err" || { cat "$WORK/err" >&2; fail "'$*': message does not match /$re/"; }
  [ "$(wc -l <"$WORK/err")" = 1 ] || { cat "$WORK/err" >&2; fail "'$*': error is not one line"; }
  log "as expected: $(cat "$WORK/err")"
}

# last_tick FILE: the last "tick N" number in FILE.
last_tick() { grep -E '^tick [0-9]+$' "$1" | tail -1 | awk '{print $2}'; }

# ticks_consecutive FILE: every "tick N" line follows N-1 (nothing lost, nothing repeated).
ticks_consecutive() {
  awk '/^tick [0-9]+$/ { if (prev != "" && $2 != prev + 1) { print "gap after " prev ": " $2; bad = 1 } prev = $2 }
       END { exit bad }' "$1" || fail "ticks in $1 are not consecutive"
}

# The unprivileged user the normal-user tests run as (tools/test.sh creates it).
CK_USER=${CK_TEST_USER:-cktest}
user_setup() {
  id "$CK_USER" >/dev/null 2>&1 || useradd -M -s /bin/sh "$CK_USER"
  CK_UID=$(id -u "$CK_USER")
  CK_GID=$(id -g "$CK_USER")
  chown "$CK_UID:$CK_GID" "$WORK"
  touch "$WORK/out.txt" && chown "$CK_UID:$CK_GID" "$WORK/out.txt"
  AS_USER=(setpriv --reuid="$CK_UID" --regid="$CK_GID" --clear-groups --inh-caps=-all --bounding-set=-all --)
}
# as_user CMD...: runs CMD as that user with no capabilities at all ("${AS_USER[@]}" CMD & when
# the PID of CMD itself is needed: a function in the background is a subshell).
as_user() { "${AS_USER[@]}" "$@"; }
# inner_pid PID: the PID a process has in its own (innermost) PID namespace.
inner_pid() { awk '/^NSpid:/ {print $NF}' /proc/$1/status; }
# child_of PID: its (first) child.
child_of() { cat /proc/$1/task/$1/children | awk '{print $1}'; }
