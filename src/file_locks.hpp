// File locks a process holds: flock(2) locks and OFD locks (owned by an open file description)
// and POSIX record locks (owned by the process). ckdump reads them from the "lock:" lines of
// /proc/PID/fdinfo/N, which list the locks set through that fd's open file description and owned
// by it or by the process; ckrestore takes each again in the restored process, through the same
// fd, before the program resumes. Leases and delegations are refused by name.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "image_records.hpp"

namespace ck {

// The locks in one fdinfo text of fd `fd`. `what` names the fd in errors.
std::vector<img::FileLock> parse_fdinfo_locks(const std::string& text, int fd, const std::string& what);

// Every lock held through the file fds of the stopped process `pid`.
std::vector<img::FileLock> collect_locks(pid_t pid, const std::vector<img::Fd>& fds);

// flock and OFD locks belong to an open file description, which every process sharing it
// lists: only the first holder (parents come first) keeps them. Needs the ofd ids (link_fds).
void dedupe_ofd_locks(std::vector<img::Process>& processes);

// In the restored process, once its fds are in place: takes every lock of `p` again without
// waiting; a lock someone else took meanwhile is an Error(conflict) that names it.
void take_locks(const img::Process& p);

}  // namespace ck
