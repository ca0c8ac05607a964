# A Python asyncio server and client over a unix socket in one tree, checkpointed
# mid-conversation (requests queued in the socket) and restored: the conversation goes on,
# every answer right, none lost or repeated. On the epoll event loop (asyncio's default, the
# epoll restored with its interest list) and on a poll one.
. "$(dirname "$0")/lib.sh"
cd "$WORK"

conversation() {  # conversation SELECTOR
  local sel=$1
  : >out.txt
  rm -f srv.sock
  start_target out.txt python3 "$SRCDIR/tests/progs/async_unix.py" "$WORK/srv.sock" "$sel"
  wait_line out.txt '^conv 200 ' 60
  "$CKDUMP" -t "$TARGET" -D "ckpt-$sel" 2>dump.log || { cat dump.log; fail "$sel: ckdump failed"; }
  wait_gone "$TARGET"
  "$CKIMAGE" show "ckpt-$sel" >show.json
  [ "$sel" != epoll ] || grep -q '"kind": "epoll"' show.json || fail "no epoll in the image"
  grep 'srv.sock' show.json | grep -q '"queued_bytes": [1-9]' || fail "$sel: nothing queued in the server's connection at the dump"
  at=$(grep -c '^conv ' out.txt)
  restore_detached "ckpt-$sel"
  wait_line out.txt "^(conv $((at + 150)) |FAIL)" 60
  ! grep -q FAIL out.txt || { grep FAIL out.txt >&2; fail "$sel: the conversation broke"; }
  awk '/^conv / { if ($2 != prev + 1) { print "gap after " prev; bad = 1 } prev = $2 } END { exit bad }' out.txt ||
    fail "$sel: answers lost or repeated"
  kill -9 "$RESTORED"
  wait_gone "$RESTORED"
}

conversation epoll
conversation poll
