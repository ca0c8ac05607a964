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

namespace {

// A message of one byte with room for one SCM_RIGHTS fd.
struct FdMessage {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  FdMessage() {
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

}  // namespace

bool send_fd(int sock, int fd) noexcept {
  FdMessage msg;
  cmsghdr* c = CMSG_FIRSTHDR(&msg.m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &msg.m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1;
}

UniqueFd recv_fd(int sock, const char* what, int flags) {
  FdMessage msg;
  ssize_t n;
  do n = recvmsg(sock, &msg.m, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && errno == EINTR);
  if (n != 1) throw_errno(std::string("receive ") + what);
  cmsghdr* c = CMSG_FIRSTHDR(&msg.m);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    throw Error(std::string("no ") + what + " came with the message");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace ck
