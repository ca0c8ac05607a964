# ckdump failing or killed at any moment never hurts the target nor the last good checkpoint.
# Every named failure point of src/fault.hpp, as a SIGKILL of ckdump and as an ordinary error,
# then SIGKILL after random delays (the first ones 1-8 ms into a dump, while syscalls are
# injected, the others anywhere up to 1.1 times what a whole dump takes), over a real target
# (memhog, started with SIGUSR2 blocked and pending). After every run the target must be
# exactly as before: alive, untraced, not stopped, the same mappings (nothing of ckdump's left
# over) and fds, the same signal mask and pending signals, output continuing with no gap, the
# same memory checksum; the last good checkpoint still verifies. Then the injection points
# again in an 8-thread target (every thread checked), and the injection-area fallback, whose
# page is the one documented leftover.
# CK_LONG=1: 200 random kills instead of 12. Prints the figures on its last line.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
runs=${CK_LONG:+200}
runs=${runs:-12}
# SIGUSR2 blocked and pending across the exec: a mask and a pending signal that must survive.
start_target out.txt python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGWINCH})
os.kill(os.getpid(), signal.SIGUSR2)
os.execv(sys.argv[1], sys.argv[1:])' "$PROGS/memhog" 128 random
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
"$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>dump.log || { cat dump.log; fail "first ckdump failed"; }
# How long a dump takes (the second one: caches warm, as for the dumps that will be killed).
t0=$(date +%s%N)
"$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>dump.log || { cat dump.log; fail "second ckdump failed"; }
dump_s=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.3f", ns / 1e9 }')
good=$(readlink ckpt)

# What must not change: per thread its state class, mask, pending; the process's maps and fds.
snapshot() {
  local pid=$1 t
  cat /proc/$pid/maps
  ls -l /proc/$pid/fd | awk 'NR > 1 {print $9, $10, $11}'
  grep -E '^(ShdPnd|SigIgn|SigCgt|TracerPid):' /proc/$pid/status
  for t in /proc/$pid/task/*; do
    echo "${t##*/} $(grep -E '^(SigBlk|SigPnd):' $t/status | tr '\n' ' ')"
  done
}
before=$(snapshot "$TARGET")
grep -q 'SigBlk:.*0000000008000800' /proc/$TARGET/status || fail "the target did not start with SIGUSR2 blocked"
grep -q 'ShdPnd:.*0000000000000800' /proc/$TARGET/status || fail "the target did not start with SIGUSR2 pending"

lost_targets=0
lost_checkpoints=0
target_intact() {
  local what=$1 at n i st
  alive "$TARGET" || fail "$what: the target died"
  for ((i = 0; i < 100; i++)); do
    st=$(awk '{print $3}' /proc/$TARGET/stat)
    [ "$st" = S ] || [ "$st" = R ] && break
    sleep 0.05
  done
  case "$st" in S | R) ;; *) fail "$what: the target was left in state $st" ;; esac
  now=$(snapshot "$TARGET")
  [ "$now" = "$before" ] || { diff <(echo "$before") <(echo "$now") >&2; fail "$what: the target's maps, fds or signal state changed"; }
  at=$(last_tick out.txt)
  wait_line out.txt "^tick $((at + 2))\$" 10
  n=$(grep -c '^sum' out.txt || true)
  kill -USR1 "$TARGET"
  for ((i = 0; i < 100; i++)); do [ "$(grep -c '^sum' out.txt || true)" -gt "$n" ] && break; sleep 0.05; done
  [ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "$what: the target's memory changed"
  ticks_consecutive out.txt
  if [ "$(readlink ckpt)" != "$good" ]; then
    # The dump got through its commit before it was stopped: that is the new good checkpoint.
    "$CKIMAGE" verify ckpt >/dev/null || fail "$what: a checkpoint that does not verify"
    good=$(readlink ckpt)
  fi
  "$CKIMAGE" verify ckpt >/dev/null || fail "$what: the last good checkpoint no longer verifies"
  # A killed dump leaves at most its staging directory (named so) or an old version it was
  # pruning, without a manifest: nothing with a manifest that does not verify.
  for v in ckpt.d/*; do
    [ ! -e "$v/manifest.ck" ] || "$CKIMAGE" verify "$v" >/dev/null || fail "$what: $v is not a complete checkpoint"
  done
}

points=(seized armed injected pages commit committed)
covered=0
for p in "${points[@]}"; do
  rc=0
  CK_FAULT=$p "$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>/dev/null || rc=$?
  [ "$rc" = 137 ] || fail "fault point $p did not fire (exit $rc)"
  target_intact "killed at $p"
  rc=0
  CK_FAULT=error@$p "$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>err.txt || rc=$?
  # (a warning about the staging directory a kill before left may come first)
  [ "$rc" = 1 ] && grep -q "error: .*fault injected at $p\$" err.txt && [ "$(grep -vc warning: err.txt)" = 1 ] ||
    { cat err.txt; fail "error at $p: exit $rc, not one line naming it"; }
  target_intact "failed at $p"
  covered=$((covered + 2))
done
log "${#points[@]} fault points, killed and failing: target and checkpoint intact, nothing left over"

killed=0
finished=0
for ((r = 0; r < runs; r++)); do
  # The first kills 1-8 ms in, while syscalls are injected; then anywhere in a whole dump and a
  # little after it (commit, put back, prune included).
  delay=$(awk -v r=$r -v s=$RANDOM -v d="$dump_s" 'BEGIN { srand(s); split("0.001 0.002 0.003 0.004 0.006 0.008", early);
    printf "%.4f", (r < 6 ? early[r + 1] : rand() * d * 1.1) }')
  "$CKDUMP" -t "$TARGET" -D ckpt -R --keep 1 2>/dev/null &
  d=$!
  sleep "$delay"
  kill -9 "$d" 2>/dev/null || true
  rc=0
  wait "$d" 2>/dev/null || rc=$?
  if [ "$rc" = 137 ]; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
  target_intact "run $r (kill after ${delay}s)"
done
log "$runs random kills of ckdump, a dump taking ${dump_s}s ($killed during the dump, $finished after it finished): target intact every time"

# The fallback for a target without a way back (CK_FAULT=area forces it): killed inside its
# injected syscalls, the thread comes back through the safety net, whose page stays mapped.
rc=0
CK_FAULT=area,injected "$CKDUMP" -t "$TARGET" -D ckpt -R 2>/dev/null || rc=$?
[ "$rc" = 137 ] || fail "fault point area,injected did not fire (exit $rc)"
sleep 0.3
diff <(echo "$before") <(snapshot "$TARGET") >fallback.diff || true
[ "$(grep -c '^[<>]' fallback.diff)" = 1 ] && grep -q '^> .* rwxp 00000000 00:00 0 *$' fallback.diff ||
  { cat fallback.diff >&2; fail "the injection-area fallback left more than its page behind"; }
before=$(snapshot "$TARGET")
target_intact "killed inside the fallback's injected syscalls"
covered=$((covered + 1))
log "injection-area fallback killed: target intact, one page left mapped (documented)"

kill -9 "$TARGET"
wait_gone "$TARGET"
restore_detached ckpt
kill -USR1 "$RESTORED"
for ((i = 0; i < 100; i++)); do [ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] && [ "$(grep -c '^sum' out.txt)" -gt "$((runs + 14))" ] && break; sleep 0.05; done
[ "$(grep '^sum' out.txt | tail -1 | awk '{print $2}')" = "$sum" ] || fail "the last good checkpoint does not restore the same memory"

# Eight threads: each is injected in turn; a kill while one is inside leaves all as they were.
start_target tout.txt "$PROGS/threads"
wait_line tout.txt '^tick 3$'
TARGET2=$TARGET
tbefore=$(snapshot "$TARGET2")
for p in armed injected; do
  rc=0
  CK_FAULT=$p "$CKDUMP" -t "$TARGET2" -D tckpt -R 2>/dev/null || rc=$?
  [ "$rc" = 137 ] || fail "threads: fault point $p did not fire (exit $rc)"
  sleep 0.2
  alive "$TARGET2" || fail "threads, killed at $p: the target died"
  [ "$(snapshot "$TARGET2")" = "$tbefore" ] || { diff <(echo "$tbefore") <(snapshot "$TARGET2") >&2; fail "threads, killed at $p: state changed"; }
  for t in /proc/$TARGET2/task/*; do
    case "$(awk '{print $3}' $t/stat)" in S | R) ;; *) fail "threads, killed at $p: thread ${t##*/} left stopped" ;; esac
  done
  n=$(grep -c '^counts' tout.txt || true)
  kill -USR1 "$TARGET2"
  wait_line tout.txt '^counts ' 5
  for ((i = 0; i < 100; i++)); do [ "$(grep -c '^counts' tout.txt)" -gt "$n" ] && break; sleep 0.05; done
  first=$(grep '^counts' tout.txt | tail -1)
  sleep 0.5
  kill -USR1 "$TARGET2"
  for ((i = 0; i < 100; i++)); do [ "$(grep -c '^counts' tout.txt)" -gt "$((n + 1))" ] && break; sleep 0.05; done
  second=$(grep '^counts' tout.txt | tail -1)
  echo "$second" | grep -q 'consistent=1' || fail "threads, killed at $p: shared counter inconsistent"
  read -r -a a <<<"$first"
  read -r -a b <<<"$second"
  for i in 1 2 3 4 5 6 7 8; do [ "${b[$i]}" -gt "${a[$i]}" ] || fail "threads, killed at $p: thread $((i - 1)) stopped counting"; done
  covered=$((covered + 1))
done
ticks_consecutive tout.txt
log "8 threads killed while armed and injected: every thread intact"
echo "fault injection: $((covered + runs)) runs ($covered at named points, $runs random kills of which $killed hit a dump in progress), failure points covered: ${#points[@]} + fallback, targets lost: $lost_targets, checkpoints lost: $lost_checkpoints"
