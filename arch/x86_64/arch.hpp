// Everything about the CPU that ck needs, behind one interface that arch/aarch64 implements too:
// register sets and how ptrace reads/writes them, syscall injection, syscall restart rules,
// and the CPU features an image depends on. Nothing outside arch/ looks inside a register blob.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ck::arch {

extern const char* const kName;  // "x86_64": stored in the manifest, compared on restore

// The register state of one thread as opaque blobs (the image stores them as they are).
struct TaskRegs {
  std::vector<uint8_t> gp;  // x86_64: struct user_regs_struct (includes fs_base, gs_base)
  std::vector<uint8_t> fp;  // x86_64: the XSAVE area (NT_X86_XSTATE), standard format
};

// ptrace GETREGSET/SETREGSET of a stopped tracee. Throw Error naming the tid.
TaskRegs get_regs(pid_t tid);
void set_regs(pid_t tid, const TaskRegs& regs);
std::vector<uint8_t> get_gp_regs(pid_t tid);
void set_gp_regs(pid_t tid, const std::vector<uint8_t>& gp);

uint64_t get_ip(const std::vector<uint8_t>& gp);
uint64_t get_sp(const std::vector<uint8_t>& gp);

// Name/value pairs for `ckimage show` (ip, sp, the syscall state, fs_base...).
std::vector<std::pair<std::string, uint64_t>> regs_summary(const std::vector<uint8_t>& gp);

// A stopped task interrupted inside a syscall resumes through the kernel's restart logic,
// which does not run when the registers are set on a new task. Rewrites `gp` so that the
// restored task re-executes the interrupted syscall (the kernel would have done that for
// -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND/-ERESTART_RESTARTBLOCK while no handler ran),
// and marks it as "not in a syscall" so no second restart happens. Returns true if changed.
// live_task: the same task goes on (ckdump putting it back), so its kernel restart block still
// exists and -ERESTART_RESTARTBLOCK resumes through restart_syscall exactly as the kernel would.
bool fixup_syscall_restart(std::vector<uint8_t>& gp, bool live_task);

// One past the highest address a user mapping can have without asking for a larger address
// space (x86_64: 47-bit, 0x7ffffffff000).
uint64_t user_address_limit();

// ---- syscall injection ----------------------------------------------------------------
// The bytes of one syscall instruction (x86_64: 0f 05) and their alignment.
std::vector<uint8_t> syscall_insn();
size_t syscall_insn_align();
// Registers to run syscall `nr` with `args` at address `insn_addr`, based on `saved` (the
// stack pointer is kept; the red zone is left alone by the kernel).
std::vector<uint8_t> make_syscall_regs(const std::vector<uint8_t>& saved, uint64_t insn_addr, long nr,
                                       const uint64_t (&args)[6]);
// After the syscall-exit stop: the return value (negative errno on failure).
int64_t syscall_result(const std::vector<uint8_t>& gp);

// ---- CPU features --------------------------------------------------------------------
struct CpuFeatures {
  uint64_t xfeatures = 0;    // x86_64: XCR0 (what XSAVE may hold)
  uint32_t xsave_size = 0;   // bytes of the standard-format XSAVE area for those features
};
CpuFeatures host_cpu_features();
// The xfeatures a saved FP blob actually uses (x86_64: XSTATE_BV of the XSAVE header).
uint64_t fp_features_used(const std::vector<uint8_t>& fp);
// Names of the bits in `missing` ("avx512 (opmask, zmm)", "pkru"...), for error messages.
std::string feature_names(uint64_t bits);

}  // namespace ck::arch
