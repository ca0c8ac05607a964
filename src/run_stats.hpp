// The --stats report of ckdump and ckrestore: one line of JSON with the figures of the run.
#pragma once

#include <cstdint>
#include <string>

#include "dump.hpp"
#include "restore.hpp"
#include "unique_fd.hpp"

namespace ck {

// Peak resident memory of this process (VmHWM, bytes); 0 if unknown.
uint64_t peak_rss_bytes();

std::string dump_stats_json(const DumpOptions& opts, const DumpReport& r);
std::string restore_stats_json(const RestoreResult& r);

// Where --stats goes: the file given (created or truncated, mode 0644, opened up front so that
// a bad path fails before anything happens) or, without one, `fallback_fd`.
class StatsOutput {
 public:
  StatsOutput(const std::string& path, int fallback_fd);
  // `json` and a newline. The run itself succeeded: a failure here is only a warning.
  void write(const std::string& json) const;

 private:
  std::string path_;
  UniqueFd file_;
  int fd_;
};

}  // namespace ck
