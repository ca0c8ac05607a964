# Threads and process trees under ckrun, as a normal user with no capabilities: the bash
# pipeline, the 8-thread program, the zombie/session tree and OpenMP, dumped and restored.
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

# The zombie/session/group tree and the OpenMP region, the same way.
: >out.txt
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/tree"
wait_line out.txt '^worker 0 got queued'
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt3" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
as_user "$CKRESTORE" -D "$WORK/ckpt3" -d >pid.txt 2>restore.log || { cat restore.log; fail "ckrestore failed"; }
PIDS+=("$(cat pid.txt)")
rtree=$(child_of "$(cat pid.txt)")
kill -USR1 "$rtree"
wait_line out.txt '^worker 1 got ping pgid-ok=1$'
grep -q '^zombie reaped status 3$' out.txt || fail "zombie status lost under ckrun"
grep -q '^session ok$' out.txt || fail "session/group lost under ckrun"
kill -9 "$(cat pid.txt)"

: >out.txt
export OMP_NUM_THREADS=4
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/omp" 4000000000
wait_line out.txt '^omp ready threads=4$'
sleep 1
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt4" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
as_user "$CKRESTORE" -D "$WORK/ckpt4" 2>restore.log || { cat restore.log; fail "ckrestore failed"; }
grep -q '^omp sum .* ok$' out.txt || fail "OpenMP result wrong under ckrun: $(cat out.txt)"
