// Recreating the sockets of an image (see dump_socket.hpp), in the restored process that is
// the lowest common ancestor of their holders.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "image_records.hpp"

namespace ck {

// Sockets that must be made together, by one process: both ends of a connection, a datagram
// socket and the named socket it is connected to or has datagrams queued from, a TCP
// connection and the listener on its port. Returns the group of every socket.
std::vector<int32_t> socket_groups(const img::Tree& tree);

// Makes every socket of `group`, with its address, connection, options and queued data, and
// hands each to `put(socket_id, fd)` (the fd is closed after the call).
void create_socket_group(const img::Tree& tree, const std::vector<int32_t>& groups, int32_t group,
                         const std::function<void(int32_t, int)>& put);

// Refuses early what this restore cannot do (TCP_REPAIR without CAP_NET_ADMIN over the
// network namespace the tree gets), and, when root restores a normal user's image in the
// host's network namespace (`for_user`), what that user could not have made: a TCP connection
// repaired into existence with anything but loopback (a forged connection), a port below
// ip_unprivileged_port_start.
void check_sockets_restorable(const img::Tree& tree, bool privileged, bool for_user);

}  // namespace ck
