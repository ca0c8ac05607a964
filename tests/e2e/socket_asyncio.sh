# A Python asyncio server and client over a unix socket in one tree, checkpointed
# mid-conversation (requests and answers queued in the socket) and restored: the conversation
# goes on, every answer right, none lost or repeated.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt python3 "$SRCDIR/tests/progs/async_unix.py" "$WORK/srv.sock"
wait_line out.txt '^conv 200 ' 60
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
"$CKIMAGE" show ckpt >show.json
grep 'srv.sock' show.json | grep -q '"queued_bytes": [1-9]' || fail "nothing queued in the server's connection at the dump"
at=$(grep -c '^conv ' out.txt)
restore_detached ckpt
wait_line out.txt "^(conv $((at + 150)) |FAIL)" 60
! grep -q FAIL out.txt || { grep FAIL out.txt >&2; fail "the conversation broke"; }
awk '/^conv / { if ($2 != prev + 1) { print "gap after " prev; bad = 1 } prev = $2 } END { exit bad }' out.txt ||
  fail "answers lost or repeated"
