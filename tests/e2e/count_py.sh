# The training example under python3: dump ends it, restore continues with the next number.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt python3 -u "$SRCDIR/tests/progs/count.py"
wait_line out.txt '^3$' 20
exe=$(readlink /proc/$TARGET/exe)
"$CKDUMP" -t "$TARGET" -D ckpt -v 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
last=$(tail -1 out.txt)
log "dumped after $last"
sleep 1.5
[ "$(tail -1 out.txt)" = "$last" ] || fail "the program still wrote after the dump"
restore_detached ckpt
wait_line out.txt "^$((last + 3))\$" 20
seq 1 "$((last + 3))" >expected
head -n "$((last + 3))" out.txt | diff expected - || fail "output is not 1..$((last + 3)) in order"
[ "$(readlink /proc/$RESTORED/exe)" = "$exe" ] || fail "exe link not restored: $(readlink /proc/$RESTORED/exe)"
tr '\0' ' ' </proc/$RESTORED/cmdline | grep -q "count.py" || fail "cmdline not restored"
log "count.py continued from $last to $((last + 3))"
