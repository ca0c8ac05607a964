// What ckjob remembers between the runs of a job, and how it decides whether a run starts the
// program or restores it.
//
// Beside the checkpoint link DIR, ckjob keeps DIR.ckjob (0600): when the program was last
// started or restored, and when it ended (only if it ended by itself). A checkpoint older than
// the program's end belongs to a finished run; one newer than the last start was made during
// the last run and never restored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ck::job {

struct Record {
  int64_t started_ns = 0;  // CLOCK_REALTIME of the last start or restore
  int64_t ended_ns = 0;    // 0: did not end by itself (still running, checkpointed, killed)
  int status = 0;          // the program's exit status when it ended
  std::string job;         // SLURM_JOB_ID of the run that wrote the record ("" outside SLURM)
  // The checkpoint on the job's signal, in run `final_restart` (SLURM_RESTART_COUNT) of `job`:
  // written (ok) or failed. final_restart -1: none in this record.
  int final_restart = -1;
  bool final_ok = false;
};

// DIR.ckjob, or nothing if there is none (first run) or it cannot be parsed.
std::optional<Record> read_record(const std::string& dir);
// Written to a temporary file and renamed over DIR.ckjob.
void write_record(const std::string& dir, const Record& r);

// The time the checkpoint DIR names was made (its manifest's mtime), or nothing if DIR does
// not exist. Throws Error(bad_image) for a DIR that exists but names no checkpoint.
std::optional<int64_t> checkpoint_time(const std::string& dir);

// done: the program already ended in an earlier run of this job (another task of the step had
// the job requeued): ckjob exits with the status it ended with.
enum class Action { start, restore, done };
struct Decision {
  Action action;
  std::string why;  // for the log
};
// restart_count: SLURM_RESTART_COUNT (0 when unset: the job's first run); job: SLURM_JOB_ID.
Decision decide(std::optional<int64_t> checkpoint_ns, const std::optional<Record>& last, int restart_count,
                const std::string& job = "");

int64_t now_ns();

}  // namespace ck::job
