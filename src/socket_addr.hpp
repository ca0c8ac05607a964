// Socket addresses as images keep them (the raw sockaddr bytes) and as messages show them.
#pragma once

#include <sys/socket.h>

#include <string>

namespace ck {

// "/run/x.sock", "@abstract", "127.0.0.1:5000", "[::1]:5000"; "" for an unnamed socket.
std::string sockaddr_string(const std::string& raw);

// "unix stream", "tcp", "udp6", "netlink", ...
std::string socket_kind_name(int family, int type, int protocol);

// A unix address: a path (first byte not 0), an abstract name (first byte 0), or unnamed.
bool unix_addr_is_path(const std::string& raw);
bool unix_addr_is_abstract(const std::string& raw);
std::string unix_addr_path(const std::string& raw);

// The port of an inet/inet6 address (0 otherwise).
unsigned inet_port(const std::string& raw);

}  // namespace ck
