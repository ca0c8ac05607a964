// ckdump: checkpoint one process into an image directory.
#pragma once

#include <sys/types.h>

#include <string>

namespace ck {

struct DumpOptions {
  pid_t pid = -1;
  std::string dir;
  bool leave_running = false;
  int level = 1;          // zstd level, 0 = raw
  unsigned threads = 0;   // 0 = all CPUs
  bool progress = false;
  unsigned keep = 2;      // checkpoint versions kept in DIR.d (--keep)
  bool drop_external_tcp = false;  // --drop-external-tcp
};

struct DumpReport {
  double total_seconds = 0, frozen_seconds = 0;
  uint64_t pages = 0, zero_pages = 0, raw_bytes = 0, image_bytes = 0;
};

// Any failure throws Error and leaves the target running as it was; the previous checkpoint
// at `dir`, if any, stays until the new one is complete and verified.
DumpReport dump(const DumpOptions& opts);

}  // namespace ck
