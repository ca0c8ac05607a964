#include "arch.hpp"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>
#include <type_traits>

#include "error.hpp"

namespace ck::arch {

const char* const kName = "aarch64";

namespace {

// ---- kernel ABI ------------------------------------------------------------------------
// Our own copies of the few uapi definitions used: <asm/ptrace.h> cannot be included next to
// glibc's <sys/ptrace.h> (both define PTRACE_SYSEMU), and newer notes postdate the headers of
// the toolchain. Values from include/uapi/linux/elf.h and arch/arm64/include/uapi/asm/*.h.
constexpr int kNtPrstatus = 1;
constexpr int kNtPrfpreg = 2;
constexpr int kNtArmTls = 0x401;
constexpr int kNtArmSystemCall = 0x404;
constexpr int kNtArmSve = 0x405;
constexpr int kNtArmPacaKeys = 0x407;
constexpr int kNtArmPacgKeys = 0x408;
constexpr int kNtArmTaggedAddrCtrl = 0x409;
constexpr int kNtArmPacEnabledKeys = 0x40a;
constexpr int kNtArmSsve = 0x40b;
constexpr int kNtArmZa = 0x40c;
constexpr int kNtArmFpmr = 0x40e;
constexpr int kNtArmPoe = 0x40f;
constexpr int kNtArmGcs = 0x410;

constexpr uint64_t kHwcapFp = 1ull << 0;
constexpr uint64_t kHwcapEvtstrm = 1ull << 2;
constexpr uint64_t kHwcapCpuid = 1ull << 11;
constexpr uint64_t kHwcapSve = 1ull << 22;
constexpr uint64_t kHwcapPaca = 1ull << 30;
constexpr uint64_t kHwcapPacg = 1ull << 31;
constexpr uint64_t kHwcapGcs = 1ull << 32;
constexpr uint64_t kHwcap2Mte = 1ull << 18;
constexpr uint64_t kHwcap2Sme = 1ull << 23;
constexpr uint64_t kHwcap2Fpmr = 1ull << 48;
constexpr uint64_t kHwcap2Poe = 1ull << 63;

constexpr int kPrSveSetVl = 50;
constexpr int kPrSmeSetVl = 63;
constexpr uint64_t kPrMteTcfMask = (1ull << 1) | (1ull << 2);  // PR_MTE_TCF_SYNC | ASYNC
constexpr uint64_t kPrMteStoreOnly = 1ull << 19;
constexpr uint64_t kPrShadowStackEnable = 1ull << 0;
constexpr uint64_t kPorEl0Init = 0x7;  // POE_RWX for key 0, nothing for the others

constexpr uint64_t kPstateSs = 1ull << 21;     // software step pending
constexpr uint64_t kPstateBtype = 3ull << 10;  // branch type of the last indirect branch (BTI)

// Kernel-internal restart codes (include/linux/errno.h).
constexpr int64_t kERESTARTSYS = -512;
constexpr int64_t kERESTARTNOINTR = -513;
constexpr int64_t kERESTARTNOHAND = -514;
constexpr int64_t kERESTART_RESTARTBLOCK = -516;

// PTRACE_GET_SYSCALL_INFO: the first byte of struct ptrace_syscall_info is `op`.
constexpr int kPtraceGetSyscallInfo = 0x420e;
constexpr uint8_t kSyscallInfoEntry = 1, kSyscallInfoExit = 2;

// struct user_sve_header and struct user_za_header have the same layout.
struct VecHeader {
  uint32_t size, max_size;
  uint16_t vl, max_vl, flags, reserved;
};
static_assert(sizeof(VecHeader) == 16);
constexpr uint16_t kSvePtRegsMask = 1, kSvePtRegsSve = 1;
constexpr uint16_t kSvePtVlInherit = 1 << 1;  // also ZA_PT_VL_INHERIT

constexpr size_t kFpsimdSize = 32 * 16 + 4 + 4 + 2 * 4;  // struct user_fpsimd_state
constexpr size_t kPacaSize = 4 * 16;                    // struct user_pac_address_keys
constexpr size_t kPacgSize = 16;                        // struct user_pac_generic_keys
constexpr size_t kGcsSize = 3 * 8;                      // struct user_gcs

// NT_ARM_SVE for the architectural maximum vector length (2048 bits, vq 16): the header, Z0-31,
// P0-15, FFR, then FPSR/FPCR at the next 16-byte boundary (SVE_PT_SIZE(16, SVE_PT_REGS_SVE)),
// rounded up to 16 bytes as GETREGSET fills it.
constexpr size_t kSveMaxVq = 16;
constexpr size_t sve_regs_end(size_t vq) { return 16 + 32 * vq * 16 + 16 * vq * 2 + vq * 2; }
constexpr size_t kSveMaxBytes = ((sve_regs_end(kSveMaxVq) + 15) / 16 * 16 + 8 + 15) / 16 * 16;
static_assert(kSveMaxBytes == 8768);

// ---- the blobs -------------------------------------------------------------------------
constexpr uint32_t kGpMagic = 0x31475043;   // "CPG1"
constexpr uint32_t kExtMagic = 0x31585843;  // "CXX1"

struct GpState {
  uint32_t magic;
  uint32_t tls_bytes;      // what NT_ARM_TLS gave: 8 (tpidr_el0) or 16 (+ tpidr2_el0, SME kernels)
  uint64_t regs[31];       // struct user_pt_regs ...
  uint64_t sp, pc, pstate;
  uint64_t tls[2];         // tpidr_el0, tpidr2_el0
  int64_t syscallno;       // at the stop; -1: not in a syscall (always set to -1 on write)
};
static_assert(sizeof(GpState) == 304 && std::has_unique_object_representations_v<GpState>);

// Which optional parts an ExtState holds (read at dump, written back at restore).
enum : uint32_t {
  kPartSve = 1u << 0,
  kPartSme = 1u << 1,
  kPartPaca = 1u << 2,
  kPartPacg = 1u << 3,
  kPartPacEnabled = 1u << 4,
  kPartTaggedCtrl = 1u << 5,
  kPartFpmr = 1u << 6,
};

struct ExtState {
  uint32_t magic;
  uint32_t parts;
  uint64_t pauth_algos;     // xfeatures bits: the algorithms that signed this thread's pointers
  uint64_t hwcap_needed, hwcap2_needed;  // the process's AT_HWCAP/AT_HWCAP2 (hwcaps_needed)
  uint8_t fpsimd[kFpsimdSize];
  uint64_t pac_enabled_keys;
  uint8_t paca_keys[kPacaSize];
  uint8_t pacg_keys[kPacgSize];
  uint64_t tagged_addr_ctrl;
  uint64_t fpmr;
  uint16_t sme_vl, sme_flags;
  uint32_t sve_bytes;       // bytes of `sve` in use: the header's size
  uint8_t sve[kSveMaxBytes];
};
static_assert(sizeof(ExtState) == 9440 && std::has_unique_object_representations_v<ExtState>);

// ---- ck's xfeatures bits -------------------------------------------------------------
constexpr uint64_t kFeatFpsimd = 1ull << 0;
constexpr uint64_t kFeatPauthQarma5 = 1ull << 2, kFeatPauthImpdef = 1ull << 3, kFeatPauthQarma3 = 1ull << 4;
constexpr uint64_t kFeatPacgQarma5 = 1ull << 5, kFeatPacgImpdef = 1ull << 6, kFeatPacgQarma3 = 1ull << 7;
constexpr uint64_t kFeatFpmr = 1ull << 8;
constexpr unsigned kFeatSveVlShift = 16;  // bit 16 + vq - 1: SVE vector length vq * 128 bits
constexpr unsigned kFeatSmeVlShift = 32;  // bit 32 + vq - 1: SME streaming vector length
constexpr uint64_t kFeatAddressAuth = kFeatPauthQarma5 | kFeatPauthImpdef | kFeatPauthQarma3;
constexpr uint64_t kFeatGenericAuth = kFeatPacgQarma5 | kFeatPacgImpdef | kFeatPacgQarma3;

uint64_t vl_bit(unsigned shift, unsigned vl_bytes) {
  unsigned vq = vl_bytes / 16;
  return vq >= 1 && vq <= kSveMaxVq ? 1ull << (shift + vq - 1) : 0;
}

std::string tid_str(pid_t tid) { return "tid " + std::to_string(tid); }

template <typename T>
T from_blob(const std::vector<uint8_t>& blob, uint32_t magic, const char* what) {
  T v;
  if (blob.size() != sizeof v)
    throw Error(std::string(what) + " of " + std::to_string(blob.size()) + " bytes, expected " + std::to_string(sizeof v) +
                    " (image of another architecture or ck version?)",
                ExitCode::bad_image);
  std::memcpy(&v, blob.data(), sizeof v);
  if (v.magic != magic) throw Error(std::string(what) + " of another format", ExitCode::bad_image);
  return v;
}

template <typename T>
std::vector<uint8_t> to_blob(const T& v) {
  std::vector<uint8_t> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

GpState as_gp(const std::vector<uint8_t>& gp) { return from_blob<GpState>(gp, kGpMagic, "register blob"); }

// GETREGSET into buf; returns the length the kernel filled, or -errno if `optional` and it failed.
long getregset(pid_t tid, int type, void* buf, size_t len, bool optional = false) {
  iovec iov{buf, len};
  if (ptrace(PTRACE_GETREGSET, tid, type, &iov) != 0) {
    if (optional) return -errno;
    throw_errno("ptrace GETREGSET " + std::to_string(type) + " of " + tid_str(tid));
  }
  return static_cast<long>(iov.iov_len);
}

void setregset(pid_t tid, int type, const void* buf, size_t len) {
  // The kernel takes a non-const iovec but does not write through it on SETREGSET.
  iovec iov{const_cast<void*>(buf), len};
  if (ptrace(PTRACE_SETREGSET, tid, type, &iov) != 0)
    throw_errno("ptrace SETREGSET " + std::to_string(type) + " of " + tid_str(tid));
}

[[noreturn]] void refuse(pid_t tid, const std::string& what) {
  throw Error(tid_str(tid) + " " + what, ExitCode::unsupported);
}

// ID registers through the kernel's emulation of MRS (HWCAP_CPUID): the fields that say which
// pointer-authentication algorithm the CPU implements.
uint64_t read_pauth_algos() {
  uint64_t caps = getauxval(AT_HWCAP);
  if (!(caps & kHwcapCpuid) || !(caps & (kHwcapPaca | kHwcapPacg))) return 0;
  uint64_t isar1 = 0, isar2 = 0;
  asm volatile("mrs %0, ID_AA64ISAR1_EL1" : "=r"(isar1));
  asm volatile("mrs %0, S3_0_C0_C6_2" : "=r"(isar2));  // ID_AA64ISAR2_EL1 (RAZ where unknown)
  auto field = [](uint64_t reg, unsigned shift) { return (reg >> shift) & 0xf; };
  uint64_t f = 0;
  if (caps & kHwcapPaca) {
    if (field(isar1, 4)) f |= kFeatPauthQarma5;   // APA
    if (field(isar1, 8)) f |= kFeatPauthImpdef;   // API
    if (field(isar2, 12)) f |= kFeatPauthQarma3;  // APA3
  }
  if (caps & kHwcapPacg) {
    if (field(isar1, 24)) f |= kFeatPacgQarma5;   // GPA
    if (field(isar1, 28)) f |= kFeatPacgImpdef;   // GPI
    if (field(isar2, 8)) f |= kFeatPacgQarma3;    // GPA3
  }
  return f;
}

// Every read traps into the kernel: once per process is enough.
uint64_t host_pauth_algos() {
  static const uint64_t algos = read_pauth_algos();
  return algos;
}

// The vector lengths this CPU (and kernel) can give a thread, as xfeatures bits: each length is
// tried with prctl on a throwaway thread, since it changes the calling thread's length.
uint64_t host_vls(int set_vl_op, unsigned shift) {
  uint64_t bits = 0;
  std::thread probe([&] {
    for (unsigned vq = 1; vq <= kSveMaxVq; vq++) {
      int r = prctl(set_vl_op, vq * 16, 0, 0, 0);
      if (r >= 0 && static_cast<unsigned>(r & 0xffff) == vq * 16) bits |= 1ull << (shift + vq - 1);
    }
  });
  probe.join();
  return bits;
}

std::string read_small_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw_errno("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::vector<uint64_t> read_auxv(pid_t tid) {
  std::string raw = read_small_file("/proc/" + std::to_string(tid) + "/auxv");
  std::vector<uint64_t> v(raw.size() / 8);
  std::memcpy(v.data(), raw.data(), v.size() * 8);
  return v;
}

// PROT_MTE memory holds allocation tags ck does not save ("mt" in VmFlags of smaps).
bool uses_mte_memory(pid_t tid) {
  std::string smaps = read_small_file("/proc/" + std::to_string(tid) + "/smaps");
  size_t pos = 0;
  while ((pos = smaps.find("VmFlags:", pos)) != std::string::npos) {
    size_t end = smaps.find('\n', pos);
    std::string flags = " " + smaps.substr(pos + 8, end == std::string::npos ? std::string::npos : end - pos - 8) + " ";
    if (flags.find(" mt ") != std::string::npos) return true;
    pos = end == std::string::npos ? smaps.size() : end;
  }
  return false;
}

ExtState read_ext(pid_t tid) {
  ExtState e{};
  e.magic = kExtMagic;
  const uint64_t caps = getauxval(AT_HWCAP), caps2 = getauxval(AT_HWCAP2);
  if (getregset(tid, kNtPrfpreg, e.fpsimd, sizeof e.fpsimd) != static_cast<long>(sizeof e.fpsimd))
    throw Error("short FP/SIMD register set of " + tid_str(tid));

  if (caps2 & kHwcap2Sme) {
    VecHeader h{};
    getregset(tid, kNtArmSsve, &h, sizeof h);
    if ((h.flags & kSvePtRegsMask) == kSvePtRegsSve)
      refuse(tid, "is in SME streaming mode: its streaming SVE registers cannot be checkpointed yet");
    VecHeader za{};
    getregset(tid, kNtArmZa, &za, sizeof za);
    if (za.size > sizeof za) refuse(tid, "has SME's ZA storage enabled: ZA (and ZT0) cannot be checkpointed yet");
    e.sme_vl = za.vl;
    e.sme_flags = za.flags & kSvePtVlInherit;
    e.parts |= kPartSme;
  }
  if (caps & kHwcapSve) {
    getregset(tid, kNtArmSve, e.sve, sizeof e.sve);
    VecHeader h{};
    std::memcpy(&h, e.sve, sizeof h);
    if (h.size < sizeof h || h.size > sizeof e.sve)
      throw Error("SVE register set of " + tid_str(tid) + " has an unexpected size " + std::to_string(h.size));
    e.sve_bytes = h.size;
    e.parts |= kPartSve;
  }
  // Tagged-address control: PR_TAGGED_ADDR_ENABLE is restored; MTE tag checking would need
  // the memory's allocation tags, which are not saved.
  uint64_t ctrl = 0;
  if (getregset(tid, kNtArmTaggedAddrCtrl, &ctrl, sizeof ctrl, true) == static_cast<long>(sizeof ctrl)) {
    if (ctrl & (kPrMteTcfMask | kPrMteStoreOnly))
      refuse(tid, "has MTE tag checking enabled (PR_SET_TAGGED_ADDR_CTRL): memory tags cannot be checkpointed yet");
    e.tagged_addr_ctrl = ctrl;
    e.parts |= kPartTaggedCtrl;
  }
  if ((caps2 & kHwcap2Mte) && uses_mte_memory(tid))
    refuse(tid, "has PROT_MTE memory: MTE allocation tags cannot be checkpointed yet");

  // Pointer authentication: a return address signed with the old keys only authenticates
  // with the same keys (and the same algorithm), and a restored task starts with ckrestore's.
  if (caps & kHwcapPaca) {
    if (getregset(tid, kNtArmPacaKeys, e.paca_keys, sizeof e.paca_keys, true) < 0)
      refuse(tid, "uses pointer authentication, and this kernel does not let ptrace read its keys "
                  "(CONFIG_CHECKPOINT_RESTORE)");
    e.parts |= kPartPaca;
    e.pauth_algos |= host_pauth_algos() & kFeatAddressAuth;
    if (getregset(tid, kNtArmPacEnabledKeys, &e.pac_enabled_keys, sizeof e.pac_enabled_keys, true) ==
        static_cast<long>(sizeof e.pac_enabled_keys))
      e.parts |= kPartPacEnabled;
  }
  if (caps & kHwcapPacg) {
    if (getregset(tid, kNtArmPacgKeys, e.pacg_keys, sizeof e.pacg_keys, true) < 0)
      refuse(tid, "uses pointer authentication, and this kernel does not let ptrace read its generic key "
                  "(CONFIG_CHECKPOINT_RESTORE)");
    e.parts |= kPartPacg;
    e.pauth_algos |= host_pauth_algos() & kFeatGenericAuth;
  }
  if (caps2 & kHwcap2Fpmr) {
    getregset(tid, kNtArmFpmr, &e.fpmr, sizeof e.fpmr);
    e.parts |= kPartFpmr;
  }
  if (caps2 & kHwcap2Poe) {
    uint64_t por = kPorEl0Init;
    getregset(tid, kNtArmPoe, &por, sizeof por);
    if (por != kPorEl0Init)
      refuse(tid, "uses memory protection keys (POR_EL0 " + std::to_string(por) +
                      "): pkeys of mappings cannot be checkpointed yet");
  }
  if (caps & kHwcapGcs) {
    uint64_t gcs[kGcsSize / 8] = {};
    getregset(tid, kNtArmGcs, gcs, sizeof gcs);
    if (gcs[0] & kPrShadowStackEnable)
      refuse(tid, "has the Guarded Control Stack (shadow stack) enabled: it cannot be checkpointed yet");
  }
  Hwcaps need = hwcaps_needed(read_auxv(tid));
  e.hwcap_needed = need.hwcap;
  e.hwcap2_needed = need.hwcap2;
  return e;
}

// Sets a vector length through its regset and checks the kernel took it: it silently picks a
// shorter one when the CPU lacks the requested length, and the program may have sized its
// data for its own.
void check_vl(pid_t tid, int type, uint16_t want, const char* what) {
  VecHeader h{};
  getregset(tid, type, &h, sizeof h);
  if (h.vl != want)
    throw Error("this CPU cannot give the program its " + std::string(what) + " vector length of " +
                    std::to_string(want * 8) + " bits (it gave " + std::to_string(h.vl * 8) + ")",
                ExitCode::unsupported);
}

void write_ext(pid_t tid, const ExtState& e) {
  Hwcaps need{e.hwcap_needed, e.hwcap2_needed};
  std::string missing = missing_hwcaps(need);
  if (!missing.empty())
    throw Error("this CPU lacks " + missing + ", which the checkpointed program may use", ExitCode::unsupported);
  // The SME vector length first: changing it discards SVE register state set before.
  if (e.parts & kPartSme) {
    VecHeader za{sizeof(VecHeader), 0, e.sme_vl, 0, e.sme_flags, 0};  // header only: ZA off
    setregset(tid, kNtArmZa, &za, sizeof za);
    check_vl(tid, kNtArmZa, e.sme_vl, "SME");
  }
  setregset(tid, kNtPrfpreg, e.fpsimd, sizeof e.fpsimd);
  if (e.parts & kPartSve) {
    VecHeader h{};
    std::memcpy(&h, e.sve, sizeof h);
    iovec iov{const_cast<uint8_t*>(e.sve), e.sve_bytes};
    if (ptrace(PTRACE_SETREGSET, tid, kNtArmSve, &iov) != 0) {
      if (errno == EIO) check_vl(tid, kNtArmSve, h.vl, "SVE");  // the kernel's answer to a VL it lacks
      throw_errno("ptrace SETREGSET NT_ARM_SVE of " + tid_str(tid));
    }
    check_vl(tid, kNtArmSve, h.vl, "SVE");
  }
  if (e.parts & kPartFpmr) setregset(tid, kNtArmFpmr, &e.fpmr, sizeof e.fpmr);
  if (e.parts & kPartTaggedCtrl) setregset(tid, kNtArmTaggedAddrCtrl, &e.tagged_addr_ctrl, sizeof e.tagged_addr_ctrl);
  if (e.parts & kPartPaca) setregset(tid, kNtArmPacaKeys, e.paca_keys, sizeof e.paca_keys);
  if (e.parts & kPartPacg) setregset(tid, kNtArmPacgKeys, e.pacg_keys, sizeof e.pacg_keys);
  if (e.parts & kPartPacEnabled) setregset(tid, kNtArmPacEnabledKeys, &e.pac_enabled_keys, sizeof e.pac_enabled_keys);
}

void set_syscallno(pid_t tid, int nr) { setregset(tid, kNtArmSystemCall, &nr, sizeof nr); }

// At a syscall-entry or -exit stop arm64 reports the stop's direction in x7 and puts the
// task's own x7 back when the stop ends, discarding whatever a tracer wrote there
// (report_syscall() in arch/arm64/kernel/ptrace.c). To set a complete register set the
// tracee is moved on to a PTRACE_EVENT_STOP: PTRACE_INTERRUPT, then PTRACE_CONT. It stops in
// get_signal() on its way out of the kernel, before any user instruction, and register writes
// there stick. The syscall number is made "none" first, or do_signal() would apply the restart
// rules to whatever x0 holds.
void leave_syscall_stop(pid_t tid) {
  uint8_t info[128] = {};
  if (ptrace(static_cast<__ptrace_request>(kPtraceGetSyscallInfo), tid, sizeof info, info) < 0)
    throw_errno("ptrace GET_SYSCALL_INFO of " + tid_str(tid));
  if (info[0] != kSyscallInfoEntry && info[0] != kSyscallInfoExit) return;
  set_syscallno(tid, -1);
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) throw_errno("ptrace interrupt " + tid_str(tid));
  int sig = 0;
  for (;;) {
    if (ptrace(PTRACE_CONT, tid, nullptr, sig) != 0) throw_errno("ptrace cont " + tid_str(tid));
    int status = 0;
    pid_t r;
    while ((r = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR) {
    }
    if (r != tid) throw_errno("waitpid " + tid_str(tid));
    if (WIFEXITED(status) || WIFSIGNALED(status)) throw Error(tid_str(tid) + " ended while its registers were set");
    if (!WIFSTOPPED(status)) continue;
    if ((status >> 16) == PTRACE_EVENT_STOP) return;  // our interrupt, or a group stop
    sig = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
    // Only signals that cannot be blocked can arrive here (the callers block the others). A
    // stop signal is let through: the task enters a group stop, which is an event stop too.
    if (sig != 0 && sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
      throw Error(tid_str(tid) + ": signal " + std::to_string(sig) + " arrived while its registers were set");
  }
}

}  // namespace

// ---- registers ---------------------------------------------------------------------------

std::vector<uint8_t> get_gp_regs(pid_t tid) {
  GpState g{};
  g.magic = kGpMagic;
  uint64_t pt[34];  // struct user_pt_regs
  if (getregset(tid, kNtPrstatus, pt, sizeof pt) != static_cast<long>(sizeof pt))
    throw Error("short general register set of " + tid_str(tid));
  std::memcpy(g.regs, pt, sizeof g.regs);
  g.sp = pt[31], g.pc = pt[32], g.pstate = pt[33];
  g.tls_bytes = static_cast<uint32_t>(getregset(tid, kNtArmTls, g.tls, sizeof g.tls));
  int nr = -1;
  getregset(tid, kNtArmSystemCall, &nr, sizeof nr);
  g.syscallno = nr;
  return to_blob(g);
}

void set_gp_regs(pid_t tid, const std::vector<uint8_t>& gp) {
  GpState g = as_gp(gp);
  uint64_t pt[34];
  std::memcpy(pt, g.regs, sizeof g.regs);
  pt[31] = g.sp, pt[32] = g.pc, pt[33] = g.pstate;
  setregset(tid, kNtPrstatus, pt, sizeof pt);
  if (g.tls_bytes == 8 || g.tls_bytes == 16) setregset(tid, kNtArmTls, g.tls, g.tls_bytes);
  // -1 ("not in a syscall", so that no restart rule applies to x0) in every blob but one
  // changed by set_syscall_nr at a syscall-entry stop.
  set_syscallno(tid, static_cast<int>(g.syscallno));
}

TaskRegs get_regs(pid_t tid) {
  TaskRegs out;
  out.gp = get_gp_regs(tid);
  out.fp = to_blob(read_ext(tid));
  return out;
}

void set_regs(pid_t tid, const TaskRegs& regs) {
  as_gp(regs.gp);  // a bad blob fails before the tracee is moved
  std::optional<ExtState> ext;
  if (!regs.fp.empty()) ext = from_blob<ExtState>(regs.fp, kExtMagic, "FP/vector state blob");
  leave_syscall_stop(tid);
  if (ext) write_ext(tid, *ext);
  set_gp_regs(tid, regs.gp);
}

uint64_t get_ip(const std::vector<uint8_t>& gp) { return as_gp(gp).pc; }
uint64_t get_sp(const std::vector<uint8_t>& gp) { return as_gp(gp).sp; }
void set_ip(std::vector<uint8_t>& gp, uint64_t ip) {
  GpState g = as_gp(gp);
  g.pc = ip;
  gp = to_blob(g);
}

void set_sp(std::vector<uint8_t>& gp, uint64_t sp) {
  GpState g = as_gp(gp);
  g.sp = sp;
  gp = to_blob(g);
}

void set_syscall_nr(std::vector<uint8_t>& gp, long nr) {
  GpState g = as_gp(gp);
  g.syscallno = nr;
  gp = to_blob(g);
}

long rt_sigreturn_nr() { return 139; }  // __NR_rt_sigreturn of the generic syscall table

std::vector<uint8_t> blank_gp_regs() {
  GpState g{};
  g.magic = kGpMagic;
  g.syscallno = -1;
  return to_blob(g);
}

std::vector<std::pair<std::string, uint64_t>> regs_summary(const std::vector<uint8_t>& gp) {
  if (gp.size() != sizeof(GpState)) return {};
  GpState g = as_gp(gp);
  return {{"pc", g.pc},         {"sp", g.sp},         {"lr", g.regs[30]},   {"fp", g.regs[29]},
          {"x0", g.regs[0]},    {"x8", g.regs[8]},    {"pstate", g.pstate}, {"tpidr_el0", g.tls[0]},
          {"tpidr2_el0", g.tls[1]}, {"syscallno", static_cast<uint64_t>(g.syscallno)}};
}

bool fixup_syscall_restart(std::vector<uint8_t>& gp) {
  GpState g = as_gp(gp);
  if (g.syscallno < 0) return false;  // do_signal() already rewound it (or it was not in one)
  auto ret = static_cast<int64_t>(g.regs[0]);
  if (ret == kERESTARTSYS || ret == kERESTARTNOINTR || ret == kERESTARTNOHAND || ret == kERESTART_RESTARTBLOCK)
    throw Error("the task is stopped inside syscall " + std::to_string(g.syscallno) +
                    " before the kernel prepared its restart; on arm64 that needs the first argument "
                    "(orig_x0), which ptrace cannot read",
                ExitCode::unsupported);
  g.syscallno = -1;  // finished: x0 holds its result
  gp = to_blob(g);
  return true;
}

uint64_t user_address_limit() {
  // TASK_SIZE depends on the kernel's VA_BITS; a fixed mapping just below each candidate top
  // tells (EEXIST: taken, so valid too). 52-bit kernels hand out addresses above 48 bits only
  // to programs that ask, so 48 bits bound everything ck deals with.
  static const uint64_t limit = []() -> uint64_t {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    for (unsigned bits : {48u, 47u, 42u, 39u}) {
      uint64_t top = 1ull << bits;
      void* at = reinterpret_cast<void*>(top - page);
      void* p = mmap(at, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (p == MAP_FAILED && errno == EEXIST) return top;
      if (p == MAP_FAILED) continue;
      munmap(p, page);
      if (p == at) return top;
    }
    return 1ull << 39;
  }();
  return limit;
}

// ---- syscall injection ----------------------------------------------------------------

std::vector<uint8_t> syscall_insn() { return {0x01, 0x00, 0x00, 0xd4}; }  // svc #0

std::vector<uint8_t> absolute_jump(uint64_t target) {
  // ldr x16, #8 (0x58000050); br x16 (0xd61f0200); the literal right after. An entry is only
  // 4-byte aligned, so the literal may be too: EL0 loads from normal memory need no alignment.
  std::vector<uint8_t> b = {0x50, 0x00, 0x00, 0x58, 0x00, 0x02, 0x1f, 0xd6};
  for (int i = 0; i < 8; i++) b.push_back(static_cast<uint8_t>(target >> (8 * i)));
  return b;
}

std::vector<uint8_t> trap_insn() { return {0x00, 0x00, 0x00, 0x00}; }  // udf #0

std::vector<uint8_t> syscall_stub(long nr) {
  const uint32_t insns[3] = {0xd2800008u | (static_cast<uint32_t>(nr & 0xffff) << 5),  // movz x8, #nr
                             0xd4000001u,                                              // svc #0
                             0xd65f03c0u};                                             // ret
  std::vector<uint8_t> b;
  for (uint32_t w : insns)
    for (int i = 0; i < 4; i++) b.push_back(static_cast<uint8_t>(w >> (8 * i)));
  return b;
}
size_t syscall_insn_align() { return 4; }

std::vector<uint8_t> make_syscall_regs(const std::vector<uint8_t>& saved, uint64_t insn_addr, long nr,
                                       const uint64_t (&args)[6]) {
  GpState g = as_gp(saved);
  g.pc = insn_addr;
  g.regs[8] = static_cast<uint64_t>(nr);
  for (int i = 0; i < 6; i++) g.regs[i] = args[i];
  // A task stopped right after an indirect branch has BTYPE set and would take a BTI fault on
  // an `svc` in a guarded page (the vDSO is one); single-step would trap after it.
  g.pstate &= ~(kPstateBtype | kPstateSs);
  g.syscallno = -1;
  return to_blob(g);
}

int64_t syscall_result(const std::vector<uint8_t>& gp) { return static_cast<int64_t>(as_gp(gp).regs[0]); }

// ---- the safety net of an injected task -------------------------------------------------

// The data cache is not coherent with instruction fetch on arm64: new code must be cleaned to
// the point of unification (DC CVAU) and the instruction cache invalidated (IC IVAU), with the
// barriers between, line by line; the compiler's builtin does exactly that (the line sizes
// from CTR_EL0, which user space may read).
void sync_icache(void* begin, size_t len) {
  char* b = static_cast<char*>(begin);
  __builtin___clear_cache(b, b + len);
}

std::vector<uint8_t> safety_code(uint64_t code_addr, uint64_t frame_addr) {
  (void)code_addr;  // position-independent: the frame address is a literal
  const uint32_t insns[] = {
      0xd4000001,  // +0   svc #0            the injected syscall
      0x580000b0,  // +4   ldr x16, +24      the frame's address, from the literal below
      0x9100021f,  // +8   mov sp, x16       rt_sigreturn reads its frame at sp
      0xd2801168,  // +12  mov x8, #139      __NR_rt_sigreturn
      0xd4000001,  // +16  svc #0
      0xd4200000,  // +20  brk #0            not reached: rt_sigreturn does not return here
  };
  std::vector<uint8_t> c(kSafetyCodeSize, 0);
  std::memcpy(c.data(), insns, sizeof insns);
  const uint64_t sp = sigreturn_sp(frame_addr);
  std::memcpy(c.data() + 24, &sp, sizeof sp);
  for (size_t off = 32; off < c.size(); off += 4) std::memcpy(c.data() + off, &insns[5], 4);  // brk
  return c;
}

uint64_t sigreturn_sp(uint64_t frame_addr) {
  // The kernel refuses a frame that is not 16-byte aligned (sys_rt_sigreturn: sp & 15).
  if (frame_addr & 15) throw Error("rt_sigreturn frame at a misaligned address");
  return frame_addr;
}

std::vector<uint8_t> safety_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr) {
  // struct rt_sigframe (arch/arm64/kernel/signal.c): siginfo, then the ucontext, whose
  // sigcontext ends in 4 KiB of records (uapi/asm/sigcontext.h), each {magic, size}.
  constexpr size_t kUc = 128;                   // offsetof(rt_sigframe, uc)
  constexpr size_t kSigmask = kUc + 40;         // uc_sigmask
  constexpr size_t kStackFlags = kUc + 24;      // uc_stack.ss_flags
  constexpr size_t kMcontext = kUc + 176;       // uc_mcontext, 16-byte aligned
  constexpr size_t kReserved = kMcontext + 288;  // uc_mcontext.__reserved
  constexpr size_t kReservedSize = 4096;
  constexpr size_t kTerminator = 16;            // a {0, 0} record, padded
  constexpr uint32_t kFpsimdMagic = 0x46508001, kExtraMagic = 0x45585401, kSveMagic = 0x53564501;
  constexpr size_t kFpsimdRecord = 528, kExtraRecord = 32;

  const GpState g = as_gp(regs.gp);
  if (regs.fp.empty()) throw Error("no FP/SIMD state for the rt_sigreturn frame");
  const ExtState e = from_blob<ExtState>(regs.fp, kExtMagic, "FP/vector state blob");
  VecHeader sve{};
  std::memcpy(&sve, e.sve, sizeof sve);
  // SVE registers only while they are live: a syscall discards all but their low 128 bits.
  const bool sve_live = (e.parts & kPartSve) && (sve.flags & kSvePtRegsMask) == kSvePtRegsSve;
  const size_t vq = sve.vl / 16;
  const size_t sve_regs = sve_live ? sve_regs_end(vq) - 16 : 0;  // Z, P, FFR
  const size_t sve_record = sve_live ? (16 + sve_regs + 15) / 16 * 16 : 0;
  const size_t extra_at = kReserved + kFpsimdRecord;
  const size_t extra_data = extra_at + kExtraRecord + kTerminator;
  const size_t extra_size = sve_live ? sve_record + kTerminator : 0;
  std::vector<uint8_t> f(std::max(kReserved + kReservedSize, extra_data + extra_size), 0);
  auto put = [&](size_t off, const auto& v) { std::memcpy(f.data() + off, &v, sizeof v); };

  put(kSigmask, sigmask);
  // An invalid ss_flags: rt_sigreturn ignores the failed sigaltstack and leaves the thread's.
  put(kStackFlags, int32_t{3});
  for (int i = 0; i < 31; i++) put(kMcontext + 8 + 8 * i, g.regs[i]);
  put(kMcontext + 256, g.sp);
  put(kMcontext + 264, g.pc);
  put(kMcontext + 272, g.pstate);

  // struct fpsimd_context: head, fpsr, fpcr, vregs (user_fpsimd_state has vregs first).
  put(kReserved, kFpsimdMagic);
  put(kReserved + 4, static_cast<uint32_t>(kFpsimdRecord));
  std::memcpy(f.data() + kReserved + 8, e.fpsimd + 512, 8);  // fpsr, fpcr
  std::memcpy(f.data() + kReserved + 16, e.fpsimd, 512);
  if (sve_live) {
    // An extra_context record: its data follows its terminator and may run past __reserved,
    // which a 2048-bit SVE state would not fit.
    put(extra_at, kExtraMagic);
    put(extra_at + 4, static_cast<uint32_t>(kExtraRecord));
    put(extra_at + 8, frame_addr + extra_data);
    put(extra_at + 16, static_cast<uint32_t>(extra_size));
    // struct sve_context: head, vl, flags; the registers from 16 on, as NT_ARM_SVE has them.
    put(extra_data, kSveMagic);
    put(extra_data + 4, static_cast<uint32_t>(sve_record));
    put(extra_data + 8, sve.vl);
    std::memcpy(f.data() + extra_data + 16, e.sve + 16, sve_regs);
  }
  return f;
}

// ---- CPU features --------------------------------------------------------------------

CpuFeatures host_cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
    const uint64_t caps = getauxval(AT_HWCAP), caps2 = getauxval(AT_HWCAP2);
    if (caps & kHwcapFp) c.xfeatures |= kFeatFpsimd;
    c.xfeatures |= host_pauth_algos();
    if (caps2 & kHwcap2Fpmr) c.xfeatures |= kFeatFpmr;
    if (caps & kHwcapSve) c.xfeatures |= host_vls(kPrSveSetVl, kFeatSveVlShift);
    if (caps2 & kHwcap2Sme) c.xfeatures |= host_vls(kPrSmeSetVl, kFeatSmeVlShift);
    c.xsave_size = sizeof(ExtState);
    return c;
  }();
  return f;
}

uint64_t fp_features_used(const std::vector<uint8_t>& fp) {
  if (fp.size() != sizeof(ExtState)) return 0;
  ExtState e;
  std::memcpy(&e, fp.data(), sizeof e);
  if (e.magic != kExtMagic) return 0;
  uint64_t used = kFeatFpsimd | e.pauth_algos;
  if (e.parts & kPartSve) {
    VecHeader h{};
    std::memcpy(&h, e.sve, sizeof h);
    used |= vl_bit(kFeatSveVlShift, h.vl);
  }
  if (e.parts & kPartSme) used |= vl_bit(kFeatSmeVlShift, e.sme_vl);
  if ((e.parts & kPartFpmr) && e.fpmr) used |= kFeatFpmr;
  return used;
}

std::string feature_names(uint64_t bits) {
  static const char* const names[] = {"fpsimd",
                                      "feature-1",
                                      "pauth-qarma5",
                                      "pauth-impdef",
                                      "pauth-qarma3",
                                      "pauth-generic-qarma5",
                                      "pauth-generic-impdef",
                                      "pauth-generic-qarma3",
                                      "fpmr"};
  std::string out;
  for (unsigned i = 0; i < 64; i++) {
    if (!(bits & (1ull << i))) continue;
    if (!out.empty()) out += ", ";
    if (i >= kFeatSveVlShift && i < kFeatSveVlShift + kSveMaxVq)
      out += "sve-vl-" + std::to_string((i - kFeatSveVlShift + 1) * 128);
    else if (i >= kFeatSmeVlShift && i < kFeatSmeVlShift + kSveMaxVq)
      out += "sme-vl-" + std::to_string((i - kFeatSmeVlShift + 1) * 128);
    else
      out += i < sizeof names / sizeof names[0] ? names[i] : "feature-" + std::to_string(i);
  }
  return out;
}

// ---- ELF hardware capabilities ---------------------------------------------------------

Hwcaps hwcaps_needed(const std::vector<uint64_t>& auxv) {
  Hwcaps h;
  for (size_t i = 0; i + 1 < auxv.size(); i += 2) {
    if (auxv[i] == AT_HWCAP) h.hwcap = auxv[i + 1];
    if (auxv[i] == AT_HWCAP2) h.hwcap2 = auxv[i + 1];
  }
  // The event stream only makes WFE wake up periodically; no code depends on having it.
  h.hwcap &= ~kHwcapEvtstrm;
  return h;
}

std::string missing_hwcaps(const Hwcaps& needed) {
  // Names as in /proc/cpuinfo (arch/arm64/kernel/cpuinfo.c).
  static const char* const hwcap_names[64] = {
      "fp",      "asimd",   "evtstrm", "aes",      "pmull",   "sha1",    "sha2",     "crc32",
      "atomics", "fphp",    "asimdhp", "cpuid",    "asimdrdm", "jscvt",  "fcma",     "lrcpc",
      "dcpop",   "sha3",    "sm3",     "sm4",      "asimddp", "sha512",  "sve",      "asimdfhm",
      "dit",     "uscat",   "ilrcpc",  "flagm",    "ssbs",    "sb",      "paca",     "pacg",
      "gcs"};
  static const char* const hwcap2_names[64] = {
      "dcpodp",    "sve2",      "sveaes",     "svepmull",   "svebitperm", "svesha3",   "svesm4",    "flagm2",
      "frint",     "svei8mm",   "svef32mm",   "svef64mm",   "svebf16",    "i8mm",      "bf16",      "dgh",
      "rng",       "bti",       "mte",        "ecv",        "afp",        "rpres",     "mte3",      "sme",
      "smei16i64", "smef64f64", "smei8i32",   "smef16f32",  "smeb16f32",  "smef32f32", "smefa64",   "wfxt",
      "ebf16",     "sveebf16",  "cssc",       "rprfm",      "sve2p1",     "sme2",      "sme2p1",    "smei16i32",
      "smebi32i32", "smeb16b16", "smef16f16", "mops",       "hbc",        "sveb16b16", "lrcpc3",    "lse128",
      "fpmr",      "lut",       "faminmax",   "f8cvt",      "f8fma",      "f8dp4",     "f8dp2",     "f8e4m3",
      "f8e5m2",    "smelutv2",  "smef8f16",   "smef8f32",   "smesf8fma",  "smesf8dp4", "smesf8dp2", "poe"};
  uint64_t miss1 = needed.hwcap & ~static_cast<uint64_t>(getauxval(AT_HWCAP));
  uint64_t miss2 = needed.hwcap2 & ~static_cast<uint64_t>(getauxval(AT_HWCAP2));
  std::string out;
  auto add = [&](uint64_t bits, const char* const* names, const char* prefix) {
    for (unsigned i = 0; i < 64; i++) {
      if (!(bits & (1ull << i))) continue;
      if (!out.empty()) out += ", ";
      out += names[i] ? std::string(names[i]) : std::string(prefix) + "-bit" + std::to_string(i);
    }
  };
  add(miss1, hwcap_names, "hwcap");
  add(miss2, hwcap2_names, "hwcap2");
  return out;
}

}  // namespace ck::arch

namespace ck::arch {

bool is_return_gadget(const uint8_t* p, size_t n) {
  // svc #0; ret (the vDSO's syscall fallbacks)
  static const uint8_t gadget[] = {0x01, 0x00, 0x00, 0xd4, 0xc0, 0x03, 0x5f, 0xd6};
  return n >= sizeof gadget && std::memcmp(p, gadget, sizeof gadget) == 0;
}

std::vector<std::vector<uint8_t>> sigreturn_trampolines() {
  return {{0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4}};  // mov x8, #139; svc #0 (__kernel_rt_sigreturn)
}
size_t trampoline_align() { return 4; }

uint64_t guarded_frame_addr(uint64_t sp, size_t size) { return (sp - 128 - size) & ~uint64_t{63}; }

std::vector<uint8_t> guarded_frame(const TaskRegs& regs, uint64_t sigmask, uint64_t frame_addr, uint64_t /*trampoline*/) {
  return safety_frame(regs, sigmask, frame_addr);
}

void guard_syscall_regs(std::vector<uint8_t>& gp, uint64_t frame_addr, uint64_t trampoline) {
  // The gadget's ret goes to x30; rt_sigreturn reads its frame at sp.
  GpState g = as_gp(gp);
  g.sp = sigreturn_sp(frame_addr);
  g.regs[30] = trampoline;
  gp = to_blob(g);
}

bool way_back_forbidden(const std::string& /*status*/) { return false; }

// clock_getres(-1, NULL): an invalid clock id, which the vDSO leaves to the kernel (the
// fallback's svc, x8 = __NR_clock_getres), which fails with EINVAL and writes nothing.
std::optional<VdsoCall> way_back_call() {
  return VdsoCall{"__kernel_clock_getres", 114, {static_cast<uint64_t>(-1), 0, 0, 0, 0, 0}};
}
long get_syscall_nr(const std::vector<uint8_t>& gp) { return static_cast<long>(as_gp(gp).syscallno); }

}  // namespace ck::arch
