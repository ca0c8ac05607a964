#include "socket_addr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

namespace ck {

namespace {

int family_of(const std::string& raw) {
  if (raw.size() < sizeof(sa_family_t)) return AF_UNSPEC;
  sa_family_t f;
  std::memcpy(&f, raw.data(), sizeof f);
  return f;
}

// The name bytes of a unix address, without the family and (for a path) the trailing NULs.
std::string unix_name(const std::string& raw) {
  if (family_of(raw) != AF_UNIX || raw.size() <= offsetof(sockaddr_un, sun_path)) return {};
  std::string n = raw.substr(offsetof(sockaddr_un, sun_path));
  if (!n.empty() && n[0] != '\0') n = n.substr(0, n.find('\0'));
  return n;
}

}  // namespace

bool unix_addr_is_path(const std::string& raw) {
  auto n = unix_name(raw);
  return !n.empty() && n[0] != '\0';
}

bool unix_addr_is_abstract(const std::string& raw) {
  auto n = unix_name(raw);
  return !n.empty() && n[0] == '\0';
}

std::string unix_addr_path(const std::string& raw) { return unix_addr_is_path(raw) ? unix_name(raw) : std::string(); }

unsigned inet_port(const std::string& raw) {
  int f = family_of(raw);
  if (f == AF_INET && raw.size() >= sizeof(sockaddr_in)) {
    sockaddr_in a;
    std::memcpy(&a, raw.data(), sizeof a);
    return ntohs(a.sin_port);
  }
  if (f == AF_INET6 && raw.size() >= sizeof(sockaddr_in6)) {
    sockaddr_in6 a;
    std::memcpy(&a, raw.data(), sizeof a);
    return ntohs(a.sin6_port);
  }
  return 0;
}

std::string sockaddr_string(const std::string& raw) {
  char buf[INET6_ADDRSTRLEN] = "";
  switch (family_of(raw)) {
    case AF_UNIX: {
      auto n = unix_name(raw);
      if (n.empty()) return "";
      if (n[0] != '\0') return n;
      std::string s = "@";
      for (char c : n.substr(1)) s += (c >= 32 && c < 127) ? c : '?';
      return s;
    }
    case AF_INET:
      if (raw.size() >= sizeof(sockaddr_in)) {
        sockaddr_in a;
        std::memcpy(&a, raw.data(), sizeof a);
        inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
      }
      break;
    case AF_INET6:
      if (raw.size() >= sizeof(sockaddr_in6)) {
        sockaddr_in6 a;
        std::memcpy(&a, raw.data(), sizeof a);
        inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
        std::string s = "[";  // not "[" + std::string: GCC 12 -O3 reports a false -Wrestrict
        s += buf;
        s += "]:";
        s += std::to_string(ntohs(a.sin6_port));
        return s;
      }
      break;
  }
  return "";
}

std::string socket_kind_name(int family, int type, int protocol) {
  std::string t = type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket"
                  : type == SOCK_RAW ? "raw" : type == SOCK_RDM ? "rdm" : "type " + std::to_string(type);
  switch (family) {
    case AF_UNIX: return "unix " + t;
    case AF_INET:
    case AF_INET6: {
      std::string v = family == AF_INET6 ? "6" : "";
      if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) return "tcp" + v;
      if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)) return "udp" + v;
      if (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6) return "icmp" + v + " " + t;
      return "inet" + v + " " + t + " (protocol " + std::to_string(protocol) + ")";
    }
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    case AF_VSOCK: return "vsock";
    case AF_ALG: return "alg";
    case AF_BLUETOOTH: return "bluetooth";
    case AF_TIPC: return "tipc";
    case AF_XDP: return "xdp";
    case AF_KEY: return "pf_key";
    case AF_CAN: return "can";
    case AF_RDS: return "rds";
    case AF_SMC: return "smc";
  }
  return "address family " + std::to_string(family) + " " + t;
}

}  // namespace ck
