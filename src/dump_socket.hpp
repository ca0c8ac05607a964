// Checkpointing the sockets of a tree: unix (pairs, named, abstract, listening, with queued
// data), TCP (listening; established between two processes of the tree, through TCP_REPAIR)
// and UDP. Everything else is refused by name.
#pragma once

#include <sys/types.h>

#include <vector>

#include "dump_fd.hpp"
#include "image_records.hpp"
#include "unique_fd.hpp"

namespace ck {

class Guardian;

// Takes an established TCP connection out of repair mode without a window probe, with the
// SO_REUSEADDR it had (`reuseaddr`; INT32_MIN: unknown), which leaving repair mode resets.
void leave_tcp_repair(int fd, int reuseaddr) noexcept;

struct SocketDumpOptions {
  // A TCP connection to a peer outside the tree is dropped (the restored program finds it
  // reset) instead of refusing the checkpoint.
  bool drop_external_tcp = false;
};

class SocketDump {
 public:
  // Every change to a socket of the target is told to `guardian` before it is made.
  SocketDump(SocketDumpOptions opts, Guardian& guardian) : opts_(opts), guardian_(guardian) {}
  SocketDump(const SocketDump&) = delete;
  SocketDump& operator=(const SocketDump&) = delete;

  // Fills `tree.sockets` and the socket_id of every socket fd of `procs` (after link_fds).
  // `netns_pid` is a process of the tree whose network namespace the sockets live in. Reads
  // queues without consuming them and leaves every socket as it was; throws Error(unsupported)
  // naming the fd of the first socket ck cannot restore.
  void collect(const std::vector<ProcessFds>& procs, pid_t netns_pid, img::Tree& tree);

  // Just before the tree is killed: the TCP connections of the image are put in repair mode,
  // so that their closing sends nothing (no FIN, no RST, no TIME_WAIT): the restored
  // connection is the same one. Until the kill, the guardian knows to take them out again.
  void silence_before_kill();
  // Whether silence_before_kill has connections to put in repair mode.
  bool silences_any() const { return !tcp_kept_.empty(); }

 private:
  SocketDumpOptions opts_;
  Guardian& guardian_;
  std::vector<UniqueFd> tcp_kept_;  // copies of the tree's TCP connections in the image
};

}  // namespace ck
