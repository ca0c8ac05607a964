// Collecting the kernel state of a stopped process and its thread: what /proc shows, what
// ptrace reads, and what only the task can ask for (run as injected syscalls).
#pragma once

#include <sys/types.h>

#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

// Refuses (Error unsupported) what this version cannot checkpoint: several threads, child
// processes, POSIX timers, seccomp filters. Cheap: runs before the target is stopped.
void check_task_supported(pid_t pid);

// Fills everything in `p` except vmas, fds and pages. `scratch` is a page of the target's
// memory that injected syscalls may use for their arguments and results.
void collect_task_state(RemoteSyscall& rs, uint64_t scratch, img::Process& p);

}  // namespace ck
