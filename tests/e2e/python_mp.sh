# Python threads and a multiprocessing.Pool(2) mid-map, checkpointed and restored, finishing
# with the right result: as root, then as a normal user under ckrun.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt python3 "$SRCDIR/tests/progs/mpool.py"
wait_line out.txt '^mp ready$' 30
sleep 1
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
grep -q '^mp total' out.txt && fail "the map finished before the checkpoint"
"$CKRESTORE" -D ckpt 2>restore.log || { cat restore.log; fail "ckrestore failed"; }
grep -q '^mp total 2646700 ok threads \[0, 1, 2\]$' out.txt || fail "wrong result: $(cat out.txt)"

user_setup
: >out.txt
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- python3 "$SRCDIR/tests/progs/mpool.py"
wait_line out.txt '^mp ready$' 30
sleep 1
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt2" 2>dump.log || { cat dump.log; fail "ckdump as $CK_USER failed"; }
wait_gone "$TARGET"
as_user "$CKRESTORE" -D "$WORK/ckpt2" 2>restore.log || { cat restore.log; fail "ckrestore as $CK_USER failed"; }
grep -q '^mp total 2646700 ok threads \[0, 1, 2\]$' out.txt || fail "wrong result under ckrun: $(cat out.txt)"
