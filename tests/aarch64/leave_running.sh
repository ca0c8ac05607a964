# --leave-running: the original goes on untouched; the checkpoint restores an equal copy.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 64 random
wait_line out.txt '^tick 3$' 120
sum=$(awk '/^ready sum/ {print $3}' out.txt)
dump ckpt "$TARGET" -R
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 5))\$"
alive "$TARGET" || fail "the original stopped"
not_traced "$TARGET"
kill -USR1 "$TARGET"
wait_line out.txt '^sum '
[ "$(awk '/^sum/ {print $2}' out.txt)" = "$sum" ] || fail "the original's memory changed"
ticks_consecutive out.txt
kill -9 "$TARGET"
wait_gone "$TARGET"
restore_detached ckpt --stdio=inherit
sleep 0.5
kill -USR1 "$RESTORED"
wait_line out.txt '^sum .*' 20
[ "$(awk '/^sum/ {print $2}' out.txt | tail -1)" = "$sum" ] || fail "restored copy differs"
