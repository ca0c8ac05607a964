# Seccomp filters survive a restore (root dumps them with PTRACE_SECCOMP_GET_FILTER): both
# threads of the program still get errno 42 from getpriority(), with Seccomp 2 and NoNewPrivs
# set. The program checks it itself.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/seccomped"
wait_line out.txt '^tick 3$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
"$CKIMAGE" show ckpt >show.json
[ "$(grep -c '"seccomp_filters": \[4\]' show.json)" = 2 ] || fail "expected one 4-instruction filter per thread in the image"
restore_detached ckpt
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
kill -USR1 "$RESTORED"
wait_line out.txt '^seccomp (ok|FAIL)' 30
grep -q '^seccomp ok$' out.txt || fail "$(grep FAIL out.txt)"
