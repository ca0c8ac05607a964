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
};

// DIR.ckjob, or nothing if there is none (first run) or it cannot be parsed.
std::optional<Record> read_record(const std::string& dir);
// Written to a temporary file and renamed over DIR.ckjob.
void write_record(const std::string& dir, const Record& r);

// The time the checkpoint DIR names was made (its manifest's mtime), or nothing if DIR does
// not exist. Throws Error(bad_image) for a DIR that exists but names no checkpoint.
std::optional<int64_t> checkpoint_time(const std::string& dir);

enum class Action { start, restore };
struct Decision {
  Action action;
  std::string why;  // for the log
};
// restart_count: SLURM_RESTART_COUNT (0 when unset: the job's first run).
Decision decide(std::optional<int64_t> checkpoint_ns, const std::optional<Record>& last, int restart_count);

int64_t now_ns();

}  // namespace ck::job
