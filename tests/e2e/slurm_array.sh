# A job array of 3 tasks on a real SLURM (examples/array.sh's way): each task is its own job
# with its own checkpoint; each is signalled (B:USR1, here through scancel --batch, what
# --signal=B:USR1@N does at the wall time), checkpointed and requeued on its own, and each
# output file counts 1..N without gap or repeat; every task ends with the program's status.
. "$(dirname "$0")/slurm_lib.sh"
cp "$SRCDIR/tests/progs/count_threads.py" .
cat >job.sh <<'JOB'
#!/bin/bash
#SBATCH --output=array-%a.out
#SBATCH --open-mode=append
#SBATCH --array=0-2
echo "task $SLURM_ARRAY_TASK_ID restarted ${SLURM_RESTART_COUNT-0}"
exec ckjob -D "ckpt-$SLURM_ARRAY_TASK_ID" -- python3 -u count_threads.py 40
JOB
chown "$CK_UID:$CK_GID" count_threads.py job.sh
submit --time=5 job.sh
for i in 0 1 2; do
  wait_line "array-$i.out" "^$((4 + 3 * i))\$" 60
  scancel --batch --signal=USR1 "${JOB}_$i"
done
for i in 0 1 2; do wait_job "${JOB}_$i" FAILED 90; done
for i in 0 1 2; do
  f=array-$i.out
  cat "$f" >&2
  last=$(numbers_continuous "$f")
  [ "$last" = 40 ] || fail "task $i: the count ended at $last, not 40"
  grep -q '^threads OK$' "$f" || fail "task $i: the threads did not all go on counting"
  [ "$(count_lines 'restoring from ckpt-'"$i" "$f")" = 1 ] || fail "task $i: not restored once from its own checkpoint"
  [ "$(job_field "${JOB}_$i" ExitCode)" = 3:0 ] || fail "task $i: exit code $(job_field "${JOB}_$i" ExitCode), not 3:0"
  ! grep -q 'requeue.*failed' "$f" || fail "task $i: requeue failed"
  report_restarts "$f" 1
done
log "3 array tasks, each requeued and restored from its own checkpoint"
