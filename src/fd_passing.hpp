// Getting hold of open files that live in other processes: another process's fd copied with
// pidfd_getfd (the same open file, so what is read or set through the copy is the target's), and
// one fd handed over a unix socket with SCM_RIGHTS.
#pragma once

#include <sys/types.h>

#include <map>

#include "unique_fd.hpp"

namespace ck {

// Copies of fds of other processes, with one pidfd per process opened on first use. Errors name
// the process and the fd.
class FdCopier {
 public:
  UniqueFd copy(pid_t pid, int fd);

 private:
  std::map<pid_t, UniqueFd> pidfds_;
};

// One message of `len` bytes over the unix socket sock, with `fd` along (SCM_RIGHTS; none if
// fd < 0): the bytes sent, or -1 (errno). Async-signal-safe (no allocation, no exception):
// usable in a child forked from threads.
ssize_t send_with_fd(int sock, const void* data, size_t len, int fd) noexcept;
// One message of at most `len` bytes, and the fd that came with it (close-on-exec; -1 if none):
// the bytes received, 0 at end of file, or -1 (errno).
ssize_t recv_with_fd(int sock, void* data, size_t len, int* fd, int flags = 0) noexcept;

// Sends fd with one byte of data; false (errno set) if it could not. Async-signal-safe.
bool send_fd(int sock, int fd) noexcept;
// Receives an fd sent by send_fd; throws Error mentioning what if none came.
UniqueFd recv_fd(int sock, const char* what, int flags = 0);

}  // namespace ck
