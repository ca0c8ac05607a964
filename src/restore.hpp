// ckrestore: bring a checkpointed process back.
#pragma once

#include <sys/types.h>

#include <string>

#include "restore_fd.hpp"

namespace ck {

struct RestoreOptions {
  std::string dir;
  bool detach = false;
  StdioMode stdio = StdioMode::inherit;
};

struct RestoreResult {
  pid_t pid = -1;
  double seconds = 0;  // until the process runs
  // Wall time of each phase (seconds): loading and verifying the image (all but the pages,
  // hashed while restored) and the machine checks; creating the processes up to the moment
  // all are prepared (fds, the premapped memory with the pages decompressed and hashed, in the
  // children, in parallel); moving the memory into place and recreating threads; handing over.
  double load_seconds = 0, prepare_seconds = 0, place_seconds = 0, handover_seconds = 0;
  uint64_t image_bytes = 0;  // every file the manifest lists (each is read once; deleted files'
                             // contents twice: hashed, then copied)
  uint64_t raw_bytes = 0;    // memory contents restored (the pages' uncompressed size)
};

// Verifies the image and the machine before creating anything; a failure after the process
// exists kills it. Returns once the process runs.
RestoreResult restore(const RestoreOptions& opts);

}  // namespace ck
