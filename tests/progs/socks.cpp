// Sockets with state in them, checked by the program itself after a restore (SIGUSR1):
//   socks unix DIR   socketpairs (stream, dgram, seqpacket) with queued data, named and abstract
//                    listeners, an accepted connection, a named dgram server and its connected
//                    client, a pair across two processes, a pair whose peer closed, a shut down
//                    pair, a listener whose path was unlinked, a connection not yet accepted
//   socks tcp        a listener, and a connection between two processes streaming a checksummed
//                    byte sequence both ways (queues full at any moment); after SIGUSR1 the
//                    listener must still accept
//   socks tcp6       the same over IPv6
//   socks tcpunix    tcp, and a unix stream pair with bytes queued (read after SIGUSR1: a peek
//                    twice sees the same bytes, SO_PEEK_OFF is off, every byte is there once)
//   socks udp        a bound and a connected UDP socket, datagrams queued
//   socks scm        a unix pair with SCM_RIGHTS queued (must be refused)
//   socks creds      a unix dgram pair with SO_PASSCRED and data queued (must be refused)
//   socks netlink    a netlink socket (must be refused)
//   socks tcpout PORT  a connection to 127.0.0.1:PORT outside the tree; after SIGUSR1 it must be
//                    reset (when dropped by ckdump --drop-external-tcp)
// Prints "socks ready" once set up, "tick N" every 100 ms, then "OK ..." or "FAIL: ...".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t g_check = 0;
int g_failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    printf("FAIL: %s (errno %s)\n", what.c_str(), strerror(errno));
    g_failures++;
  } else {
    printf("ok %s\n", what.c_str());
  }
  fflush(stdout);
}

[[noreturn]] void die(const char* what) {
  printf("FAIL: setup %s: %s\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

sockaddr_un unix_addr(const std::string& name, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] ? 1 : 0));
  return a;
}

int unix_socket(int type, const std::string& bind_to) {
  int s = socket(AF_UNIX, type, 0);
  if (s < 0) die("socket");
  if (!bind_to.empty()) {
    socklen_t len;
    sockaddr_un a = unix_addr(bind_to, len);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0) die("bind");
  }
  return s;
}

void connect_unix(int s, const std::string& to) {
  socklen_t len;
  sockaddr_un a = unix_addr(to, len);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), len) != 0) die("connect");
}

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

void send_all(int s, const std::string& d) {
  size_t done = 0;
  while (done < d.size()) {
    ssize_t n = send(s, d.data() + done, d.size() - done, MSG_NOSIGNAL);
    if (n <= 0) die("send");
    done += static_cast<size_t>(n);
  }
}

// Exactly n bytes, without blocking forever: what is queued must be there already.
std::string recv_n(int s, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    ssize_t k = recv(s, buf, std::min(sizeof buf, n - out.size()), MSG_DONTWAIT);
    if (k <= 0) break;
    out.append(buf, static_cast<size_t>(k));
  }
  return out;
}

std::string recv_one(int s, std::string* from = nullptr) {
  char buf[65536];
  sockaddr_un a{};
  socklen_t len = sizeof a;
  ssize_t k = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), &len);
  if (k < 0) return "<none>";
  if (from) *from = len > offsetof(sockaddr_un, sun_path) ? std::string(a.sun_path) : std::string();
  return std::string(buf, static_cast<size_t>(k));
}

void wait_for_check() {
  signal(SIGUSR1, [](int) { g_check = 1; });
  printf("socks ready\n");
  fflush(stdout);
  for (unsigned long tick = 1; !g_check; tick++) {
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}

int finish(const char* what) {
  if (g_failures) printf("FAIL: %d check(s) of %s\n", g_failures, what);
  else printf("OK %s\n", what);
  fflush(stdout);
  return g_failures ? 1 : 0;
}

int run_unix(const std::string& dir) {
  int st[2], dg[2], sq[2], x[2], pc[2], sh[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
      socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) || socketpair(AF_UNIX, SOCK_STREAM, 0, x) ||
      socketpair(AF_UNIX, SOCK_STREAM, 0, pc) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sh))
    die("socketpair");
  const std::string big = pattern(100000, 1);
  send_all(st[0], "stream-head:" + big);
  for (size_t n : {1, 500, 3000}) send_all(dg[0], pattern(n, static_cast<unsigned>(n)));
  send_all(sq[0], "record one");
  send_all(sq[0], "record two, longer");
  send_all(pc[0], "last words");
  close(pc[0]);
  shutdown(sh[0], SHUT_WR);

  const std::string lpath = dir + "/listen.sock", dpath = dir + "/dgram.sock", cpath = dir + "/client.sock",
                    upath = dir + "/unlinked.sock";
  const std::string abstract = std::string("\0ck-socks-", 10) + std::to_string(getpid());
  int lst = unix_socket(SOCK_STREAM, lpath);
  if (listen(lst, 8) != 0) die("listen");
  int abs_l = unix_socket(SOCK_STREAM, abstract);
  if (listen(abs_l, 8) != 0) die("listen abstract");
  int cli = unix_socket(SOCK_STREAM, "");
  connect_unix(cli, lpath);
  int acc = accept(lst, nullptr, nullptr);
  if (acc < 0) die("accept");
  send_all(cli, "to-server");
  send_all(acc, "to-client");
  int dsrv = unix_socket(SOCK_DGRAM, dpath);
  int dcli = unix_socket(SOCK_DGRAM, cpath);
  connect_unix(dcli, dpath);
  send_all(dcli, "dgram-1");
  send_all(dcli, "dgram-2 is longer");
  int pend = unix_socket(SOCK_STREAM, "");  // connected, left in the listener's queue
  connect_unix(pend, lpath);
  int ul = unix_socket(SOCK_STREAM, upath);
  if (listen(ul, 1) != 0) die("listen unlinked");
  unlink(upath.c_str());

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(x[0]);
    send_all(x[1], "from-child");
    signal(SIGUSR1, SIG_IGN);
    char buf[64];
    ssize_t n = recv(x[1], buf, 11, MSG_WAITALL);  // blocks across the checkpoint
    if (n == 11 && std::string(buf, 11) == "from-parent") send_all(x[1], "child-ok");
    else send_all(x[1], "child-bad");
    _exit(0);
  }
  close(x[1]);
  wait_for_check();

  check(recv_n(st[1], 12 + big.size()) == "stream-head:" + big, "stream pair queue (100012 bytes)");
  send_all(st[1], "back");
  check(recv_n(st[0], 4) == "back", "stream pair other way");
  for (size_t n : {1, 500, 3000}) check(recv_one(dg[1]) == pattern(n, static_cast<unsigned>(n)), "dgram pair datagram of " + std::to_string(n));
  check(recv_one(dg[1]) == "<none>", "dgram pair queue empty");
  check(recv_one(sq[1]) == "record one" && recv_one(sq[1]) == "record two, longer", "seqpacket records");
  check(recv_n(acc, 9) == "to-server" && recv_n(cli, 9) == "to-client", "accepted connection queues");
  send_all(cli, "ping");
  check(recv_n(acc, 4) == "ping", "accepted connection talks");
  std::string from;
  check(recv_one(dsrv, &from) == "dgram-1" && from == cpath, "named dgram server datagram 1 and its sender");
  check(recv_one(dsrv) == "dgram-2 is longer", "named dgram server datagram 2");
  socklen_t len;
  sockaddr_un ca = unix_addr(cpath, len);
  check(sendto(dsrv, "reply", 5, 0, reinterpret_cast<sockaddr*>(&ca), len) == 5 && recv_one(dcli) == "reply",
        "dgram reply to the client by its name");
  send_all(dcli, "again");
  check(recv_one(dsrv) == "again", "connected dgram client still sends");
  int ap = accept(lst, nullptr, nullptr);
  check(ap >= 0 && send(pend, "p", 1, 0) == 1 && recv_n(ap, 1) == "p" && send(ap, "q", 1, 0) == 1 &&
            recv_n(pend, 1) == "q",
        "connection waiting in the listener's queue is accepted and talks");
  int c2 = unix_socket(SOCK_STREAM, "");
  connect_unix(c2, lpath);
  int a2 = accept(lst, nullptr, nullptr);
  check(a2 >= 0 && send(c2, "n", 1, 0) == 1 && recv_n(a2, 1) == "n", "named listener accepts");
  int c3 = unix_socket(SOCK_STREAM, "");
  connect_unix(c3, abstract);
  int a3 = accept(abs_l, nullptr, nullptr);
  check(a3 >= 0, "abstract listener accepts");
  sockaddr_un name{};
  len = sizeof name;
  check(getsockname(lst, reinterpret_cast<sockaddr*>(&name), &len) == 0 && std::string(name.sun_path) == lpath,
        "listener name");
  struct stat sb;
  len = sizeof name;
  check(stat(upath.c_str(), &sb) != 0 && getsockname(ul, reinterpret_cast<sockaddr*>(&name), &len) == 0 &&
            std::string(name.sun_path) == upath,
        "unlinked listener keeps its name, path still gone");
  check(recv_n(x[0], 10) == "from-child", "cross-process pair: queued from the child");
  send_all(x[0], "from-parent");
  char buf[16] = {};
  check(recv(x[0], buf, 8, MSG_WAITALL) == 8 && std::string(buf, 8) == "child-ok", "cross-process pair both ways");
  check(recv_n(pc[1], 10) == "last words", "closed peer: queued data");
  check(recv(pc[1], buf, 1, MSG_DONTWAIT) == 0, "closed peer: end of file");
  check(recv(sh[1], buf, 1, 0) == 0, "shut down pair: end of file");
  send_all(sh[1], "y");
  check(recv_n(sh[0], 1) == "y", "shut down pair: other way open");
  waitpid(child, nullptr, 0);
  return finish("unix");
}

// Byte i of the stream from `dir` (0 client to server, 1 back).
inline unsigned char seq_byte(uint64_t i, int dir) {
  uint64_t x = (i + 1) * (dir ? 0x9E3779B97F4A7C15ull : 0xC2B2AE3D27D4EB4Full);
  return static_cast<unsigned char>(x >> 56);
}

// Sends its sequence and checks the one it receives, for `seconds`, pacing so that queues hold
// data at any moment. Returns the bytes received (all checked).
uint64_t stream(int s, int dir, volatile sig_atomic_t* stop, const char* who) {
  uint64_t sent = 0, got = 0;
  unsigned char buf[65536];
  fcntl(s, F_SETFL, O_NONBLOCK);
  for (unsigned long round = 0; !*stop; round++) {
    for (size_t i = 0; i < 32768; i++) buf[i] = seq_byte(sent + i, dir);
    ssize_t n = send(s, buf, 32768, MSG_NOSIGNAL);
    if (n > 0) sent += static_cast<uint64_t>(n);
    else if (errno != EAGAIN) { printf("FAIL: %s send: %s\n", who, strerror(errno)); fflush(stdout); exit(1); }
    // The receiver reads less than it is sent: queues stay full.
    n = recv(s, buf, round % 2 ? 16384 : 40000, 0);
    if (n > 0) {
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] != seq_byte(got + static_cast<uint64_t>(i), !dir)) {
          printf("FAIL: %s byte %llu wrong\n", who, static_cast<unsigned long long>(got + static_cast<uint64_t>(i)));
          fflush(stdout);
          exit(1);
        }
      got += static_cast<uint64_t>(n);
    } else if (n == 0 || errno != EAGAIN) {
      printf("FAIL: %s recv: %s\n", who, n == 0 ? "end of file" : strerror(errno));
      fflush(stdout);
      exit(1);
    }
    if (round % 50 == 0) {
      printf("%s sent %llu got %llu\n", who, static_cast<unsigned long long>(sent), static_cast<unsigned long long>(got));
      fflush(stdout);
    }
    // A sleep interrupted by anything but the check's SIGUSR1 means the restart of a syscall a
    // dump interrupted was lost: a ckdump killed while the thread was parked, say.
    if (usleep(2000) != 0 && !g_check && !*stop) {
      printf("FAIL: %s usleep: %s\n", who, strerror(errno));
      fflush(stdout);
      exit(1);
    }
  }
  return got;
}

int run_tcp(int family, bool with_unix = false) {
  int us[2] = {-1, -1};
  const std::string queued = "unix-queue:" + pattern(50000, 3);
  if (with_unix) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, us) != 0) die("socketpair");
    send_all(us[0], queued);
  }
  int l = socket(family, SOCK_STREAM, 0);
  sockaddr_storage a{};
  socklen_t len;
  if (family == AF_INET6) {
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
  const socklen_t alen = len;
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), alen) != 0 || listen(l, 4) != 0 ||
      getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die("listen");
  int one = 1;
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    static volatile sig_atomic_t stop = 0;
    signal(SIGUSR2, [](int) { stop = 1; });
    close(l);
    if (with_unix) close(us[0]), close(us[1]);
    int c = socket(family, SOCK_STREAM, 0);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c, reinterpret_cast<sockaddr*>(&a), alen) != 0) die("connect");
    uint64_t got = stream(c, 0, &stop, "client");
    printf("client checked %llu bytes\n", static_cast<unsigned long long>(got));
    fflush(stdout);
    _exit(0);
  }
  int s = accept(l, nullptr, nullptr);
  if (s < 0) die("accept");
  printf("socks ready\n");
  fflush(stdout);
  signal(SIGUSR1, [](int) { g_check = 1; });
  uint64_t got = stream(s, 1, &g_check, "server");
  kill(child, SIGUSR2);
  int st = 0;
  waitpid(child, &st, 0);
  check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client streamed without a wrong byte");
  check(got > 0, "server got " + std::to_string(got) + " bytes, each right");
  int opt = 0;
  len = sizeof opt;
  check(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &opt, &len) == 0, "getsockopt on the connection");
  int c = socket(family, SOCK_STREAM, 0);
  check(connect(c, reinterpret_cast<sockaddr*>(&a), alen) == 0, "listener still accepts (connect)");
  fcntl(l, F_SETFL, O_NONBLOCK);
  int a2 = -1;
  for (int i = 0; i < 100 && a2 < 0; i++, usleep(10000)) a2 = accept(l, nullptr, nullptr);
  check(a2 >= 0, "listener still accepts (accept)");
  if (with_unix) {
    int off = 0;
    len = sizeof off;
    const bool got_off = getsockopt(us[1], SOL_SOCKET, SO_PEEK_OFF, &off, &len) == 0;
    check(got_off && off == -1, "unix pair: SO_PEEK_OFF off (" + std::to_string(off) + ")");
    char p1[16] = {}, p2[16] = {};
    check(recv(us[1], p1, sizeof p1, MSG_PEEK | MSG_DONTWAIT) == 16 && recv(us[1], p2, sizeof p2, MSG_PEEK | MSG_DONTWAIT) == 16 &&
              std::memcmp(p1, p2, 16) == 0 && std::memcmp(p1, queued.data(), 16) == 0,
          "unix pair: a peek twice sees the same first bytes");
    check(recv_n(us[1], queued.size()) == queued, "unix pair: the " + std::to_string(queued.size()) + " queued bytes");
    char b;
    check(recv(us[1], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "unix pair: nothing more queued");
    send_all(us[1], "back");
    check(recv_n(us[0], 4) == "back", "unix pair: the other way");
  }
  return finish(with_unix ? "tcpunix" : family == AF_INET6 ? "tcp6" : "tcp");
}

int run_udp() {
  int srv = socket(AF_INET, SOCK_DGRAM, 0), cli = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(srv, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die("bind udp");
  if (connect(cli, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect udp");
  sockaddr_in ca{};
  len = sizeof ca;
  getsockname(cli, reinterpret_cast<sockaddr*>(&ca), &len);
  // Queued at the dump: two datagrams from the connected client (one large), to be kept with
  // their boundaries and sender.
  send_all(cli, "queued one");
  const std::string big = pattern(20000, 7);
  send_all(cli, big);
  wait_for_check();
  char buf[32768];
  sockaddr_in from{};
  len = sizeof from;
  ssize_t q = recvfrom(srv, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
  check(q == 10 && std::string(buf, 10) == "queued one" && from.sin_port == ca.sin_port, "queued udp datagram 1 and its sender");
  q = recv(srv, buf, sizeof buf, MSG_DONTWAIT);
  check(q == 20000 && std::string(buf, 20000) == big, "queued udp datagram 2 (20000 bytes)");
  check(send(cli, "hello", 5, 0) == 5, "connected udp sends");
  len = sizeof from;
  usleep(100000);
  ssize_t n = recvfrom(srv, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
  check(n == 5 && std::string(buf, 5) == "hello", "bound udp receives on its port");
  check(from.sin_port == ca.sin_port, "connected udp kept its port");
  check(sendto(srv, "back", 4, 0, reinterpret_cast<sockaddr*>(&from), len) == 4, "udp reply");
  usleep(100000);
  check(recv(cli, buf, sizeof buf, MSG_DONTWAIT) == 4, "connected udp receives");
  return finish("udp");
}

int run_scm() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
  int passed = open("/dev/null", O_RDONLY);
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
  if (sendmsg(sv[0], &m, 0) != 1) die("sendmsg");
  wait_for_check();
  return finish("scm");
}

int run_creds() {
  int sv[2], one = 1;
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) die("socketpair");
  if (setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) die("SO_PASSCRED");
  send_all(sv[0], "with credentials");
  wait_for_check();
  return finish("creds");
}

int run_netlink() {
  if (socket(AF_NETLINK, SOCK_RAW, 0) < 0) die("netlink");
  wait_for_check();
  return finish("netlink");
}

int run_tcpout(int port) {
  int c = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
  wait_for_check();
  char b;
  ssize_t n = recv(c, &b, 1, MSG_DONTWAIT);
  check(n < 0 && errno == ECONNRESET, "dropped connection is reset");
  return finish("tcpout");
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "unix" && argc > 2) return run_unix(argv[2]);
  if (mode == "tcp") return run_tcp(AF_INET);
  if (mode == "tcp6") return run_tcp(AF_INET6);
  if (mode == "tcpunix") return run_tcp(AF_INET, true);
  if (mode == "udp") return run_udp();
  if (mode == "scm") return run_scm();
  if (mode == "netlink") return run_netlink();
  if (mode == "creds") return run_creds();
  if (mode == "tcpout" && argc > 2) return run_tcpout(atoi(argv[2]));
  fprintf(stderr, "usage: socks unix DIR | tcp | tcp6 | tcpunix | udp | scm | creds | netlink | tcpout PORT\n");
  return 2;
}
