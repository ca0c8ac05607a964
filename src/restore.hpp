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
  double seconds = 0;
};

// Verifies the image and the machine before creating anything; a failure after the process
// exists kills it. Returns once the process runs.
RestoreResult restore(const RestoreOptions& opts);

}  // namespace ck
