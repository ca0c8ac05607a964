// Everything about the CPU that ck needs, behind the interface arch/x86_64 implements too:
// register sets and how ptrace reads/writes them, syscall injection, syscall restart rules,
// and the CPU features an image depends on. Nothing outside arch/ looks inside a register blob.
//
// arm64 specifics, decided here once (arch_aarch64.cpp has the reasons in full):
// - gp blob: struct user_pt_regs (NT_PRSTATUS) + TPIDR_EL0/TPIDR2_EL0 (NT_ARM_TLS) + the syscall
//   number at the stop (NT_ARM_SYSTEM_CALL), behind a magic word.
// - fp blob: the thread's "extension state": FP/SIMD (NT_PRFPREG), SVE registers and vector
//   length (NT_ARM_SVE), SME vector length (NT_ARM_ZA header), FPMR, tagged-address control,
//   pointer-authentication keys (NT_ARM_PACA_KEYS/PACG_KEYS/PAC_ENABLED_KEYS). Fixed size.
// - State ck cannot save is refused by name when it is read (get_regs): SME streaming mode or
//   ZA in use, MTE tag checking or PROT_MTE memory, an enabled Guarded Control Stack, memory
//   protection keys (POE).
// - CpuFeatures::xfeatures holds ck's own bits (feature_names): the SVE/SME vector lengths the
//   host can set and the pointer-authentication algorithms it implements. An image needs the
//   vector lengths its threads use and the algorithm that signed its return addresses.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ck::arch {

extern const char* const kName;  // "aarch64": stored in the manifest, compared on restore

// The register state of one thread as opaque blobs (the image stores them as they are).
struct TaskRegs {
  std::vector<uint8_t> gp;  // aarch64: user_pt_regs + TLS + syscall number (see above)
  std::vector<uint8_t> fp;  // aarch64: FP/SIMD, SVE, SME vector length, PAC keys... (see above)
};

// ptrace GETREGSET/SETREGSET of a stopped tracee. Throw Error naming the tid.
// get_regs refuses (ExitCode::unsupported) a thread whose state ck cannot save.
// set_regs may also be called at a syscall stop: arm64 discards a tracer's write to x7 there,
// so set_regs first moves the tracee on to a ptrace event stop, before it has run any user
// instruction, as Seized::enter_signal_stop does (PTRACE_SEIZE'd tracee, signals blocked).
TaskRegs get_regs(pid_t tid);
void set_regs(pid_t tid, const TaskRegs& regs);
// Only what an injected syscall needs (x7 is not kept at a syscall stop, see set_regs).
std::vector<uint8_t> get_gp_regs(pid_t tid);
void set_gp_regs(pid_t tid, const std::vector<uint8_t>& gp);

uint64_t get_ip(const std::vector<uint8_t>& gp);
uint64_t get_sp(const std::vector<uint8_t>& gp);
void set_ip(std::vector<uint8_t>& gp, uint64_t ip);
void set_sp(std::vector<uint8_t>& gp, uint64_t sp);
// At a syscall-entry stop: makes the kernel run syscall `nr` instead of the one entered
// (written through NT_ARM_SYSTEM_CALL by set_gp_regs).
void set_syscall_nr(std::vector<uint8_t>& gp, long nr);
// The syscall number of rt_sigreturn on this architecture (139).
long rt_sigreturn_nr();
// A register set of this architecture with every register 0, for tests and tools that build
// images without a live task.
std::vector<uint8_t> blank_gp_regs();

// Name/value pairs for `ckimage show` (pc, sp, lr, the syscall state, tpidr_el0...).
std::vector<std::pair<std::string, uint64_t>> regs_summary(const std::vector<uint8_t>& gp);

// A task stopped inside a syscall must re-execute it once its registers are handed back. On
// arm64 the kernel prepares that before any stop the seizure can produce: do_signal() rewinds
// pc to the `svc`, puts the first argument back into x0 (from orig_x0, which ptrace cannot
// read) and forgets the syscall (NO_SYSCALL), all before get_signal() stops the task; the
// restart code itself (-ERESTARTSYS...) is gone by then. So the registers are left as they are
// (returns false) and every interrupted syscall runs again with its original arguments, like
// x86_64's -ERESTARTNOINTR: a relative sleep or poll timeout starts over, and where a signal is
// delivered on the way out its handler runs first and the syscall is then restarted even
// without SA_RESTART (the kernel would have returned -EINTR: the code that says so is lost).
// A state the kernel has not rewound yet (syscall number >= 0 with an -ERESTART* code in x0,
// e.g. registers read at a syscall-exit stop) cannot be completed without orig_x0: refused.
bool fixup_syscall_restart(std::vector<uint8_t>& gp);

// One past the highest address a user mapping can have without asking for a larger address
// space: 1 << 48 with 48-bit VA (probed once, so 39/42/47-bit kernels work too).
uint64_t user_address_limit();

// ---- syscall injection ----------------------------------------------------------------
// The bytes of one syscall instruction (svc #0: 01 00 00 d4) and their alignment (4).
std::vector<uint8_t> syscall_insn();
size_t syscall_insn_align();
// Registers to run syscall `nr` (x8) with `args` (x0-x5) at address `insn_addr`, based on
// `saved`; the syscall number at the stop becomes "none", PSTATE.BTYPE and single-step are
// cleared (the svc may sit in a BTI-guarded vDSO page).
std::vector<uint8_t> make_syscall_regs(const std::vector<uint8_t>& saved, uint64_t insn_addr, long nr,
                                       const uint64_t (&args)[6]);
// After the syscall-exit stop: the return value (negative errno on failure).
int64_t syscall_result(const std::vector<uint8_t>& gp);

// ---- the safety net of an injected task -------------------------------------------------
// ckdump runs syscalls inside its target from a small page of code: a syscall instruction
// followed by an rt_sigreturn whose frame holds the target's original state. ptrace stops the
// task at each syscall's exit, so the rest never runs while ckdump lives; if ckdump dies, the
// task runs on into the rt_sigreturn and is exactly as it was before (the page stays mapped).
// aarch64: svc #0; ldr x16, =frame; mov sp, x16; mov x8, #139; svc #0. The frame is a struct
// rt_sigframe with the general registers, the signal mask, FP/SIMD and, when the thread's SVE
// registers are live, an SVE record (through an extra_context record when it does not fit
// the 4 KiB of __reserved). TLS, PAC keys, vector lengths... are not touched by injected
// syscalls, so they need no record.
constexpr size_t kSafetyCodeSize = 64;
// Code for `code_addr`: the syscall instruction is at code_addr; the frame is at frame_addr.
std::vector<uint8_t> safety_code(uint64_t code_addr, uint64_t frame_addr);
// The rt_sigreturn frame for `frame_addr` (16-byte aligned) restoring `regs` (as a live task
// resumes them: an interrupted syscall restarts as the kernel would) and `sigmask`, leaving
// the alternate stack.
std::vector<uint8_t> safety_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr);
// The stack pointer rt_sigreturn needs for a frame made by safety_frame at `frame_addr`
// (aarch64: frame_addr itself, which must be 16-byte aligned; x86_64: frame_addr + 8).
uint64_t sigreturn_sp(uint64_t frame_addr);

// ---- the way back of an injected task: nothing of ckdump's in the target -----------------
// ckdump prefers to run injected syscalls at a syscall instruction of the vDSO that is followed
// by nothing but register clearing and a return (a return gadget), with the stack pointer at
// a signal frame it wrote on the thread's own stack below the red zone (where the kernel would
// put the frame of a signal arriving now), whose return goes to a sigreturn trampoline already
// in the target (x86_64: libc's __restore_rt, "mov rax, 15; syscall"; aarch64: the vDSO's
// __kernel_rt_sigreturn). ptrace stops the task at each syscall's exit; if ckdump dies at any
// moment, the task finishes the syscall, returns into the trampoline, and rt_sigreturn puts
// back its registers and signal mask. Nothing was mapped, so nothing is left over.
// Whether the n bytes at a syscall instruction (the instruction included) form a return gadget.
bool is_return_gadget(const uint8_t* p, size_t n);
// Byte sequences that are a sigreturn trampoline on their own, and the alignment to search at.
std::vector<std::vector<uint8_t>> sigreturn_trampolines();
size_t trampoline_align();
// Where a frame of `size` bytes goes below stack pointer `sp` (the red zone left alone).
uint64_t guarded_frame_addr(uint64_t sp, size_t size);
// The frame at frame_addr that puts back `regs` and `sigmask` (safety_frame) and returns from
// the gadget into `trampoline`.
std::vector<uint8_t> guarded_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr, uint64_t trampoline);
// Makes registers from make_syscall_regs (at a return gadget) take the way back afterwards.
void guard_syscall_regs(std::vector<uint8_t>& gp, uint64_t frame_addr, uint64_t trampoline);
// Whether a thread's control-flow protection rules the way back out, from its /proc/TID/status
// (x86_64: a user shadow stack, on which a ret no call matched faults; aarch64: none known).
bool way_back_forbidden(const std::string& status);
// Where the vDSO has no return gadget (arm64 kernels whose vDSO authenticates its return
// address with PAC: svc; autiasp; ret), a whole vDSO function can serve: called with arguments
// that send it to its syscall fallback, it signs the return address itself on entry. The
// thread is started at the function's entry; at the syscall-entry stop (syscall `nr`) the
// syscall and its arguments are replaced by the injected one; afterwards the function returns
// into the trampoline. Empty if the architecture needs none.
struct VdsoCall {
  const char* symbol;
  long nr;
  uint64_t args[6];
};
std::optional<VdsoCall> way_back_call();
// The syscall number of a task at a syscall-entry stop.
long get_syscall_nr(const std::vector<uint8_t>& gp);

// ---- CPU features --------------------------------------------------------------------
struct CpuFeatures {
  uint64_t xfeatures = 0;    // aarch64: ck's feature bits (vector lengths, PAC algorithms)
  uint32_t xsave_size = 0;   // bytes of the fp blob (the same on every arm64 host)
};
CpuFeatures host_cpu_features();
// The xfeatures a saved fp blob needs.
uint64_t fp_features_used(const std::vector<uint8_t>& fp);
// Names of the bits in `missing` ("sve-vl-256", "pauth-qarma5"...), for error messages.
std::string feature_names(uint64_t bits);

// ---- ELF hardware capabilities (manifest cpu.hwcap/hwcap2) ------------------------------
// What "needs" means: every AT_HWCAP/AT_HWCAP2 bit the process was started with, except
// those naming no instruction or state a program could have chosen (EVTSTRM): glibc's ifuncs
// and the program's own dispatch looked at them once, at start, and will keep using the
// chosen code.
struct Hwcaps {
  uint64_t hwcap = 0, hwcap2 = 0;
};
// From the process's saved auxiliary vector (key/value pairs, as in /proc/PID/auxv).
Hwcaps hwcaps_needed(const std::vector<uint64_t>& auxv);
// The capabilities of `needed` this machine lacks, named ("sve2, i8mm"); empty if none.
std::string missing_hwcaps(const Hwcaps& needed);

}  // namespace ck::arch
