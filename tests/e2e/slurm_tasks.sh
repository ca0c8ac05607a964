# srun -n 3 on a real SLURM: three tasks of one step, each ckjob carrying its own program with
# its own checkpoint (-D 'ckpt-%t'). Task 0's program ends early (status 3, after 8 lines); then
# the signal (to every process of the step) makes tasks 1 and 2 checkpoint, and task 1 (the
# lowest-ranked task still running) requeues the job only once task 2's checkpoint is written
# too. In the next run tasks 1 and 2 restore their own checkpoints and count on; task 0 does not
# run its finished program again and ends with its status. Without %t, tasks that would share
# one checkpoint are refused.
. "$(dirname "$0")/slurm_lib.sh"
expect_fail 2 'tasks of this step .* would share one checkpoint: put %t in it' \
  env SLURM_STEP_NUM_TASKS=2 SLURM_PROCID=1 "$CKJOB" -D ckpt -- true
[ ! -e ckpt ] && [ ! -e ckpt.ckjob ] || fail "the refused ckjob left files behind"
cp "$SRCDIR/tests/progs/count_threads.py" .
cat >job.sh <<'JOB'
#!/bin/bash
#SBATCH --output=batch.out
#SBATCH --open-mode=append
#SBATCH --ntasks=3
echo "restarted ${SLURM_RESTART_COUNT-0}"
srun --overcommit -n3 --open-mode=append --output='task-%t.out' \
  ckjob --signal=URG -D 'ckpt-%t' -- bash -c 'exec python3 -u count_threads.py $((SLURM_PROCID ? 40 : 8))'
JOB
chown "$CK_UID:$CK_GID" count_threads.py job.sh
submit --time=5 job.sh
wait_line task-0.out 'the program ended with status 3' 60
wait_line task-1.out '^12$' 30
wait_line task-2.out '^12$' 30
scancel --signal=URG "$JOB" || fail "scancel --signal=URG $JOB failed"
wait_restarts "$JOB" 1 90
wait_job "$JOB" FAILED 120
cat batch.out task-0.out task-1.out task-2.out >&2
last=$(numbers_continuous task-0.out)
[ "$last" = 8 ] || fail "task 0: the count ended at $last, not 8"
[ "$(count_lines 'not running the program again: the program ended \(status 3\)' task-0.out)" = 1 ] ||
  fail "task 0: its finished program was not left alone in the second run"
[ "$(count_lines 'starting the program|restoring from' task-0.out)" = 1 ] || fail "task 0: started or restored again"
for t in 1 2; do
  f=task-$t.out
  last=$(numbers_continuous "$f")
  [ "$last" = 40 ] || fail "task $t: the count ended at $last, not 40"
  [ "$(count_lines "restoring from ckpt-$t " "$f")" = 1 ] || fail "task $t: not restored once from its own checkpoint"
  [ "$(count_lines 'starting the program' "$f")" = 1 ] || fail "task $t: the program was started more than once"
done
for t in 0 1 2; do
  grep -q '^threads OK$' task-$t.out || fail "task $t: the threads did not all go on counting"
  ! grep -q 'FAILED\|requeue.*failed' task-$t.out || fail "task $t: $(grep 'FAILED\|requeue.*failed' task-$t.out)"
done
grep -q 'task 2 is checkpointed; task 1 requeues' task-2.out || fail "task 2 did not leave the requeue to task 1"
[ "$(cat task-*.out | grep -c 'requeued job')" = 1 ] || fail "not exactly one requeue"
grep -q 'requeued job' task-1.out || fail "task 1 did not requeue"
[ "$(job_field "$JOB" ExitCode)" = 3:0 ] || fail "job exit code $(job_field "$JOB" ExitCode), the programs' status is 3"
# Task 1 requeued after task 2's checkpoint was written (its record names this run).
t2=$(log_time 'checkpoint (before the end of the job) written' task-2.out)
t1=$(log_time 'requeued job' task-1.out)
[ "$(echo "$t1 >= $t2" | bc)" = 1 ] || fail "task 1 requeued at $t1, before task 2's checkpoint at $t2"
report_restarts task-1.out 1
log "3 tasks of one srun step: a finished one left alone, two restored from their own checkpoints, one requeue after both"
