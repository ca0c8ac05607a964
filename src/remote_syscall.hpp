// Running syscalls inside a stopped tracee: the registers are pointed at a syscall
// instruction already in its address space, and ptrace stops it at syscall exit, before it
// executes anything else. ckdump uses it to ask the kernel what only the task itself can ask
// (signal actions, alt stack, timers, prctl state); ckrestore uses it to put the final
// address space and kernel state in place.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ptrace_seize.hpp"

namespace ck {

class RemoteSyscall {
 public:
  RemoteSyscall(Seized& task, uint64_t insn_addr) : task_(task), insn_(insn_addr) {}

  // Raw result: negative errno on failure.
  int64_t call(long nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
               uint64_t a5 = 0);
  // Throws "<what>: <strerror>" on failure.
  uint64_t check(const std::string& what, long nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0,
                 uint64_t a3 = 0, uint64_t a4 = 0, uint64_t a5 = 0);

  void set_insn(uint64_t insn_addr) { insn_ = insn_addr; }
  // From now on every syscall takes the way back through `frame_addr` and `trampoline` should
  // we die (arch::guard_syscall_regs): the instruction must be a return gadget.
  void guard(uint64_t frame_addr, uint64_t trampoline) {
    guard_frame_ = frame_addr;
    guard_trampoline_ = trampoline;
  }
  // The instruction is a vDSO function (arch::VdsoCall) that makes syscall `nr` with `args`:
  // every syscall enters as that one and is replaced at the syscall-entry stop.
  void via(long nr, const uint64_t (&args)[6]) {
    via_nr_ = nr;
    for (int i = 0; i < 6; i++) via_args_[i] = args[i];
  }
  // The registers of syscall `nr` as call() would load them; `arm` loads them without running it
  // (see dump.cpp: a thread that must be on its way back before its signal mask changes).
  std::vector<uint8_t> regs_for(long nr, const uint64_t (&args)[6]) const;
  uint64_t insn() const { return insn_; }
  Seized& task() { return task_; }

 private:
  Seized& task_;
  uint64_t insn_;
  uint64_t guard_frame_ = 0, guard_trampoline_ = 0;
  long via_nr_ = -1;
  uint64_t via_args_[6] = {};
};

// The way back of arch.hpp in one process: a return gadget (in the vDSO) and a sigreturn
// trampoline (the vDSO or a file mapped executable).
struct ReturnPath {
  uint64_t gadget = 0, trampoline = 0;
  long via_nr = -1;  // the gadget is a vDSO function making this syscall (arch::VdsoCall)
  uint64_t via_args[6] = {};
};
// Searches the ranges in order; at most `max_bytes` are read. Empty if either is missing.
std::optional<ReturnPath> find_return_path(pid_t pid, uint64_t vdso_start, uint64_t vdso_end,
                                           const std::vector<std::pair<uint64_t, uint64_t>>& exec_ranges,
                                           size_t max_bytes);

// Memory of another process (process_vm_readv/writev); throw naming pid and address.
void remote_read(pid_t pid, uint64_t addr, void* buf, size_t len);
void remote_write(pid_t pid, uint64_t addr, const void* buf, size_t len);
// Instructions (and whatever shares their pages) into a stopped tracee, through
// /proc/PID/mem: the kernel writes them as ptrace's POKETEXT would, with the instruction-cache
// maintenance the target's CPU needs (see remote_syscall.cpp). Throws naming pid and address.
void remote_write_code(pid_t pid, uint64_t addr, const void* buf, size_t len);

// Address of a syscall instruction inside [start, end) of pid (the vDSO has several), read
// with remote_read. Throws if there is none.
uint64_t find_syscall_insn(pid_t pid, uint64_t start, uint64_t end);

}  // namespace ck
