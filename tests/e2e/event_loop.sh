# An event loop on epoll + timerfd + eventfd + signalfd (tests/progs/evloop) checkpointed
# mid-run (first with --leave-running): after the restore its ticks, eventfd wake-ups and signals continue, none lost or
# repeated, and SIGTERM through the signalfd ends it.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/evloop"
wait_line out.txt '^tick 12$'
kill -USR2 "$TARGET"
wait_line out.txt '^signal SIGUSR2 1$'
# Reading its state (fdinfo, timerfd_gettime and FIONREAD on copies of its fds) leaves a
# running loop undisturbed.
"$CKDUMP" -t "$TARGET" -D ckpt -R 2>dump.log || { cat dump.log; fail "ckdump -R failed"; }
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 5))\$"
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
at=$(last_tick out.txt)
restore_detached ckpt
wait_line out.txt "^tick $((at + 15))\$"
kill -USR2 "$RESTORED"
wait_line out.txt '^signal SIGUSR2 2$'
wait_line out.txt "^tick $((at + 25))\$"
kill -TERM "$RESTORED"
wait_line out.txt '^bye after'
! grep -q FAIL out.txt || { cat out.txt >&2; fail "the event loop failed"; }
ticks_consecutive out.txt
awk '/^wake [0-9]+$/ { if ($2 != prev + 1) { print "wake gap after " prev ": " $2; bad = 1 } prev = $2 } END { exit bad }' out.txt ||
  fail "eventfd wake-ups lost or repeated"
last=$(last_tick out.txt)
wakes=$(grep -c '^wake ' out.txt)
[ "$wakes" -ge $((last / 5 - 1)) ] && [ "$wakes" -le $((last / 5)) ] || fail "$wakes wake-ups for $last ticks"
[ "$(count_lines '^signal SIGUSR2' out.txt)" = 2 ] || fail "signals lost or repeated"
log "event loop continued: $last ticks, $wakes wake-ups, 2 signals"
