// Running syscalls inside a stopped tracee: the registers are pointed at a syscall
// instruction already in its address space, and ptrace stops it at syscall exit, before it
// executes anything else. ckdump uses it to ask the kernel what only the task itself can ask
// (signal actions, alt stack, timers, prctl state); ckrestore uses it to put the final
// address space and kernel state in place.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

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
  uint64_t insn() const { return insn_; }
  Seized& task() { return task_; }

 private:
  Seized& task_;
  uint64_t insn_;
};

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
