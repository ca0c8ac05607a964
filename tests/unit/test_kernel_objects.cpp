// Parsers of kernel-object state: the fdinfo "lock:" parser on real samples (tests/fixtures/proc/fdinfo_lock_*.txt, Linux 6.18:
// a flock, two POSIX locks of one fd, an OFD lock) and on lines it must refuse.
#define BOOST_TEST_MODULE test_kernel_objects
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <fstream>
#include <iterator>

#include "error.hpp"
#include "file_locks.hpp"

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(CK_FIXTURES) + "/proc/" + name, std::ios::binary);
  BOOST_TEST_REQUIRE(in.good(), "missing fixture " << name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::string& text) {
  try {
    ck::parse_fdinfo_locks(text, 7, "fd 7 (/x)");
  } catch (const ck::Error& e) {
    return e.message();
  }
  return "";
}

}  // namespace

using ck::img::LockKind;

BOOST_AUTO_TEST_CASE(flock_sample) {
  auto v = ck::parse_fdinfo_locks(fixture("fdinfo_lock_flock.txt"), 3, "fd 3");
  BOOST_TEST_REQUIRE(v.size() == 1u);
  BOOST_TEST((v[0].kind == LockKind::flock));
  BOOST_TEST(v[0].write);
  BOOST_TEST(v[0].fd == 3);
  BOOST_TEST(v[0].start == 0u);
  BOOST_TEST(v[0].len == 0u);
}

BOOST_AUTO_TEST_CASE(posix_sample_with_two_ranges) {
  auto v = ck::parse_fdinfo_locks(fixture("fdinfo_lock_posix.txt"), 4, "fd 4");
  BOOST_TEST_REQUIRE(v.size() == 2u);
  BOOST_TEST((v[0].kind == LockKind::posix));
  BOOST_TEST(v[0].write);
  BOOST_TEST(v[0].start == 0u);
  BOOST_TEST(v[0].len == 10u);
  BOOST_TEST(!v[1].write);
  BOOST_TEST(v[1].start == 200u);
  BOOST_TEST(v[1].len == 0u);
}

BOOST_AUTO_TEST_CASE(ofd_sample) {
  auto v = ck::parse_fdinfo_locks(fixture("fdinfo_lock_ofd.txt"), 5, "fd 5");
  BOOST_TEST_REQUIRE(v.size() == 1u);
  BOOST_TEST((v[0].kind == LockKind::ofd));
  BOOST_TEST(!v[0].write);
  BOOST_TEST(v[0].start == 100u);
  BOOST_TEST(v[0].len == 10u);
}

BOOST_AUTO_TEST_CASE(no_lock_lines) {
  BOOST_TEST(ck::parse_fdinfo_locks(fixture("fdinfo_file.txt").substr(0, 40), 3, "fd 3").empty());
}

BOOST_AUTO_TEST_CASE(leases_and_garbage_are_refused_by_name) {
  BOOST_TEST(error_of("lock:\t1: LEASE  ACTIVE    READ 12 fe:00:1 0 EOF\n") ==
             "fd 7 (/x): holds a file lease (fcntl F_SETLEASE): not supported");
  BOOST_TEST(error_of("lock:\t1: POSIX  ADVISORY  WRITE 12 fe:00:1 9 3\n") == "fd 7 (/x): bad lock end in 'lock:\t1: POSIX  ADVISORY  WRITE 12 fe:00:1 9 3'");
  BOOST_TEST(error_of("lock:\t1: POSIX\n").find("cannot parse") != std::string::npos);
}

// ---- /proc/PID/timers (tests/fixtures/proc/timers.txt) -----------------------------------

#include "posix_timers.hpp"

BOOST_AUTO_TEST_CASE(proc_timers_sample) {
  auto v = ck::parse_proc_timers(fixture("timers.txt"), "timers");
  BOOST_TEST_REQUIRE(v.size() == 4u);
  BOOST_TEST(v[0].id == 4);
  BOOST_TEST(v[0].clock == -6);  // CLOCK_PROCESS_CPUTIME_ID of the process itself
  BOOST_TEST(v[0].notify == SIGEV_NONE);
  BOOST_TEST(v[0].sigval == ~uint64_t{0});
  BOOST_TEST(v[1].id == 2);
  BOOST_TEST(v[1].notify == (SIGEV_SIGNAL | 4 /* SIGEV_THREAD_ID */));
  BOOST_TEST(v[1].signo == 12);
  BOOST_TEST(v[1].notify_tid == 31875);
  BOOST_TEST(v[1].clock == 7);
  BOOST_TEST(v[3].id == 0);
  BOOST_TEST(v[3].signo == 34);
  BOOST_TEST(v[3].sigval == 0x1234u);
  BOOST_TEST(v[3].notify == SIGEV_SIGNAL);
  BOOST_TEST(v[3].clock == 1);
}

BOOST_AUTO_TEST_CASE(proc_timers_garbage_is_an_error) {
  BOOST_CHECK_THROW(ck::parse_proc_timers("signal: 3/0\n", "t"), ck::Error);
  BOOST_CHECK_THROW(ck::parse_proc_timers("ID: 1\nnotify: loud/pid.3\n", "t"), ck::Error);
}
