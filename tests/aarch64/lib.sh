# Helpers of the arm64 end-to-end tests, for busybox sh: the VM of tools/aarch64-vm-test.sh has
# no bash and no libc, only busybox and static programs. The same ideas as tests/e2e/lib.sh.
# Environment (set by run.sh): CKDUMP CKRESTORE CKIMAGE PROGS
set -eu

WORK=$(mktemp -d /tmp/ck-a64.XXXXXX)
PIDS=""

cleanup() {
  for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  # What the test's processes were doing: state, signals, the syscall (or -1) and pc they are at.
  for _p in $PIDS; do
    [ -e "/proc/$_p/status" ] || continue
    echo "--- pid $_p: $(grep -E '^(Name|State|SigPnd|ShdPnd|SigBlk|SigCgt)' "/proc/$_p/status" | tr '\n\t' '  ')" \
      "syscall: $(cat "/proc/$_p/syscall" 2>/dev/null) wchan: $(cat "/proc/$_p/wchan" 2>/dev/null)" >&2
  done
  exit 1
}

log() { echo "--- $*" >&2; }

# start_target OUTFILE CMD ARGS...: CMD in the background, output to OUTFILE; sets TARGET.
start_target() {
  _out=$1
  shift
  "$@" >"$_out" 2>&1 </dev/null &
  TARGET=$!
  PIDS="$PIDS $TARGET"
}

# wait_line FILE REGEX [SECONDS]: until a line of FILE matches.
wait_line() {
  _file=$1 _re=$2 _t=${3:-60} _i=0
  while [ "$_i" -lt $((_t * 20)) ]; do
    grep -qE -- "$_re" "$_file" 2>/dev/null && return 0
    sleep 0.05
    _i=$((_i + 1))
  done
  echo "--- $_file:" >&2
  tail -20 "$_file" >&2 || true
  fail "timed out waiting for /$_re/ in $_file"
}

alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# wait_gone PID: until PID is free (a child of this shell is reaped; others are reaped by init).
wait_gone() {
  _i=0
  while [ "$_i" -lt 400 ]; do
    if ! alive "$1"; then
      wait "$1" 2>/dev/null || true
      [ -e "/proc/$1" ] || return 0
    fi
    sleep 0.05
    _i=$((_i + 1))
  done
  fail "pid $1 still there"
}

# restore_detached DIR [ARGS]: ckrestore -d; sets RESTORED.
restore_detached() {
  _dir=$1
  shift
  RESTORED=$("$CKRESTORE" -D "$_dir" -d "$@") || fail "ckrestore -D $_dir failed"
  PIDS="$PIDS $RESTORED"
}

# dump DIR PID [ARGS]: ckdump, its messages shown on failure.
dump() {
  _dir=$1 _pid=$2
  shift 2
  "$CKDUMP" -t "$_pid" -D "$_dir" "$@" 2>"$WORK/dump.log" || { cat "$WORK/dump.log" >&2; fail "ckdump -t $_pid failed"; }
}

# expect_fail CODE REGEX CMD...: CMD exits with CODE and says something matching REGEX, on one line.
expect_fail() {
  _code=$1 _re=$2 _rc=0
  shift 2
  "$@" 2>"$WORK/err" >/dev/null || _rc=$?
  [ "$_rc" = "$_code" ] || { cat "$WORK/err" >&2; fail "'$*' exited $_rc, expected $_code"; }
  grep -qE -- "$_re" "$WORK/err" || { cat "$WORK/err" >&2; fail "'$*': message does not match /$_re/"; }
  [ "$(wc -l <"$WORK/err")" = 1 ] || { cat "$WORK/err" >&2; fail "'$*': error is not one line"; }
  log "as expected: $(cat "$WORK/err")"
}

# last_tick FILE: the last "tick N" number in FILE.
last_tick() { grep -E '^tick [0-9]+$' "$1" | tail -1 | awk '{print $2}'; }

# ticks_consecutive FILE: every "tick N" follows N-1 (nothing lost, nothing repeated).
ticks_consecutive() {
  awk '/^tick [0-9]+$/ { if (prev != "" && $2 != prev + 1) { print "gap after " prev ": " $2; bad = 1 } prev = $2 }
       END { exit bad }' "$1" >&2 || fail "ticks in $1 are not consecutive"
}

# json_field JSON NAME: a number from ck's one-line --stats JSON.
json_field() { echo "$1" | sed -n "s/.*\"$2\": \\([0-9.]*\\).*/\\1/p"; }

# not_traced PID: TracerPid 0 and not stopped.
not_traced() {
  grep -q 'TracerPid:.0' "/proc/$1/status" || fail "pid $1 is still traced"
  [ "$(awk '{print $3}' "/proc/$1/stat")" != T ] || fail "pid $1 was left stopped"
}
