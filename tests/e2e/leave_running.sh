# --leave-running: the original goes on untouched; the checkpoint restores an equal copy.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 64 random
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
"$CKDUMP" -t "$TARGET" -D ckpt -R 2>dump.log || { cat dump.log; fail "ckdump failed"; }
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 5))\$"
alive "$TARGET" || fail "the original stopped"
grep -q TracerPid:.0 /proc/$TARGET/status || fail "the original is still traced"
kill -USR1 "$TARGET"
wait_line out.txt '^sum '
[ "$(awk '/^sum/ {print $2}' out.txt)" = "$sum" ] || fail "the original's memory changed"
ticks_consecutive out.txt
# Without ckrun, the PID is the one of the running original: a clear refusal, nothing created.
expect_fail 6 "PID $TARGET is in use by 'memhog'" "$CKRESTORE" -D ckpt -d
kill -9 "$TARGET"
wait_gone "$TARGET"
cp out.txt orig.txt
restore_detached ckpt --stdio=inherit
sleep 0.5
kill -USR1 "$RESTORED"
wait_line out.txt '^sum .*' 10
[ "$(awk '/^sum/ {print $2}' out.txt | tail -1)" = "$sum" ] || fail "restored copy differs"
