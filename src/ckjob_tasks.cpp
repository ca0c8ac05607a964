#include "ckjob_tasks.hpp"

#include <cstdlib>

#include "cli_common.hpp"
#include "error.hpp"

namespace ck::job {

namespace {

std::string env_or_empty(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

int env_int(const char* name, int fallback, int min) {
  const std::string v = env_or_empty(name);
  if (v.empty()) return fallback;
  return static_cast<int>(parse_number(name, v.c_str(), min, 1 << 24));
}

}  // namespace

JobEnv job_env() {
  JobEnv e;
  e.job_id = env_or_empty("SLURM_JOB_ID");
  e.array_job_id = env_or_empty("SLURM_ARRAY_JOB_ID");
  e.array_task_id = env_or_empty("SLURM_ARRAY_TASK_ID");
  e.restart_count = env_int("SLURM_RESTART_COUNT", 0, 0);
  // Only srun sets SLURM_STEP_NUM_TASKS; a batch script of a job with --ntasks=4 has
  // SLURM_NTASKS=4 but is one process, with one program.
  e.tasks = env_int("SLURM_STEP_NUM_TASKS", 1, 1);
  e.rank = e.tasks > 1 ? env_int("SLURM_PROCID", 0, 0) : 0;
  if (e.rank >= e.tasks)
    throw Error("SLURM_PROCID " + std::to_string(e.rank) + " is not a task of a step of " + std::to_string(e.tasks) +
                " (SLURM_STEP_NUM_TASKS)");
  return e;
}

std::string expand_dir(const std::string& pattern, const JobEnv& env, int rank) {
  std::string out;
  bool per_task = false;
  auto need = [&](const std::string& v, const char* what) -> const std::string& {
    if (v.empty()) throw Error("-D " + pattern + ": " + what + " is not set", ExitCode::usage);
    return v;
  };
  for (size_t i = 0; i < pattern.size(); i++) {
    if (pattern[i] != '%') {
      out += pattern[i];
      continue;
    }
    const char c = i + 1 < pattern.size() ? pattern[++i] : '\0';
    switch (c) {
      case '%': out += '%'; break;
      case 't': out += std::to_string(rank), per_task = true; break;
      case 'j': out += need(env.job_id, "%j: SLURM_JOB_ID"); break;
      case 'A': out += need(env.array_job_id, "%A: SLURM_ARRAY_JOB_ID"); break;
      case 'a': out += need(env.array_task_id, "%a: SLURM_ARRAY_TASK_ID"); break;
      default:
        throw Error("-D " + pattern + ": '%" + std::string(c ? 1 : 0, c) +
                        "' is not a pattern ckjob knows (%t task, %j job, %A array job, %a array task, %% a %)",
                    ExitCode::usage);
    }
  }
  if (env.tasks > 1 && !per_task)
    throw Error("-D " + pattern + ": the " + std::to_string(env.tasks) +
                    " tasks of this step (SLURM_STEP_NUM_TASKS) would share one checkpoint: put %t in it (e.g. -D " +
                    pattern + "-%t), so that each task has its own",
                ExitCode::usage);
  return out;
}

StepProgress step_progress(const std::string& pattern, const JobEnv& env) {
  StepProgress p;
  p.requeuer = env.rank;
  for (int r = 0; r < env.tasks; r++) {
    if (r == env.rank) continue;
    auto rec = read_record(expand_dir(pattern, env, r));
    const bool this_job = rec && rec->job == env.job_id;
    if (r < p.requeuer && !(this_job && rec->ended_ns)) p.requeuer = r;
    if (this_job && rec->final_restart == env.restart_count) {
      if (rec->final_ok) p.written++;
      else if (!p.failed) p.failed = r;
    } else if (this_job && rec->ended_ns) {
      p.written++;  // its program ended: nothing of it to carry to the next run
    } else {
      p.missing += (p.missing.empty() ? "" : ", ") + std::to_string(r);
    }
  }
  return p;
}

}  // namespace ck::job
