# ckdump of a process it may not trace fails with one line saying why and a non-zero exit (5),
# and leaves the process exactly as it was: another user's (cktest against root's process), a
# process that made itself non-dumpable, a process already traced (by strace). Yama's
# ptrace_scope, where the kernel has it, gives the same clean failure (checked if present).
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup
snapshot() {
  local pid=$1 t
  cat /proc/$pid/maps
  ls -l /proc/$pid/fd | awk 'NR > 1 {print $9, $10, $11}'
  grep -E '^(ShdPnd|SigIgn|SigCgt|SigBlk|SigPnd|TracerPid):' /proc/$pid/status
}
# untouched PID OUT WHAT: same state as before, still ticking, not traced.
untouched() {
  local at
  [ "$(snapshot "$1")" = "$2" ] || { diff <(echo "$2") <(snapshot "$1") >&2; fail "$3: the target changed"; }
  [ "$(awk '{print $3}' /proc/$1/stat)" != T ] || fail "$3: the target was left stopped"  # (t: strace's own stops)
  at=$(last_tick "$4")
  wait_line "$4" "^tick $((at + 2))\$" 10
  ticks_consecutive "$4"
}

# Root's process, cktest's ckdump.
start_target root.txt "$PROGS/memhog" 8 smooth
wait_line root.txt '^tick 3$'
rootpid=$TARGET
before=$(snapshot "$rootpid")
expect_fail 5 "cannot trace pid $rootpid: it belongs to another user \\(uid 0\\)" as_user "$CKDUMP" -t "$rootpid" -D "$WORK/d1"
untouched "$rootpid" "$before" "another user's process" root.txt
[ ! -e d1 ] && [ ! -e d1.d ] || fail "a refused dump left something at its directory"

# cktest's own process that made itself non-dumpable (as programs handling secrets do).
touch nd.txt && chown "$CK_UID:$CK_GID" nd.txt
start_target nd.txt "${AS_USER[@]}" /usr/bin/python3 -u -c 'import ctypes, time
ctypes.CDLL(None).prctl(4, 0)  # PR_SET_DUMPABLE
n = 0
while True:
    n += 1; print("tick", n); time.sleep(0.1)'
wait_line nd.txt '^tick 3$'
before=$(snapshot "$TARGET")
expect_fail 5 "cannot trace pid $TARGET: it is not dumpable" as_user "$CKDUMP" -t "$TARGET" -D "$WORK/d2"
untouched "$TARGET" "$before" "a non-dumpable process" nd.txt

# A process under strace: one tracer at a time.
strace -o /dev/null -p "$rootpid" 2>/dev/null &
tracer=$!
PIDS+=("$tracer")
for ((i = 0; i < 100; i++)); do grep -q "TracerPid:.$tracer\$" /proc/$rootpid/status && break; sleep 0.05; done
grep -q "TracerPid:.$tracer\$" /proc/$rootpid/status || fail "strace did not attach"
before=$(snapshot "$rootpid")
expect_fail 5 "cannot trace pid $rootpid: it is already traced by pid $tracer" "$CKDUMP" -t "$rootpid" -D "$WORK/d3"
untouched "$rootpid" "$before" "a traced process" root.txt
kill "$tracer"
wait "$tracer" 2>/dev/null || true

if [ -r /proc/sys/kernel/yama/ptrace_scope ]; then
  old=$(cat /proc/sys/kernel/yama/ptrace_scope)
  [ "$old" != 0 ] || echo 1 >/proc/sys/kernel/yama/ptrace_scope
  trap 'echo "$old" >/proc/sys/kernel/yama/ptrace_scope; cleanup' EXIT
  start_target y.txt "${AS_USER[@]}" "$PROGS/memhog" 8 smooth
  wait_line y.txt '^tick 3$'
  before=$(snapshot "$TARGET")
  expect_fail 5 "cannot trace pid $TARGET: kernel.yama.ptrace_scope" as_user "$CKDUMP" -t "$TARGET" -D "$WORK/d4"
  untouched "$TARGET" "$before" "yama" y.txt
else
  log "no Yama in this kernel: ptrace_scope not tested"
fi
