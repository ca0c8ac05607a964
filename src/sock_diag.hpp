// What the kernel's sock_diag netlink interface says about the unix sockets of a network
// namespace: the only place a unix socket's peer (by inode), its queue length, a listener's
// waiting connections and the inode of the file it is bound to can be read.
#pragma once

#include <cstdint>
#include <map>
#include <string_view>

namespace ck {

struct UnixDiag {
  uint8_t state = 0;      // TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE (the kernel's numbering)
  uint32_t peer = 0;      // inode of the peer (0: none, or gone)
  bool has_vfs = false;   // bound to a path: the inode and device of its file
  uint64_t vfs_ino = 0, vfs_dev = 0;
  uint32_t rqueue = 0;    // bytes queued (listener: connections waiting)
  uint32_t wqueue = 0;    // listener: backlog
  uint32_t icons = 0;     // listener: connections waiting to be accepted
  uint8_t shutdown = 0;   // sk_shutdown bits
};

// Parses one datagram of a SOCK_DIAG_BY_FAMILY dump reply into `out` (by inode). Returns true
// at the end of the dump (NLMSG_DONE). Throws Error on a netlink error or a malformed reply.
bool parse_unix_diag(std::string_view reply, std::map<uint64_t, UnixDiag>& out);

// Every unix socket of the network namespace of the NETLINK_SOCK_DIAG socket `nl`.
std::map<uint64_t, UnixDiag> unix_diag_all(int nl);

}  // namespace ck
