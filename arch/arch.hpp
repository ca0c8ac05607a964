// Everything about the CPU that ck needs, written once for every architecture: register sets
// and how ptrace reads/writes them, syscall injection, syscall restart rules, instruction-cache
// maintenance, and the CPU features an image depends on. Nothing outside arch/ looks inside a
// register blob, and nothing outside arch/ asks which architecture it is built for.
//
// Each architecture implements these functions in arch/<arch>/arch_<arch>.cpp and says what its
// blobs hold, its constants and its particular rules in arch/<arch>/arch_defs.hpp (found through
// the include path meson sets for the host architecture).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arch_defs.hpp"

namespace ck::arch {

extern const char* const kName;  // "x86_64", "aarch64": stored in the manifest, compared on restore

// The register state of one thread as opaque blobs (the image stores them as they are; what
// they hold is in arch_defs.hpp).
struct TaskRegs {
  std::vector<uint8_t> gp;  // general registers (and what the arch keeps with them: TLS...)
  std::vector<uint8_t> fp;  // FP/SIMD/vector state (and the arch's other per-thread state)
};

// ptrace GETREGSET/SETREGSET of a stopped tracee. Throw Error naming the tid. get_regs refuses
// (ExitCode::unsupported) a thread whose state ck cannot save.
TaskRegs get_regs(pid_t tid);
void set_regs(pid_t tid, const TaskRegs& regs);
// Only what an injected syscall needs.
std::vector<uint8_t> get_gp_regs(pid_t tid);
void set_gp_regs(pid_t tid, const std::vector<uint8_t>& gp);

uint64_t get_ip(const std::vector<uint8_t>& gp);
uint64_t get_sp(const std::vector<uint8_t>& gp);
void set_ip(std::vector<uint8_t>& gp, uint64_t ip);
void set_sp(std::vector<uint8_t>& gp, uint64_t sp);
// At a syscall-entry stop: makes the kernel run syscall `nr` instead of the one entered.
void set_syscall_nr(std::vector<uint8_t>& gp, long nr);
// The syscall number of rt_sigreturn on this architecture.
long rt_sigreturn_nr();
// A register set of this architecture with every register 0, for tests and tools that build
// images without a live task.
std::vector<uint8_t> blank_gp_regs();

// Name/value pairs for `ckimage show` (ip or pc, sp, the syscall state, the TLS base...).
std::vector<std::pair<std::string, uint64_t>> regs_summary(const std::vector<uint8_t>& gp);

// A task stopped inside a syscall holds (or held) a kernel restart code; ck hands such
// registers back to a task stopped inside the kernel's signal path, where the kernel applies
// its own restart rules on the way out. Makes the registers of such a task ones a new task can
// be given (arch_defs.hpp says what that means here); returns true if changed.
bool fixup_syscall_restart(std::vector<uint8_t>& gp);

// One past the highest address a user mapping can have without asking for a larger address
// space.
uint64_t user_address_limit();

// ---- syscall injection ----------------------------------------------------------------
// The bytes of one syscall instruction and their alignment.
std::vector<uint8_t> syscall_insn();
size_t syscall_insn_align();
// Registers to run syscall `nr` with `args` at address `insn_addr`, based on `saved` (the
// stack pointer is kept).
std::vector<uint8_t> make_syscall_regs(const std::vector<uint8_t>& saved, uint64_t insn_addr, long nr,
                                       const uint64_t (&args)[6]);
// After the syscall-exit stop: the return value (negative errno on failure).
int64_t syscall_result(const std::vector<uint8_t>& gp);

// ---- instruction-cache maintenance -----------------------------------------------------
// After this process wrote instructions into [begin, begin + len) of its own memory, before
// anything executes them: a no-op where instruction fetch is coherent with data writes
// (x86_64), the cache cleaning and invalidation the CPU needs elsewhere (aarch64).
// Code written into another process goes through the kernel instead (remote_write_code in
// src/remote_syscall.hpp), which does that maintenance for the target.
void sync_icache(void* begin, size_t len);

// ---- the vDSO proxy (src/vdso.hpp) ---------------------------------------------------------
// An absolute jump to `target` that keeps every argument register and the stack as they are,
// through the scratch register the ABI lets a call clobber (x86_64: "movabs r11, target;
// jmp r11", 13 bytes; aarch64: "ldr x16, 8; br x16; .quad target", 16 bytes: x16 is an
// intra-procedure-call register, and br x16 may land on a function's "bti c" or "paciasp").
std::vector<uint8_t> absolute_jump(uint64_t target);
// An instruction that raises SIGILL (x86_64: ud2; aarch64: udf #0).
std::vector<uint8_t> trap_insn();
// A function body that makes syscall `nr` with the caller's arguments and returns its result
// (x86_64: mov eax, nr; syscall; ret; aarch64: mov x8, #nr; svc #0; ret).
std::vector<uint8_t> syscall_stub(long nr);

// ---- the safety net of an injected task -------------------------------------------------
// ckdump runs syscalls inside its target from a small page of code: a syscall instruction
// followed by an rt_sigreturn whose frame holds the target's original state. ptrace stops the
// task at each syscall's exit, so the rest never runs while ckdump lives; if ckdump dies, the
// task runs on into the rt_sigreturn and is exactly as it was before (the page stays mapped).
// Code for `code_addr` (kSafetyCodeSize bytes, arch_defs.hpp): the syscall instruction is at
// code_addr; the frame is at frame_addr.
std::vector<uint8_t> safety_code(uint64_t code_addr, uint64_t frame_addr);
// The rt_sigreturn frame for `frame_addr` restoring `regs` (as a live task resumes them: an
// interrupted syscall restarts as the kernel would) and `sigmask`, leaving the alternate stack.
std::vector<uint8_t> safety_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr);
// The stack pointer rt_sigreturn needs for a frame made by safety_frame at `frame_addr`.
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
  uint64_t xfeatures = 0;   // the arch's feature bits an fp blob may need (arch_defs.hpp)
  uint32_t xsave_size = 0;  // bytes of the fp blob on this host
};
CpuFeatures host_cpu_features();
// The xfeatures a saved fp blob actually uses.
uint64_t fp_features_used(const std::vector<uint8_t>& fp);
// Names of the bits in `missing`, for error messages.
std::string feature_names(uint64_t bits);

// ---- ELF hardware capabilities (manifest cpu.hwcap/hwcap2) ------------------------------
struct Hwcaps {
  uint64_t hwcap = 0, hwcap2 = 0;
};
// What the process needs, from its saved auxiliary vector (key/value pairs, as in
// /proc/PID/auxv): the AT_HWCAP/AT_HWCAP2 bits its code may have chosen at start.
Hwcaps hwcaps_needed(const std::vector<uint64_t>& auxv);
// The capabilities of `needed` this machine lacks, named ("sve2, i8mm"); empty if none.
std::string missing_hwcaps(const Hwcaps& needed);

}  // namespace ck::arch
