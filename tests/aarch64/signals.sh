# Signal handlers, the blocked mask with a pending signal, the alternate stack and an itimer.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/sigstate"
wait_line out.txt '^sigstate ready$'
kill -INT "$TARGET"
wait_line out.txt '^sigint 1$'
wait_line out.txt '^alarms 10$'
dump ckpt "$TARGET"
wait_gone "$TARGET"
restore_detached ckpt
kill -INT "$RESTORED"
wait_line out.txt '^sigint 2$'
kill -USR1 "$RESTORED"
wait_line out.txt '^sigusr1 1 onstack=1$'
n=$(grep -E '^alarms' out.txt | tail -1 | awk '{print $2}')
"$CKIMAGE" show ckpt | grep -A1 itimers >&2 || true
wait_line out.txt "^alarms $((n + 10))\$" 20
kill -HUP "$RESTORED"
wait_line out.txt '^usr2 delivered=1$'
grep -E '^(sigint|sigusr1|usr2)' out.txt >&2
