# File locks survive a restore: flock, POSIX record locks and an OFD lock of the parent and a
# POSIX lock of its child are held again, by the same owners, when the program resumes; a fresh
# process sees them held, the owners can unlock. A lock taken by someone else while the program
# was checkpointed makes the restore fail by name (exit 6), and the program is not started.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
mkdir files
start_target out.txt "$PROGS/locks" "$WORK/files"
wait_line out.txt '^tick 3$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
kinds=$("$CKIMAGE" show ckpt | grep -o '"kind": "\(flock\|posix\|ofd\)"' | sort | uniq -c | awk '{print $1 $3}' | tr '\n' ' ')
[ "$kinds" = '1"flock" 1"ofd" 3"posix" ' ] || fail "locks in the image: $kinds"

# Someone takes the flock meanwhile: the restore must refuse, by name.
python3 -c 'import fcntl, sys, time; f = open(sys.argv[1], "r+"); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(60)' \
  files/locked.dat &
holder=$!
PIDS+=("$holder")
sleep 0.3
expect_fail 6 'fd 3: flock \(write\) it held is now held by another process' "$CKRESTORE" -D ckpt -d
kill "$holder"
wait "$holder" 2>/dev/null || true
wait_gone "$TARGET"

restore_detached ckpt
at=$(last_tick out.txt)
wait_line out.txt "^tick $((at + 3))\$"
kill -USR1 "$RESTORED"
wait_line out.txt '^locks (ok|FAIL)' 30
grep -q '^locks ok$' out.txt || fail "$(grep FAIL out.txt)"
