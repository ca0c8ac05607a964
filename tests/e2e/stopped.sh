# A stopped job (SIGSTOP) can be checkpointed: it stays stopped after ckdump -R, after a failed
# and after a killed ckdump, and comes back stopped from ckrestore; SIGCONT then lets it go on
# with its counter continuing and the same memory checksum.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 32 random
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
state() { awk '{print $3}' /proc/$1/stat; }
# still_stopped PID WHAT: stopped (T, not traced), no tick printed for half a second.
still_stopped() {
  local at
  sleep 0.2
  [ "$(state "$1")" = T ] || fail "$2: state $(state "$1"), not T (stopped)"
  grep -q 'TracerPid:.0$' /proc/$1/status || fail "$2: still traced"
  at=$(last_tick out.txt)
  sleep 0.5
  [ "$(last_tick out.txt)" = "$at" ] || fail "$2: it ran while it should be stopped"
}
kill -STOP "$TARGET"
for ((i = 0; i < 100; i++)); do [ "$(state "$TARGET")" = T ] && break; sleep 0.05; done
"$CKDUMP" -t "$TARGET" -D ckpt -R 2>dump.log || { cat dump.log; fail "ckdump -R of a stopped process failed"; }
still_stopped "$TARGET" "after ckdump -R"
rc=0
CK_FAULT=error@commit "$CKDUMP" -t "$TARGET" -D ckpt -R 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "the injected failure did not fail the dump (exit $rc)"
still_stopped "$TARGET" "after a failed ckdump"
rc=0
CK_FAULT=injected "$CKDUMP" -t "$TARGET" -D ckpt -R 2>/dev/null || rc=$?
[ "$rc" = 137 ] || fail "the fault point did not fire (exit $rc)"
still_stopped "$TARGET" "after a ckdump killed inside injected syscalls"
log "stopped target: still stopped after ckdump -R, a failed and a killed ckdump"

"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump of a stopped process failed"; }
wait_gone "$TARGET"
restore_detached ckpt
still_stopped "$RESTORED" "after ckrestore"
at=$(last_tick out.txt)
kill -CONT "$RESTORED"
wait_line out.txt "^tick $((at + 3))\$" 10
ticks_consecutive out.txt
kill -USR1 "$RESTORED"
wait_line out.txt '^sum ' 10
[ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "memory differs after the restore"
grep -q 'ShdPnd:.0000000000000000' /proc/$RESTORED/status || fail "a signal is left pending after SIGCONT"
log "restored stopped; after SIGCONT the counter continues from tick $at with the same memory"

# A SIGSTOP that arrives while ckdump works (seizing, injecting, writing) is never lost: each
# dump succeeds and the job ends up stopped; SIGCONT lets it go on.
TARGET=$RESTORED
for ((r = 0; r < 12; r++)); do
  "$CKDUMP" -t "$TARGET" -D ckpt -R 2>race.log &
  d=$!
  sleep "0.00$((r % 10))"
  kill -STOP "$TARGET"
  rc=0
  wait "$d" || rc=$?
  [ "$rc" = 0 ] || { cat race.log; fail "run $r: ckdump failed with a SIGSTOP arriving"; }
  for ((i = 0; i < 40; i++)); do [ "$(state "$TARGET")" = T ] && break; sleep 0.05; done
  still_stopped "$TARGET" "run $r: SIGSTOP during ckdump"
  at=$(last_tick out.txt)
  kill -CONT "$TARGET"
  wait_line out.txt "^tick $((at + 1))\$" 10
done
ticks_consecutive out.txt
log "12 SIGSTOPs during ckdump -R: never lost, the dumps succeeded"
