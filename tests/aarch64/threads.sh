# 8 threads with their own counters and a shared mutex (tests/progs/threads.cpp): every counter
# continues after the restore, the mutex still protects the shared one, TIDs and thread names
# are kept. tests/e2e/threads.sh for busybox sh.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/threads"
wait_line out.txt '^tick 5$' 120
tids=$(ls /proc/$TARGET/task | sort | tr '\n' ' ')
names=$(cat /proc/$TARGET/task/*/comm | sort | tr '\n' ' ')
[ "$(echo $tids | wc -w)" = 9 ] || fail "expected the main thread and 8 workers, got: $tids"
dump ckpt "$TARGET"
wait_gone "$TARGET"
restore_detached ckpt
[ "$RESTORED" = "$TARGET" ] || fail "restored as pid $RESTORED, not $TARGET"
[ "$(ls /proc/$RESTORED/task | sort | tr '\n' ' ')" = "$tids" ] || fail "TIDs differ: $(ls /proc/$RESTORED/task | tr '\n' ' ') vs $tids"
[ "$(cat /proc/$RESTORED/task/*/comm | sort | tr '\n' ' ')" = "$names" ] || fail "thread names differ"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$" 60
kill -USR1 "$RESTORED"
wait_line out.txt '^counts ' 30
first=$(grep '^counts' out.txt | tail -1)
sleep 2
kill -USR1 "$RESTORED"
i=0
while [ "$(grep -c '^counts' out.txt)" -lt 2 ] && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
second=$(grep '^counts' out.txt | tail -1)
[ "$first" != "$second" ] || fail "no second counts line"
log "after restore: $first"
log "two seconds later: $second"
echo "$first" | grep -q 'consistent=1' && echo "$second" | grep -q 'consistent=1' || fail "the mutex no longer protects the shared counter"
# "counts c0 c1 ... c7 consistent=1": each worker's counter went on.
echo "$first $second" | awk '{ for (i = 2; i <= 9; i++) if ($(i + 12) <= $i) { print "thread " i - 2 " stopped counting (" $i " -> " $(i + 12) ")"; bad = 1 } }
                             END { exit bad }' >&2 || fail "a thread stopped counting"
ticks_consecutive out.txt
