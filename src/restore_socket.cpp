#include "restore_socket.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>

#include "error.hpp"
#include "proc_parse.hpp"
#include "restore_fd.hpp"
#include "socket_addr.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

// TCP option kinds (RFC 793/1323/2018), as TCP_REPAIR_OPTIONS takes them.
constexpr uint32_t kOptMss = 2, kOptWindow = 3, kOptSackPerm = 4, kOptTimestamp = 8;

bool is_tcp(const img::Socket& s) { return s.family != AF_UNIX && s.type == SOCK_STREAM; }
bool tcp_connection(const img::Socket& s) { return is_tcp(s) && s.state == img::SocketState::connected; }

std::string describe(const img::Socket& s) {
  std::string d = socket_kind_name(s.family, s.type, s.protocol) + " socket:[" + std::to_string(s.ino) + "]";
  // Appended piece by piece: " " + std::string trips GCC 12's false -O3 -Wrestrict.
  if (!s.local.empty() && !sockaddr_string(s.local).empty()) {
    d += ' ';
    d += sockaddr_string(s.local);
  }
  if (!s.remote.empty() && !sockaddr_string(s.remote).empty()) {
    d += " -> ";
    d += sockaddr_string(s.remote);
  }
  return d;
}

const sockaddr* sa(const std::string& raw) { return reinterpret_cast<const sockaddr*>(raw.data()); }
socklen_t salen(const std::string& raw) { return static_cast<socklen_t>(raw.size()); }

void set_int(int fd, int level, int name, int v, const char* what) {
  if (setsockopt(fd, level, name, &v, sizeof v) != 0) throw_errno(what);
}

// `bound`: the socket has its address already, and IPV6_V6ONLY can no longer change.
void apply_options(int fd, const img::Socket& s, bool bound = false) {
  for (const img::SockOpt& o : s.options) {
    if (bound && o.level == IPPROTO_IPV6 && o.name == IPV6_V6ONLY) continue;
    // getsockopt reports buffer sizes doubled (the kernel's bookkeeping share); set halves them.
    int v = (o.level == SOL_SOCKET && (o.name == SO_SNDBUF || o.name == SO_RCVBUF)) ? o.value / 2 : o.value;
    if (setsockopt(fd, o.level, o.name, &v, sizeof v) != 0)
      throw_errno("setsockopt level " + std::to_string(o.level) + " option " + std::to_string(o.name));
  }
}

void write_all(int fd, const std::string& data, int flags, const char* what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno(what);
    done += static_cast<size_t>(n);
  }
}

// A unix socket path left by the dumped program: only a socket file nobody listens on any
// more is removed (a program still running, e.g. after ckdump -R, keeps its address).
void clear_stale_path(const std::string& path, int type) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw Error(path + " exists and is not a socket", ExitCode::conflict);
  UniqueFd probe(socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) throw_errno("socket");
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw Error(path + ": path too long for a unix socket");
  std::memcpy(a.sun_path, path.data(), path.size());
  int r = as_file_owner([&] { return connect(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a); });
  if (r == 0 || errno == EAGAIN || errno == EINPROGRESS || errno == EPROTOTYPE)
    throw Error(path + ": a running program listens on it", ExitCode::conflict);
  if (errno != ECONNREFUSED && errno != ENOENT) throw_errno("probe " + path);
  if (as_file_owner([&] { return unlink(path.c_str()); }) != 0 && errno != ENOENT) throw_errno("remove stale socket " + path);
}

void bind_socket(int fd, const img::Socket& s) {
  if (s.local.empty()) return;
  if (s.family == AF_UNIX) {
    if (!unix_addr_is_path(s.local) && !unix_addr_is_abstract(s.local)) return;
    if (unix_addr_is_path(s.local)) clear_stale_path(unix_addr_path(s.local), s.type);
    if (as_file_owner([&] { return bind(fd, sa(s.local), salen(s.local)); }) != 0)
      throw_errno("bind to " + sockaddr_string(s.local));
    return;
  }
  if (bind(fd, sa(s.local), salen(s.local)) != 0) throw_errno("bind to " + sockaddr_string(s.local));
}

// The restored end of a connection to a peer outside the tree: connected, then reset by its
// peer, as when the other side went away. Made on loopback; without loopback a socket never
// connected does (reads and writes fail with ENOTCONN).
UniqueFd reset_connection(const img::Socket& s) {
  UniqueFd c(socket(s.family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!c) throw_errno("socket");
  UniqueFd l(socket(s.family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  sockaddr_storage a{};
  socklen_t len;
  if (s.family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
    a6->sin6_family = AF_INET6;
    a6->sin6_addr = in6addr_loopback;
    len = sizeof *a6;
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
    a4->sin_family = AF_INET;
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a4;
  }
  if (!l || bind(l.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(l.get(), 1) != 0 ||
      getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      connect(c.get(), reinterpret_cast<sockaddr*>(&a), len) != 0)
    return UniqueFd(socket(s.family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  UniqueFd acc(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!acc) throw_errno("accept");
  linger lg{1, 0};
  setsockopt(acc.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);  // close sends RST
  return c;
}


bool has_room(int fd, size_t snd, size_t rcv) {
  int sb = 0, rb = 0;
  socklen_t len = sizeof sb;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, &len);
  len = sizeof rb;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, &len);
  // A queue takes a little more than its bytes (the buffers' bookkeeping).
  return static_cast<size_t>(sb) >= snd + snd / 4 + 65536 && static_cast<size_t>(rb) >= rcv + rcv / 4 + 65536;
}

// A TCP socket whose buffers hold `snd` and `rcv` queued bytes: the dumped connection's buffers
// had grown with it, a new socket starts small. Root forces the sizes (which ends the kernel's
// tuning of them); in the tree's own network namespace, the namespace's defaults for new
// sockets are raised for the time of one socket() (the tuning goes on).
UniqueFd tcp_socket_with_room(int family, size_t snd, size_t rcv) {
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd) throw_errno("socket");
  if (has_room(fd.get(), snd, rcv)) return fd;
  int sw = static_cast<int>(std::min<size_t>(snd + snd / 2 + (256 << 10), 1u << 30));
  int rw = static_cast<int>(std::min<size_t>(rcv + rcv / 2 + (256 << 10), 1u << 30));
  if (setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sw, sizeof sw) == 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rw, sizeof rw) == 0) {
    if (has_room(fd.get(), snd, rcv)) return fd;
    throw Error("socket buffers too small for the queued bytes of a TCP connection");
  }
  // Only without the privilege to force them (and so never in the host's namespace, whose
  // defaults a normal user cannot change anyway).
  const std::string wpath = "/proc/sys/net/ipv4/tcp_wmem", rpath = "/proc/sys/net/ipv4/tcp_rmem";
  std::string wold = proc::read_file(wpath), rold = proc::read_file(rpath);
  auto raised = [](const std::string& old, int want) {
    unsigned long lo = 0, def = 0, hi = 0;
    sscanf(old.c_str(), "%lu %lu %lu", &lo, &def, &hi);
    unsigned long w = std::max<unsigned long>(def, static_cast<unsigned long>(want));
    return std::to_string(lo) + " " + std::to_string(w) + " " + std::to_string(std::max(hi, w));
  };
  try {
    proc::write_file(wpath, raised(wold, sw));
    proc::write_file(rpath, raised(rold, rw));
  } catch (const Error& e) {
    try {
      proc::write_file(wpath, wold);
    } catch (const Error&) {
    }
    throw Error("the queues of a TCP connection (" + std::to_string(snd) + " bytes to send, " + std::to_string(rcv) +
                    " received) do not fit the buffers of a new socket, and its network namespace's defaults (" +
                    e.message() + ") cannot be raised",
                ExitCode::permission);
  }
  fd.reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
  int err = errno;
  proc::write_file(wpath, wold);
  proc::write_file(rpath, rold);
  if (!fd) throw_errno("socket", err);
  if (!has_room(fd.get(), snd, rcv)) throw Error("socket buffers too small for the queued bytes of a TCP connection");
  return fd;
}

[[noreturn]] void repair_denied(const img::Socket& s, int err) {
  if (err == EPERM)
    throw Error(describe(s) + ": TCP_REPAIR needs CAP_NET_ADMIN in the user namespace owning the network namespace: "
                "restore as root, or checkpoint a program started with `ckrun --net`",
                ExitCode::permission);
  throw_errno("TCP_REPAIR", err);
}

// An established connection made again in repair mode: sequence numbers, options, window and
// both queues as they were, no packet sent. Repair mode is left by the caller once both ends
// exist, then the bytes never sent go out.
UniqueFd repair_connection(const img::Socket& s) {
  const img::TcpState& t = s.tcp;
  UniqueFd fd = tcp_socket_with_room(s.family, t.send_queue.size(), s.queue.empty() ? 0 : s.queue[0].data.size());
  int on = TCP_REPAIR_ON;
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) repair_denied(s, errno);
  const std::string& in = s.queue.empty() ? std::string() : s.queue[0].data;
  set_int(fd.get(), IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
  set_int(fd.get(), IPPROTO_TCP, TCP_QUEUE_SEQ, static_cast<int>(t.snd_seq - static_cast<uint32_t>(t.send_queue.size())),
          "send TCP_QUEUE_SEQ");
  set_int(fd.get(), IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
  set_int(fd.get(), IPPROTO_TCP, TCP_QUEUE_SEQ, static_cast<int>(t.rcv_seq - static_cast<uint32_t>(in.size())),
          "receive TCP_QUEUE_SEQ");
  if (s.family == AF_INET6) {
    for (const auto& o : s.options)
      if (o.level == IPPROTO_IPV6 && o.name == IPV6_V6ONLY) set_int(fd.get(), o.level, o.name, o.value, "IPV6_V6ONLY");
  }
  if (bind(fd.get(), sa(s.local), salen(s.local)) != 0) throw_errno("bind to " + sockaddr_string(s.local));
  if (connect(fd.get(), sa(s.remote), salen(s.remote)) != 0) throw_errno("connect (repair) to " + sockaddr_string(s.remote));
  tcp_repair_opt opts[4];
  size_t n = 0;
  opts[n++] = {kOptMss, t.mss};
  if (t.options & TCPI_OPT_WSCALE) opts[n++] = {kOptWindow, t.snd_wscale | (t.rcv_wscale << 16)};
  if (t.options & TCPI_OPT_SACK) opts[n++] = {kOptSackPerm, 0};
  if (t.options & TCPI_OPT_TIMESTAMPS) opts[n++] = {kOptTimestamp, 0};
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, static_cast<socklen_t>(n * sizeof opts[0])) != 0)
    throw_errno("TCP_REPAIR_OPTIONS");
  if (t.options & TCPI_OPT_TIMESTAMPS)
    set_int(fd.get(), IPPROTO_TCP, TCP_TIMESTAMP, static_cast<int>(t.timestamp), "TCP_TIMESTAMP");
  // Queued bytes go straight into the queues in repair mode, in pieces the kernel accounts for.
  auto refill = [&](const char* data, size_t size, const char* what) {
    for (size_t off = 0; off < size;) {
      size_t chunk = std::min<size_t>(size - off, 64 * 1024);
      ssize_t k = send(fd.get(), data + off, chunk, MSG_DONTWAIT);
      if (k <= 0) throw_errno(std::string(what) + " at byte " + std::to_string(off) + " of " + std::to_string(size));
      off += static_cast<size_t>(k);
    }
  };
  set_int(fd.get(), IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
  refill(in.data(), in.size(), "refill the receive queue");
  set_int(fd.get(), IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
  size_t sent_part = t.send_queue.size() - std::min<size_t>(t.unsent, t.send_queue.size());
  refill(t.send_queue.data(), sent_part, "refill the send queue");
  tcp_repair_window w{t.snd_wl1, t.snd_wnd, t.max_window, t.rcv_wnd, t.rcv_wup};
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof w) != 0) throw_errno("TCP_REPAIR_WINDOW");
  set_int(fd.get(), IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE");
  return fd;
}

// Whether a datagram from `from` was sent by a socket bound to `bound`: the same address, or
// for inet the same port on a socket bound to the wildcard address.
bool sent_by(const std::string& bound, const std::string& from) {
  if (bound.empty() || from.empty()) return false;
  if (bound == from) return true;
  auto fam = [](const std::string& a) { return reinterpret_cast<const sockaddr*>(a.data())->sa_family; };
  if (fam(bound) != fam(from) || (fam(bound) != AF_INET && fam(bound) != AF_INET6)) return false;
  if (inet_port(bound) != inet_port(from)) return false;
  if (fam(bound) == AF_INET) {
    sockaddr_in a;
    std::memcpy(&a, bound.data(), sizeof a);
    return a.sin_addr.s_addr == htonl(INADDR_ANY);
  }
  sockaddr_in6 a;
  std::memcpy(&a, bound.data(), sizeof a);
  return IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr);
}

// Where a sender reaches a socket bound to `local`: itself, or loopback for the wildcard.
std::string reachable(const std::string& local) {
  std::string to = local;
  auto* sa4 = reinterpret_cast<sockaddr_in*>(to.data());
  if (sa4->sin_family == AF_INET && sa4->sin_addr.s_addr == htonl(INADDR_ANY)) sa4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (sa4->sin_family == AF_INET6 && to.size() >= sizeof(sockaddr_in6)) {
    auto* sa6 = reinterpret_cast<sockaddr_in6*>(to.data());
    if (IN6_IS_ADDR_UNSPECIFIED(&sa6->sin6_addr)) sa6->sin6_addr = in6addr_loopback;
  }
  return to;
}

struct UnionFind {
  std::vector<int32_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int32_t find(int32_t x) {
    while (parent[static_cast<size_t>(x)] != x) x = parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    return x;
  }
  void join(int32_t a, int32_t b) { parent[static_cast<size_t>(find(a))] = find(b); }
};

}  // namespace

std::vector<int32_t> socket_groups(const img::Tree& tree) {
  const auto& ss = tree.sockets;
  UnionFind uf(ss.size());
  for (const auto& s : ss) {
    if (s.peer_id >= 0) uf.join(s.id, s.peer_id);
    if (s.type == SOCK_DGRAM)
      for (const auto& m : s.queue)
        for (const auto& o : ss)
          if (o.type == SOCK_DGRAM && o.id != s.id && sent_by(o.local, m.from)) uf.join(s.id, o.id);
    // A connection shares its port with the listener it came from: the listener binds first.
    if (tcp_connection(s))
      for (const auto& o : ss)
        if (is_tcp(o) && o.state == img::SocketState::listening && o.family == s.family &&
            inet_port(o.local) == inet_port(s.local))
          uf.join(s.id, o.id);
  }
  std::vector<int32_t> g(ss.size());
  for (size_t i = 0; i < ss.size(); i++) g[i] = uf.find(static_cast<int32_t>(i));
  return g;
}

namespace {

bool loopback(const std::string& raw) {
  if (raw.size() >= sizeof(sockaddr_in) && reinterpret_cast<const sockaddr*>(raw.data())->sa_family == AF_INET) {
    sockaddr_in a;
    std::memcpy(&a, raw.data(), sizeof a);
    return (ntohl(a.sin_addr.s_addr) >> 24) == 127;
  }
  if (raw.size() >= sizeof(sockaddr_in6) && reinterpret_cast<const sockaddr*>(raw.data())->sa_family == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, raw.data(), sizeof a);
    if (IN6_IS_ADDR_LOOPBACK(&a.sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a.sin6_addr) && a.sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

void check_sockets_restorable(const img::Tree& tree, bool privileged, bool for_user) {
  if (tree.own_netns) return;  // a namespace of its own, with only loopback: nothing reaches out
  if (for_user) {
    unsigned first_free = 1024;
    try {
      first_free = static_cast<unsigned>(std::stoul(proc::read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start")));
    } catch (...) {
    }
    for (const auto& s : tree.sockets) {
      if (s.family != AF_INET && s.family != AF_INET6) continue;
      if (tcp_connection(s) && !s.dropped && (!loopback(s.local) || !loopback(s.remote)))
        throw Error(describe(s) + ": root restores a normal user's TCP connections on loopback only",
                    ExitCode::permission);
      unsigned port = inet_port(s.local);
      if (port && port < first_free)
        throw Error(describe(s) + ": port " + std::to_string(port) + " is privileged, and the image's owner is not",
                    ExitCode::permission);
    }
  }
  if (privileged) return;
  for (const auto& s : tree.sockets)
    if (tcp_connection(s) && !s.dropped)
      throw Error(describe(s) + ": restoring a TCP connection (TCP_REPAIR) needs CAP_NET_ADMIN over its network "
                  "namespace: restore as root, or checkpoint a program started with `ckrun --net`",
                  ExitCode::permission);
}

void create_socket_group(const img::Tree& tree, const std::vector<int32_t>& groups, int32_t group,
                         const std::function<void(int32_t, int)>& put) {
  std::vector<const img::Socket*> members;
  for (const auto& s : tree.sockets)
    if (groups.at(static_cast<size_t>(s.id)) == group) members.push_back(&s);
  std::map<int32_t, UniqueFd> fds;
  std::map<int32_t, UniqueFd> closed_peer;  // the other end of a unix socket whose peer is gone
  auto at = [&](const img::Socket& s) { return fds.at(s.id).get(); };
  auto each = [&](auto&& f) {
    for (const img::Socket* s : members) with_context(describe(*s), [&] { f(*s); });
  };
  auto mutual = [&](const img::Socket& s) {
    return s.peer_id >= 0 && tree.sockets.at(static_cast<size_t>(s.peer_id)).peer_id == s.id;
  };

  // Sockets, listeners first (a connection binds to the port of its listener).
  each([&](const img::Socket& s) {
    if (fds.count(s.id) || tcp_connection(s)) return;
    if (s.family == AF_UNIX && (mutual(s) || s.peer_closed)) {
      int sv[2];
      if (socketpair(AF_UNIX, s.type | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
      fds[s.id].reset(sv[0]);
      if (s.peer_closed) closed_peer[s.id].reset(sv[1]);
      else fds[s.peer_id].reset(sv[1]);
      return;
    }
    UniqueFd fd(socket(s.family, s.type | SOCK_CLOEXEC, s.protocol));
    if (!fd) throw_errno("socket");
    fds[s.id] = std::move(fd);
  });
  each([&](const img::Socket& s) {
    if (tcp_connection(s)) return;
    apply_options(at(s), s);
    // A socketpair end is unnamed; an accepted unix connection is, too, once restored.
    if (!(s.family == AF_UNIX && (mutual(s) || s.peer_closed))) bind_socket(at(s), s);
    if (s.state == img::SocketState::listening && listen(at(s), static_cast<int>(s.backlog)) != 0) throw_errno("listen");
  });

  // Queued data, sent by the peer (or, for datagrams, by the named sender) before any socket
  // connects elsewhere: a datagram socket connected to another one accepts nothing else.
  each([&](const img::Socket& s) {
    if (s.queue.empty() || tcp_connection(s)) return;
    if (s.type == SOCK_STREAM || s.type == SOCK_SEQPACKET) {
      int writer = s.peer_closed ? closed_peer.at(s.id).get() : mutual(s) ? at(tree.sockets.at(static_cast<size_t>(s.peer_id))) : -1;
      if (writer < 0) throw Error("queued data without a peer to send it", ExitCode::bad_image);
      size_t total = 0;
      for (const auto& m : s.queue) total += m.data.size();
      int old = 0;
      socklen_t len = sizeof old;
      getsockopt(writer, SOL_SOCKET, SO_SNDBUF, &old, &len);
      int buf = static_cast<int>(std::min<size_t>(total * 2 + 65536, 1 << 30));
      setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      for (const auto& m : s.queue) write_all(writer, m.data, 0, "refill the queue");
      old /= 2;  // reported doubled
      setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &old, sizeof old);
      return;
    }
    const std::string to = reachable(s.local);
    for (const auto& m : s.queue) {
      int sender = -1;
      UniqueFd tmp;
      for (const img::Socket* o : members)
        if (o->id != s.id && o->type == SOCK_DGRAM && sent_by(o->local, m.from)) sender = at(*o);
      if (sender < 0 && s.family == AF_UNIX && mutual(s)) sender = at(tree.sockets.at(static_cast<size_t>(s.peer_id)));
      if (sender < 0) {
        // A sender outside the tree: a socket of ours at its address when that is free (so that
        // a reply finds it), else anywhere.
        tmp.reset(socket(s.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!tmp) throw_errno("socket");
        if (s.family != AF_UNIX && !m.from.empty()) {
          int one = 1;
          setsockopt(tmp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
          if (bind(tmp.get(), sa(m.from), salen(m.from)) != 0) {
            tmp.reset(socket(s.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            if (!tmp) throw_errno("socket");
          }
        }
        sender = tmp.get();
      }
      ssize_t n = s.family == AF_UNIX && mutual(s) && sender == at(tree.sockets.at(static_cast<size_t>(s.peer_id)))
                      ? send(sender, m.data.data(), m.data.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                      : sendto(sender, m.data.data(), m.data.size(), MSG_DONTWAIT | MSG_NOSIGNAL, sa(to), salen(to));
      if (n != static_cast<ssize_t>(m.data.size())) throw_errno("requeue a datagram");
    }
  });

  // Datagram sockets connect to their peer by its name; stream ends that were shut down are.
  each([&](const img::Socket& s) {
    if (tcp_connection(s)) return;
    if (s.type == SOCK_DGRAM && s.state == img::SocketState::connected && !mutual(s)) {
      const std::string& to = s.peer_id >= 0 ? tree.sockets.at(static_cast<size_t>(s.peer_id)).local : s.remote;
      if (connect(at(s), sa(to), salen(to)) != 0) throw_errno("connect to " + sockaddr_string(to));
    }
    if (s.pending_accept) {  // into the listener's queue again
      const std::string& to = tree.sockets.at(static_cast<size_t>(s.peer_id)).local;
      if (connect(at(s), sa(to), salen(to)) != 0) throw_errno("connect to " + sockaddr_string(to));
    }
    if (s.family == AF_UNIX && s.type != SOCK_DGRAM && s.shutdown && !s.peer_closed) {
      int how = s.shutdown == 3 ? SHUT_RDWR : s.shutdown == 1 ? SHUT_RD : SHUT_WR;
      if (shutdown(at(s), how) != 0) throw_errno("shutdown");
    }
  });
  closed_peer.clear();  // end of file after the queued bytes

  // TCP connections: every end in repair mode first, then all leave it together, then the
  // bytes never sent go out (the peer must be out of repair mode to take them).
  each([&](const img::Socket& s) {
    if (!tcp_connection(s)) return;
    fds[s.id] = s.dropped ? reset_connection(s) : repair_connection(s);
  });
  each([&](const img::Socket& s) {
    if (!tcp_connection(s) || s.dropped) return;
    set_int(at(s), IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF, "TCP_REPAIR off");
    apply_options(at(s), s, true);  // leaving repair mode resets SO_REUSEADDR
  });
  each([&](const img::Socket& s) {
    if (!tcp_connection(s) || s.dropped || s.tcp.unsent == 0) return;
    size_t unsent = std::min<size_t>(s.tcp.unsent, s.tcp.send_queue.size());
    write_all(at(s), s.tcp.send_queue.substr(s.tcp.send_queue.size() - unsent), 0, "send the bytes never sent");
  });

  each([&](const img::Socket& s) {
    if (s.family == AF_UNIX && s.unlinked && unix_addr_is_path(s.local) && !(mutual(s) || s.peer_closed))
      as_file_owner([&] { return unlink(unix_addr_path(s.local).c_str()); });
  });
  for (auto& [id, fd] : fds) put(id, fd.get());
}

}  // namespace ck
