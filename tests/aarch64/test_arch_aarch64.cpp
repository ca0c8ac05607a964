// Unit tests of the arm64 arch code (built as unit_arch on aarch64). The blob tests run
// anywhere, qemu-user included; those that trace a real child need ptrace, which qemu-user
// lacks (ENOSYS): they are skipped there and run in the VM (tools/aarch64-vm-test.sh).
#define BOOST_TEST_MODULE test_arch_aarch64
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>

#include "arch.hpp"
#include "error.hpp"

namespace ut = boost::unit_test;

namespace {

// The layout of arch_aarch64.cpp's gp blob, mirrored to build and inspect blobs.
struct Gp {
  uint32_t magic, tls_bytes;
  uint64_t regs[31];
  uint64_t sp, pc, pstate;
  uint64_t tls[2];
  int64_t syscallno;
};
static_assert(sizeof(Gp) == 304);
constexpr uint32_t kGpMagic = 0x31475043;

std::vector<uint8_t> blob(const Gp& g) {
  std::vector<uint8_t> v(sizeof g);
  std::memcpy(v.data(), &g, sizeof g);
  return v;
}
Gp gp_of(const std::vector<uint8_t>& v) {
  Gp g{};
  BOOST_REQUIRE(v.size() == sizeof g);
  std::memcpy(&g, v.data(), sizeof g);
  return g;
}

Gp sample() {
  Gp g{};
  g.magic = kGpMagic;
  g.tls_bytes = 16;
  for (int i = 0; i < 31; i++) g.regs[i] = 0x1000 + i;
  g.sp = 0xffffc0de0000;
  g.pc = 0x400000;
  g.pstate = 0x60000000 | (1u << 21) | (2u << 10);  // Z, C, SS, BTYPE=2
  g.tls[0] = 0x7f0000001000;
  g.syscallno = -1;
  return g;
}

// The exit code of the ck::Error f() throws (0: none), as an int Boost.Test can print.
template <typename F>
int error_code(F f, std::string* msg = nullptr) {
  try {
    f();
  } catch (const ck::Error& e) {
    if (msg) *msg = e.message();
    return static_cast<int>(e.code());
  }
  return 0;
}
constexpr int kBadImage = static_cast<int>(ck::ExitCode::bad_image);
constexpr int kUnsupported = static_cast<int>(ck::ExitCode::unsupported);

// ---- helpers for the tests that trace a real child --------------------------------------

bool ptrace_works() {
  static const bool works = [] {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    bool ok = ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) == 0;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, __WALL);
    return ok;
  }();
  return works;
}
boost::test_tools::assertion_result needs_ptrace(ut::test_unit_id) {
  const bool works = ptrace_works();
  boost::test_tools::assertion_result r(works);
  r.message() << "ptrace is not available (qemu-user?)";
  return r;
}

// A child running `body`, seized (PTRACE_SEIZE + INTERRUPT) once it has had `settle_ms` to get
// where the test wants it; killed at the end unless the test reaped it.
struct Seized {
  pid_t pid = -1;
  bool reaped = false;
  Seized(const std::function<void()>& body, int settle_ms) {
    pid = fork();
    if (pid == 0) {
      body();
      _exit(0);
    }
    usleep(settle_ms * 1000);
    BOOST_REQUIRE(ptrace(PTRACE_SEIZE, pid, nullptr, PTRACE_O_TRACESYSGOOD) == 0);
    BOOST_REQUIRE(ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) == 0);
    int st = 0;
    BOOST_REQUIRE(waitpid(pid, &st, __WALL) == pid);
    BOOST_REQUIRE(WIFSTOPPED(st));
    BOOST_REQUIRE((st >> 16) == PTRACE_EVENT_STOP);
  }
  ~Seized() {
    if (reaped) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, __WALL);
  }
  // Next syscall stop (entry or exit).
  void syscall_stop() {
    BOOST_REQUIRE(ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr) == 0);
    int st = 0;
    BOOST_REQUIRE(waitpid(pid, &st, __WALL) == pid);
    BOOST_REQUIRE(WIFSTOPPED(st));
    BOOST_REQUIRE(WSTOPSIG(st) == (SIGTRAP | 0x80));
  }
  // What ckdump does in between: a syscall injected at `insn`, registers set at its exit stop.
  int64_t inject(uint64_t insn, long nr, const ck::arch::TaskRegs& base, uint64_t x7 = 0,
                 std::array<uint64_t, 6> args = {}) {
    const uint64_t a[6] = {args[0], args[1], args[2], args[3], args[4], args[5]};
    auto regs = ck::arch::make_syscall_regs(base.gp, insn, nr, a);
    if (x7) {
      Gp g = gp_of(regs);
      g.regs[7] = x7;
      regs = blob(g);
    }
    ck::arch::set_gp_regs(pid, regs);
    syscall_stop();
    syscall_stop();
    return ck::arch::syscall_result(ck::arch::get_gp_regs(pid));
  }
  void detach() { BOOST_REQUIRE(ptrace(PTRACE_DETACH, pid, nullptr, nullptr) == 0); }
  // The child's exit status, waiting at most `ms`; -1 if it is still running.
  int exit_status(int ms) {
    for (int i = 0; i < ms / 10; i++) {
      int st = 0;
      pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
      if (r == pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
        reaped = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      usleep(10000);
    }
    return -1;
  }
};

void write_to(pid_t pid, uint64_t addr, const std::vector<uint8_t>& bytes) {
  iovec local{const_cast<uint8_t*>(bytes.data()), bytes.size()}, remote{reinterpret_cast<void*>(addr), bytes.size()};
  BOOST_REQUIRE(process_vm_writev(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(bytes.size()));
}

std::string read_status(pid_t pid) {
  std::string out;
  FILE* f = fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (!f) return out;
  char line[512];
  while (fgets(line, sizeof line, f)) out += line;
  fclose(f);
  return out;
}

uint32_t insn_at(pid_t pid, uint64_t addr) {
  uint32_t insn = 0;
  iovec local{&insn, sizeof insn}, remote{reinterpret_cast<void*>(addr), sizeof insn};
  BOOST_REQUIRE(process_vm_readv(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(sizeof insn));
  return insn;
}

}  // namespace

// An `svc #0` of our own to inject at (a forked child has it at the same address).
extern "C" void ck_test_svc();
asm(".text\n.global ck_test_svc\n.type ck_test_svc, %function\nck_test_svc:\n svc #0\n ret\n");

// Spins checking that x0-x8 and x19-x28 keep the values it gave them; exit_group(42) if not.
[[noreturn]] void spin_checking_gp_regs() {
  asm volatile(
      "mov x0, #100\n mov x1, #101\n mov x2, #102\n mov x3, #103\n mov x4, #104\n"
      "mov x5, #105\n mov x6, #106\n mov x7, #107\n mov x8, #108\n mov x19, #119\n"
      "1:\n"
      "cmp x0, #100\n b.ne 2f\n cmp x1, #101\n b.ne 2f\n cmp x2, #102\n b.ne 2f\n"
      "cmp x3, #103\n b.ne 2f\n cmp x4, #104\n b.ne 2f\n cmp x5, #105\n b.ne 2f\n"
      "cmp x6, #106\n b.ne 2f\n cmp x7, #107\n b.ne 2f\n cmp x8, #108\n b.ne 2f\n"
      "cmp x19, #119\n b.ne 2f\n"
      "b 1b\n"
      "2:\n"
      "mov x0, #42\n mov x8, #94\n svc #0\n"  // exit_group(42)
      :
      :
      : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x19", "memory", "cc");
  __builtin_unreachable();
}

// Spins checking that z16 still holds 1, 2, 3... in every lane at the current vector length.
[[noreturn]] void spin_checking_sve_regs() {
  asm volatile(
      ".arch_extension sve\n"
      "ptrue p0.d\n"
      "index z16.d, #1, #1\n"
      "1:\n"
      "index z17.d, #1, #1\n"
      "cmpne p1.d, p0/z, z16.d, z17.d\n"
      "b.any 2f\n"
      "b 1b\n"
      "2:\n"
      "mov x0, #42\n mov x8, #94\n svc #0\n"
      :
      :
      : "x0", "x8", "v16", "v17", "memory", "cc");
  __builtin_unreachable();
}

BOOST_AUTO_TEST_SUITE(blobs)

BOOST_AUTO_TEST_CASE(syscall_instruction_is_svc_0) {
  BOOST_TEST(ck::arch::syscall_insn() == (std::vector<uint8_t>{0x01, 0x00, 0x00, 0xd4}));
  BOOST_TEST(ck::arch::syscall_insn_align() == 4u);
  BOOST_TEST(std::string(ck::arch::kName) == "aarch64");
}

BOOST_AUTO_TEST_CASE(injection_registers) {
  const uint64_t args[6] = {11, 22, 33, 44, 55, 66};
  Gp in = sample();
  Gp g = gp_of(ck::arch::make_syscall_regs(blob(in), 0x7f00aa00, SYS_mmap, args));
  BOOST_TEST(g.pc == 0x7f00aa00u);
  BOOST_TEST(g.regs[8] == uint64_t(SYS_mmap));
  for (int i = 0; i < 6; i++) BOOST_TEST(g.regs[i] == args[i]);
  for (int i = 6; i < 31; i++)
    if (i != 8) BOOST_TEST(g.regs[i] == in.regs[i]);
  BOOST_TEST(g.sp == in.sp);
  BOOST_TEST(g.tls[0] == in.tls[0]);
  BOOST_TEST(g.syscallno == -1);
  BOOST_TEST(g.pstate == 0x60000000u);  // BTYPE and SS cleared, flags kept
}

BOOST_AUTO_TEST_CASE(result_ip_sp) {
  Gp g = sample();
  g.regs[0] = static_cast<uint64_t>(-14);
  auto b = blob(g);
  BOOST_TEST(ck::arch::syscall_result(b) == -14);
  BOOST_TEST(ck::arch::get_ip(b) == 0x400000u);
  BOOST_TEST(ck::arch::get_sp(b) == 0xffffc0de0000u);
  ck::arch::set_ip(b, 0x401000);
  BOOST_TEST(ck::arch::get_ip(b) == 0x401000u);
  BOOST_TEST(gp_of(b).regs[0] == static_cast<uint64_t>(-14));
  auto sum = ck::arch::regs_summary(b);
  BOOST_REQUIRE(!sum.empty());
  BOOST_TEST(sum[0].first == "pc");
  BOOST_TEST(sum[0].second == 0x401000u);
}

// The kernel rewinds an interrupted syscall before the stop (see arch.hpp): nothing to do.
BOOST_AUTO_TEST_CASE(restart_is_already_prepared_by_the_kernel) {
  for (int64_t x0 : {int64_t{-512}, int64_t{-516}, int64_t{3}}) {
    Gp g = sample();
    g.regs[0] = static_cast<uint64_t>(x0);
    auto b = blob(g);
    BOOST_TEST(!ck::arch::fixup_syscall_restart(b));
    BOOST_TEST((b == blob(g)));
  }
}

BOOST_AUTO_TEST_CASE(a_syscall_not_yet_rewound_is_refused_or_marked_done) {
  Gp g = sample();
  g.syscallno = SYS_read;
  g.regs[0] = static_cast<uint64_t>(-512);
  auto b = blob(g);
  std::string msg;
  BOOST_TEST(error_code([&] { ck::arch::fixup_syscall_restart(b); }, &msg) == kUnsupported);
  BOOST_TEST(msg.find("orig_x0") != std::string::npos, msg);
  g.regs[0] = 5;  // finished: x0 is its result
  b = blob(g);
  BOOST_TEST(ck::arch::fixup_syscall_restart(b));
  BOOST_TEST(gp_of(b).syscallno == -1);
  BOOST_TEST(gp_of(b).regs[0] == 5u);
}

BOOST_AUTO_TEST_CASE(sp_and_syscall_number) {
  auto b = blob(sample());
  ck::arch::set_sp(b, 0xffff00001230);
  ck::arch::set_syscall_nr(b, SYS_mmap);
  BOOST_TEST(ck::arch::get_sp(b) == 0xffff00001230u);
  BOOST_TEST(gp_of(b).syscallno == SYS_mmap);
  BOOST_TEST(ck::arch::rt_sigreturn_nr() == long{SYS_rt_sigreturn});
  BOOST_TEST(ck::arch::sigreturn_sp(0x10000) == 0x10000u);
  BOOST_TEST(error_code([] { ck::arch::sigreturn_sp(0x10008); }) != 0);
}

BOOST_AUTO_TEST_CASE(safety_code_loads_the_frame_address) {
  auto c = ck::arch::safety_code(0x400000, 0x400040);
  BOOST_REQUIRE(c.size() == ck::arch::kSafetyCodeSize);
  uint32_t first = 0;
  uint64_t literal = 0;
  std::memcpy(&first, c.data(), 4);
  std::memcpy(&literal, c.data() + 24, 8);
  BOOST_TEST(first == 0xd4000001u);  // the injected svc comes first
  BOOST_TEST(literal == 0x400040u);
}

BOOST_AUTO_TEST_CASE(foreign_blobs_are_bad_images) {
  std::vector<uint8_t> x86(27 * 8, 0);  // struct user_regs_struct of x86_64
  BOOST_TEST(error_code([&] { ck::arch::get_ip(x86); }) == kBadImage);
  Gp g = sample();
  g.magic = 0;
  BOOST_TEST(error_code([&] { ck::arch::get_ip(blob(g)); }) == kBadImage);
  BOOST_TEST(ck::arch::regs_summary(x86).empty());
  BOOST_TEST(ck::arch::fp_features_used(std::vector<uint8_t>(512, 0)) == 0u);
}

BOOST_AUTO_TEST_CASE(feature_names_are_readable) {
  BOOST_TEST(ck::arch::feature_names(0) == "");
  BOOST_TEST(ck::arch::feature_names(1) == "fpsimd");
  BOOST_TEST(ck::arch::feature_names((1ull << 4) | (1ull << 17)) == "pauth-qarma3, sve-vl-256");
  BOOST_TEST(ck::arch::feature_names(1ull << 35) == "sme-vl-512");
  BOOST_TEST(ck::arch::feature_names(1ull << 60) == "feature-60");
}

BOOST_AUTO_TEST_CASE(host_features) {
  auto f = ck::arch::host_cpu_features();
  BOOST_TEST((f.xfeatures & 1u) == 1u);  // FP/SIMD
  BOOST_TEST(f.xsave_size == 9440u);      // the same on every arm64 host
  if (getauxval(AT_HWCAP) & (1ul << 22)) {
    // SVE: 128 bits is always a valid vector length, and the current one is too.
    BOOST_TEST((f.xfeatures & (1ull << 16)) != 0u);
    unsigned vq = static_cast<unsigned>(prctl(PR_SVE_GET_VL, 0, 0, 0, 0) & 0xffff) / 16;
    BOOST_TEST((f.xfeatures & (1ull << (15 + vq))) != 0u);
  }
  uint64_t limit = ck::arch::user_address_limit();
  BOOST_TEST((limit == 1ull << 48 || limit == 1ull << 47 || limit == 1ull << 42 || limit == 1ull << 39));
}

BOOST_AUTO_TEST_CASE(hwcaps) {
  const uint64_t evtstrm = 1u << 2, sve = 1u << 22;
  std::vector<uint64_t> auxv = {6, 4096, AT_HWCAP, evtstrm | sve | 3, AT_HWCAP2, 1u << 1, 0, 0};
  auto h = ck::arch::hwcaps_needed(auxv);
  BOOST_TEST(h.hwcap == (sve | 3));  // the event stream is nothing a program depends on
  BOOST_TEST(h.hwcap2 == 2u);
  BOOST_TEST(ck::arch::hwcaps_needed({}).hwcap == 0u);
  ck::arch::Hwcaps host{getauxval(AT_HWCAP), getauxval(AT_HWCAP2)};
  BOOST_TEST(ck::arch::missing_hwcaps(host) == "");
  // A capability this machine lacks is named as /proc/cpuinfo names it.
  unsigned bit = 0;
  while (bit < 64 && (host.hwcap2 & (1ull << bit))) bit++;
  BOOST_REQUIRE(bit < 64);
  std::string names = ck::arch::missing_hwcaps({host.hwcap, host.hwcap2 | (1ull << bit)});
  BOOST_TEST(!names.empty());
  BOOST_TEST(names.find(',') == std::string::npos, names);
  BOOST_TEST(ck::arch::missing_hwcaps({0, 1ull << 63}) == ((host.hwcap2 >> 63) ? "" : "poe"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(traced, *ut::precondition(needs_ptrace))

BOOST_AUTO_TEST_CASE(real_register_sets) {
  Seized t([] { spin_checking_gp_regs(); }, 50);
  auto regs = ck::arch::get_regs(t.pid);
  Gp g = gp_of(regs.gp);
  BOOST_TEST(g.regs[0] == 100u);
  BOOST_TEST(g.regs[8] == 108u);
  BOOST_TEST(g.syscallno == -1);
  BOOST_TEST((g.tls_bytes == 8u || g.tls_bytes == 16u));
  BOOST_TEST(g.tls[0] != 0u);  // glibc's thread pointer
  BOOST_TEST(regs.fp.size() == ck::arch::host_cpu_features().xsave_size);
  uint64_t used = ck::arch::fp_features_used(regs.fp);
  BOOST_TEST((used & ~ck::arch::host_cpu_features().xfeatures) == 0u, ck::arch::feature_names(used));
  BOOST_TEST((used & 1u) == 1u);
}

// arm64 reports the direction of a syscall stop in x7 and discards a tracer's write to it; the
// final registers are set at such a stop (ckrestore, ckdump -R), and x7 must still be the task's.
BOOST_AUTO_TEST_CASE(registers_set_at_a_syscall_stop_keep_x7) {
  Seized t([] { spin_checking_gp_regs(); }, 50);
  auto orig = ck::arch::get_regs(t.pid);
  const uint64_t insn = reinterpret_cast<uint64_t>(&ck_test_svc);
  BOOST_TEST(t.inject(insn, SYS_getpid, orig, 0xdead) == t.pid);
  BOOST_TEST(t.inject(insn, SYS_getppid, orig, 0xbeef) == getpid());
  ck::arch::set_regs(t.pid, orig);  // at the exit stop of getppid, injected with x7 = 0xbeef
  t.detach();
  BOOST_TEST(t.exit_status(300) == -1);  // 42 if a register was lost
}

// A task interrupted in a blocking read: the kernel has already rewound it to the svc with its
// first argument back in x0; after injected syscalls and set_regs it reads again, and gets data.
BOOST_AUTO_TEST_CASE(interrupted_read_is_executed_again) {
  int p[2];
  BOOST_REQUIRE(pipe(p) == 0);
  Seized t([&] {
    char c = 0;
    ssize_t n = read(p[0], &c, 1);
    _exit(n == 1 && c == 'x' ? 0 : n < 0 ? 10 + errno : 9);
  }, 100);
  close(p[0]);
  auto orig = ck::arch::get_regs(t.pid);
  Gp g = gp_of(orig.gp);
  BOOST_TEST(g.syscallno == -1);
  BOOST_TEST(g.regs[8] == uint64_t(SYS_read));
  BOOST_TEST(g.regs[0] == uint64_t(p[0]));             // orig_x0, not -ERESTARTSYS
  BOOST_TEST(insn_at(t.pid, g.pc) == 0xd4000001u);     // pc at the svc again
  auto fixed = orig.gp;
  BOOST_TEST(!ck::arch::fixup_syscall_restart(fixed));
  BOOST_TEST(t.inject(reinterpret_cast<uint64_t>(&ck_test_svc), SYS_getpid, orig) == t.pid);
  ck::arch::set_regs(t.pid, orig);
  t.detach();
  usleep(50000);
  BOOST_REQUIRE(write(p[1], "x", 1) == 1);
  BOOST_TEST(t.exit_status(2000) == 0);
  close(p[1]);
}

// clock_nanosleep returns -ERESTART_RESTARTBLOCK when interrupted: it runs again from the start.
BOOST_AUTO_TEST_CASE(interrupted_sleep_sleeps_again) {
  Seized t([] {
    timespec ts{0, 300 * 1000 * 1000};
    int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    _exit(r == 0 ? 0 : 10 + r);
  }, 50);
  auto orig = ck::arch::get_regs(t.pid);
  BOOST_TEST(gp_of(orig.gp).regs[8] == uint64_t(SYS_clock_nanosleep));
  BOOST_TEST(insn_at(t.pid, gp_of(orig.gp).pc) == 0xd4000001u);
  BOOST_TEST(t.inject(reinterpret_cast<uint64_t>(&ck_test_svc), SYS_getpid, orig) == t.pid);
  ck::arch::set_regs(t.pid, orig);
  t.detach();
  BOOST_TEST(t.exit_status(3000) == 0);
}

// SVE registers live in user code: a syscall discards them, set_regs must bring back every lane.
BOOST_AUTO_TEST_CASE(sve_registers_in_flight, *ut::precondition([](ut::test_unit_id) {
                       const bool sve = getauxval(AT_HWCAP) & (1ul << 22);
                       return boost::test_tools::assertion_result(sve);
                     })) {
  Seized t([] { spin_checking_sve_regs(); }, 100);
  auto orig = ck::arch::get_regs(t.pid);
  uint64_t used = ck::arch::fp_features_used(orig.fp);
  unsigned vq = static_cast<unsigned>(prctl(PR_SVE_GET_VL, 0, 0, 0, 0) & 0xffff) / 16;
  BOOST_TEST((used & (1ull << (15 + vq))) != 0u, ck::arch::feature_names(used));
  BOOST_TEST(t.inject(reinterpret_cast<uint64_t>(&ck_test_svc), SYS_getpid, orig) == t.pid);
  ck::arch::set_regs(t.pid, orig);
  t.detach();
  BOOST_TEST(t.exit_status(300) == -1);  // 42 if a lane was lost
}

// ckdump's safety net: if it dies while a thread sits at the exit stop of an injected syscall,
// the thread runs on into safety_code's rt_sigreturn and must be exactly as it was: every
// general register (the spinning child checks x0-x8 and x19), and live SVE lanes.
void check_safety_net(const std::function<void()>& body, int settle_ms) {
  Seized t(body, settle_ms);
  auto orig = ck::arch::get_regs(t.pid);
  const uint64_t mask = 0x1234;  // not the child's: the frame's mask must come back
  auto frame = ck::arch::safety_frame(orig, mask, 0);
  int64_t area = t.inject(reinterpret_cast<uint64_t>(&ck_test_svc), SYS_mmap, orig, 0,
                          {0, 1 << 20, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                           static_cast<uint64_t>(-1), 0});
  BOOST_REQUIRE(area > 0);
  const uint64_t code = static_cast<uint64_t>(area), frame_addr = code + ck::arch::kSafetyCodeSize;
  write_to(t.pid, frame_addr, ck::arch::safety_frame(orig, mask, frame_addr));
  write_to(t.pid, code, ck::arch::safety_code(code, frame_addr));
  BOOST_TEST(t.inject(code, SYS_getpid, orig, 0xdead) == t.pid);  // its exit stop: now ckdump "dies"
  t.detach();
  BOOST_TEST(t.exit_status(500) == -1);  // 42 if a register was lost, a signal if the frame was bad
  std::string status = read_status(t.pid);
  BOOST_TEST(status.find("SigBlk:\t0000000000001234") != std::string::npos, status);
}

BOOST_AUTO_TEST_CASE(safety_net_puts_the_registers_back) {
  check_safety_net([] { spin_checking_gp_regs(); }, 50);
}

BOOST_AUTO_TEST_CASE(safety_net_puts_live_sve_registers_back, *ut::precondition([](ut::test_unit_id) {
                       const bool sve = getauxval(AT_HWCAP) & (1ul << 22);
                       return boost::test_tools::assertion_result(sve);
                     })) {
  check_safety_net([] { spin_checking_sve_regs(); }, 100);
}

// The guarded first mmap of ckdump: a thread that enters rt_sigreturn with sp at a frame made by
// safety_frame (ckdump gone before the entry stop turned it into the mmap) comes back unharmed.
BOOST_AUTO_TEST_CASE(rt_sigreturn_at_a_gadget_puts_the_registers_back) {
  Seized t([] { spin_checking_gp_regs(); }, 50);
  auto orig = ck::arch::get_regs(t.pid);
  const uint64_t sp = ck::arch::get_sp(orig.gp);
  auto probe = ck::arch::safety_frame(orig, 0, 0);
  const uint64_t frame_addr = (sp - 128 - probe.size()) & ~uint64_t{63};
  write_to(t.pid, frame_addr, ck::arch::safety_frame(orig, 0, frame_addr));
  const uint64_t args[6] = {};
  auto regs = ck::arch::make_syscall_regs(orig.gp, reinterpret_cast<uint64_t>(&ck_test_svc),
                                          ck::arch::rt_sigreturn_nr(), args);
  ck::arch::set_sp(regs, ck::arch::sigreturn_sp(frame_addr));
  ck::arch::set_gp_regs(t.pid, regs);
  t.syscall_stop();  // entry of the rt_sigreturn: ckdump "dies" here
  t.detach();
  BOOST_TEST(t.exit_status(500) == -1);
}

// set_syscall_nr at the entry stop turns the syscall into another one (the guarded mmap).
BOOST_AUTO_TEST_CASE(syscall_changed_at_its_entry_stop) {
  Seized t([] { spin_checking_gp_regs(); }, 50);
  auto orig = ck::arch::get_regs(t.pid);
  const uint64_t args[6] = {};
  ck::arch::set_gp_regs(t.pid, ck::arch::make_syscall_regs(orig.gp, reinterpret_cast<uint64_t>(&ck_test_svc),
                                                           SYS_getppid, args));
  t.syscall_stop();
  auto at_entry = ck::arch::get_gp_regs(t.pid);
  ck::arch::set_syscall_nr(at_entry, SYS_getpid);
  ck::arch::set_gp_regs(t.pid, at_entry);
  t.syscall_stop();
  BOOST_TEST(ck::arch::syscall_result(ck::arch::get_gp_regs(t.pid)) == t.pid);  // getppid would say us
  ck::arch::set_regs(t.pid, orig);
  t.detach();
  BOOST_TEST(t.exit_status(300) == -1);
}

// State ck cannot save is refused by name when it is read.
BOOST_AUTO_TEST_CASE(mte_tag_checking_is_refused, *ut::precondition([](ut::test_unit_id) {
                       const bool mte = getauxval(AT_HWCAP2) & (1ul << 18);
                       return boost::test_tools::assertion_result(mte);
                     })) {
  Seized t([] {
    prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC, 0, 0, 0);
    for (;;) pause();
  }, 50);
  std::string msg;
  BOOST_TEST(error_code([&] { ck::arch::get_regs(t.pid); }, &msg) == kUnsupported);
  BOOST_TEST(msg.find("MTE") != std::string::npos, msg);
}

BOOST_AUTO_TEST_SUITE_END()
