#include "fd_passing.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "error.hpp"

namespace ck {

UniqueFd FdCopier::copy(pid_t pid, int fd) {
  auto& pidfd = pidfds_[pid];
  if (!pidfd) pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) throw_errno("pidfd_open " + std::to_string(pid));
  UniqueFd c(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
  if (!c) throw_errno("pidfd_getfd of fd " + std::to_string(fd) + " of pid " + std::to_string(pid));
  return c;
}

ssize_t send_with_fd(int sock, const void* data, size_t len, int fd) noexcept {
  iovec iov{const_cast<void*>(data), len};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (fd >= 0) {
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do n = sendmsg(sock, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

ssize_t recv_with_fd(int sock, void* data, size_t len, int* fd, int flags) noexcept {
  iovec iov{data, len};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  *fd = -1;
  ssize_t n;
  do n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
      std::memcpy(fd, CMSG_DATA(c), sizeof *fd);
  return n;
}

bool send_fd(int sock, int fd) noexcept {
  const char byte = 0;
  return send_with_fd(sock, &byte, 1, fd) == 1;
}

UniqueFd recv_fd(int sock, const char* what, int flags) {
  char byte;
  int fd = -1;
  if (recv_with_fd(sock, &byte, 1, &fd, flags) != 1) {
    UniqueFd stray(fd);
    throw_errno(std::string("receive ") + what);
  }
  if (fd < 0) throw Error(std::string("no ") + what + " came with the message");
  return UniqueFd(fd);
}

}  // namespace ck
