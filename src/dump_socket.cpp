#include "dump_socket.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <climits>
#include <cstddef>
#include <cstring>
#include <map>
#include <optional>

#include "error.hpp"
#include "fault.hpp"
#include "guardian.hpp"
#include "fd_passing.hpp"
#include "namespaces.hpp"
#include "log.hpp"
#include "sock_diag.hpp"
#include "socket_addr.hpp"

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04  // glibc may predate it (Linux 6.5)
#endif

namespace ck {

namespace {

struct Ref {
  pid_t pid;
  img::Fd* fd;
};

[[noreturn]] void refuse(const Ref& r, const std::string& why, ExitCode code = ExitCode::unsupported) {
  throw Error("pid " + std::to_string(r.pid) + ": fd " + std::to_string(r.fd->fd) + " (" + r.fd->link + "): " + why, code);
}

// A netlink sock_diag socket in the network namespace of `pid`: the kernel only reports the
// sockets of the namespace the asking socket lives in. Joining a namespace owned by ckrun's
// user namespace takes joining that user namespace first, which a multithreaded ckdump cannot:
// a forked child does it and hands the socket back.
UniqueFd diag_socket(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  if (!ns::other_ns(pid, "net")) {
    UniqueFd s(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!s) throw_errno("netlink sock_diag socket");
    return s;
  }
  UniqueFd netns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd userns(open(("/proc/" + std::to_string(pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns || !userns) throw_errno("open the namespaces of pid " + std::to_string(pid));
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
  UniqueFd mine(sv[0]), theirs_end(sv[1]);
  pid_t child = fork();
  if (child < 0) throw_errno("fork");
  if (child == 0) {
    if (setns(netns.get(), CLONE_NEWNET) != 0 &&
        (setns(userns.get(), CLONE_NEWUSER) != 0 || setns(netns.get(), CLONE_NEWNET) != 0))
      _exit(1);
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (s < 0) _exit(2);
    _exit(send_fd(theirs_end.get(), s) ? 0 : 3);
  }
  theirs_end.reset();
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("cannot enter the network namespace of pid " + std::to_string(pid) + " to list its sockets",
                ExitCode::permission);
  return recv_fd(mine.get(), "the sock_diag socket from the namespace helper", MSG_DONTWAIT);
}

int get_int(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) != 0) return INT32_MIN;
  return v;
}

std::string sock_name(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r != 0) return {};
  return std::string(reinterpret_cast<const char*>(&ss), std::min<size_t>(len, sizeof ss));
}

// Options worth carrying over: recorded when they differ from those of a new socket.
struct OptDef {
  int level, name;
};
const OptDef kCommonOpts[] = {
    {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_KEEPALIVE}, {SOL_SOCKET, SO_BROADCAST},
    {SOL_SOCKET, SO_DONTROUTE}, {SOL_SOCKET, SO_OOBINLINE}, {SOL_SOCKET, SO_PASSCRED},  {SOL_SOCKET, SO_PRIORITY},
    {SOL_SOCKET, SO_RCVLOWAT},
};
const OptDef kBufOpts[] = {{SOL_SOCKET, SO_SNDBUF}, {SOL_SOCKET, SO_RCVBUF}};
const OptDef kTcpOpts[] = {{IPPROTO_TCP, TCP_NODELAY},  {IPPROTO_TCP, TCP_KEEPIDLE},     {IPPROTO_TCP, TCP_KEEPINTVL},
                           {IPPROTO_TCP, TCP_KEEPCNT}, {IPPROTO_TCP, TCP_USER_TIMEOUT}};
const OptDef kIp6Opts[] = {{IPPROTO_IPV6, IPV6_V6ONLY}};
const OptDef kIpOpts[] = {{IPPROTO_IP, IP_TOS}, {IPPROTO_IP, IP_TTL}};

std::vector<img::SockOpt> differing_options(int fd, const img::Socket& s, bool tcp_established) {
  UniqueFd fresh(socket(s.family, s.type | SOCK_CLOEXEC, s.protocol));
  if (!fresh) throw_errno("a new " + socket_kind_name(s.family, s.type, s.protocol) + " socket to compare options");
  std::vector<OptDef> defs(std::begin(kCommonOpts), std::end(kCommonOpts));
  // An established TCP connection tunes its buffers itself; fixing them would stop that.
  if (!tcp_established) defs.insert(defs.end(), std::begin(kBufOpts), std::end(kBufOpts));
  if ((s.family == AF_INET || s.family == AF_INET6) && s.type == SOCK_STREAM)
    defs.insert(defs.end(), std::begin(kTcpOpts), std::end(kTcpOpts));
  if (s.family == AF_INET6) defs.insert(defs.end(), std::begin(kIp6Opts), std::end(kIp6Opts));
  if (s.family == AF_INET) defs.insert(defs.end(), std::begin(kIpOpts), std::end(kIpOpts));
  std::vector<img::SockOpt> out;
  for (const OptDef& d : defs) {
    int v = get_int(fd, d.level, d.name), f = get_int(fresh.get(), d.level, d.name);
    if (v != INT32_MIN && v != f) out.push_back({d.level, d.name, v});
  }
  return out;
}

// Sets SO_PEEK_OFF for the reading and puts the program's own value back on every path out:
// the offset belongs to the socket, which the program shares with our copy; the guardian
// puts it back should ckdump be killed meanwhile.
// (A socket without peek offsets, TCP before Linux 6.9, has none to set or put back.)
class PeekOffset {
 public:
  PeekOffset(int fd, int value, Guardian& guardian)
      : fd_(fd), saved_(get_int(fd, SOL_SOCKET, SO_PEEK_OFF)), guardian_(guardian) {
    if (saved_ == INT32_MIN) saved_ = -1;
    if (value == saved_) return;
    id_ = guardian_.peek_offset(fd_, saved_);
    if (setsockopt(fd_, SOL_SOCKET, SO_PEEK_OFF, &value, sizeof value) != 0) {
      int err = errno;
      guardian_.forget(id_);
      throw_errno("SO_PEEK_OFF", err);
    }
    changed_ = true;
  }
  PeekOffset(const PeekOffset&) = delete;
  PeekOffset& operator=(const PeekOffset&) = delete;
  ~PeekOffset() {
    if (!changed_) return;
    setsockopt(fd_, SOL_SOCKET, SO_PEEK_OFF, &saved_, sizeof saved_);
    guardian_.forget(id_);
  }
  int saved() const { return saved_; }

 private:
  int fd_;
  int saved_;
  Guardian& guardian_;
  Guardian::Id id_ = 0;
  bool changed_ = false;
};

// The receive queue of a unix or UDP socket, read with MSG_PEEK from offset 0 on: nothing is
// consumed. Stream bytes come as one message; datagrams and seqpackets one by one with their
// sender. Anything passed along with unix data (SCM_RIGHTS, SCM_CREDENTIALS, pidfds) is
// refused; what the kernel adds on receipt (timestamps, packet info) comes again by itself.
std::vector<img::SockMsg> peek_queue(const Ref& r, int fd, const img::Socket& s, uint32_t queued_bytes,
                                     Guardian& guardian) {
  std::vector<img::SockMsg> out;
  PeekOffset po(fd, 0, guardian);
  if (po.saved() >= 0)
    refuse(r, socket_kind_name(s.family, s.type, s.protocol) + " socket read with SO_PEEK_OFF is not supported");
  const bool stream = s.type == SOCK_STREAM;
  std::vector<char> buf(1 << 20);
  uint64_t got_bytes = 0;
  for (size_t count = 0;; count++) {
    if (stream && got_bytes >= queued_bytes) break;
    if (!stream && s.type == SOCK_SEQPACKET && got_bytes >= queued_bytes && count > 0) break;
    sockaddr_storage from{};
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char ctl[4096];
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t n = recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (stream ? 0 : MSG_TRUNC));
    if (n < 0) {
      if (errno == EAGAIN) break;
      throw_errno("peek into the queue of " + socket_kind_name(s.family, s.type, s.protocol) + " socket");
    }
    bool rights = false, creds = false, other = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        rights = true;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
          int f;
          std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
          close(f);  // a copy the peek gave us
        }
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        creds = true;
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_PIDFD) {
        int f;
        std::memcpy(&f, CMSG_DATA(c), sizeof f);
        close(f);
        creds = true;
      } else if (s.family == AF_UNIX && !(c->cmsg_level == SOL_SOCKET && (c->cmsg_type == SO_TIMESTAMP ||
                                                                         c->cmsg_type == SO_TIMESTAMPNS ||
                                                                         c->cmsg_type == SO_TIMESTAMPING))) {
        other = true;
      }
    }
    std::string kind = socket_kind_name(s.family, s.type, s.protocol);
    if (rights || (m.msg_flags & MSG_CTRUNC)) refuse(r, kind + " socket with SCM_RIGHTS in flight is not supported");
    if (creds) refuse(r, kind + " socket with SCM_CREDENTIALS in flight (SO_PASSCRED and data queued) is not supported");
    if (other) refuse(r, kind + " socket with ancillary data in flight is not supported");
    if (!stream && static_cast<size_t>(n) > buf.size()) refuse(r, kind + " socket with a datagram over 1 MiB queued");
    if (stream) {
      if (n == 0) break;
      if (out.empty()) out.emplace_back();
      out[0].data.append(buf.data(), static_cast<size_t>(n));
    } else {
      img::SockMsg msg;
      msg.data.assign(buf.data(), static_cast<size_t>(n));
      if (m.msg_namelen > sizeof(sa_family_t))
        msg.from.assign(reinterpret_cast<const char*>(&from), std::min<size_t>(m.msg_namelen, sizeof from));
      out.push_back(std::move(msg));
      // A zero-length datagram does not move the peek offset: only a known count ends the loop.
      if (n == 0) refuse(r, kind + " socket with an empty datagram queued is not supported");
    }
    got_bytes += static_cast<uint64_t>(n);
    if (count > (1u << 20)) refuse(r, kind + " socket with more than a million messages queued");
  }
  fault_point("peek_off");  // the queue read, the peek offset moved past it
  if (stream && got_bytes != queued_bytes)
    throw Error("read " + std::to_string(got_bytes) + " of " + std::to_string(queued_bytes) + " bytes queued in the socket");
  return out;
}

// TCP_REPAIR on an established connection, off again (without a window probe) on every path
// out, with the SO_REUSEADDR the kernel resets on the way; by the guardian should ckdump be
// killed meanwhile.
class RepairMode {
 public:
  RepairMode(int fd, Guardian& guardian) : fd_(fd), reuse_(get_int(fd, SOL_SOCKET, SO_REUSEADDR)), guardian_(guardian) {
    id_ = guardian_.tcp_repair(fd_, reuse_);
    int on = TCP_REPAIR_ON;
    ok_ = setsockopt(fd_, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) == 0;
    err_ = errno;
    if (!ok_) guardian_.forget(id_);
  }
  RepairMode(const RepairMode&) = delete;
  RepairMode& operator=(const RepairMode&) = delete;
  ~RepairMode() {
    if (!ok_) return;
    leave_tcp_repair(fd_, reuse_);
    guardian_.forget(id_);
  }
  bool ok() const { return ok_; }
  int error() const { return err_; }

 private:
  int fd_;
  int reuse_;
  Guardian& guardian_;
  Guardian::Id id_ = 0;
  bool ok_ = false;
  int err_ = 0;
};

std::string peek_tcp_queue(int fd, int queue, int ioctl_len, uint32_t& seq) {
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) != 0) throw_errno("TCP_REPAIR_QUEUE");
  int s = 0;
  socklen_t len = sizeof s;
  if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &s, &len) != 0) throw_errno("TCP_QUEUE_SEQ");
  seq = static_cast<uint32_t>(s);
  int n = 0;
  if (ioctl(fd, ioctl_len, &n) != 0) throw_errno("queue length");
  std::string data(static_cast<size_t>(n), '\0');
  if (n > 0) {
    ssize_t got = recv(fd, data.data(), data.size(), MSG_PEEK | MSG_DONTWAIT);
    if (got != n) throw Error("peeked " + std::to_string(got) + " of " + std::to_string(n) + " bytes of a TCP queue");
  }
  return data;
}

void dump_tcp_connection(int fd, img::Socket& s, Guardian& guardian) {
  RepairMode repair(fd, guardian);
  if (!repair.ok()) {
    if (repair.error() == EPERM)
      throw Error("tcp connection " + sockaddr_string(s.local) + " -> " + sockaddr_string(s.remote) +
                      ": TCP_REPAIR needs CAP_NET_ADMIN in the user namespace owning the network namespace; run the "
                      "program under `ckrun --net` (or checkpoint as root)",
                  ExitCode::permission);
    throw_errno("TCP_REPAIR", repair.error());
  }
  PeekOffset po(fd, -1, guardian);
  if (po.saved() >= 0) throw Error("a tcp socket read with SO_PEEK_OFF is not supported", ExitCode::unsupported);
  fault_point("repair");
  img::TcpState& t = s.tcp;
  t.send_queue = peek_tcp_queue(fd, TCP_SEND_QUEUE, SIOCOUTQ, t.snd_seq);
  int unsent = 0;
  if (ioctl(fd, SIOCOUTQNSD, &unsent) != 0) throw_errno("SIOCOUTQNSD");
  t.unsent = static_cast<uint32_t>(unsent);
  img::SockMsg in;
  in.data = peek_tcp_queue(fd, TCP_RECV_QUEUE, SIOCINQ, t.rcv_seq);
  if (!in.data.empty()) s.queue.push_back(std::move(in));
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) throw_errno("TCP_INFO");
  t.options = ti.tcpi_options;
  t.snd_wscale = ti.tcpi_snd_wscale;
  t.rcv_wscale = ti.tcpi_rcv_wscale;
  int mss = get_int(fd, IPPROTO_TCP, TCP_MAXSEG);
  if (mss == INT32_MIN) throw_errno("TCP_MAXSEG");
  t.mss = static_cast<uint32_t>(mss);
  if (t.options & TCPI_OPT_TIMESTAMPS) {
    int ts = get_int(fd, IPPROTO_TCP, TCP_TIMESTAMP);
    if (ts == INT32_MIN) throw_errno("TCP_TIMESTAMP");
    t.timestamp = static_cast<uint32_t>(ts);
  }
  tcp_repair_window w{};
  len = sizeof w;
  if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len) != 0) throw_errno("TCP_REPAIR_WINDOW");
  t.snd_wl1 = w.snd_wl1;
  t.snd_wnd = w.snd_wnd;
  t.max_window = w.max_window;
  t.rcv_wnd = w.rcv_wnd;
  t.rcv_wup = w.rcv_wup;
}

const char* tcp_state_name(int st) {
  static const char* names[] = {"?",         "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",  "FIN_WAIT2",
                                "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"};
  return st >= 0 && st < 12 ? names[st] : "?";
}

bool unnamed_inet(const std::string& raw) { return inet_port(raw) == 0; }

}  // namespace

void SocketDump::collect(const std::vector<ProcessFds>& procs, pid_t netns_pid, img::Tree& tree) {
  // Socket inode -> its fds in the tree (one socket, one open file description, but several
  // fds and processes may hold it).
  std::map<uint64_t, std::vector<Ref>> by_ino;
  FdCopier fds;
  for (const auto& p : procs)
    for (auto& fd : *p.fds)
      if (fd.kind == img::FdKind::socket) {
        uint64_t ino = std::strtoull(fd.link.c_str() + 8, nullptr, 10);  // "socket:[N]"
        by_ino[ino].push_back({p.os_pid, &fd});
      }
  if (by_ino.empty()) return;

  struct Work {
    std::vector<Ref> refs;
    UniqueFd copy;
    int32_t id;
    uint32_t rqueue = 0;
  };
  std::vector<Work> work;
  std::map<uint64_t, int32_t> id_of;
  std::optional<std::map<uint64_t, UnixDiag>> udiag;
  std::map<int32_t, uint32_t> unix_peer_ino;
  struct Listener {
    Ref ref;
    uint32_t pending = 0;  // connections waiting to be accepted
    uint32_t found = 0;    // of which the clients are in the tree
  };
  std::map<int32_t, Listener> listeners;           // unix listeners, by socket id
  std::map<std::string, int32_t> listener_by_addr;  // unix listeners, by address
  for (auto& [ino, refs] : by_ino) {
    const Ref& r = refs[0];
    UniqueFd copy = fds.copy(r.pid, r.fd->fd);
    img::Socket s;
    s.id = static_cast<int32_t>(tree.sockets.size());
    s.ino = ino;
    s.family = get_int(copy.get(), SOL_SOCKET, SO_DOMAIN);
    s.type = get_int(copy.get(), SOL_SOCKET, SO_TYPE);
    s.protocol = get_int(copy.get(), SOL_SOCKET, SO_PROTOCOL);
    std::string kind = socket_kind_name(s.family, s.type, s.protocol);
    bool inet = s.family == AF_INET || s.family == AF_INET6;
    bool tcp = inet && s.type == SOCK_STREAM && s.protocol == IPPROTO_TCP;
    bool udp = inet && s.type == SOCK_DGRAM && s.protocol == IPPROTO_UDP;
    bool unix_ok = s.family == AF_UNIX && (s.type == SOCK_STREAM || s.type == SOCK_DGRAM || s.type == SOCK_SEQPACKET);
    bool all_stdio = true;
    for (auto& x : refs) all_stdio = all_stdio && x.fd->fd <= 2;
    auto as_stdio = [&] {
      for (auto& x : refs) x.fd->kind = img::FdKind::stdio;
    };
    if (!tcp && !udp && !unix_ok) {
      // Sockets on stdin/stdout/stderr stay ckrestore's business, as before.
      if (all_stdio) {
        as_stdio();
        continue;
      }
      refuse(r, kind + " sockets are not supported");
    }
    s.local = sock_name(copy.get(), false);
    s.remote = sock_name(copy.get(), true);
    Work w{refs, std::move(copy), s.id};
    const int fd = w.copy.get();
    if (unix_ok) {
      if (!udiag) udiag = unix_diag_all(diag_socket(netns_pid).get());
      auto it = udiag->find(ino);
      if (it == udiag->end() && all_stdio) {  // e.g. a journal stream from outside the tree's namespace
        as_stdio();
        continue;
      }
      if (it == udiag->end()) refuse(r, kind + " socket not found by sock_diag (another network namespace?)");
      const UnixDiag& d = it->second;
      s.shutdown = d.shutdown & 3;
      w.rqueue = d.rqueue;
      if (d.state == 10 /* TCP_LISTEN */) {
        s.state = img::SocketState::listening;
        s.backlog = d.wqueue;
        // Connections waiting to be accepted are fine when their clients are in the tree.
        listeners[s.id] = {r, std::max(d.rqueue, d.icons), 0};
        listener_by_addr[s.local] = s.id;
      } else if (s.type == SOCK_DGRAM ? d.peer != 0 : d.state == 1 /* TCP_ESTABLISHED */) {
        // (A datagram socket others connect to shows ESTABLISHED too: only a peer counts.)
        s.state = img::SocketState::connected;
      }
      unix_peer_ino[s.id] = d.peer;
      if (unix_addr_is_path(s.local)) {
        std::string path = unix_addr_path(s.local);
        if (path[0] != '/') {
          char cwd[PATH_MAX];
          ssize_t n = readlink(("/proc/" + std::to_string(r.pid) + "/cwd").c_str(), cwd, sizeof cwd - 1);
          if (n <= 0) throw_errno("cwd of pid " + std::to_string(r.pid));
          path = std::string(cwd, static_cast<size_t>(n)) + "/" + path;
          sockaddr_un a{};
          a.sun_family = AF_UNIX;
          if (path.size() >= sizeof a.sun_path) refuse(r, kind + " socket bound to a relative path too long once made absolute");
          std::memcpy(a.sun_path, path.data(), path.size());
          s.local.assign(reinterpret_cast<const char*>(&a), offsetof(sockaddr_un, sun_path) + path.size() + 1);
        }
        struct stat st {};
        s.unlinked = !d.has_vfs || stat(path.c_str(), &st) != 0 || st.st_ino != d.vfs_ino || !S_ISSOCK(st.st_mode);
      }
      if (s.state != img::SocketState::listening) s.queue = peek_queue(r, fd, s, d.rqueue, guardian_);
      s.options = differing_options(fd, s, false);
    } else if (tcp) {
      tcp_info ti{};
      socklen_t len = sizeof ti;
      if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) throw_errno("TCP_INFO");
      if (ti.tcpi_state == 10 /* LISTEN */) {
        s.state = img::SocketState::listening;
        s.backlog = ti.tcpi_sacked;  // sk_max_ack_backlog, for a listener
        if (ti.tcpi_unacked)
          refuse(r, "listening tcp socket " + sockaddr_string(s.local) + " with " + std::to_string(ti.tcpi_unacked) +
                        " connection(s) not yet accepted is not supported");
      } else if (ti.tcpi_state == 1 /* ESTABLISHED */) {
        s.state = img::SocketState::connected;
      } else if (ti.tcpi_state == 7 /* CLOSE */) {
        s.state = img::SocketState::unconnected;
        s.remote.clear();
        if (unnamed_inet(s.local)) s.local.clear();
      } else {
        refuse(r, kind + " socket " + sockaddr_string(s.local) + " -> " + sockaddr_string(s.remote) + " in state " +
                      tcp_state_name(ti.tcpi_state) + " is not supported");
      }
      s.options = differing_options(fd, s, s.state == img::SocketState::connected);
    } else {  // udp
      if (unnamed_inet(s.local)) s.local.clear();
      if (!s.remote.empty()) s.state = img::SocketState::connected;
      s.queue = peek_queue(r, fd, s, 0, guardian_);
      s.options = differing_options(fd, s, false);
    }
    id_of[ino] = s.id;
    tree.sockets.push_back(std::move(s));
    work.push_back(std::move(w));
  }

  // Peers: unix sockets by the inode sock_diag gives, TCP connections by their addresses.
  std::map<std::pair<std::string, std::string>, int32_t> tcp_by_addr;
  for (auto& s : tree.sockets)
    if (s.family != AF_UNIX && s.type == SOCK_STREAM && s.state == img::SocketState::connected)
      tcp_by_addr[{s.local, s.remote}] = s.id;
  for (auto& w : work) {
    img::Socket& s = tree.sockets[static_cast<size_t>(w.id)];
    const Ref& r = w.refs[0];
    std::string kind = socket_kind_name(s.family, s.type, s.protocol);
    auto all_stdio = [&] {
      for (auto& x : w.refs)
        if (x.fd->fd > 2) return false;
      return true;
    };
    if (s.family == AF_UNIX && s.state == img::SocketState::connected) {
      uint32_t peer = unix_peer_ino[s.id];
      auto it = id_of.find(peer);
      if (it != id_of.end()) {
        s.peer_id = it->second;
      } else if (s.type != SOCK_DGRAM && s.shutdown == 3) {
        s.peer_closed = true;  // the other end is closed: what is queued, then end of file
      } else if (s.type != SOCK_DGRAM && peer == 0 && listener_by_addr.count(s.remote) &&
                 listeners[listener_by_addr[s.remote]].pending > 0) {
        // Connected, not yet accepted: the other end exists only in the listener's queue. Its
        // bytes cannot be read without accepting it, so only a client that sent none goes.
        int sent = 0;
        if (ioctl(w.copy.get(), SIOCOUTQ, &sent) != 0) throw_errno("SIOCOUTQ");
        if (sent > 0)
          refuse(r, kind + " socket connected to " + sockaddr_string(s.remote) + ", not yet accepted there, with " +
                        std::to_string(sent) + " bytes sent is not supported");
        s.peer_id = listener_by_addr[s.remote];
        s.pending_accept = true;
        listeners[s.peer_id].found++;
      } else if (s.type == SOCK_DGRAM && !sockaddr_string(s.remote).empty()) {
        // Connected to a named socket outside the tree (syslog's /dev/log): connect again by name.
      } else if (all_stdio()) {
        for (auto& x : w.refs) x.fd->kind = img::FdKind::stdio;
        s.id = -1;
      } else {
        refuse(r, kind + " socket connected to a process outside the checkpoint (peer socket:[" + std::to_string(peer) +
                      "]" + (s.remote.size() > sizeof(sa_family_t) ? " " + sockaddr_string(s.remote) : std::string()) +
                      ") is not supported");
      }
    }
    if (s.family == AF_UNIX && s.type == SOCK_DGRAM) {
      for (const auto& m : s.queue) {
        if (m.from.empty() || (!unix_addr_is_path(m.from) && !unix_addr_is_abstract(m.from))) continue;
        bool found = false;
        for (const auto& o : tree.sockets) found = found || (o.family == AF_UNIX && o.local == m.from);
        if (!found)
          refuse(r, kind + " socket with a datagram queued from " + sockaddr_string(m.from) +
                        ", a socket outside the checkpoint, is not supported");
      }
    }
    if (s.family != AF_UNIX && s.type == SOCK_STREAM && s.state == img::SocketState::connected) {
      auto it = tcp_by_addr.find({s.remote, s.local});
      if (it != tcp_by_addr.end()) {
        s.peer_id = it->second;
      } else if (all_stdio()) {
        for (auto& x : w.refs) x.fd->kind = img::FdKind::stdio;
        s.id = -1;
      } else if (opts_.drop_external_tcp) {
        s.dropped = true;
      } else {
        refuse(r, "tcp connection " + sockaddr_string(s.local) + " -> " + sockaddr_string(s.remote) +
                      " to a peer outside the checkpoint is not supported (ckdump --drop-external-tcp drops it: the "
                      "restored program finds it reset)");
      }
    }
  }
  for (auto& [id, l] : listeners)
    if (l.pending > l.found)
      refuse(l.ref, "listening " + socket_kind_name(AF_UNIX, tree.sockets[static_cast<size_t>(id)].type, 0) + " socket " +
                        sockaddr_string(tree.sockets[static_cast<size_t>(id)].local) + " with " +
                        std::to_string(l.pending - l.found) +
                        " connection(s) from outside the checkpoint not yet accepted is not supported");
  // Connections between two processes of the tree: their whole state, through TCP_REPAIR.
  for (auto& w : work) {
    img::Socket& s = tree.sockets[static_cast<size_t>(w.id)];
    if (s.id < 0 || s.family == AF_UNIX || s.type != SOCK_STREAM || s.state != img::SocketState::connected || s.dropped)
      continue;
    with_context("pid " + std::to_string(w.refs[0].pid) + ": fd " + std::to_string(w.refs[0].fd->fd) + " (" +
                     w.refs[0].fd->link + ")",
                 [&] { dump_tcp_connection(w.copy.get(), s, guardian_); });
    CK_LOG(2, "tcp %s -> %s: snd_seq %u rcv_seq %u, %zu bytes to send (%u unsent), %zu received",
           sockaddr_string(s.local).c_str(), sockaddr_string(s.remote).c_str(), s.tcp.snd_seq, s.tcp.rcv_seq,
           s.tcp.send_queue.size(), s.tcp.unsent, s.queue.empty() ? size_t{0} : s.queue[0].data.size());
  }

  // Sockets that went back to stdio drop out; ids are renumbered densely.
  std::vector<img::Socket> kept;
  std::map<int32_t, int32_t> renum;
  for (auto& s : tree.sockets)
    if (s.id >= 0) {
      renum[s.id] = static_cast<int32_t>(kept.size());
      kept.push_back(std::move(s));
    }
  for (auto& s : kept) {
    s.id = renum.at(s.id);
    if (s.peer_id >= 0) {
      auto it = renum.find(s.peer_id);
      s.peer_id = it == renum.end() ? -1 : it->second;
    }
  }
  for (auto& w : work) {
    auto it = renum.find(w.id);
    if (it == renum.end()) continue;
    for (auto& x : w.refs) x.fd->socket_id = it->second;
    const img::Socket& s = kept[static_cast<size_t>(it->second)];
    if (s.family != AF_UNIX && s.type == SOCK_STREAM && s.state == img::SocketState::connected && !s.dropped)
      tcp_kept_.push_back(std::move(w.copy));
  }
  tree.sockets = std::move(kept);
}

void SocketDump::silence_before_kill() {
  // All told first: should the guardian be gone, no socket has changed yet.
  for (auto& fd : tcp_kept_) guardian_.tcp_repair(fd.get(), get_int(fd.get(), SOL_SOCKET, SO_REUSEADDR));
  for (auto& fd : tcp_kept_) {
    int on = TCP_REPAIR_ON;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR, &on, sizeof on);
  }
}

void leave_tcp_repair(int fd, int reuseaddr) noexcept {
  int q = TCP_NO_QUEUE, off = TCP_REPAIR_OFF_NO_WP;
  setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof q);
  setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off);
  if (reuseaddr != INT32_MIN) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuseaddr, sizeof reuseaddr);
}

}  // namespace ck
