# Threads and a process tree under ckrun, as a normal user: the bash pipeline and the
# 8-thread program, each dumped and restored without privileges.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- bash "$SRCDIR/tests/progs/pipeline.sh"
wait_line out.txt '^progress 40000$' 60
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
as_user "$CKRESTORE" -D "$WORK/ckpt" 2>restore.log || { cat restore.log; fail "ckrestore (waiting for the pipeline) failed"; }
grep -q '^pipeline sum 45000150000$' out.txt || fail "wrong sum: $(grep sum out.txt)"

: >out.txt
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/threads"
wait_line out.txt '^tick 3$'
prog=$(child_of "$(child_of "$TARGET")")
as_user "$CKDUMP" -t "$prog" -D "$WORK/ckpt2" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
as_user "$CKRESTORE" -D "$WORK/ckpt2" -d >pid.txt 2>restore.log || { cat restore.log; fail "ckrestore failed"; }
PIDS+=("$(cat pid.txt)")
rprog=$(child_of "$(cat pid.txt)")
[ "$(ls /proc/$rprog/task | wc -l)" = 9 ] || fail "expected 9 threads"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
kill -USR1 "$rprog"
wait_line out.txt '^counts .* consistent=1$'
