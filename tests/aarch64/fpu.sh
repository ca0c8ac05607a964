# FP/SIMD and SVE registers of a computation in flight (fpustate = tests/aarch64/fpsimd.cpp):
# accumulators in V and Z registers, a predicate, a non-default SVE vector length, the FPCR
# rounding mode, and signed return addresses (pointer authentication) across 3 restores.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/fpustate"
wait_line out.txt '^fpu ok round 3 '
vl=$(awk '/^fpu ready/ {print $4}' out.txt)
log "SVE vector length $vl bytes (0: no SVE)"
for i in 1 2 3; do
  dump ckpt "$TARGET"
  wait_gone "$TARGET"
  r=$(grep -c '^fpu ok' out.txt)
  restore_detached ckpt
  TARGET=$RESTORED
  wait_line out.txt "^fpu ok round $((r + 2)) " 60
done
! grep -q MISMATCH out.txt || fail "register state lost: $(grep MISMATCH out.txt | head -1)"
[ "$(grep '^fpu ok' out.txt | tail -1 | awk '{print $6}')" = "$vl" ] || fail "vector length changed"
alive "$TARGET" || fail "the program died (lost pointer-authentication keys?)"
log "$(grep -c '^fpu ok' out.txt) rounds exact across 3 restores"
