# A process tree (tests/progs/tree.cpp): session and group leader with a zombie child and a
# worker child linked by a pipe with data in it; all PIDs, the zombie's status, the session,
# the group and the pipe survive. tests/e2e/tree.sh for busybox sh.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/tree"
wait_line out.txt '^worker 0 got queued' 60
zombie=$(sed -n 's/^tree ready zombie=\([0-9]*\) worker=\([0-9]*\)$/\1/p' out.txt)
worker=$(sed -n 's/^tree ready zombie=\([0-9]*\) worker=\([0-9]*\)$/\2/p' out.txt)
[ -n "$zombie" ] && [ -n "$worker" ] || fail "no 'tree ready' line"
PIDS="$PIDS $worker"
[ "$(awk '{print $3}' /proc/$zombie/stat)" = Z ] || fail "no zombie to test with"
dump ckpt "$TARGET"
wait_gone "$TARGET"
wait_gone "$worker"
restore_detached ckpt
[ "$RESTORED" = "$TARGET" ] || fail "root PID changed"
[ "$(awk '{print $4}' /proc/$worker/stat)" = "$TARGET" ] || fail "worker $worker is not the child of $TARGET"
[ "$(awk '{print $3}' /proc/$zombie/stat)" = Z ] || fail "zombie $zombie not restored as a zombie"
[ "$(awk '{print $5, $6}' /proc/$worker/stat)" = "$TARGET $TARGET" ] || fail "worker's group/session: $(awk '{print $5, $6}' /proc/$worker/stat)"
kill -USR1 "$RESTORED"
wait_line out.txt '^worker 1 got ping pgid-ok=1$' 60
wait_line out.txt '^zombie reaped status 3$' 30
wait_line out.txt '^session ok$' 30
