// Event fds: which links are restored and how the others are refused, which process fills an
// epoll, and the kernel objects create_event_file makes from image records (checked through
// the same fdinfo parsers ckdump uses).
#define BOOST_TEST_MODULE test_event_fd
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <functional>

#include "dump_event_fd.hpp"
#include "error.hpp"
#include "proc_parse.hpp"
#include "restore_event_fd.hpp"
#include "unique_fd.hpp"

using namespace ck;
using img::FdKind;

namespace {

std::string refusal(const std::string& link) {
  try {
    refuse_pseudo_fd(7, link);
  } catch (const Error& e) {
    BOOST_TEST((e.code() == ExitCode::unsupported));
    return e.message();
  }
  BOOST_ERROR("no error for " << link);
  return {};
}

std::string own_fdinfo(int fd) { return proc::read_file("/proc/self/fdinfo/" + std::to_string(fd)); }

img::Fd fd_of(FdKind kind, int32_t event_id, int32_t ofd, uint32_t flags = O_RDWR) {
  img::Fd f;
  f.fd = 3;
  f.kind = kind;
  f.flags = flags;
  f.event_id = event_id;
  f.ofd_id = ofd;
  return f;
}

}  // namespace

BOOST_AUTO_TEST_CASE(kinds_from_links) {
  BOOST_TEST((event_fd_kind("anon_inode:[eventfd]") == FdKind::eventfd));
  BOOST_TEST((event_fd_kind("anon_inode:[eventpoll]") == FdKind::epoll));
  BOOST_TEST((event_fd_kind("anon_inode:[signalfd]") == FdKind::signalfd));
  BOOST_TEST((event_fd_kind("anon_inode:[timerfd]") == FdKind::timerfd));
  BOOST_TEST((event_fd_kind("anon_inode:inotify") == FdKind::inotify));
  BOOST_TEST((event_fd_kind("anon_inode:[pidfd]") == FdKind::pidfd));
  BOOST_TEST(!event_fd_kind("anon_inode:[io_uring]"));
  BOOST_TEST(!event_fd_kind("/tmp/[eventfd]"));
  BOOST_TEST(!event_fd_kind("socket:[123]"));
}

BOOST_AUTO_TEST_CASE(refusals_name_the_kind) {
  BOOST_TEST(refusal("anon_inode:[io_uring]") ==
             "fd 7 (anon_inode:[io_uring]): io_uring instances are not supported (their rings and in-flight requests "
             "cannot be saved)");
  BOOST_TEST(refusal("anon_inode:bpf-prog").find("BPF programs are not supported") != std::string::npos);
  BOOST_TEST(refusal("anon_inode:[userfaultfd]").find("userfaultfd is not supported") != std::string::npos);
  BOOST_TEST(refusal("anon_inode:[fanotify]").find("fanotify groups are not supported") != std::string::npos);
  BOOST_TEST(refusal("anon_inode:[perf_event]").find("perf events are not supported") != std::string::npos);
  BOOST_TEST(refusal("anon_inode:kvm-vcpu:3").find("KVM virtual CPUs are not supported") != std::string::npos);
  BOOST_TEST(refusal("anon_inode:[frob]") == "fd 7 (anon_inode:[frob]): anonymous-inode files of kind 'frob' are not supported");
  BOOST_TEST(refusal("net:[4026531840]") == "fd 7 (net:[4026531840]): net namespace file descriptors are not supported");
}

BOOST_AUTO_TEST_CASE(epoll_filled_by_a_holder_of_every_target) {
  img::Tree t;
  t.processes.resize(2);
  t.processes[0].pid = 10;
  t.processes[1].pid = 11;
  t.processes[1].ppid = 10;
  img::EventFile ep;
  ep.id = 0;
  ep.kind = FdKind::epoll;
  ep.targets = {img::EpollTarget{5, EPOLLIN, 1, 3}};
  t.event_files = {ep};
  t.processes[0].fds = {fd_of(FdKind::epoll, 0, 1)};
  t.processes[1].fds = {fd_of(FdKind::epoll, 0, 1), fd_of(FdKind::eventfd, -1, 3)};
  BOOST_TEST(epoll_filler(t, t.event_files[0]) == 1u);
  t.processes[1].fds.pop_back();
  try {
    epoll_filler(t, t.event_files[0]);
    BOOST_ERROR("no error");
  } catch (const Error& e) {
    BOOST_TEST((e.code() == ExitCode::unsupported));
    BOOST_TEST(e.message().find("epoll watching fd 5") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(objects_made_from_records) {
  img::Tree t;
  img::EventFile ev;
  ev.id = 0;
  ev.kind = FdKind::eventfd;
  ev.count = 0x123456789ull;
  ev.semaphore = true;
  img::EventFile sig;
  sig.id = 1;
  sig.kind = FdKind::signalfd;
  sig.sigmask = 0x800;
  img::EventFile tm;
  tm.id = 2;
  tm.kind = FdKind::timerfd;
  tm.clockid = CLOCK_MONOTONIC;
  tm.value_ns = 50'000'000'000;
  tm.interval_ns = 2'000'000'000;
  tm.count = 3;
  t.event_files = {ev, sig, tm};

  UniqueFd e(create_event_file(t, fd_of(FdKind::eventfd, 0, 0, O_RDWR | O_NONBLOCK), -1));
  // Semaphore mode shown by what a read takes (older kernels' fdinfo has no eventfd-semaphore line).
  uint64_t got = 0;
  BOOST_TEST(read(e.get(), &got, sizeof got) == static_cast<ssize_t>(sizeof got));
  BOOST_TEST(got == 1u);
  auto ei = proc::parse_eventfd_fdinfo(own_fdinfo(e.get()));
  BOOST_TEST(ei.count == 0x123456788ull);
  if (ei.semaphore_known) BOOST_TEST(ei.semaphore);
  BOOST_TEST((fcntl(e.get(), F_GETFL) & O_NONBLOCK) != 0);
  BOOST_TEST((fcntl(e.get(), F_GETFD) & FD_CLOEXEC) != 0);

  UniqueFd s(create_event_file(t, fd_of(FdKind::signalfd, 1, 1), -1));
  BOOST_TEST(proc::parse_signalfd_fdinfo(own_fdinfo(s.get())) == 0x800u);

  UniqueFd tf(create_event_file(t, fd_of(FdKind::timerfd, 2, 2), -1));
  auto ti = proc::parse_timerfd_fdinfo(own_fdinfo(tf.get()));
  BOOST_TEST(ti.clockid == CLOCK_MONOTONIC);
  BOOST_TEST(ti.ticks == 3u);
  BOOST_TEST(ti.interval_ns == 2'000'000'000);
  BOOST_TEST(ti.value_ns > 49'000'000'000);
  BOOST_TEST(ti.value_ns <= 50'000'000'000);

  // A record whose kind disagrees with the fd's is a damaged image.
  try {
    create_event_file(t, fd_of(FdKind::epoll, 0, 3), -1);
    BOOST_ERROR("no error");
  } catch (const Error& err) {
    BOOST_TEST((err.code() == ExitCode::bad_image));
  }
}
