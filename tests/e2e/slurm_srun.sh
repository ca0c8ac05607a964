# examples/srun.sh's way on a real SLURM: ckjob inside a job step started by srun, the
# program a multi-threaded one whose stdout is a pipe to slurmstepd. SLURM signals the step
# before the wall time (--signal=URG@59: every process of the step gets it, the program too,
# which ignores URG); ckjob checkpoints and requeues; the second time the signal comes from
# scancel --signal=URG, the same path, sooner. Later runs may be signalled again before the
# program ends. The job output file must count 1..N without gap or repeat, the threads must
# have gone on, and the program's exit status (3) must become the job's.
. "$(dirname "$0")/slurm_lib.sh"
cp "$SRCDIR/tests/progs/count_threads.py" .
cat >job.sh <<'JOB'
#!/bin/bash
#SBATCH --output=srun.out
#SBATCH --open-mode=append
#SBATCH --signal=URG@50
echo "restarted ${SLURM_RESTART_COUNT-0}"
srun --overcommit -n1 ckjob --signal=URG -D ckpt -- python3 -u count_threads.py 120
JOB
chown "$CK_UID:$CK_GID" count_threads.py job.sh
submit --time=1 --signal=URG@59 job.sh
wait_restarts "$JOB" 1 90   # SLURM's own signal, 1 to 31 s into the run
wait_line srun.out '^restarted 1$' 30
at=$(count_lines '^[0-9]+$' srun.out)
wait_line srun.out "^$((at + 6))\$" 30
scancel --signal=URG "$JOB" || true  # SLURM may have been first
wait_restarts "$JOB" 2 60
wait_job "$JOB" FAILED 180
cat srun.out >&2
last=$(numbers_continuous srun.out)
[ "$last" = 120 ] || fail "the count ended at $last, not 120"
grep -q '^threads OK$' srun.out || fail "the threads did not all go on counting"
restores=$(count_lines 'restoring from ckpt' srun.out)
[ "$restores" -ge 2 ] || fail "ckjob restored $restores times, not at least twice"
[ "$(count_lines 'starting the program' srun.out)" = 1 ] || fail "ckjob started the program more than once"
[ "$(job_field "$JOB" ExitCode)" = 3:0 ] || fail "job exit code $(job_field "$JOB" ExitCode), the program's status is 3"
grep -q 'the program ended with status 3' srun.out || fail "ckjob did not report the program's status"
report_restarts srun.out "$restores"
log "srun step: counted 1..120 across $restores requeues, exit status 3 passed on"
