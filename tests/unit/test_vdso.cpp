#define BOOST_TEST_MODULE test_vdso
#include <boost/test/unit_test.hpp>

#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "arch.hpp"
#include "error.hpp"
#include "vdso.hpp"

namespace {

// This process's vDSO, from /proc/self/maps (its length) and the auxiliary vector; empty
// where there is none (qemu-user gives arm64 programs none).
std::string own_vdso(uint64_t& base) {
  base = getauxval(AT_SYSINFO_EHDR);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (base && std::getline(maps, line)) {
    unsigned long long s = 0, e = 0;
    if (line.find("[vdso]") != std::string::npos && std::sscanf(line.c_str(), "%llx-%llx", &s, &e) == 2 && s == base)
      return std::string(reinterpret_cast<const char*>(base), e - s);
  }
  return {};
}

const ck::VdsoFunction* find_clock_gettime(const std::vector<ck::VdsoFunction>& fs) {
  for (const auto& f : fs)
    if (f.name.find("clock_gettime") != std::string::npos) return &f;
  return nullptr;
}

// Maps `code` r-x and calls the clock_gettime at `offset` in it: its time must lie between two
// of the C library's own readings. `raw`: it is a syscall stub, which returns -errno itself.
void check_clock_through(const std::string& code, uint64_t offset, bool raw) {
  void* m = mmap(nullptr, code.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_REQUIRE(m != MAP_FAILED);
  std::memcpy(m, code.data(), code.size());
  ck::arch::sync_icache(m, code.size());
  BOOST_REQUIRE(mprotect(m, code.size(), PROT_READ | PROT_EXEC) == 0);
  using ClockGettime = int (*)(clockid_t, timespec*);
  auto fn = reinterpret_cast<ClockGettime>(static_cast<char*>(m) + offset);
  timespec a{}, b{}, c{};
  clock_gettime(CLOCK_MONOTONIC, &a);
  BOOST_TEST(fn(CLOCK_MONOTONIC, &b) == 0);
  clock_gettime(CLOCK_MONOTONIC, &c);
  auto ns = [](const timespec& t) { return t.tv_sec * 1000000000LL + t.tv_nsec; };
  BOOST_TEST(ns(a) <= ns(b));
  BOOST_TEST(ns(b) <= ns(c));
  if (raw) BOOST_TEST(fn(12345, &b) == -EINVAL);
  munmap(m, code.size());
}

}  // namespace

BOOST_AUTO_TEST_CASE(own_vdso_functions_are_listed) {
  uint64_t base = 0;
  std::string so = own_vdso(base);
  if (so.empty()) {
    BOOST_TEST_MESSAGE("no vDSO here");
    return;
  }
  auto fs = ck::vdso_functions(so);
  const ck::VdsoFunction* f = find_clock_gettime(fs);
  BOOST_REQUIRE(f);
  BOOST_TEST(f->offset > 0u);
  BOOST_TEST(f->offset < so.size());
  BOOST_TEST(ck::vdso_symbol(so, f->name.c_str()) == f->offset);
  BOOST_TEST(ck::vdso_symbol(so, "no_such_function") == 0u);
  BOOST_TEST(ck::vdso_functions(so.substr(0, 40)).empty());
}

// The proxy of this process's vDSO whose jumps go to this very vDSO: calling clock_gettime
// through the proxy runs the jump for real.
BOOST_AUTO_TEST_CASE(a_proxied_call_reaches_the_new_vdso) {
  uint64_t base = 0;
  std::string so = own_vdso(base);
  if (so.empty()) {
    BOOST_TEST_MESSAGE("no vDSO here");
    return;
  }
  ck::VdsoProxyStats st;
  std::string code = ck::vdso_proxy_code(so, so, base, {}, &st);
  BOOST_TEST(st.jumps > 0u);
  BOOST_TEST(st.traps == 0u);
  const ck::VdsoFunction* f = find_clock_gettime(ck::vdso_functions(so));
  BOOST_REQUIRE(f);
  auto jump = ck::arch::absolute_jump(base + f->offset);
  BOOST_TEST(std::memcmp(code.data() + f->offset, jump.data(), jump.size()) == 0);
  check_clock_through(code, f->offset, false);
}

// A new vDSO without the old one's functions: the known ones become syscall stubs, which work
// (clock_gettime called through the proxy gets the time from the syscall).
BOOST_AUTO_TEST_CASE(functions_the_new_vdso_lacks_make_their_syscall) {
  uint64_t base = 0;
  std::string so = own_vdso(base);
  if (so.empty()) {
    BOOST_TEST_MESSAGE("no vDSO here");
    return;
  }
  ck::VdsoProxyStats st;
  std::string code = ck::vdso_proxy_code(so, std::string(), 0x10000000, {}, &st);
  BOOST_TEST(st.jumps == 0u);
  BOOST_TEST(st.stubs > 0u);
  const ck::VdsoFunction* f = find_clock_gettime(ck::vdso_functions(so));
  BOOST_REQUIRE(f);
  auto stub = ck::arch::syscall_stub(SYS_clock_gettime);
  BOOST_TEST(std::memcmp(code.data() + f->offset, stub.data(), stub.size()) == 0);
  // Nothing but the function entries changed.
  size_t changed = 0;
  for (size_t i = 0; i < so.size(); i++) changed += code[i] != so[i];
  BOOST_TEST(changed <= (st.traps + st.stubs + st.jumps) * 16);
  check_clock_through(code, f->offset, true);
}

// A thread checkpointed inside the first bytes of a function the proxy patches: refused (it
// would resume in the middle of the jump); at the entry itself it is fine.
BOOST_AUTO_TEST_CASE(a_thread_inside_a_patched_entry_is_refused) {
  uint64_t base = 0;
  std::string so = own_vdso(base);
  if (so.empty()) {
    BOOST_TEST_MESSAGE("no vDSO here");
    return;
  }
  const ck::VdsoFunction* f = find_clock_gettime(ck::vdso_functions(so));
  BOOST_REQUIRE(f);
  BOOST_CHECK_NO_THROW(ck::vdso_proxy_code(so, so, base, {f->offset}));
  try {
    ck::vdso_proxy_code(so, so, base, {f->offset + 1});
    BOOST_FAIL("a thread inside a patched entry was accepted");
  } catch (const ck::Error& e) {
    BOOST_TEST((e.code() == ck::ExitCode::unsupported));
    BOOST_TEST(std::string(e.what()).find("clock_gettime") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(an_unreadable_old_vdso_is_a_bad_image) {
  BOOST_CHECK_THROW(ck::vdso_proxy_code(std::string(4096, 'x'), std::string(), 0), ck::Error);
}
