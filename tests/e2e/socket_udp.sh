# A bound and a connected UDP socket with datagrams queued: after the restore the queued
# datagrams are read back with their boundaries and sender, the sockets keep their ports and
# exchange datagrams.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/socks" udp
wait_line out.txt '^tick 3$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
restore_detached ckpt
kill -USR1 "$RESTORED"
wait_line out.txt '^(OK|FAIL)'
grep -v '^tick' out.txt >&2
! grep -q FAIL out.txt || fail "udp sockets not restored"
grep -q "^OK udp$" out.txt || fail "no OK"
[ "$(count_lines "^ok " out.txt)" = 7 ] || fail "expected 7 checks"
