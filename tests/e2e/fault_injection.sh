# ckdump killed at any moment — inside the target's injected syscalls (CK_FAULT=injected) and
# by SIGKILL after random delays — never hurts the target (it runs on, untraced, not stopped,
# output continuous, memory checksum unchanged) nor the last good checkpoint (still verifies
# and restores). The first kills land 1-8 ms into a dump, while syscalls are injected into the
# target; the others at random up to 300 ms. CK_LONG=1: 200 kills instead of 12.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
runs=${CK_LONG:+200}
runs=${runs:-12}
start_target out.txt "$PROGS/memhog" 128 random
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
"$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>dump.log || { cat dump.log; fail "first ckdump failed"; }
good=$(readlink ckpt)
maps_before=$(wc -l </proc/$TARGET/maps)

target_intact() {
  local what=$1 at n
  alive "$TARGET" || fail "$what: the target died"
  grep -q 'TracerPid:.0$' /proc/$TARGET/status || fail "$what: the target is still traced"
  [ "$(awk '{print $3}' /proc/$TARGET/stat)" != T ] || fail "$what: the target was left stopped"
  at=$(last_tick out.txt)
  wait_line out.txt "^tick $((at + 2))\$" 10
  n=$(grep -c '^sum' out.txt || true)
  kill -USR1 "$TARGET"
  for ((i = 0; i < 100; i++)); do [ "$(grep -c '^sum' out.txt || true)" -gt "$n" ] && break; sleep 0.05; done
  [ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "$what: the target's memory changed"
  ticks_consecutive out.txt
  [ "$(readlink ckpt)" = "$good" ] || fail "$what: the last good checkpoint was replaced by an incomplete one"
  "$CKIMAGE" verify ckpt >/dev/null || fail "$what: the last good checkpoint no longer verifies"
}

rc=0
CK_FAULT=injected "$CKDUMP" -t "$TARGET" -D ckpt -R 2>/dev/null || rc=$?
[ "$rc" = 137 ] || fail "the fault point did not fire (exit $rc)"
target_intact "killed inside injected syscalls"
leftover=$(( $(wc -l </proc/$TARGET/maps) - maps_before ))
log "killed inside injected syscalls: target intact ($leftover leftover mapping: the safety net's page)"

lost=0
for ((r = 0; r < runs; r++)); do
  delay=$(awk -v r=$r -v s=$RANDOM 'BEGIN { srand(s); split("0.001 0.002 0.003 0.004 0.006 0.008", early);
    printf "%.4f", (r < 6 ? early[r + 1] : rand() * 0.3) }')
  "$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>/dev/null &
  d=$!
  sleep "$delay"
  kill -9 "$d" 2>/dev/null || true
  wait "$d" 2>/dev/null || true
  if [ "$(readlink ckpt)" != "$good" ]; then
    # The dump finished before the kill: that is the new good checkpoint.
    "$CKIMAGE" verify ckpt >/dev/null || fail "run $r: a checkpoint that does not verify"
    good=$(readlink ckpt)
  fi
  target_intact "run $r (kill after ${delay}s)"
done
log "$runs random kills of ckdump: target intact every time, checkpoints lost: 0"
kill -9 "$TARGET"
wait_gone "$TARGET"
restore_detached ckpt
kill -USR1 "$RESTORED"
for ((i = 0; i < 100; i++)); do [ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] && [ "$(grep -c '^sum' out.txt)" -gt "$((runs + 1))" ] && break; sleep 0.05; done
[ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "the last good checkpoint does not restore the same memory"
