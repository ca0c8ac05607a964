// Seccomp filters. ckdump reads each thread's filters with PTRACE_SECCOMP_GET_FILTER, which
// needs CAP_SYS_ADMIN (a normal user's dump of a filtered program is refused by name); ckrestore
// installs them again in every thread, oldest first, as the very last injected syscalls before
// the one that removes its working area, so that nothing of the restore runs under them
// (a filter that forbids munmap makes the restore fail, it does not go wrong silently).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

// The filters of thread `tid` (stopped, traced by us).
void collect_seccomp(pid_t tid, img::Thread& t);

// In a stopped restored thread: no_new_privs if the process had it (it is per thread), then its
// filters. `data` is memory of that process for the arguments.
void restore_seccomp(RemoteSyscall& rs, uint64_t data, uint64_t data_size, const img::Thread& t, bool no_new_privs);

}  // namespace ck
