# A Python multiprocessing.Pool(4) in the middle of a map (4 worker processes, their pipes and
# the pool's semaphores in unlinked /dev/shm files), checkpointed and restored: the map finishes
# with the right result, no task lost or done twice.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt python3 "$SRCDIR/tests/progs/mpool.py" 4
wait_line out.txt '^mp ready$' 30
sleep 1.5
workers=$(cat /proc/$TARGET/task/*/children | wc -w)
[ "$workers" -ge 4 ] || fail "expected 4 pool workers, found $workers"
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
grep -q '^mp total' out.txt && fail "the map finished before the checkpoint"
n=$("$CKIMAGE" show ckpt | grep -c '"pid":')
[ "$n" -ge 5 ] || fail "only $n processes in the image"
"$CKRESTORE" -D ckpt 2>restore.log || { cat restore.log; fail "ckrestore failed"; }
grep -q '^mp total 2646700 ok threads \[0, 1, 2\]$' out.txt || fail "wrong result: $(cat out.txt)"
