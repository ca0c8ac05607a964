# examples/srun.sh's way on a real SLURM: ckjob inside a job step started by srun, the
# program a multi-threaded one whose stdout is a pipe to slurmstepd. SLURM signals the step
# (scancel --signal=URG, what --signal=URG@N does at the wall time: every process of the step
# gets it, the program too, which ignores URG); ckjob checkpoints and requeues, twice. The job
# output file must count 1..N without gap or repeat, the threads must have gone on, and the
# program's exit status (3) must become the job's.
. "$(dirname "$0")/slurm_lib.sh"
cp "$SRCDIR/tests/progs/count_threads.py" .
cat >job.sh <<'JOB'
#!/bin/bash
#SBATCH --output=srun.out
#SBATCH --open-mode=append
#SBATCH --signal=URG@50
echo "restarted ${SLURM_RESTART_COUNT-0}"
srun --overcommit -n1 ckjob --signal=URG -D ckpt -- python3 -u count_threads.py 70
JOB
chown "$CK_UID:$CK_GID" count_threads.py job.sh
submit --time=5 job.sh
for r in 1 2; do
  wait_line srun.out "^restarted $((r - 1))\$" 60
  at=$(count_lines '^[0-9]+$' srun.out)
  wait_line srun.out "^$((at + 6))\$" 30
  scancel --signal=URG "$JOB"
  wait_restarts "$JOB" "$r" 60
done
wait_job "$JOB" FAILED 90
cat srun.out >&2
last=$(numbers_continuous srun.out)
[ "$last" = 70 ] || fail "the count ended at $last, not 70"
grep -q '^threads OK$' srun.out || fail "the threads did not all go on counting"
[ "$(grep -c 'restoring from ckpt' srun.out)" = 2 ] || fail "ckjob did not restore twice"
[ "$(job_field "$JOB" ExitCode)" = 3:0 ] || fail "job exit code $(job_field "$JOB" ExitCode), the program's status is 3"
grep -q 'the program ended with status 3' srun.out || fail "ckjob did not report the program's status"
report_restarts srun.out 2
log "srun step: counted 1..70 across two requeues, exit status 3 passed on"
