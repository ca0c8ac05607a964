// Kernel structures ck passes to injected syscalls, in the kernel's layout (not glibc's).
#pragma once

#include <cstdint>

namespace ck {

// struct sigaction as rt_sigaction takes it: handler, flags, restorer, 64-bit mask.
struct KernelSigaction {
  uint64_t handler, flags, restorer, mask;
};

// stack_t as sigaltstack takes it.
struct KernelStack {
  uint64_t sp;
  int32_t flags;
  int32_t pad;
  uint64_t size;
};

}  // namespace ck
