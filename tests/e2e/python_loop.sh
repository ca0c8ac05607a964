# A Python program on selectors.EpollSelector with a pipe fed by a thread, an eventfd and
# signal.set_wakeup_fd: after the restore its ticks and wake-ups continue, none lost or
# repeated, and SIGTERM still reaches it through the selector.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt python3 -u "$SRCDIR/tests/progs/pyloop.py"
wait_line out.txt '^wake 2$' 20
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
at=$(last_tick out.txt)
restore_detached ckpt
wait_line out.txt "^tick $((at + 12))\$" 20
kill -TERM "$RESTORED"
wait_line out.txt '^bye after'
ticks_consecutive out.txt
awk '/^wake [0-9]+$/ { if ($2 != prev + 1) { print "wake gap after " prev ": " $2; bad = 1 } prev = $2 } END { exit bad }' out.txt ||
  fail "eventfd wake-ups lost or repeated"
last=$(last_tick out.txt)
wakes=$(grep -c '^wake ' out.txt)
# The last wake-up may be pending when SIGTERM ends the loop.
[ "$wakes" -ge $((last / 5 - 1)) ] && [ "$wakes" -le $((last / 5)) ] || fail "$wakes wake-ups for $last ticks"
log "python event loop continued: $last ticks, $wakes wake-ups"
