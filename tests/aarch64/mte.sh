# Memory Tagging: tag checking and PROT_MTE memory are refused by name (tags are not saved) and
# the program goes on; tagged addresses alone (PR_TAGGED_ADDR_ENABLE) are kept across a restore.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
if grep -m1 '^Features' /proc/cpuinfo | grep -qw mte; then
  for mode in tcf mem; do
    start_target "out-$mode.txt" "$PROGS/mteuse" "$mode"
    wait_line "out-$mode.txt" '^tick 3$'
    case $mode in
      tcf) re='MTE tag checking enabled' ;;
      mem) re='PROT_MTE memory' ;;
    esac
    expect_fail 4 "$re" "$CKDUMP" -t "$TARGET" -D ckpt
    [ ! -e ckpt ] || fail "a failed dump left $WORK/ckpt"
    at=$(last_tick "out-$mode.txt")
    wait_line "out-$mode.txt" "^tick $((at + 3))\$"
    ticks_consecutive "out-$mode.txt"
    not_traced "$TARGET"
    kill -9 "$TARGET"
    wait_gone "$TARGET"
  done
else
  log "no MTE on this CPU: only tagged addresses are checked"
fi
start_target out.txt "$PROGS/mteuse" addr
wait_line out.txt '^tick 2$'
grep -q '^ctrl 1$' out.txt || fail "PR_TAGGED_ADDR_ENABLE not set: $(grep ctrl out.txt | head -1)"
dump ckpt "$TARGET"
wait_gone "$TARGET"
at=$(last_tick out.txt)
restore_detached ckpt
wait_line out.txt "^tick $((at + 2))\$"
[ "$(grep '^ctrl' out.txt | tail -1)" = "ctrl 1" ] || fail "tagged-address control lost: $(grep '^ctrl' out.txt | tail -1)"
ticks_consecutive out.txt
