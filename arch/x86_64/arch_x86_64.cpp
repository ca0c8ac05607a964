#include "arch.hpp"

#include <cpuid.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>

#include <cstring>

#include "error.hpp"

namespace ck::arch {

const char* const kName = "x86_64";

namespace {

// Kernel-internal restart codes (include/linux/errno.h): never seen by programs, only by a
// tracer that stops a task in the middle of a syscall.
constexpr int64_t kERESTARTNOINTR = -513;
constexpr int64_t kERESTART_RESTARTBLOCK = -516;

constexpr size_t kXsaveHeaderOffset = 512;  // legacy FXSAVE region, then the XSAVE header
constexpr uint64_t kXfeatureAmxTileData = 1ull << 18;
constexpr int kNtX86Shstk = 0x204;  // include/uapi/linux/elf.h, newer than some toolchains

user_regs_struct as_regs(const std::vector<uint8_t>& gp) {
  user_regs_struct r{};
  if (gp.size() != sizeof r) throw Error("register blob of " + std::to_string(gp.size()) + " bytes, expected " +
                                         std::to_string(sizeof r) + " (image of another architecture?)",
                                         ExitCode::bad_image);
  std::memcpy(&r, gp.data(), sizeof r);
  return r;
}

std::vector<uint8_t> to_blob(const user_regs_struct& r) {
  std::vector<uint8_t> v(sizeof r);
  std::memcpy(v.data(), &r, sizeof r);
  return v;
}

void getregset(pid_t tid, int type, void* buf, size_t& len) {
  iovec iov{buf, len};
  if (ptrace(PTRACE_GETREGSET, tid, type, &iov) != 0)
    throw_errno("ptrace GETREGSET " + std::to_string(type) + " of tid " + std::to_string(tid));
  len = iov.iov_len;
}

void setregset(pid_t tid, int type, const std::vector<uint8_t>& blob) {
  std::vector<uint8_t> copy = blob;  // the kernel takes a non-const iovec
  iovec iov{copy.data(), copy.size()};
  if (ptrace(PTRACE_SETREGSET, tid, type, &iov) != 0)
    throw_errno("ptrace SETREGSET " + std::to_string(type) + " of tid " + std::to_string(tid));
}

}  // namespace

std::vector<uint8_t> get_gp_regs(pid_t tid) {
  user_regs_struct r{};
  size_t len = sizeof r;
  getregset(tid, NT_PRSTATUS, &r, len);
  return to_blob(r);
}

TaskRegs get_regs(pid_t tid) {
  TaskRegs out;
  out.gp = get_gp_regs(tid);
  size_t fplen = host_cpu_features().xsave_size;
  out.fp.resize(fplen);
  getregset(tid, NT_X86_XSTATE, out.fp.data(), fplen);
  out.fp.resize(fplen);
  // State a restore could not give back: refused by name, never silently lost.
  // AMX tiles need a per-process permission (ARCH_REQ_XCOMP_PERM) ck does not recreate.
  if (fp_features_used(out.fp) & kXfeatureAmxTileData)
    throw Error("tid " + std::to_string(tid) + " has AMX tile registers in use: they cannot be checkpointed yet",
                ExitCode::unsupported);
  // A user shadow stack (CET, Linux 6.6): the regset exists only while it is enabled.
  uint64_t ssp = 0;
  iovec iov{&ssp, sizeof ssp};
  if (ptrace(PTRACE_GETREGSET, tid, kNtX86Shstk, &iov) == 0)
    throw Error("tid " + std::to_string(tid) + " has a CET shadow stack enabled: it cannot be checkpointed yet",
                ExitCode::unsupported);
  return out;
}

void set_gp_regs(pid_t tid, const std::vector<uint8_t>& gp) {
  as_regs(gp);  // size check
  setregset(tid, NT_PRSTATUS, gp);
}

void set_regs(pid_t tid, const TaskRegs& regs) {
  set_gp_regs(tid, regs.gp);
  if (!regs.fp.empty()) setregset(tid, NT_X86_XSTATE, regs.fp);
}

uint64_t get_ip(const std::vector<uint8_t>& gp) { return as_regs(gp).rip; }
uint64_t get_sp(const std::vector<uint8_t>& gp) { return as_regs(gp).rsp; }
void set_ip(std::vector<uint8_t>& gp, uint64_t ip) {
  auto r = as_regs(gp);
  r.rip = ip;
  gp = to_blob(r);
}

void set_sp(std::vector<uint8_t>& gp, uint64_t sp) {
  auto r = as_regs(gp);
  r.rsp = sp;
  gp = to_blob(r);
}

void set_syscall_nr(std::vector<uint8_t>& gp, long nr) {
  auto r = as_regs(gp);
  r.orig_rax = static_cast<uint64_t>(nr);
  gp = to_blob(r);
}

long rt_sigreturn_nr() { return __NR_rt_sigreturn; }

std::vector<uint8_t> blank_gp_regs() { return to_blob(user_regs_struct{}); }

std::vector<std::pair<std::string, uint64_t>> regs_summary(const std::vector<uint8_t>& gp) {
  if (gp.size() != sizeof(user_regs_struct)) return {};
  auto r = as_regs(gp);
  return {{"rip", r.rip},         {"rsp", r.rsp},         {"rbp", r.rbp},         {"rax", r.rax},
          {"orig_rax", r.orig_rax}, {"eflags", r.eflags}, {"fs_base", r.fs_base}, {"gs_base", r.gs_base}};
}

bool fixup_syscall_restart(std::vector<uint8_t>& gp) {
  auto r = as_regs(gp);
  if (static_cast<int64_t>(r.orig_rax) < 0 || static_cast<int64_t>(r.rax) != kERESTART_RESTARTBLOCK) return false;
  r.rax = static_cast<uint64_t>(kERESTARTNOINTR);
  gp = to_blob(r);
  return true;
}

uint64_t user_address_limit() { return 0x7ffffffff000ull; }

// Instruction fetch snoops stores on x86 (self-modifying code is architecturally coherent).
void sync_icache(void* /*begin*/, size_t /*len*/) {}

std::vector<uint8_t> safety_code(uint64_t code_addr, uint64_t frame_addr) {
  // syscall; lea rsp, [rip + (frame+8) - next]; mov eax, __NR_rt_sigreturn; syscall
  // rt_sigreturn finds the frame at rsp - 8, where a handler's return popped the restorer.
  const uint8_t head[16] = {0x0f, 0x05, 0x48, 0x8d, 0x25, 0, 0, 0, 0, 0xb8, 15, 0, 0, 0, 0x0f, 0x05};
  // Sized once and filled in place (a resize after the initializer list trips GCC 12's -O3
  // -Warray-bounds).
  std::vector<uint8_t> c(kSafetyCodeSize, 0xcc);
  std::memcpy(c.data(), head, sizeof head);
  int64_t disp = static_cast<int64_t>(frame_addr + 8) - static_cast<int64_t>(code_addr + 9);
  int32_t d = static_cast<int32_t>(disp);
  std::memcpy(c.data() + 5, &d, 4);
  return c;
}

std::vector<uint8_t> safety_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr) {
  auto r = as_regs(regs.gp);
  // rt_sigreturn leaves the task outside any syscall: do the restart the kernel would have done.
  // A -ERESTART_RESTARTBLOCK call (relative nanosleep, poll or futex with a timeout) runs again
  // from the start, as after a restore: rt_sigreturn cancels the restart block, so
  // restart_syscall would return EINTR to a program that never saw a signal.
  if (static_cast<int64_t>(r.orig_rax) >= 0) {
    auto ret = static_cast<int64_t>(r.rax);
    if (ret == -512 || ret == kERESTARTNOINTR || ret == -514 || ret == kERESTART_RESTARTBLOCK)
      r.rax = r.orig_rax, r.rip -= 2;
  }
  struct Sigcontext {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2, fpstate, reserved1[8];
  };
  struct Frame {
    uint64_t pretcode;
    uint64_t uc_flags, uc_link;
    uint64_t ss_sp;
    int32_t ss_flags, pad;
    uint64_t ss_size;
    Sigcontext mc;
    uint64_t uc_sigmask;
    uint8_t info[128];
  };
  static_assert(sizeof(Sigcontext) == 256);
  Frame f{};
  f.uc_flags = 0x1 | 0x2 | 0x4;  // UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
  // rt_sigreturn sets the alternate stack from the frame but ignores a failure: invalid flags
  // leave the thread's own setting untouched, whatever it is.
  f.ss_flags = 3;
  auto& m = f.mc;
  m.r8 = r.r8, m.r9 = r.r9, m.r10 = r.r10, m.r11 = r.r11, m.r12 = r.r12, m.r13 = r.r13, m.r14 = r.r14, m.r15 = r.r15;
  m.rdi = r.rdi, m.rsi = r.rsi, m.rbp = r.rbp, m.rbx = r.rbx, m.rdx = r.rdx, m.rax = r.rax, m.rcx = r.rcx;
  m.rsp = r.rsp, m.rip = r.rip, m.eflags = r.eflags;
  m.cs = static_cast<uint16_t>(r.cs), m.ss = static_cast<uint16_t>(r.ss);
  f.uc_sigmask = sigmask;
  const size_t fp_off = (sizeof f + 63) & ~size_t{63};
  m.fpstate = frame_addr + fp_off;
  std::vector<uint8_t> out(fp_off + regs.fp.size() + 4, 0);
  std::memcpy(out.data() + fp_off, regs.fp.data(), regs.fp.size());
  // The software-reserved bytes of the FXSAVE area say an XSAVE frame follows.
  struct {
    uint32_t magic1, extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size, padding[7];
  } sw{0x46505853, static_cast<uint32_t>(regs.fp.size() + 4), host_cpu_features().xfeatures,
       static_cast<uint32_t>(regs.fp.size()), {}};
  if (regs.fp.size() >= 512) std::memcpy(out.data() + fp_off + 464, &sw, sizeof sw);
  uint32_t magic2 = 0x46505845;
  std::memcpy(out.data() + fp_off + regs.fp.size(), &magic2, 4);
  std::memcpy(out.data(), &f, sizeof f);
  return out;
}

uint64_t sigreturn_sp(uint64_t frame_addr) { return frame_addr + 8; }

std::vector<uint8_t> syscall_insn() { return {0x0f, 0x05}; }

std::vector<uint8_t> absolute_jump(uint64_t target) {
  std::vector<uint8_t> b = {0x49, 0xbb};  // movabs r11, imm64
  for (int i = 0; i < 8; i++) b.push_back(static_cast<uint8_t>(target >> (8 * i)));
  b.insert(b.end(), {0x41, 0xff, 0xe3});  // jmp r11
  return b;
}

std::vector<uint8_t> trap_insn() { return {0x0f, 0x0b}; }  // ud2

std::vector<uint8_t> syscall_stub(long nr) {
  // The vDSO functions' arguments are the syscalls' in the same registers, but for the 4th
  // (rcx in a call, r10 in a syscall); none of the stubbed ones takes more than three.
  std::vector<uint8_t> b = {0xb8};  // mov eax, imm32
  for (int i = 0; i < 4; i++) b.push_back(static_cast<uint8_t>(static_cast<uint32_t>(nr) >> (8 * i)));
  b.insert(b.end(), {0x0f, 0x05, 0xc3});  // syscall; ret
  return b;
}
size_t syscall_insn_align() { return 1; }

std::vector<uint8_t> make_syscall_regs(const std::vector<uint8_t>& saved, uint64_t insn_addr, long nr,
                                       const uint64_t (&args)[6]) {
  auto r = as_regs(saved);
  r.rip = insn_addr;
  r.rax = static_cast<uint64_t>(nr);
  // orig_rax = -1: the task must not look like it is inside a syscall, or the kernel would
  // apply its restart rules to our registers when the tracer resumes it.
  r.orig_rax = static_cast<uint64_t>(-1);
  r.rdi = args[0];
  r.rsi = args[1];
  r.rdx = args[2];
  r.r10 = args[3];
  r.r8 = args[4];
  r.r9 = args[5];
  r.eflags &= ~(1ul << 8);  // TF
  return to_blob(r);
}

int64_t syscall_result(const std::vector<uint8_t>& gp) { return static_cast<int64_t>(as_regs(gp).rax); }

CpuFeatures host_cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
    unsigned a = 0, b = 0, cx = 0, d = 0;
    __cpuid_count(1, 0, a, b, cx, d);
    bool osxsave = (cx >> 27) & 1;
    if (!osxsave) {
      c.xsave_size = 512;
      return c;
    }
    unsigned lo = 0, hi = 0;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    c.xfeatures = (static_cast<uint64_t>(hi) << 32) | lo;
    __cpuid_count(0xd, 0, a, b, cx, d);
    c.xsave_size = b;  // size for the features enabled in XCR0, standard format
    return c;
  }();
  return f;
}

uint64_t fp_features_used(const std::vector<uint8_t>& fp) {
  if (fp.size() < kXsaveHeaderOffset + 8) return 0;
  uint64_t bv = 0;
  std::memcpy(&bv, fp.data() + kXsaveHeaderOffset, sizeof bv);
  return bv;
}

std::string feature_names(uint64_t bits) {
  static const char* const names[] = {"x87",      "sse",      "avx",       "mpx-bndregs", "mpx-bndcsr",
                                      "avx512-opmask", "avx512-zmm_hi256", "avx512-hi16_zmm", "pt",
                                      "pkru",     "pasid",    "cet-user",  "cet-supervisor", "hdc",
                                      "uintr",    "lbr",      "hwp",       "amx-tilecfg", "amx-tiledata",
                                      "apx"};
  std::string out;
  for (unsigned i = 0; i < 64; i++) {
    if (!(bits & (1ull << i))) continue;
    if (!out.empty()) out += ", ";
    out += i < sizeof names / sizeof names[0] ? names[i] : "xfeature-" + std::to_string(i);
  }
  return out;
}

Hwcaps hwcaps_needed(const std::vector<uint64_t>& /*auxv*/) { return {}; }
std::string missing_hwcaps(const Hwcaps& /*needed*/) { return {}; }

}  // namespace ck::arch

namespace ck::arch {

bool is_return_gadget(const uint8_t* p, size_t n) {
  if (n < 3 || p[0] != 0x0f || p[1] != 0x05) return false;
  // Only `xor reg, reg` (32 or 64 bit, any register) may come between the syscall and the ret.
  for (size_t i = 2; i < n;) {
    if (p[i] == 0xc3) return true;
    size_t op = i;
    if (p[op] == 0x40 || p[op] == 0x41 || p[op] == 0x44 || p[op] == 0x45 || p[op] == 0x48 || p[op] == 0x49 ||
        p[op] == 0x4c || p[op] == 0x4d) {
      // REX: W may be set; R and B must agree so that both operands are the same register.
      if (((p[op] >> 2) & 1) != (p[op] & 1)) return false;
      op++;
    }
    if (op + 1 >= n || (p[op] != 0x31 && p[op] != 0x33)) return false;
    uint8_t modrm = p[op + 1];
    if ((modrm >> 6) != 3 || ((modrm >> 3) & 7) != (modrm & 7)) return false;
    i = op + 2;
  }
  return false;
}

std::vector<std::vector<uint8_t>> sigreturn_trampolines() {
  return {{0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05},  // mov rax, 15; syscall (glibc, musl, Go)
          {0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05}};             // mov eax, 15; syscall
}
size_t trampoline_align() { return 1; }

uint64_t guarded_frame_addr(uint64_t sp, size_t size) { return (sp - 128 - size) & ~uint64_t{63}; }

std::vector<uint8_t> guarded_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr, uint64_t trampoline) {
  // The frame's first word is where a signal frame holds the handler's return address: the
  // gadget's ret takes it, and the trampoline's rt_sigreturn finds the frame 8 bytes below.
  auto f = safety_frame(regs, sigmask, frame_addr);
  std::memcpy(f.data(), &trampoline, sizeof trampoline);
  return f;
}

void guard_syscall_regs(std::vector<uint8_t>& gp, uint64_t frame_addr, uint64_t /*trampoline*/) {
  set_sp(gp, frame_addr);
}

std::optional<VdsoCall> way_back_call() { return std::nullopt; }  // the vDSO has return gadgets
long get_syscall_nr(const std::vector<uint8_t>& gp) { return static_cast<long>(as_regs(gp).orig_rax); }

bool way_back_forbidden(const std::string& status) {
  auto at = status.find("x86_Thread_features:");
  if (at == std::string::npos) return false;
  return status.substr(at, status.find('\n', at) - at).find("shstk") != std::string::npos;
}

}  // namespace ck::arch
