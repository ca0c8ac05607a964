#define BOOST_TEST_MODULE test_arch
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "arch.hpp"
#include "error.hpp"

namespace {

std::vector<uint8_t> blob(const user_regs_struct& r) {
  std::vector<uint8_t> v(sizeof r);
  std::memcpy(v.data(), &r, sizeof r);
  return v;
}

user_regs_struct regs(const std::vector<uint8_t>& v) {
  user_regs_struct r{};
  std::memcpy(&r, v.data(), sizeof r);
  return r;
}

user_regs_struct in_syscall(int64_t ret) {
  user_regs_struct r{};
  r.orig_rax = SYS_nanosleep;
  r.rax = static_cast<uint64_t>(ret);
  r.rip = 0x401002;
  r.rdi = 0x7ffd0000;
  return r;
}

// A child stopped under ptrace, killed at the end of the test.
struct TracedChild {
  pid_t pid;
  TracedChild() {
    pid = fork();
    if (pid == 0) {
      ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      raise(SIGSTOP);
      for (;;) pause();
    }
    int st = 0;
    waitpid(pid, &st, 0);
  }
  ~TracedChild() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(restart_block_becomes_a_plain_restart) {
  auto gp = blob(in_syscall(-516));
  BOOST_TEST(ck::arch::fixup_syscall_restart(gp));
  auto r = regs(gp);
  BOOST_TEST(static_cast<int64_t>(r.rax) == -513);  // -ERESTARTNOINTR: the kernel reruns it
  BOOST_TEST(r.orig_rax == uint64_t(SYS_nanosleep));
  BOOST_TEST(r.rip == 0x401002u);
  BOOST_TEST(r.rdi == 0x7ffd0000u);
}

BOOST_AUTO_TEST_CASE(other_states_are_left_to_the_kernel) {
  // -ERESTARTSYS/NOINTR/NOHAND are resolved by the kernel itself when the task leaves the
  // signal-path stop it is restored in; results and user code are not syscalls to restart.
  for (int64_t ret : {-512L, -513L, -514L, 0L, -4L, 42L}) {
    auto gp = blob(in_syscall(ret));
    auto before = gp;
    BOOST_TEST(!ck::arch::fixup_syscall_restart(gp));
    BOOST_TEST(gp == before);
  }
  auto r = in_syscall(-516);
  r.orig_rax = static_cast<uint64_t>(-1);  // not in a syscall: rax is just a value
  auto gp = blob(r);
  BOOST_TEST(!ck::arch::fixup_syscall_restart(gp));
}

BOOST_AUTO_TEST_CASE(syscall_regs_carry_number_and_arguments) {
  user_regs_struct saved{};
  saved.rsp = 0x7ffe1000;
  saved.eflags = 0x346;  // TF set
  const uint64_t args[6] = {1, 2, 3, 4, 5, 6};
  auto r = regs(ck::arch::make_syscall_regs(blob(saved), 0x1234, SYS_mmap, args));
  BOOST_TEST(r.rip == 0x1234u);
  BOOST_TEST(r.rax == uint64_t(SYS_mmap));
  BOOST_TEST(static_cast<int64_t>(r.orig_rax) == -1);
  BOOST_TEST((r.rdi == 1 && r.rsi == 2 && r.rdx == 3 && r.r10 == 4 && r.r8 == 5 && r.r9 == 6));
  BOOST_TEST(r.rsp == 0x7ffe1000u);
  BOOST_TEST((r.eflags & 0x100) == 0u);
  r.rax = static_cast<uint64_t>(-22);
  BOOST_TEST(ck::arch::syscall_result(blob(r)) == -22);
}

BOOST_AUTO_TEST_CASE(foreign_register_blob_is_a_bad_image) {
  std::vector<uint8_t> arm(34 * 8);  // an aarch64 user_pt_regs
  try {
    ck::arch::get_ip(arm);
    BOOST_FAIL("accepted a blob of the wrong size");
  } catch (const ck::Error& e) {
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(ck::ExitCode::bad_image));
  }
  BOOST_TEST(ck::arch::regs_summary(arm).empty());
}

BOOST_AUTO_TEST_CASE(cpu_features_and_names) {
  auto f = ck::arch::host_cpu_features();
  BOOST_TEST((f.xfeatures & 3u) == 3u);  // x87 and SSE are always on
  BOOST_TEST(f.xsave_size >= 576u);       // legacy area + XSAVE header
  BOOST_TEST(ck::arch::feature_names(0x4) == "avx");
  BOOST_TEST(ck::arch::feature_names(0x200 | 0x20) == "avx512-opmask, pkru");
  BOOST_TEST(ck::arch::feature_names(1ull << 40) == "xfeature-40");
}

BOOST_AUTO_TEST_CASE(registers_of_a_real_task_round_trip) {
  TracedChild c;
  auto r = ck::arch::get_regs(c.pid);
  BOOST_TEST(r.gp.size() == sizeof(user_regs_struct));
  BOOST_TEST(r.fp.size() == ck::arch::host_cpu_features().xsave_size);
  BOOST_TEST(ck::arch::get_ip(r.gp) != 0u);
  BOOST_TEST((ck::arch::fp_features_used(r.fp) & ~ck::arch::host_cpu_features().xfeatures) == 0u);

  auto changed = r;
  auto g = regs(changed.gp);
  g.r12 = 0xdeadbeefcafef00d;
  changed.gp = blob(g);
  changed.fp[160] ^= 0xff;  // a byte of xmm0 in the legacy area
  ck::arch::set_regs(c.pid, changed);
  auto back = ck::arch::get_regs(c.pid);
  BOOST_TEST(regs(back.gp).r12 == 0xdeadbeefcafef00du);
  BOOST_TEST(back.fp[160] == changed.fp[160]);
}

// The way back of an injected thread (arch.hpp): the vDSO bytes after a syscall of this kernel's
// clock_gettime fallback qualify, anything touching memory or flags before the ret does not.
BOOST_AUTO_TEST_CASE(return_gadgets_are_syscall_register_clearing_ret) {
  const std::vector<uint8_t> good = {0x0f, 0x05, 0x31, 0xd2, 0x31, 0xc9, 0x31, 0xf6, 0x31, 0xff, 0x45, 0x31, 0xdb, 0xc3};
  BOOST_TEST(ck::arch::is_return_gadget(good.data(), good.size()));
  const std::vector<uint8_t> plain = {0x0f, 0x05, 0xc3};
  BOOST_TEST(ck::arch::is_return_gadget(plain.data(), plain.size()));
  const std::vector<uint8_t> leave = {0x0f, 0x05, 0xc9, 0x31, 0xd2, 0xc3};  // leave: rsp from rbp
  BOOST_TEST(!ck::arch::is_return_gadget(leave.data(), leave.size()));
  const std::vector<uint8_t> cmp = {0x0f, 0x05, 0x48, 0x83, 0xf8, 0x20, 0xc3};
  BOOST_TEST(!ck::arch::is_return_gadget(cmp.data(), cmp.size()));
  const std::vector<uint8_t> mixed = {0x0f, 0x05, 0x44, 0x31, 0xc0, 0xc3};  // xor eax, r8d: not one register
  BOOST_TEST(!ck::arch::is_return_gadget(mixed.data(), mixed.size()));
  const std::vector<uint8_t> cut = {0x0f, 0x05, 0x31, 0xd2};
  BOOST_TEST(!ck::arch::is_return_gadget(cut.data(), cut.size()));
}

BOOST_AUTO_TEST_CASE(guarded_frame_returns_into_the_trampoline) {
  TracedChild c;
  auto r = ck::arch::get_regs(c.pid);
  const uint64_t sp = ck::arch::get_sp(r.gp);
  auto f = ck::arch::guarded_frame(r, 0x800, 0, 0x1234);
  const uint64_t at = ck::arch::guarded_frame_addr(sp, f.size());
  BOOST_TEST(at % 64 == 0u);
  BOOST_TEST(at + f.size() <= sp - 128);  // the red zone is left alone
  f = ck::arch::guarded_frame(r, 0x800, at, 0x1234);
  uint64_t ret = 0;
  std::memcpy(&ret, f.data(), 8);
  BOOST_TEST(ret == 0x1234u);
  auto gp = r.gp;
  ck::arch::guard_syscall_regs(gp, at, 0x1234);
  BOOST_TEST(ck::arch::get_sp(gp) == at);  // the gadget's ret pops the trampoline's address
}

BOOST_AUTO_TEST_CASE(a_shadow_stack_forbids_the_way_back) {
  BOOST_TEST(ck::arch::way_back_forbidden("Name:\tx\nx86_Thread_features:\tshstk wrss\nx86_Thread_features_locked:\t\n"));
  BOOST_TEST(!ck::arch::way_back_forbidden("Name:\tx\nx86_Thread_features:\t\nx86_Thread_features_locked:\tshstk\n"));
  BOOST_TEST(!ck::arch::way_back_forbidden("Name:\tx\n"));
}
