# AVX registers and the MXCSR rounding mode of a computation in flight.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/fpustate"
wait_line out.txt '^fpu ok round 3 '
for i in 1 2 3; do
  "$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
  wait_gone "$TARGET"
  r=$(grep -c '^fpu ok' out.txt)
  restore_detached ckpt
  TARGET=$RESTORED
  wait_line out.txt "^fpu ok round $((r + 2)) " 30
done
! grep -q MISMATCH out.txt || fail "vector register state lost: $(grep MISMATCH out.txt | head -1)"
log "$(grep -c '^fpu ok' out.txt) rounds exact across 3 restores"
