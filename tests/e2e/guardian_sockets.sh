# ckdump SIGKILLed while the target's sockets are changed: its guardian (src/guardian.hpp) puts
# them back. A tree of two processes streaming a checksummed byte sequence both ways over TCP on
# loopback, the server also holding a unix stream pair with 50000 bytes queued (socks tcpunix).
# ckdump kills itself (CK_FAULT) with the unix socket's SO_PEEK_OFF moved (peek_off), with the
# TCP connection in repair mode while its queues are read (repair; with and without -R), and with
# every connection in repair mode for the kill that follows a dump without -R (silenced). Each
# time the tree must go on as if nothing happened: both processes untraced and running, the
# stream on with no byte lost or repeated (a send in repair mode fails, the program says FAIL),
# and the guardian gone with its copies of the sockets. Killed once the tree's kill has begun
# (killing), the guardian finishes the kill and the connection, closed in repair mode, sent
# nothing: the image restores and the stream goes on. The same under `ckrun --net` as a normal
# user (the guardian needs CAP_NET_ADMIN over the tree's network namespace, as ckdump does).
# Finally a normal dump and restore of the tree, whose check (SIGUSR1) reads the unix queue: a
# peek twice sees the same bytes (SO_PEEK_OFF off), every byte there once, and the TCP stream
# checked to the last byte.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup

# The socket inodes of a process.
socket_inodes() { ls -l /proc/$1/fd 2>/dev/null | grep -o 'socket:\[[0-9]*\]' | sort -u; }

# tree_intact WHAT PID...: every process alive, untraced, its threads running or sleeping (not
# stopped), the stream going on without FAIL, no guardian left holding one of their sockets.
tree_intact() {
  local what=$1 p t st i n ok
  shift
  for p in "$@"; do
    alive "$p" || fail "$what: pid $p died"
    for ((i = 0; i < 100; i++)); do
      ok=1
      grep -q 'TracerPid:.0$' /proc/$p/status || ok=0
      for t in /proc/$p/task/*; do
        st=$(awk '{print $3}' $t/stat)
        [ "$st" = S ] || [ "$st" = R ] || ok=0
      done
      [ $ok = 1 ] && break
      sleep 0.05
    done
    grep -q 'TracerPid:.0$' /proc/$p/status || fail "$what: pid $p still traced"
    for t in /proc/$p/task/*; do
      st=$(awk '{print $3}' $t/stat)
      [ "$st" = S ] || [ "$st" = R ] || fail "$what: thread ${t##*/} of pid $p left in state $st"
    done
  done
  n=$(grep -c '^server sent' out.txt)
  for ((i = 0; i < 200; i++)); do
    [ "$(grep -c '^server sent' out.txt)" -ge $((n + 3)) ] && [ "$(grep -c '^client sent' out.txt)" -ge 1 ] && break
    grep -q FAIL out.txt && break
    sleep 0.05
  done
  ! grep -q FAIL out.txt || { grep -v ' sent ' out.txt >&2; fail "$what: the stream broke"; }
  [ "$(grep -c '^server sent' out.txt)" -ge $((n + 3)) ] || fail "$what: the stream stopped"
  # The guardian exits once it has put everything back, closing its copies of the sockets.
  local socks
  socks=$(for p in "$@"; do socket_inodes "$p"; done)
  for ((i = 0; i < 100; i++)); do
    ok=1
    for g in $(pgrep -x ck-guardian || true); do
      [ -z "$(comm -12 <(echo "$socks") <(socket_inodes "$g"))" ] || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.05
  done
  [ $ok = 1 ] || fail "$what: a guardian still holds a socket of the tree"
}

# kill_at POINT WHO CKDUMP_ARGS...: ckdump kills itself at POINT (exit 137).
kill_at() {
  local point=$1 who=$2 rc=0
  shift 2
  local pre=()
  [ "$who" = user ] && pre=("${AS_USER[@]}")
  CK_FAULT=$point "${pre[@]}" "$CKDUMP" -t "$TARGET" "$@" 2>fault.log || rc=$?
  [ "$rc" = 137 ] || { cat fault.log >&2; fail "fault point $point ($*) did not fire (exit $rc)"; }
}

start_stream() {  # start_stream USER_OR_ROOT CMD...
  local who=$1
  shift
  : >out.txt
  local pre=()
  [ "$who" = user ] && pre=("${AS_USER[@]}")
  start_target out.txt "${pre[@]}" "$@"
  wait_line out.txt '^server sent .* got [1-9]' 30
  wait_line out.txt '^client sent .* got [1-9]' 30
}

# As root in the host's network namespace.
start_stream root "$PROGS/socks" tcpunix
SERVER=$TARGET
CLIENT=$(child_of "$SERVER")
kill_at peek_off root -D "$WORK/ckpt" -R
tree_intact "killed with the unix socket's peek offset moved" "$SERVER" "$CLIENT"
kill_at repair root -D "$WORK/ckpt" -R
tree_intact "killed in repair mode (-R)" "$SERVER" "$CLIENT"
kill_at repair root -D "$WORK/ckpt"
tree_intact "killed in repair mode (no -R)" "$SERVER" "$CLIENT"
kill_at silenced root -D "$WORK/ckpt"
tree_intact "killed with the connections silenced for the kill" "$SERVER" "$CLIENT"
log "root: ckdump killed at peek_off, repair (with and without -R) and silenced: the tree went on untouched"

# SIGKILLs at random moments of a dump -R: the first ones 2-12 ms in, around the sockets.
t0=$(date +%s%N)
"$CKDUMP" -t "$SERVER" -D "$WORK/ckpt" -R 2>dump.log || { cat dump.log >&2; fail "ckdump -R failed"; }
dump_s=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.3f", ns / 1e9 }')
killed=0
for ((r = 0; r < 10; r++)); do
  delay=$(awk -v r=$r -v s=$RANDOM -v d="$dump_s" 'BEGIN { srand(s); split("0.002 0.004 0.006 0.009 0.012", early);
    printf "%.4f", (r < 5 ? early[r + 1] : rand() * d * 1.1) }')
  "$CKDUMP" -t "$SERVER" -D "$WORK/ckpt" -R 2>/dev/null &
  d=$!
  sleep "$delay"
  kill -9 "$d" 2>/dev/null || true
  rc=0
  wait "$d" 2>/dev/null || rc=$?
  [ "$rc" != 137 ] || killed=$((killed + 1))
  tree_intact "random kill $r (after ${delay}s)" "$SERVER" "$CLIENT"
done
log "root: 10 random kills of ckdump -R (a dump taking ${dump_s}s, $killed killed during it): the tree went on untouched"

# Killed once the kill of the tree has begun: the guardian ends the tree; nothing was sent on
# the connection (closed in repair mode), so the image restores and the stream goes on.
rm -rf "$WORK/ckpt" "$WORK/ckpt.d"
kill_at killing root -D "$WORK/ckpt"
rc=0
wait "$SERVER" || rc=$?
[ "$rc" = 137 ] || fail "killed at killing: the tree was not killed (the server exited with $rc)"
for ((i = 0; i < 100; i++)); do alive "$CLIENT" || break; sleep 0.05; done
! alive "$CLIENT" || fail "killed at killing: the guardian did not finish the kill"
! grep -q FAIL out.txt || fail "killed at killing: the tree saw its connection fail before it was killed"
"$CKIMAGE" verify "$WORK/ckpt" >/dev/null || fail "killed at killing: the image does not verify"
restore_detached "$WORK/ckpt"
SERVER=$RESTORED
CLIENT=$(child_of "$SERVER")
tree_intact "restored after a ckdump killed while it killed the tree" "$SERVER" "$CLIENT"
log "root: ckdump killed at killing: the guardian finished the kill, the image restores, the stream goes on"

# A normal dump and restore of the tree that went through all that, then its own check.
"$CKDUMP" -t "$SERVER" -D "$WORK/ckpt" 2>dump.log || { cat dump.log >&2; fail "ckdump after the kills failed"; }
wait_gone "$SERVER"
restore_detached "$WORK/ckpt"
SERVER=$RESTORED
tree_intact "restored" "$SERVER" "$(child_of "$SERVER")"
kill -USR1 "$SERVER"
wait_line out.txt '^(OK|FAIL)' 30
grep -v ' sent ' out.txt >&2
! grep -q FAIL out.txt || fail "the tree's own check failed"
grep -q '^OK tcpunix$' out.txt || fail "no OK from the tree's own check"
wait_gone "$SERVER"
log "root: then dumped and restored: the stream and the unix queue checked to the last byte"

# A normal user under ckrun --net: the guardian turns repair mode off in the tree's own network
# namespace, with the user's capability over it.
rm -rf "$WORK/ckpt" "$WORK/ckpt.d"
start_stream user "$CKRUN" --net -- "$PROGS/socks" tcpunix
RUN=$TARGET
SERVER=$(child_of "$(child_of "$RUN")")
CLIENT=$(child_of "$SERVER")
kill_at repair user -D "$WORK/ckpt" -R
tree_intact "user: killed in repair mode (-R)" "$SERVER" "$CLIENT"
kill_at silenced user -D "$WORK/ckpt"
tree_intact "user: killed with the connections silenced for the kill" "$SERVER" "$CLIENT"
kill_at peek_off user -D "$WORK/ckpt"
tree_intact "user: killed with the unix socket's peek offset moved" "$SERVER" "$CLIENT"
as_user "$CKDUMP" -t "$RUN" -D "$WORK/ckpt" 2>dump.log || { cat dump.log >&2; fail "user: ckdump after the kills failed"; }
wait_gone "$RUN"
as_user "$CKRESTORE" -D "$WORK/ckpt" -d >pid.txt 2>restore.log || { cat restore.log >&2; fail "user: ckrestore failed"; }
PIDS+=("$(cat pid.txt)")
SERVER=$(child_of "$(cat pid.txt)")
tree_intact "user: restored" "$SERVER" "$(child_of "$SERVER")"
kill -USR1 "$SERVER"
wait_line out.txt '^(OK|FAIL)' 30
! grep -q FAIL out.txt || { grep -v ' sent ' out.txt >&2; fail "user: the tree's own check failed"; }
grep -q '^OK tcpunix$' out.txt || fail "user: no OK from the tree's own check"
log "user under ckrun --net: killed at repair and silenced, then dumped and restored: OK"
