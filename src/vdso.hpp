// The vDSO as ck sees it: the functions its dynamic symbol table exports, and the proxy that
// lets a program restored on a kernel with another vDSO keep the pointers it cached into the
// old one (glibc resolves __vdso_clock_gettime and friends once at startup; arm64 signal frames
// return through __kernel_rt_sigreturn).
//
// The proxy is the old vDSO's bytes, mapped anonymous at the old vDSO's address, with the
// entry of every exported function overwritten by an absolute jump to the same-named function
// of this kernel's vDSO (which is placed elsewhere with its data pages); where this kernel's
// vDSO lacks the function, a stub making the syscall it stands for (a trap for one unknown).
// The rest of the old code stays, so a thread stopped in the middle of an old function goes on;
// its old data pages are read-only zeros: the high-resolution clocks see no usable clock and
// take their syscall fallback, but time() and the coarse clocks return 0 that once. A thread
// stopped inside the bytes a patch overwrites cannot go on: that restore is refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ck {

struct VdsoFunction {
  std::string name;
  uint64_t offset = 0;  // from the start of the vDSO (linked at 0)
  uint64_t size = 0;    // st_size; 0 if the symbol does not say
};

// Every STT_FUNC symbol of the vDSO image's dynamic symbol table (aliases included) whose
// entry lies inside the image. Untyped code symbols are not listed: arm64's
// __kernel_rt_sigreturn ("mov x8, #139; svc #0", the return of signal frames) is one, and the
// proxy keeps its bytes, which do the same on any kernel. Every offset is checked against the image; a malformed image
// gives an empty list.
std::vector<VdsoFunction> vdso_functions(std::string_view so);
// The offset of function `name`; 0 if absent.
uint64_t vdso_symbol(std::string_view so, const char* name);

struct VdsoProxyStats {
  size_t jumps = 0, stubs = 0, traps = 0, kept = 0;  // kept: functions too small for a jump, left as they were
};
// The proxy's bytes: `old_so` patched so that each of its functions jumps to the same-named
// function of `new_so`, which will be mapped at `new_base`. `thread_pcs`: offsets into the old
// vDSO where threads of the process stand. Throws Error if old_so is not a vDSO image ck can
// read, or (unsupported) if a thread stands inside the bytes a patch overwrites.
std::string vdso_proxy_code(std::string_view old_so, std::string_view new_so, uint64_t new_base,
                            const std::vector<uint64_t>& thread_pcs = {}, VdsoProxyStats* stats = nullptr);

}  // namespace ck
