# Kinds ck refuses by name at dump time, each with the program left running without a gap:
# a seccomp filter, a file lease.
. "$(dirname "$0")/lib.sh"
cd "$WORK"

# expect_refused REGEX: the dump of $TARGET fails with exit 4 and REGEX, and the program goes on.
expect_refused() {
  expect_fail 4 "$1" "$CKDUMP" -t "$TARGET" -D ckpt
  [ ! -e ckpt ] || fail "a failed dump left $WORK/ckpt"
  local at
  at=$(last_tick out.txt)
  wait_line out.txt "^tick $((at + 3))\$"
  ticks_consecutive out.txt
  grep -q TracerPid:.0 /proc/$TARGET/status || fail "the program is still traced"
  kill -9 "$TARGET"
  wait_gone "$TARGET"
}

start_target out.txt "$PROGS/seccomped"
wait_line out.txt '^tick 3$'
expect_refused "pid $TARGET runs under a seccomp filter: not supported"

: >out.txt
start_target out.txt python3 -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "w")
fcntl.fcntl(f, fcntl.F_SETLEASE, fcntl.F_WRLCK)
for i in range(1, 100000):
    print("tick", i, flush=True)
    time.sleep(0.1)
' "$WORK/leased"
wait_line out.txt '^tick 3$'
expect_refused "fd 3 \\($WORK/leased\\): holds a file lease \\(fcntl F_SETLEASE\\): not supported"
