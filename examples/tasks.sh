#!/bin/bash
# Several independent tasks in one job step (srun -n 4): each task's ckjob carries its own
# program with its own checkpoint (%t: the task's rank, SLURM_PROCID). One task requeues the job
# once all four are checkpointed. Tasks that talk to each other (MPI) are not supported.
#SBATCH --job-name=ck-tasks
#SBATCH --ntasks=4
#SBATCH --time=0-04:00:00
#SBATCH --open-mode=append
#SBATCH --output=ck-tasks-%j.out
#SBATCH --requeue
# Without "B:", SLURM signals every process of the step; URG is ignored by the programs.
#SBATCH --signal=URG@120

echo "restarted ${SLURM_RESTART_COUNT-0} on $(hostname) at $(date)"
srun --open-mode=append --output="ck-tasks-%j-%t.out" \
  ckjob --signal=URG -D "$HOME/ckpt/tasks-%j-%t" --interval 1800 -- ./my_program  # each reads its part from SLURM_PROCID
