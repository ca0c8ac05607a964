# ckdump killed while it injects syscalls (CK_FAULT points armed and injected, and SIGKILL
# after short random delays) leaves the target exactly as it was: alive, untraced, running, the
# same mappings (the way back maps nothing), signal mask, counter and memory checksum. Where
# the vDSO offers no way back (its syscall fallbacks authenticate the return address with PAC)
# ckdump uses its injection area: then the kill inside injected syscalls leaves that one page
# (rwxp, anonymous), which the comparison allows. Then a stopped job: it stays stopped after
# ckdump -R and comes back stopped from ckrestore.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/memhog" 16 random
wait_line out.txt '^tick 3$'
sum=$(awk '/^ready sum/ {print $3}' out.txt)
"$CKDUMP" -t "$TARGET" -D ckpt -R -v -v 2>path.log || { cat path.log >&2; fail "ckdump -R failed"; }
if grep -q 'no way back' path.log; then
  fallback=1
  echo "FIGURE fault: no way back in this vDSO: the injection area is used"
  points=injected
else
  fallback=
  echo "FIGURE fault: $(grep 'way back through' path.log | sed 's/.*: //')"
  points="armed injected"
fi
snap() {
  if [ -n "$fallback" ]; then grep -v 'rwxp 00000000 00:00 0 *$' /proc/$1/maps; else cat /proc/$1/maps; fi
  grep -E '^(SigBlk|SigPnd|ShdPnd|TracerPid):' /proc/$1/status
}
before=$(snap "$TARGET")
check() {
  sleep 0.3
  alive "$TARGET" || fail "$1: the target died"
  [ "$(awk '{print $3}' /proc/$TARGET/stat)" != T ] || fail "$1: left stopped"
  [ "$(snap "$TARGET")" = "$before" ] || { snap "$TARGET" >&2; fail "$1: maps or signal state changed"; }
  _at=$(last_tick out.txt)
  wait_line out.txt "^tick $((_at + 2))\$"
}
for p in $points; do
  rc=0
  CK_FAULT=$p "$CKDUMP" -t "$TARGET" -D ckpt -R 2>/dev/null || rc=$?
  [ "$rc" = 137 ] || fail "fault point $p did not fire (exit $rc)"
  check "killed at $p"
done
r=0
# (the fallback's mmap has a window of microseconds in which a kill hurts the target: not here)
[ -z "$fallback" ] || r=10
while [ "$r" -lt 10 ]; do
  "$CKDUMP" -t "$TARGET" -D ckpt -R 2>/dev/null &
  d=$!
  usleep $((r * 1500 + 500)) 2>/dev/null || sleep 0.01
  kill -9 "$d" 2>/dev/null || true
  wait "$d" 2>/dev/null || true
  check "run $r"
  r=$((r + 1))
done
kill -USR1 "$TARGET"
wait_line out.txt '^sum '
[ "$(awk '/^sum/ {print $2}' out.txt | tail -1)" = "$sum" ] || fail "memory checksum changed"
ticks_consecutive out.txt
log "kills of ckdump while it injects: target intact${fallback:+ (one area page left per kill)}"

kill -STOP "$TARGET"
sleep 0.2
dump ckpt "$TARGET" -R
sleep 0.3
[ "$(awk '{print $3}' /proc/$TARGET/stat)" = T ] || fail "not stopped after ckdump -R"
dump ckpt "$TARGET"
wait_gone "$TARGET"
restore_detached ckpt
sleep 0.3
[ "$(awk '{print $3}' /proc/$RESTORED/stat)" = T ] || fail "not restored stopped"
at=$(last_tick out.txt)
kill -CONT "$RESTORED"
wait_line out.txt "^tick $((at + 2))\$"
log "stopped job: stays stopped after ckdump -R, restored stopped, goes on after SIGCONT"
