// POSIX timers (timer_create). ckdump lists them from /proc/PID/timers (id, signal, sigev_value,
// notification, clock) and asks the process for their remaining time and overrun count with
// injected timer_gettime/timer_getoverrun; ckrestore creates them again in the restored process,
// with the same ids (prctl PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15; on older kernels by creating
// every id in order and deleting those that were gaps), and arms them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

// The timers in a /proc/PID/timers text; values and overruns are left 0. notify_tid is the
// PID /proc showed.
std::vector<img::PosixTimer> parse_proc_timers(const std::string& text, const std::string& what);

// Every POSIX timer of the stopped process `rs` runs syscalls in; `scratch` is a page of its memory.
void collect_posix_timers(RemoteSyscall& rs, uint64_t scratch, img::Process& p);

// In the restored, stopped process, once all its threads exist: creates and arms the timers.
// `data` is memory of that process for syscall arguments.
void restore_posix_timers(RemoteSyscall& rs, uint64_t data, const img::Process& p);

}  // namespace ck
