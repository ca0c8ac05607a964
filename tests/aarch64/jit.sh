# Code generated at run time (tests/aarch64/jitcode.cpp): an RWX page and a W^X page rewritten
# every tick hold code with no file behind it; after the restore both must run the instructions
# they held (the pages are restored and the instruction cache synced), ticks continue.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/jitcode"
wait_line out.txt '^tick 5 ok$' 60
dump ckpt "$TARGET"
wait_gone "$TARGET"
"$CKIMAGE" show ckpt | grep -q '"prot": *"rwx' || fail "the image has no rwx mapping"
at=$(sed -n 's/^tick \([0-9]*\) .*/\1/p' out.txt | tail -1)
restore_detached ckpt
wait_line out.txt "^tick $((at + 5)) ok\$" 60
! grep FAIL out.txt >&2 || fail "generated code misbehaved after the restore"
sed -n 's/^tick \([0-9]*\) ok$/tick \1/p' out.txt >ticks.txt
ticks_consecutive ticks.txt
kill -TERM "$RESTORED"
wait_gone "$RESTORED"
log "generated code ran on from tick $at"
