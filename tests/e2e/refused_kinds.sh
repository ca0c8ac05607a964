# Kinds ck refuses by name at dump time, each with the program left running without a gap:
# a seccomp filter (dumped by a normal user), a file lease, SysV objects outside a tree's own IPC namespace.
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

# A seccomp filter, dumped by a normal user (reading a filter needs CAP_SYS_ADMIN).
user_setup
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/seccomped"
wait_line out.txt '^tick 3$'
expect_fail 4 "tid [0-9]+ runs under a seccomp filter: reading it needs CAP_SYS_ADMIN \\(dump as root\\): not supported" \
  "${AS_USER[@]}" "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
ticks_consecutive out.txt
kill -9 "$(child_of "$TARGET")" "$TARGET"  # ckrun's init takes its namespace with it
wait_gone "$TARGET"

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

# A SysV segment of the machine's IPC namespace (the program is not under ckrun).
: >out.txt
start_target out.txt python3 -c '
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
seg = libc.shmget(0, 4096, 0o600)
libc.shmat(seg, None, 0)
libc.shmctl(seg, 0, None)  # IPC_RMID: gone with the process
for i in range(1, 100000):
    print("tick", i, flush=True)
    time.sleep(0.1)
'
wait_line out.txt '^tick 3$'
expect_refused "SysV shared memory segment [0-9]+ \\(/SYSV00000000\\): only the SysV IPC of a tree's own IPC namespace is supported \\(start the program under ckrun\\)"

# A SysV semaphore set and a message queue of the machine's IPC namespace that the program used.
for kind in sem msg; do
  : >out.txt
  start_target out.txt python3 -c '
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == "sem":
    ident = libc.semget(0, 1, 0o600)
    op = (ctypes.c_short * 3)(0, 1, 0)
    libc.semop(ident, op, 1)
else:
    ident = libc.msgget(0, 0o600)
    msg = ctypes.create_string_buffer(b"\x01\0\0\0\0\0\0\0hi", 10)
    libc.msgsnd(ident, msg, 2, 0)
print("id", ident, flush=True)
for i in range(1, 100000):
    print("tick", i, flush=True)
    time.sleep(0.1)
' "$kind"
  wait_line out.txt '^tick 3$'
  id=$(awk '/^id / {print $2}' out.txt)
  [ "$kind" = sem ] && name="SysV semaphore set $id" || name="SysV message queue $id"
  expect_refused "pid $TARGET uses $name: only the SysV IPC of a tree's own IPC namespace is supported"
  [ "$kind" = sem ] && ipcrm -s "$id" || ipcrm -q "$id"
done
