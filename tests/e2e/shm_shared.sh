# Shared memory between a parent and its child stays shared after a restore: shared anonymous
# memory (three VMAs of one object in the parent, one in the child), a named POSIX shm object
# (removed before the restore, as on another node: the image has its content) and an unlinked
# one. The program exchanges round numbers through each region before and after the
# checkpoint; a region restored as two private copies stops answering and it says FAIL.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
start_target out.txt "$PROGS/shmshare"
wait_line out.txt '^round 20$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
ids=$("$CKIMAGE" show ckpt | grep -o '"shm_id": [0-9]*' | sort | uniq -c | awk '{print $1}' | sort | tr '\n' ' ')
[ "$ids" = "4 " ] || fail "expected one shared anonymous object in 4 VMAs (3 in the parent, 1 in the child), got: $ids"
# As after a reboot or on another node: the named object is gone; the image has its content.
rm /dev/shm/ck-shmshare-$TARGET
at=$(grep -c '^round' out.txt)
restore_detached ckpt
[ -f /dev/shm/ck-shmshare-$TARGET ] || fail "the named POSIX shm object was not recreated"
wait_line out.txt "^round $(( (at + 5) * 10 ))\$" 60
kill -USR1 "$RESTORED"
wait_line out.txt '^shm (ok|FAIL)' 60
cat out.txt | tail -3 >&2
grep -q '^shm ok$' out.txt || fail "$(grep FAIL out.txt)"
