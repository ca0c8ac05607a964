// The guardian: a small process ckdump starts before it seizes anything, which outlives a
// ckdump killed with SIGKILL (the one signal ckdump cannot hold) and puts back what only
// ckdump's own code would otherwise put back: sockets in TCP_REPAIR mode, a unix socket's
// SO_PEEK_OFF, a SIGSTOP ckdump held back while it injected syscalls.
//
// ckdump tells it each such change over a unix seqpacket socket BEFORE making it, and tells
// it again ("forget") once the change is undone; at the normal end (or an ordinary failure,
// every RAII object having put its change back) the destructor says "done" and the guardian
// exits at once. An end of file without "done" means ckdump died: the guardian then undoes
// every change it still knows of. Every undo is harmless when the change was never made
// (repair mode turned off on a socket not in it, a SIGSTOP sent twice).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "ptrace_seize.hpp"
#include "unique_fd.hpp"

namespace ck {

class Guardian final : public HeldStopWatch {
 public:
  using Id = uint32_t;

  // Forks the guardian (twice: it is nobody's child here, in a session of its own, so that
  // neither ckdump's wait nor a kill of ckdump's process group reaches it). Throws Error when
  // it cannot be started: ckdump then changes nothing.
  Guardian();
  Guardian(const Guardian&) = delete;
  Guardian& operator=(const Guardian&) = delete;
  // "done" (what done() says, if not said yet).
  ~Guardian() { done(); }
  // Nothing more to undo: the guardian exits (and closes its copies of the sockets).
  void done() noexcept;

  // Before TCP_REPAIR is turned on for `fd` (an open file of the target's socket), whose
  // SO_REUSEADDR is `reuseaddr`: if ckdump dies, repair mode goes off again.
  Id tcp_repair(int fd, int reuseaddr);
  // Before the SO_PEEK_OFF of `fd` is changed from `value`: put back to `value`.
  Id peek_offset(int fd, int value);
  // Before a SIGSTOP that `tid` received is held back (ckdump sends it again when it lets the
  // task go): sent by the guardian once the task is no longer traced.
  Id stop_held(pid_t tid) override;
  // The changes of `id` are undone (or the stop sent again): nothing left to do for it.
  void forget(Id id) noexcept override;
  // The dump is complete and the tree is about to be killed: should ckdump die from here on,
  // the guardian finishes the kill (a tree half killed is worse than either end) and leaves
  // the sockets in repair mode, so that their close sends nothing.
  void killing(const std::vector<pid_t>& pids);


 private:
  void send(uint32_t op, Id id, int64_t value, int fd = -1);
  void started();
  void reap_intermediate() noexcept;

  UniqueFd sock_;
  pid_t mid_ = -1;  // the first fork, which forks the guardian and exits
  pid_t pid_ = -1;  // the guardian, once it said hello
  Id next_ = 1;
};

}  // namespace ck
