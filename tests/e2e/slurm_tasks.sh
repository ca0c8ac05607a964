# srun -n 2 on a real SLURM: two tasks of one step, each ckjob carrying its own program with its
# own checkpoint (-D 'ckpt-%t'). On the signal (to every process of the step) both checkpoint;
# task 0 requeues the job only once task 1's checkpoint is written too; in the next run both
# restore their own. Each task's output counts 1..N without gap or repeat and its threads went
# on; exactly one requeue. Without %t, tasks that would share one checkpoint are refused.
. "$(dirname "$0")/slurm_lib.sh"
expect_fail 2 'tasks of this step .* would share one checkpoint: put %t in it' \
  env SLURM_STEP_NUM_TASKS=2 SLURM_PROCID=1 "$CKJOB" -D ckpt -- true
[ ! -e ckpt ] && [ ! -e ckpt.ckjob ] || fail "the refused ckjob left files behind"
cp "$SRCDIR/tests/progs/count_threads.py" .
cat >job.sh <<'JOB'
#!/bin/bash
#SBATCH --output=batch.out
#SBATCH --open-mode=append
#SBATCH --ntasks=2
echo "restarted ${SLURM_RESTART_COUNT-0}"
srun --overcommit -n2 --open-mode=append --output='task-%t.out' \
  ckjob --signal=URG -D 'ckpt-%t' -- python3 -u count_threads.py 40
JOB
chown "$CK_UID:$CK_GID" count_threads.py job.sh
submit --time=5 job.sh
wait_line task-0.out '^6$' 60
wait_line task-1.out '^6$' 30
scancel --signal=URG "$JOB" || fail "scancel --signal=URG $JOB failed"
wait_restarts "$JOB" 1 90
wait_job "$JOB" FAILED 120
cat batch.out task-0.out task-1.out >&2
for t in 0 1; do
  f=task-$t.out
  last=$(numbers_continuous "$f")
  [ "$last" = 40 ] || fail "task $t: the count ended at $last, not 40"
  grep -q '^threads OK$' "$f" || fail "task $t: the threads did not all go on counting"
  [ "$(count_lines "restoring from ckpt-$t " "$f")" = 1 ] || fail "task $t: not restored once from its own checkpoint"
  [ "$(count_lines 'starting the program' "$f")" = 1 ] || fail "task $t: the program was started more than once"
  ! grep -q 'FAILED\|requeue.*failed' "$f" || fail "task $t: $(grep 'FAILED\|requeue.*failed' "$f")"
done
grep -q 'task 1 is checkpointed; task 0 requeues' task-1.out || fail "task 1 did not leave the requeue to task 0"
[ "$(cat task-0.out task-1.out | grep -c 'requeued job')" = 1 ] || fail "not exactly one requeue"
[ "$(job_field "$JOB" ExitCode)" = 3:0 ] || fail "job exit code $(job_field "$JOB" ExitCode), the program's status is 3"
# Task 0 requeued after task 1's checkpoint was written (its record names this run).
t1=$(log_time 'checkpoint (before the end of the job) written' task-1.out)
t0=$(log_time 'requeued job' task-0.out)
[ "$(echo "$t0 >= $t1" | bc)" = 1 ] || fail "task 0 requeued at $t0, before task 1's checkpoint at $t1"
report_restarts task-0.out 1
log "2 tasks of one srun step: each restored from its own checkpoint, one requeue after both"
