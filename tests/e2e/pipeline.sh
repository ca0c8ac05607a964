# bash running `seq | while read`: a shell, its two children and data queued in the pipe
# between them; the sum at the end proves no line was lost or repeated.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt bash "$SRCDIR/tests/progs/pipeline.sh"
wait_line out.txt '^progress 40000$' 60
"$CKDUMP" -t "$TARGET" -D ckpt -v 2>dump.log || { cat dump.log; fail "ckdump failed"; }
grep -c 'pid .*: .* thread' dump.log | grep -q '^3$' || { cat dump.log; fail "expected 3 processes in the tree"; }
wait_gone "$TARGET"
grep -q '^pipeline done' out.txt && fail "finished before the checkpoint"
restore_detached ckpt
wait_line out.txt '^pipeline done$' 120
grep -q '^pipeline sum 45000150000$' out.txt || fail "wrong sum: $(grep sum out.txt)"
