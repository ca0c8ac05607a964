#!/bin/bash
# The training example (submit-signal3.sh), rewritten with ck: count.py runs unchanged, and
# neither it nor this script saves or handles anything. At the signal ckjob checkpoints the
# program into ckpt/ and requeues the job; the requeued job restores it and it goes on counting.
#SBATCH --job-name=test
#SBATCH --output=test.out
#SBATCH --open-mode=append
#SBATCH --time=0-00:01:20
#SBATCH --signal=B:USR1@60
#SBATCH --ntasks=1
#SBATCH --requeue

date
echo "restarted ${SLURM_RESTART_COUNT-0}"
exec ckjob -D ckpt -- python3 -u count.py
