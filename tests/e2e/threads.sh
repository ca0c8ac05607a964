# 8 threads with their own counters and a shared mutex: every counter continues after the
# restore, the mutex still protects the shared one, TIDs and thread names are kept.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/threads"
wait_line out.txt '^tick 5$'
tids=$(ls /proc/$TARGET/task | sort | tr '\n' ' ')
names=$(cat /proc/$TARGET/task/*/comm | sort | tr '\n' ' ')
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
kill -USR1 "$TARGET" 2>/dev/null || true
restore_detached ckpt
[ "$(ls /proc/$RESTORED/task | sort | tr '\n' ' ')" = "$tids" ] || fail "TIDs differ: $(ls /proc/$RESTORED/task | tr '\n' ' ') vs $tids"
[ "$(cat /proc/$RESTORED/task/*/comm | sort | tr '\n' ' ')" = "$names" ] || fail "thread names differ"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
kill -USR1 "$RESTORED"
wait_line out.txt '^counts '
first=$(grep '^counts' out.txt | tail -1)
sleep 1
kill -USR1 "$RESTORED"
wait_line out.txt "^counts .*" 5
for i in 1 2 3 4 5 6 7 8 9 10; do [ "$(grep -c '^counts' out.txt)" -ge 2 ] && break; sleep 0.2; done
second=$(grep '^counts' out.txt | tail -1)
log "after restore: $first"
log "one second later: $second"
echo "$first" | grep -q 'consistent=1' && echo "$second" | grep -q 'consistent=1' || fail "the mutex no longer protects the shared counter"
read -r -a a <<<"$first"
read -r -a b <<<"$second"
for i in 1 2 3 4 5 6 7 8; do [ "${b[$i]}" -gt "${a[$i]}" ] || fail "thread $((i - 1)) stopped counting (${a[$i]} -> ${b[$i]})"; done
ticks_consecutive out.txt
