# A kind of fd ck refuses (io_uring, also only mapped, perf_event, userfaultfd, fanotify, bpf, a
# pidfd of a process outside the tree, inotify with unread events): the dump fails with exit
# code 4 and an error naming it, and the program runs on without a gap. Exits 77 (skipped)
# where the kernel will not create it.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
kind=$1 re=$2  # re: what the one-line error must say
start_target out.txt "$PROGS/anonhold" "$kind"
for i in $(seq 100); do grep -q '^tick 3$\|^unavailable' out.txt && break; sleep 0.05; done
if grep -q '^unavailable' out.txt; then
  log "$kind cannot be created here: $(cat out.txt)"
  exit 77
fi
wait_line out.txt '^tick 3$'
expect_fail 4 "$re.*not supported" "$CKDUMP" -t "$TARGET" -D ckpt
[ ! -e ckpt ] || fail "a failed dump left $WORK/ckpt"
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 5))\$"
ticks_consecutive out.txt
grep -q TracerPid:.0 /proc/$TARGET/status || fail "the program is still traced"
[ "$(awk '{print $3}' /proc/$TARGET/stat)" != T ] || fail "the program was left stopped"
