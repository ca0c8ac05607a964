#!/bin/bash
# A job array: every task is a job of its own, requeued on its own, with its own checkpoint.
#SBATCH --job-name=ck-array
#SBATCH --array=0-2
#SBATCH --time=0-04:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --open-mode=append
#SBATCH --output=ck-array-%A_%a.out
#SBATCH --requeue

echo "task $SLURM_ARRAY_TASK_ID restarted ${SLURM_RESTART_COUNT-0}"
# SLURM_ARRAY_JOB_ID stays the same for every task and run; the checkpoint is per task.
exec ckjob -D "$HOME/ckpt/array-${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID" -- ./my_program "input-$SLURM_ARRAY_TASK_ID"
