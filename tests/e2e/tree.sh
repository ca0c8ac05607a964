# A process tree: session and group leader with a zombie child and a worker child linked by a
# pipe with data in it; all PIDs, the zombie's status, the session, the group and the pipe survive.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/tree"
wait_line out.txt '^worker 0 got queued'
zombie=$(sed -n 's/^tree ready zombie=\([0-9]*\) worker=\([0-9]*\)$/\1/p' out.txt)
worker=$(sed -n 's/^tree ready zombie=\([0-9]*\) worker=\([0-9]*\)$/\2/p' out.txt)
[ "$(awk '{print $3}' /proc/$zombie/stat)" = Z ] || fail "no zombie to test with"
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
wait_gone "$worker"
restore_detached ckpt
[ "$RESTORED" = "$TARGET" ] || fail "root PID changed"
[ "$(awk '{print $4}' /proc/$worker/stat)" = "$TARGET" ] || fail "worker $worker is not the child of $TARGET"
[ "$(awk '{print $3}' /proc/$zombie/stat)" = Z ] || fail "zombie $zombie not restored as a zombie"
[ "$(awk '{print $5, $6}' /proc/$worker/stat)" = "$TARGET $TARGET" ] || fail "worker's group/session: $(awk '{print $5, $6}' /proc/$worker/stat)"
kill -USR1 "$RESTORED"
wait_line out.txt '^worker 1 got ping pgid-ok=1$'
grep -q '^zombie reaped status 3$' out.txt || fail "zombie status lost: $(grep zombie out.txt); image: $("$CKIMAGE" show ckpt | grep -E '"(zombie|exit_status)"' | tr -d ' \n')"
grep -q '^session ok$' out.txt || fail "session/group lost"
kill -9 "$worker" 2>/dev/null || true
