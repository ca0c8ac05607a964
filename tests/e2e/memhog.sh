# A C++ program holding MiB of data (arg 1: MiB, arg 2: smooth|random): its memory checksum
# and counter continue after restore; ckrestore without -d returns the program's exit status.
. "$(dirname "$0")/lib.sh"
MIB=${1:-1024}
KIND=${2:-smooth}
cd "$WORK"
start_target out.txt "$PROGS/memhog" "$MIB" "$KIND"
wait_line out.txt '^tick 5$' 120
sum=$(awk '/^ready sum/ {print $3}' out.txt)
"$CKDUMP" -t "$TARGET" -D ckpt --stats >stats.json 2>dump.log || { cat dump.log; fail "ckdump failed"; }
log "dump: $(cat stats.json)"
wait_gone "$TARGET"
last=$(last_tick out.txt)
"$CKIMAGE" verify ckpt >/dev/null || fail "ckimage verify failed on a fresh image"
"$CKRESTORE" -D ckpt --stats 2>restore.log &
CKR=$!
PIDS+=("$CKR")
wait_line out.txt "^tick $((last + 3))\$" 30
kill -USR1 "$TARGET"
wait_line out.txt "^sum " 30
after=$(awk '/^sum/ {print $2}' out.txt | tail -1)
[ "$after" = "$sum" ] || fail "memory checksum $after after restore, $sum before"
ticks_consecutive out.txt
kill -TERM "$TARGET"
rc=0
wait "$CKR" || rc=$?
[ "$rc" = 7 ] || { cat restore.log; fail "ckrestore returned $rc, the program's status is 7"; }
log "memhog $MIB MiB $KIND: checksum $sum kept, ticks continued after $last, exit status passed through"
