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

std::vector<uint8_t> syscall_insn() { return {0x0f, 0x05}; }
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
