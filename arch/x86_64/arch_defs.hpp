// x86_64 behind arch/arch.hpp: what the blobs hold and the rules particular to this CPU.
//
// - gp blob: struct user_regs_struct (NT_PRSTATUS; includes fs_base and gs_base).
// - fp blob: the XSAVE area (NT_X86_XSTATE), standard format.
// - fixup_syscall_restart: only -ERESTART_RESTARTBLOCK cannot go to a new task (its restart
//   block lives in the old one). It becomes -ERESTARTNOINTR, which runs the original syscall
//   again with its original arguments: exact for futex waits and absolute sleeps, a relative
//   sleep starts over. Every other restart code is left for the kernel (restart, or -EINTR
//   when a handler runs, exactly as for any interrupted syscall).
// - user_address_limit: 47-bit, 0x7ffffffff000.
// - syscall instruction: `syscall` (0f 05), any alignment. The stack's red zone is left alone.
// - sigreturn_sp(frame) = frame + 8, where a handler's return has popped the restorer.
// - CpuFeatures::xfeatures: XCR0 (what XSAVE may hold); xsave_size: the standard-format XSAVE
//   area for those features. An image needs the features its threads' XSTATE_BV has set.
// - ELF hwcaps: nothing needed from them, nothing ever missing (the XSAVE features are the
//   CPU features an image depends on).
// - sync_icache: nothing to do, instruction fetch snoops data writes.
#pragma once

#include <cstddef>

namespace ck::arch {

// syscall; lea rsp, [frame + 8]; mov eax, 15; syscall (16 bytes), then int3 padding.
constexpr size_t kSafetyCodeSize = 64;

}  // namespace ck::arch
