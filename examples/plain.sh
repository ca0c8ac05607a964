#!/bin/bash
# Any program, carried across any number of wall times: replace the last line's program.
#SBATCH --job-name=ck-plain
#SBATCH --time=0-04:00:00
# USR1 reaches this script (B:) 120 to 150 s before the wall time: the time to checkpoint.
#SBATCH --signal=B:USR1@120
# Every run of the requeued job appends to the same output file.
#SBATCH --open-mode=append
#SBATCH --output=ck-plain-%j.out
#SBATCH --requeue

echo "restarted ${SLURM_RESTART_COUNT-0} on $(hostname) at $(date)"
# exec: ckjob must be the batch shell itself, since B:USR1 is sent to that process only.
# --interval: a checkpoint every 30 minutes too, in case the node fails (no signal then).
exec ckjob -D "$HOME/ckpt/plain-$SLURM_JOB_ID" --interval 1800 -- ./my_program --its --arguments
