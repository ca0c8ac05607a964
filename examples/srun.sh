#!/bin/bash
# The same with srun (its accounting, binding, environment): ckjob runs inside the job step.
#SBATCH --job-name=ck-srun
#SBATCH --time=0-04:00:00
#SBATCH --ntasks=1
#SBATCH --open-mode=append
#SBATCH --output=ck-srun-%j.out
#SBATCH --requeue
# Without "B:", SLURM signals every process of the job steps, the program included. URG is
# ignored by programs that do not ask for it, so only ckjob acts on it; USR1 would kill most.
#SBATCH --signal=URG@120

echo "restarted ${SLURM_RESTART_COUNT-0} on $(hostname) at $(date)"
srun ckjob --signal=URG -D "$HOME/ckpt/srun-$SLURM_JOB_ID" --interval 1800 -- ./my_program --its --arguments
