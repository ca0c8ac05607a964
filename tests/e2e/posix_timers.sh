# POSIX timers continue after a restore: same ids (a deleted one stays a gap), the periodic ones
# keep signalling the process and one thread with their sigev_value, a one-shot timer keeps its
# remaining time; an alarm() and an ITIMER_VIRTUAL continue too. The program checks all of it itself.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/ptimers"
wait_line out.txt '^tick 5 '
grep -q '^timers ready ids 0 2 3 gap 1$' out.txt || fail "unexpected ids: $(head -1 out.txt)"
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
n=$("$CKIMAGE" show ckpt | grep -c '"interval_ns"')
[ "$n" = 3 ] || fail "expected 3 POSIX timers in the image, found $n"
sleep 1
restore_detached ckpt
at=$(grep -c '^tick' out.txt)
wait_line out.txt "^tick $((at + 3)) "
kill -USR1 "$RESTORED"
wait_line out.txt '^timers (ok|FAIL)' 30
grep -q '^timers ok$' out.txt || fail "$(grep FAIL out.txt)"
