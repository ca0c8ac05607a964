# ckrun --time-ns, as a normal user: the program's CLOCK_MONOTONIC and CLOCK_BOOTTIME continue
# from their checkpointed values after a restore 3 s later (they would jump by those 3 s
# without the time namespace, and backwards on a machine up for less time). The program
# reports any jump of more than 1.5 s between two of its 100 ms ticks.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup
start_target out.txt "${AS_USER[@]}" "$CKRUN" --time-ns -- "$PROGS/monoclock"
wait_line out.txt '^tick 5 '
prog=$(child_of "$(child_of "$TARGET")")
[ "$(readlink /proc/$prog/ns/time)" != "$(readlink /proc/self/ns/time)" ] || fail "the program is not in its own time namespace"
as_user "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt" 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
"$CKIMAGE" show ckpt >show.json; grep -q '"time_namespace"' show.json || fail "no time namespace in the image"
at=$(grep "^tick" out.txt | tail -1 | awk "{print \$2}")
sleep 3
"${AS_USER[@]}" "$CKRESTORE" -D "$WORK/ckpt" 2>restore.log &
PIDS+=($!)
wait_line out.txt "^tick $((at + 10)) " 30
! grep -q JUMP out.txt || fail "$(grep JUMP out.txt | head -3)"
last=$(grep '^tick' out.txt | tail -1 | awk '{print $2}')
rprog=$(pgrep -n -f "$PROGS/monoclock" || true)
[ -n "$rprog" ] && grep -q '^monotonic *-' /proc/$rprog/timens_offsets ||
  fail "the restored program's monotonic offset is not negative: $(cat /proc/$rprog/timens_offsets 2>&1)"
log "clocks continued through a 3 s checkpoint (tick $at -> $last)"
