// Collecting the kernel state of a stopped process and its thread: what /proc shows, what
// ptrace reads, and what only the task can ask for (run as injected syscalls).
#pragma once

#include <sys/types.h>

#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

// Refuses (Error unsupported) what this version cannot checkpoint (POSIX timers, seccomp
// filters) and gives a clear error for a task we may not trace. Returns the process's /proc
// status. Cheap: runs before the process is stopped.
struct TaskCheck {
  bool zombie = false;
  int threads = 0;
};
TaskCheck check_task_supported(pid_t pid);

// Fills the process-wide state of `p` (not vmas, fds, pages, threads). `rs` runs syscalls in
// one of its threads; `scratch` is a page of its memory for their arguments and results.
void collect_process_state(RemoteSyscall& rs, uint64_t scratch, img::Process& p);

// The state of one thread, `rs` running syscalls in that very thread.
void collect_thread_state(RemoteSyscall& rs, uint64_t scratch, img::Thread& t);

// A zombie: only its identity and exit status (it is recreated as a process that exits).
void collect_zombie(pid_t pid, img::Process& p);

}  // namespace ck
