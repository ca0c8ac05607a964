// The tasks of one job step: `srun -n N ckjob -D ckpt-%t -- PROGRAM` runs N ckjobs, each carrying
// its own program with its own checkpoint. SLURM's filename patterns name each task's directory
// (one directory shared by several tasks would mix their checkpoints, and every task would come
// back as the same program), and one task requeues the job, once every task's checkpoint is
// written: a requeue ends the whole step, and with it the dumps still running. That task is the
// lowest-ranked one whose program has not ended (task 0, unless its program already finished).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ckjob_state.hpp"

namespace ck::job {

// What SLURM tells a task about its job, from the environment.
struct JobEnv {
  std::string job_id;         // SLURM_JOB_ID ("" outside SLURM)
  std::string array_job_id;   // SLURM_ARRAY_JOB_ID
  std::string array_task_id;  // SLURM_ARRAY_TASK_ID
  int rank = 0;               // SLURM_PROCID: this task in its step
  int tasks = 1;              // SLURM_STEP_NUM_TASKS: tasks of the step (srun sets it; 1 in a batch script)
  int restart_count = 0;      // SLURM_RESTART_COUNT
};
JobEnv job_env();

// -D with SLURM's filename patterns for the task `rank`: %t task rank, %j job id, %A array job
// id, %a array task id, %% a '%'. Throws a usage Error for another %-letter, and when the step
// has several tasks but the pattern has no %t.
std::string expand_dir(const std::string& pattern, const JobEnv& env, int rank);

// Where the other tasks of the step are with the checkpoint the job's signal asked for.
struct StepProgress {
  int requeuer = 0;  // the task that requeues: the lowest rank whose program has not ended
  int written = 0;   // checkpointed in this run, or their program ended in this job
  std::optional<int> failed;  // a task whose checkpoint failed (its program runs on)
  std::string missing;        // ranks not there yet, "2, 5"
};
StepProgress step_progress(const std::string& pattern, const JobEnv& env);

}  // namespace ck::job
