#include "sock_diag.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "error.hpp"

namespace ck {

namespace {

template <typename T>
T read_as(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

[[noreturn]] void malformed(const std::string& what) {
  throw Error("sock_diag reply: " + what);
}

}  // namespace

bool parse_unix_diag(std::string_view reply, std::map<uint64_t, UnixDiag>& out) {
  size_t at = 0;
  while (at + sizeof(nlmsghdr) <= reply.size()) {
    auto h = read_as<nlmsghdr>(reply.data() + at);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > reply.size() - at)
      malformed("message length " + std::to_string(h.nlmsg_len) + " at offset " + std::to_string(at));
    const char* body = reply.data() + at + NLMSG_HDRLEN;
    const size_t body_len = h.nlmsg_len - std::min<size_t>(h.nlmsg_len, NLMSG_HDRLEN);
    if (h.nlmsg_type == NLMSG_DONE) return true;
    if (h.nlmsg_type == NLMSG_ERROR) {
      if (body_len < sizeof(nlmsgerr)) malformed("short error message");
      throw_errno("sock_diag unix sockets", -read_as<nlmsgerr>(body).error);
    }
    if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY) malformed("message type " + std::to_string(h.nlmsg_type));
    if (body_len < sizeof(unix_diag_msg)) malformed("short unix_diag_msg");
    auto m = read_as<unix_diag_msg>(body);
    UnixDiag d;
    d.state = m.udiag_state;
    size_t a = NLMSG_ALIGN(sizeof(unix_diag_msg));
    while (a + sizeof(rtattr) <= body_len) {
      auto attr = read_as<rtattr>(body + a);
      if (attr.rta_len < sizeof(rtattr) || attr.rta_len > body_len - a) malformed("attribute length");
      const char* p = body + a + RTA_LENGTH(0);
      const size_t n = attr.rta_len - RTA_LENGTH(0);
      auto need = [&](size_t size) {
        if (n < size) malformed("attribute " + std::to_string(attr.rta_type) + " too short");
      };
      switch (attr.rta_type) {
        case UNIX_DIAG_PEER: need(4); d.peer = read_as<uint32_t>(p); break;
        case UNIX_DIAG_VFS: {
          need(sizeof(unix_diag_vfs));
          auto v = read_as<unix_diag_vfs>(p);
          d.has_vfs = true;
          d.vfs_ino = v.udiag_vfs_ino;
          d.vfs_dev = v.udiag_vfs_dev;
          break;
        }
        case UNIX_DIAG_RQLEN: {
          need(sizeof(unix_diag_rqlen));
          auto r = read_as<unix_diag_rqlen>(p);
          d.rqueue = r.udiag_rqueue;
          d.wqueue = r.udiag_wqueue;
          break;
        }
        case UNIX_DIAG_ICONS: d.icons = static_cast<uint32_t>(n / sizeof(uint32_t)); break;
        case UNIX_DIAG_SHUTDOWN: need(1); d.shutdown = static_cast<uint8_t>(*p); break;
      }
      a += RTA_ALIGN(attr.rta_len);
    }
    out[m.udiag_ino] = d;
    at += NLMSG_ALIGN(h.nlmsg_len);
  }
  if (at != reply.size() && at < reply.size()) malformed("trailing " + std::to_string(reply.size() - at) + " bytes");
  return false;
}

std::map<uint64_t, UnixDiag> unix_diag_all(int nl) {
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } q{};
  q.nlh.nlmsg_len = sizeof q;
  q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  q.req.sdiag_family = AF_UNIX;
  q.req.udiag_states = ~0u;
  q.req.udiag_show = UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
  if (send(nl, &q, sizeof q, 0) != static_cast<ssize_t>(sizeof q)) throw_errno("sock_diag request");
  std::map<uint64_t, UnixDiag> out;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = recv(nl, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno("sock_diag reply");
    if (parse_unix_diag(std::string_view(buf.data(), static_cast<size_t>(n)), out)) return out;
  }
}

}  // namespace ck
