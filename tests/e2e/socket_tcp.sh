# Two processes streaming a checksummed byte sequence both ways over TCP on loopback, dumped
# mid-stream with their queues full and restored through TCP_REPAIR: every byte arrives once,
# in order; the listener still accepts. As a normal user under `ckrun --net` (CAP_NET_ADMIN in
# the tree's own user namespace; also over IPv6), and as root in the host's network namespace;
# with --leave-running the stream goes on untouched. Without
# --net the normal user is refused by name, with the missing capability, and the tree runs on.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup

run() {  # run NAME USER_OR_ROOT CMD...
  local name=$1 who=$2
  shift 2
  : >out.txt
  local pre=()
  [ "$who" = user ] && pre=("${AS_USER[@]}")
  start_target out.txt "${pre[@]}" "$@"
  wait_line out.txt '^server sent .* got [1-9]' 30
  wait_line out.txt '^client sent .* got [1-9]' 30
  sleep 0.5
  "${pre[@]}" "$CKDUMP" -t "$TARGET" -D "$WORK/$name" 2>dump.log || { cat dump.log; fail "$name: ckdump failed"; }
  wait_gone "$TARGET"
  "$CKIMAGE" show "$WORK/$name" >show.json
  grep -q '"snd_seq"' show.json || fail "$name: no TCP connection state in the image"
  "${pre[@]}" "$CKRESTORE" -D "$WORK/$name" -d >pid.txt 2>restore.log || { cat restore.log; fail "$name: ckrestore failed"; }
  PIDS+=("$(cat pid.txt)")
  local n
  n=$(grep -c '^server sent' out.txt)
  wait_line out.txt "^server sent" 5
  for ((i = 0; i < 200; i++)); do
    [ "$(grep -c '^server sent' out.txt)" -ge $((n + 4)) ] && break
    sleep 0.05
  done
  [ "$(grep -c '^server sent' out.txt)" -ge $((n + 4)) ] || { tail out.txt >&2; fail "$name: the stream did not go on"; }
  local prog
  if [ "$who" = user ]; then prog=$(child_of "$(cat pid.txt)"); else prog=$(cat pid.txt); fi
  kill -USR1 "$prog"
  wait_line out.txt '^(OK|FAIL)' 30
  grep -v '^\(server\|client\) sent' out.txt >&2
  ! grep -q FAIL out.txt || fail "$name: the stream lost or repeated bytes"
  grep -q "^OK ${@: -1}\$" out.txt || fail "$name: no OK"
}

run ckpt_user user "$CKRUN" --net -- "$PROGS/socks" tcp
run ckpt_root root "$PROGS/socks" tcp
run ckpt_user6 user "$CKRUN" --net -- "$PROGS/socks" tcp6

# --leave-running: the connection is read in repair mode and goes on as if nothing happened.
: >out.txt
start_target out.txt "$PROGS/socks" tcp
wait_line out.txt '^server sent .* got [1-9]' 30
"$CKDUMP" -t "$TARGET" -D "$WORK/leave" -R 2>dump.log || { cat dump.log; fail "ckdump -R failed"; }
n=$(grep -c '^server sent' out.txt)
for ((i = 0; i < 200; i++)); do [ "$(grep -c '^server sent' out.txt)" -ge $((n + 4)) ] && break; sleep 0.05; done
[ "$(grep -c '^server sent' out.txt)" -ge $((n + 4)) ] || fail "the stream stopped after ckdump -R"
kill -USR1 "$TARGET"
wait_line out.txt '^(OK|FAIL)' 30
! grep -q FAIL out.txt || fail "ckdump -R disturbed the stream"
grep -q '^OK tcp$' out.txt || fail "no OK after ckdump -R"
wait_gone "$TARGET"

# Without a network namespace of its own, a normal user cannot use TCP_REPAIR: refused, named.
: >out.txt
start_target out.txt "${AS_USER[@]}" "$CKRUN" -- "$PROGS/socks" tcp
wait_line out.txt '^server sent .* got [1-9]' 30
expect_fail 5 'tcp connection 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:[0-9]+: TCP_REPAIR needs CAP_NET_ADMIN.*ckrun --net' \
  as_user "$CKDUMP" -t "$TARGET" -D "$WORK/refused"
n=$(grep -c '^server sent' out.txt)
for ((i = 0; i < 200; i++)); do [ "$(grep -c '^server sent' out.txt)" -ge $((n + 3)) ] && break; sleep 0.05; done
[ "$(grep -c '^server sent' out.txt)" -ge $((n + 3)) ] || fail "the refused tree stopped streaming"
! grep -q FAIL out.txt || fail "the refused dump disturbed the stream"
kill -9 "$(child_of "$TARGET")"  # ckrun's init: the whole namespace goes with it
wait_gone "$TARGET"
