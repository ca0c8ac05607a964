# Unix sockets of every kind with data queued in them (see tests/progs/socks.cpp): the program
# reads every queue back exactly after the restore, datagram boundaries and senders included,
# its listeners still accept, and its pairs (one across two processes) still talk both ways.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
mkdir sk
start_target out.txt "$PROGS/socks" unix "$WORK/sk"
wait_line out.txt '^tick 3$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
"$CKIMAGE" show ckpt >show.json
grep -q '"kind": "unix seqpacket"' show.json || fail "no seqpacket socket in the image"
grep -q '"peer_closed": true' show.json || fail "the closed peer is not in the image"
restore_detached ckpt
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
kill -USR1 "$RESTORED"
wait_line out.txt '^(OK|FAIL)'
cat out.txt | grep -v '^tick' >&2
! grep -q FAIL out.txt || fail "a socket was not restored correctly"
grep -q '^OK unix$' out.txt || fail "no OK"
[ "$(count_lines '^ok ' out.txt)" = 24 ] || fail "expected 24 checks"
ticks_consecutive out.txt
