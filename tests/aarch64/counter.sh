# A counter checkpointed and restored three times in a row (each time the restored process is
# checkpointed again): ticks continue without a gap, memory is unchanged, and the last
# ckrestore (without -d) returns the program's exit status.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 8 smooth
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
pid=$TARGET
for round in 1 2 3; do
  at=$(last_tick out.txt)
  dump ckpt "$pid"
  wait_gone "$pid"
  if [ "$round" -lt 3 ]; then
    restore_detached ckpt
    [ "$RESTORED" = "$pid" ] || fail "restored as pid $RESTORED, not $pid"
  else
    "$CKRESTORE" -D ckpt 2>restore.log &
    CKR=$!
    PIDS="$PIDS $CKR"
  fi
  wait_line out.txt "^tick $((at + 3))\$"
  log "round $round: ticks go on after $at"
done
kill -USR1 "$pid"
wait_line out.txt '^sum '
[ "$(awk '/^sum/ {print $2}' out.txt | tail -1)" = "$sum" ] || fail "memory checksum changed"
ticks_consecutive out.txt
kill -TERM "$pid"
rc=0
wait "$CKR" || rc=$?
[ "$rc" = 7 ] || { cat restore.log >&2; fail "ckrestore returned $rc, the program's status is 7"; }
log "3 checkpoints, $(last_tick out.txt) ticks, checksum $sum kept, exit status passed through"
