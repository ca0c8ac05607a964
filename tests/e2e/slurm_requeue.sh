# The training example (examples/training.sh with the training's count.py, unchanged) on a real
# SLURM, as a normal user: the job is signalled by SLURM before its wall time (--signal=B:USR1),
# ckjob checkpoints count.py and requeues the job, the requeued job restores it; twice. The job
# output file must read 1, 2, 3 ... with no gap and no repeat, the "restarted 0/1/2" lines of the
# three runs in between.
. "$(dirname "$0")/slurm_lib.sh"
cp "$SRCDIR/examples/count.py" "$SRCDIR/examples/training.sh" .
chown "$CK_UID:$CK_GID" count.py training.sh
# The shortest wall time SLURM has (1 minute) and a signal 55 s before it: SLURM checks on a 30 s
# tick, so it comes 5 to 35 s into each run.
submit --time=1 --signal=B:USR1@55 training.sh
wait_restarts "$JOB" 1 150
wait_restarts "$JOB" 2 150
wait_line test.out '^restarted 2$' 30
at=$(count_lines '^[0-9]+$' test.out)
wait_line test.out "^$((at + 3))\$" 30
scancel "$JOB"
wait_job "$JOB" CANCELLED 60
cat test.out >&2
last=$(numbers_continuous test.out)
[ "$(grep -c '^restarted [0-9]$' test.out)" = 3 ] || fail "not three runs"
awk '/^restarted 1$/ {r1 = NR} /^restarted 2$/ {r2 = NR} /^[0-9]+$/ {if (!r1) a++; else if (!r2) b++; else c++}
     END {exit !(a > 0 && b > 0 && c > 0)}' test.out || fail "each run should count: the count does not go on in every run"
[ "$(grep -c 'restoring from ckpt' test.out)" = 2 ] || fail "ckjob did not restore twice"
[ "$(grep -c 'starting the program' test.out)" = 1 ] || fail "ckjob started the program more than once"
report_restarts test.out 2
log "count went 1..$last across two requeues at the wall time"
