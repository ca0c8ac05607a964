# Sockets ck refuses, each by name with exit 4 while the program runs on untouched: SCM_RIGHTS
# and SCM_CREDENTIALS in flight, a netlink socket, a packet socket, a connection from outside
# waiting to be accepted, a TCP connection to a peer outside the tree. With --drop-external-tcp
# that connection is dropped instead: the restored program finds it reset.
. "$(dirname "$0")/lib.sh"
cd "$WORK"

refused() {  # refused REGEX PROGRAM ARGS...
  local re=$1
  shift
  : >out.txt
  start_target out.txt "$@"
  wait_line out.txt '^tick 3$'
  expect_fail 4 "$re" "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt"
  [ ! -e ckpt ] || fail "a failed dump left $WORK/ckpt"
  at=$(last_tick out.txt)
  wait_line out.txt "^tick $((at + 5))\$"
  ticks_consecutive out.txt
  grep -q TracerPid:.0 /proc/$TARGET/status || fail "the program is still traced"
  kill -USR1 "$TARGET"
  wait_line out.txt '^(OK|FAIL)'
  ! grep -q FAIL out.txt || fail "the program was disturbed"
  kill -9 "$TARGET" 2>/dev/null || true
  wait_gone "$TARGET"
}

refused 'fd [0-9]+ \(socket:\[[0-9]+\]\): unix stream socket with SCM_RIGHTS in flight is not supported' "$PROGS/socks" scm
refused 'fd 4 \(socket:\[[0-9]+\]\): unix dgram socket with SCM_CREDENTIALS in flight .*is not supported' "$PROGS/socks" creds
refused 'fd 3 \(socket:\[[0-9]+\]\): netlink sockets are not supported' "$PROGS/socks" netlink
refused 'fd 3 \(socket:\[[0-9]+\]\): packet sockets are not supported' python3 -c '
import socket, time, sys, signal
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
signal.signal(signal.SIGUSR1, lambda *a: (print("OK packet", flush=True), sys.exit(0)))
i = 0
while True:
    i += 1; print("tick", i, flush=True); time.sleep(0.1)'

# A connection from outside the tree waiting in a listener's queue.
mkdir sk
: >out.txt
start_target out.txt "$PROGS/socks" unix "$WORK/sk"
wait_line out.txt '^tick 3$'
python3 -c '
import socket, sys, time
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); time.sleep(600)' "$WORK/sk/listen.sock" &
PIDS+=($!)
sleep 0.5
expect_fail 4 'listening unix stream socket .*/sk/listen.sock with 1 connection\(s\) from outside the checkpoint not yet accepted is not supported' \
  "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
ticks_consecutive out.txt
kill -9 "$TARGET"
wait_gone "$TARGET"

# A peer outside the tree: a listener of this script's.
python3 -c '
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
open("port", "w").write(str(l.getsockname()[1]))
c, _ = l.accept()
time.sleep(600)' &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do [ -s port ] && break; sleep 0.05; done
port=$(cat port)
: >out.txt
start_target out.txt "$PROGS/socks" tcpout "$port"
wait_line out.txt '^tick 3$'
expect_fail 4 'fd 3 \(socket:\[[0-9]+\]\): tcp connection 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:'"$port"' to a peer outside the checkpoint is not supported \(ckdump --drop-external-tcp' \
  "$CKDUMP" -t "$TARGET" -D "$WORK/ckpt"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
"$CKDUMP" -t "$TARGET" -D "$WORK/ckpt" --drop-external-tcp 2>dump.log || { cat dump.log; fail "ckdump --drop-external-tcp failed"; }
wait_gone "$TARGET"
"$CKIMAGE" show ckpt >show.json
grep -q '"dropped": true' show.json || fail "the connection is not marked dropped"
restore_detached ckpt
kill -USR1 "$RESTORED"
wait_line out.txt '^(OK|FAIL)'
grep -v '^tick' out.txt >&2
grep -q '^OK tcpout$' out.txt || fail "the dropped connection is not reset"
