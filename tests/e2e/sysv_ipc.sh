# SysV IPC of a tree under ckrun (its own IPC namespace), as a normal user: segments (one
# keyed, one already removed while attached), a semaphore set and a message queue come back
# with their ids, keys, modes, content, values and queued messages; the segments stay shared
# between the parent and its child. The program checks all of it itself.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/sysvipc"
wait_line out.txt '^tick 3$'
grep -q '^sysv ready shm 1 2 sem 1 msg 1$' out.txt || fail "unexpected ids: $(head -1 out.txt)"
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
"$CKIMAGE" show ckpt >show.json; grep -q '"sysv_ipc"' show.json || fail "no SysV objects in the image"
"${AS_USER[@]}" "$CKRESTORE" -D "$WORK/ckpt" 2>restore.log &
CKR=$!
PIDS+=("$CKR")
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$" 30
kill -USR1 "$CKR"
wait_line out.txt '^sysv (ok|FAIL)' 30
grep -q '^sysv ok$' out.txt || { cat restore.log >&2; fail "$(grep FAIL out.txt)"; }
