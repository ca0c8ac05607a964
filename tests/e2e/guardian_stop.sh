# A SIGSTOP that reaches the target while ckdump injects syscalls is held back and sent again
# when the target is let go; ckdump SIGKILLed in between leaves the sending to its guardian
# (src/guardian.hpp), so that the stop is not lost. CK_FAULT=send_stop makes ckdump send the
# SIGSTOP itself just before its first injected syscall (the moment a user's ^Z could come);
# stop_held kills ckdump right after it held the stop back. The target (memhog, and the 8-thread
# `threads`) must end up stopped, untraced, and continue on SIGCONT with its counter and memory
# intact. Also: the guardian has no fd but its socket, is neither ckdump's child nor in its
# session, ignores INT/TERM/HUP/QUIT and exits when the dump is done; and when it cannot be
# started (fork refused: RLIMIT_NPROC) ckdump fails with one line and leaves the target alone.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
user_setup
state() { awk '{print $3}' /proc/$1/stat; }
# stopped_then_continues PID OUT WHAT: stopped (T, untraced, no tick for half a second), then
# going on after SIGCONT.
stopped_then_continues() {
  local pid=$1 out=$2 what=$3 at i
  for ((i = 0; i < 100; i++)); do [ "$(state "$pid")" = T ] && break; sleep 0.05; done
  [ "$(state "$pid")" = T ] || fail "$what: state $(state "$pid"), not T (the SIGSTOP was lost)"
  grep -q 'TracerPid:.0$' /proc/$pid/status || fail "$what: still traced"
  at=$(last_tick "$out")
  sleep 0.5
  [ "$(last_tick "$out")" = "$at" ] || fail "$what: it ran while it should be stopped"
  kill -CONT "$pid"
  wait_line "$out" "^tick $((at + 2))\$" 10
  ticks_consecutive "$out"
}

start_target out.txt "$PROGS/memhog" 128 random
wait_line out.txt '^tick 3$'
MEMHOG=$TARGET
sum=$(awk '/^ready sum/ {print $3}' out.txt)

# The guardian while a dump runs (ckdump stopped meanwhile, so that it stays). Guardians of
# earlier dumps may linger as zombies until init reaps them: only a new, live one counts.
old_guardians=" $(pgrep -x ck-guardian | tr '\n' ' ') "
"$CKDUMP" -t "$TARGET" -D ckpt -R 2>dump.log &
d=$!
PIDS+=("$d")
g=
for ((i = 0; i < 400; i++)); do
  for p in $(pgrep -x ck-guardian || true); do
    [[ "$old_guardians" == *" $p "* ]] || ! alive "$p" || g=$p
  done
  [ -z "$g" ] || break
  sleep 0.005
done
[ -n "$g" ] || fail "no guardian process during the dump"
kill -STOP "$d"
fds=$(ls /proc/$g/fd | tr '\n' ' ')
[ "$fds" = "3 " ] || { ls -l /proc/$g/fd >&2; fail "the guardian holds fds besides its socket: $fds"; }
readlink /proc/$g/fd/3 | grep -q '^socket:' || fail "the guardian's fd 3 is not its socket"
[ "$(awk '/^PPid:/ {print $2}' /proc/$g/status)" != "$d" ] || fail "the guardian is ckdump's child"
[ "$(awk '{print $6}' /proc/$g/stat)" != "$(awk '{print $6}' /proc/$d/stat)" ] || fail "the guardian is in ckdump's session"
for sig in INT TERM HUP QUIT; do kill -$sig "$g"; done
sleep 0.1
alive "$g" || fail "the guardian did not ignore INT/TERM/HUP/QUIT"
kill -CONT "$d"
wait "$d" || { cat dump.log >&2; fail "ckdump -R failed"; }
for ((i = 0; i < 100; i++)); do alive "$g" || break; sleep 0.05; done
! alive "$g" || fail "the guardian did not exit at the end of the dump"
log "guardian: only its socket open, not ckdump's child nor in its session, ignores INT/TERM/HUP/QUIT, exits when done"

# The stop held and sent again by ckdump itself.
rc=0
CK_FAULT=send_stop "$CKDUMP" -t "$TARGET" -D ckpt -R -v 2>dump.log || rc=$?
[ "$rc" = 0 ] || { cat dump.log >&2; fail "ckdump -R with a SIGSTOP arriving failed (exit $rc)"; }
grep -q 'SIGSTOP .*held' dump.log || { cat dump.log >&2; fail "send_stop: no SIGSTOP was held"; }
stopped_then_continues "$TARGET" out.txt "a SIGSTOP held and sent again by ckdump"

# Killed while the stop is held, with and without -R: the guardian sends it.
for args in "-R" ""; do
  rc=0
  CK_FAULT=send_stop,stop_held "$CKDUMP" -t "$TARGET" -D ckpt $args 2>/dev/null || rc=$?
  [ "$rc" = 137 ] || fail "fault point stop_held ($args) did not fire (exit $rc)"
  stopped_then_continues "$TARGET" out.txt "ckdump $args killed with a SIGSTOP held"
done
n=$(grep -c '^sum' out.txt || true)
kill -USR1 "$TARGET"
for ((i = 0; i < 100; i++)); do [ "$(grep -c '^sum' out.txt || true)" -gt "$n" ] && break; sleep 0.05; done
[ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "the target's memory changed"
log "memhog: a SIGSTOP held when ckdump is killed (with and without -R) stops the target; SIGCONT: it goes on intact"

# Eight threads: the stop held for one thread stops the whole process.
start_target tout.txt "$PROGS/threads"
wait_line tout.txt '^tick 3$'
T2=$TARGET
rc=0
CK_FAULT=send_stop,stop_held "$CKDUMP" -t "$T2" -D tckpt -R 2>/dev/null || rc=$?
[ "$rc" = 137 ] || fail "threads: fault point stop_held did not fire (exit $rc)"
stopped_then_continues "$T2" tout.txt "threads: ckdump killed with a SIGSTOP held"
for t in /proc/$T2/task/*; do
  case "$(awk '{print $3}' $t/stat)" in S | R) ;; *) fail "threads: thread ${t##*/} still stopped after SIGCONT" ;; esac
done
n=$(grep -c '^counts' tout.txt || true)
kill -USR1 "$T2"
for ((i = 0; i < 100; i++)); do [ "$(grep -c '^counts' tout.txt || true)" -gt "$n" ] && break; sleep 0.05; done
grep '^counts' tout.txt | tail -1 | grep -q 'consistent=1' || fail "threads: shared counter inconsistent"
kill -9 "$T2"
log "threads: stopped as a whole, every thread going on after SIGCONT"
TARGET=$MEMHOG

# Then a normal dump and restore of the memhog that went through it all.
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log >&2; fail "ckdump after the kills failed"; }
wait_gone "$TARGET"
restore_detached ckpt
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 2))\$" 10
ticks_consecutive out.txt
kill -USR1 "$RESTORED"
for ((i = 0; i < 100; i++)); do [ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] && break; sleep 0.05; done
[ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "the restore's memory differs"
kill -9 "$RESTORED"
log "then dumped and restored: counter and memory intact"

# No guardian, no dump: a normal user whose process limit allows no new process.
: >uout.txt
chown "$CK_UID:$CK_GID" uout.txt
start_target uout.txt "${AS_USER[@]}" "$PROGS/memhog" 16 random
wait_line uout.txt '^tick 2$'
expect_fail 1 'cannot start the guardian process .*: fork: Resource temporarily unavailable' \
  as_user prlimit --nproc=1 "$CKDUMP" -t "$TARGET" -D "$WORK/uckpt"
alive "$TARGET" || fail "the target died when the guardian could not start"
grep -q 'TracerPid:.0$' /proc/$TARGET/status || fail "the target is traced after the guardian could not start"
at=$(last_tick uout.txt)
wait_line uout.txt "^tick $((at + 2))\$" 10
log "no guardian (fork refused): ckdump fails with one line before it touches the target"
