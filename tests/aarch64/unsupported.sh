# A dump that fails on purpose (a netlink socket): one-line error naming it, exit 4, and the program
# goes on without a gap in its output, untraced.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/sockhold"
wait_line out.txt '^tick 3$'
expect_fail 4 'fd 3 \(socket:\[[0-9]+\]\): netlink sockets are not supported' "$CKDUMP" -t "$TARGET" -D ckpt
[ ! -e ckpt ] || fail "a failed dump left $WORK/ckpt"
! ls -a | grep -q '^\.ckpt' || fail "a failed dump left a staging directory"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 5))\$"
ticks_consecutive out.txt
not_traced "$TARGET"
