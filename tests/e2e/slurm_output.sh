# The job output file across a requeue, without SLURM: the program's stdout appends
# (--open-mode=append) and the next run's batch script writes to the file before the restore;
# the restored program goes on at the new end, nothing lost, nothing repeated. A file that
# shrank is refused with exit 6: an appended-to file truncated since the checkpoint, and a
# non-appending output (SLURM's default --open-mode=truncate) cut below the offset it was
# writing at, which would otherwise get a hole of zeros.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
cp "$SRCDIR/examples/count.py" .
start_target /dev/null bash -c 'exec python3 -u count.py >>job.out'
wait_line job.out '^3$'
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
at=$(count_lines '^[0-9]+$' job.out)
echo "restarted 1" >>job.out   # what the requeued batch script prints first
restore_detached ckpt
wait_line job.out "^$((at + 3))\$"
kill -9 "$RESTORED"
wait_gone "$RESTORED"
cat job.out >&2
awk '/^[0-9]+$/ { if ($1 != prev + 1) bad = 1; prev = $1 } END {exit bad}' job.out || fail "count not continuous"
[ "$(sed -n "$((at + 1))p" job.out)" = "restarted 1" ] || fail "the restored program did not write after the line appended meanwhile"

start_target /dev/null bash -c 'exec python3 -u count.py >>job.out'
wait_line job.out "^$((at + 4))\$"
"$CKDUMP" -t "$TARGET" -D ckpt 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
: >job.out
expect_fail 6 'appends to it: it was truncated or replaced' timeout 30 "$CKRESTORE" -D ckpt

rm -f state
start_target trunc.out python3 -u count.py
wait_line trunc.out '^3$'
"$CKDUMP" -t "$TARGET" -D ckpt2 2>dump.log || { cat dump.log; fail "ckdump failed"; }
wait_gone "$TARGET"
: >trunc.out
expect_fail 6 'open-mode=append' timeout 30 "$CKRESTORE" -D ckpt2
