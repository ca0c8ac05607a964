# An OpenMP reduction checkpointed in the middle of its parallel region finishes with the
# right result.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
export OMP_NUM_THREADS=4
start_target out.txt "$PROGS/omp" 4000000000
wait_line out.txt '^omp ready threads=4$'
sleep 1
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
grep -q '^omp done' out.txt && fail "the loop finished before the checkpoint: make it longer"
[ "$(ls /proc 2>/dev/null | grep -c "^$TARGET\$")" = 0 ] || fail "the original still runs"
restore_detached ckpt
[ "$(ls /proc/$RESTORED/task | wc -l)" = 4 ] || fail "expected 4 threads, found $(ls /proc/$RESTORED/task | wc -l)"
wait_line out.txt '^omp done$' 120
grep '^omp sum' out.txt >&2
grep -q '^omp sum .* ok$' out.txt || fail "wrong result after restore"
