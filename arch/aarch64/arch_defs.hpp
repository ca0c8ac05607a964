// aarch64 behind arch/arch.hpp: what the blobs hold and the rules particular to this CPU
// (arch_aarch64.cpp has the reasons in full).
//
// - gp blob: struct user_pt_regs (NT_PRSTATUS) + TPIDR_EL0/TPIDR2_EL0 (NT_ARM_TLS) + the syscall
//   number at the stop (NT_ARM_SYSTEM_CALL), behind a magic word.
// - fp blob: the thread's "extension state": FP/SIMD (NT_PRFPREG), SVE registers and vector
//   length (NT_ARM_SVE), SME vector length (NT_ARM_ZA header), FPMR, tagged-address control,
//   pointer-authentication keys (NT_ARM_PACA_KEYS/PACG_KEYS/PAC_ENABLED_KEYS). Fixed size.
// - State ck cannot save is refused by name when it is read (get_regs): SME streaming mode or
//   ZA in use, MTE tag checking or PROT_MTE memory, an enabled Guarded Control Stack, memory
//   protection keys (POE).
// - set_regs may also be called at a syscall stop: arm64 discards a tracer's write to x7 there,
//   so set_regs first moves the tracee on to a ptrace event stop, before it has run any user
//   instruction, as Seized::enter_signal_stop does (PTRACE_SEIZE'd tracee, signals blocked).
//   get_gp_regs/set_gp_regs (injected syscalls) do not keep x7 at a syscall stop.
// - set_syscall_nr is written through NT_ARM_SYSTEM_CALL by set_gp_regs.
// - fixup_syscall_restart: the kernel prepares a restart before any stop the seizure can
//   produce: do_signal() rewinds pc to the `svc`, puts the first argument back into x0 (from
//   orig_x0, which ptrace cannot read) and forgets the syscall (NO_SYSCALL), all before
//   get_signal() stops the task; the restart code itself (-ERESTARTSYS...) is gone by then. So
//   the registers are left as they are (returns false) and every interrupted syscall runs again
//   with its original arguments, like x86_64's -ERESTARTNOINTR: a relative sleep or poll
//   timeout starts over, and where a signal is delivered on the way out its handler runs first
//   and the syscall is then restarted even without SA_RESTART (the kernel would have returned
//   -EINTR: the code that says so is lost). A state the kernel has not rewound yet (syscall
//   number >= 0 with an -ERESTART* code in x0, e.g. registers read at a syscall-exit stop)
//   cannot be completed without orig_x0: refused.
// - user_address_limit: 1 << 48 with 48-bit VA (probed once, so 39/42/47-bit kernels work too).
// - syscall instruction: svc #0 (01 00 00 d4), 4-byte aligned; make_syscall_regs puts nr in x8,
//   args in x0-x5, makes the syscall number at the stop "none" and clears PSTATE.BTYPE and
//   single-step (the svc may sit in a BTI-guarded vDSO page).
// - safety net: svc #0; ldr x16, =frame; mov sp, x16; mov x8, #139; svc #0. The frame is a
//   struct rt_sigframe with the general registers, the signal mask, FP/SIMD and, when the
//   thread's SVE registers are live, an SVE record (through an extra_context record when it
//   does not fit the 4 KiB of __reserved). TLS, PAC keys, vector lengths... are not touched by
//   injected syscalls, so they need no record. sigreturn_sp(frame) = frame, 16-byte aligned.
// - CpuFeatures::xfeatures holds ck's own bits (feature_names: "sve-vl-256", "pauth-qarma5"...):
//   the SVE/SME vector lengths the host can set and the pointer-authentication algorithms it
//   implements. An image needs the vector lengths its threads use and the algorithm that signed
//   its return addresses. xsave_size: bytes of the fp blob (the same on every arm64 host).
// - ELF hwcaps: an image needs every AT_HWCAP/AT_HWCAP2 bit the process was started with,
//   except those naming no instruction or state a program could have chosen (EVTSTRM): glibc's
//   ifuncs and the program's own dispatch looked at them once, at start, and keep using the
//   chosen code.
// - sync_icache: data and instruction caches are not coherent: written code must be cleaned
//   to the point of unification and the instruction cache invalidated (__builtin___clear_cache).
#pragma once

#include <cstddef>

namespace ck::arch {

// The safety net's code: five instructions, the frame's address as a literal at +24, brk #0
// padding.
constexpr size_t kSafetyCodeSize = 64;

}  // namespace ck::arch
