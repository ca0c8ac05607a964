#include "restore_event_fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "error.hpp"
#include "log.hpp"
#include "restore_fd.hpp"
#include "unique_fd.hpp"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

namespace ck {

namespace {

struct PendingPidfd {
  const img::Fd* fd;
  int32_t pid;
  int staged;
};
std::vector<PendingPidfd> g_pending;

const img::EventFile& event_of(const img::Tree& tree, const img::Fd& f) {
  if (f.event_id < 0 || static_cast<size_t>(f.event_id) >= tree.event_files.size() ||
      tree.event_files[static_cast<size_t>(f.event_id)].kind != f.kind)
    throw Error("no event file of its kind in the image", ExitCode::bad_image);
  return tree.event_files[static_cast<size_t>(f.event_id)];
}

int64_t now_ns(int clockid) {
  timespec ts{};
  if (clock_gettime(clockid, &ts) != 0) throw_errno("clock_gettime " + std::to_string(clockid));
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

timespec to_ts(int64_t ns) { return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; }

// Whether a process holding event file `id` had capability `cap`: a root ckrestore must not
// hand a user's process what only the capability gives (the kernel checks a normal user's).
bool holder_had_cap(const img::Tree& tree, int32_t id, int cap) {
  if (geteuid() != 0) return true;
  for (const auto& p : tree.processes)
    for (const auto& f : p.fds)
      if (is_event_kind(f.kind) && f.event_id == id && (p.creds.cap_eff >> cap & 1)) return true;
  return false;
}

constexpr int kCapWakeAlarm = 35, kCapBlockSuspend = 36;

int make_timerfd(const img::Tree& tree, const img::Fd& f, const img::EventFile& e) {
  if ((e.clockid == CLOCK_REALTIME_ALARM || e.clockid == CLOCK_BOOTTIME_ALARM) && !holder_had_cap(tree, e.id, kCapWakeAlarm))
    throw Error("a timerfd on an alarm clock needs CAP_WAKE_ALARM, which the checkpointed process did not have",
                ExitCode::permission);
  UniqueFd t(timerfd_create(e.clockid, TFD_CLOEXEC | ((f.flags & O_NONBLOCK) ? TFD_NONBLOCK : 0)));
  if (!t) throw_errno("timerfd_create clock " + std::to_string(e.clockid));
  if (e.value_ns > 0) {
    itimerspec its{};
    its.it_interval = to_ts(e.interval_ns);
    int flags = static_cast<int>(e.settime_flags);
    if (flags & TFD_TIMER_ABSTIME) {
      // A wall-clock deadline stays what it was (a passed one fires at once, its periods
      // counted); a deadline on another clock is as far ahead as it was at the checkpoint.
      its.it_value = to_ts(e.deadline_ns ? e.deadline_ns : now_ns(e.clockid) + e.value_ns);
    } else {
      its.it_value = to_ts(e.value_ns);
    }
    if (timerfd_settime(t.get(), flags, &its, nullptr) != 0) throw_errno("timerfd_settime");
  }
  if (e.count) {
    uint64_t ticks = e.count;
    if (ioctl(t.get(), TFD_IOC_SET_TICKS, &ticks) != 0) {
      if (errno != ENOTTY) throw_errno("set timerfd expirations (TFD_IOC_SET_TICKS)");
      log::warn("this kernel cannot set a timerfd's expirations (no CONFIG_CHECKPOINT_RESTORE): " +
                std::to_string(ticks) + " not yet read are lost");
    }
  }
  return t.release();
}

int make_inotify(const img::Fd& f, const img::EventFile& e) {
  UniqueFd in(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!in) throw_errno("inotify_init1");
  for (const auto& w : e.watches) {
    // Watch descriptors come from a cyclic counter: adding and removing a watch moves it on
    // until the watch gets the number the program knows.
    for (;;) {
      int wd = as_file_owner([&] { return inotify_add_watch(in.get(), w.path.c_str(), w.mask); });
      if (wd < 0) {
        int err = errno;
        throw Error("inotify watch " + std::to_string(w.wd) + " on " + w.path + ": " + strerror(err),
                    err == ENOENT ? ExitCode::conflict : ExitCode::failure);
      }
      if (wd == w.wd) break;
      if (wd > w.wd) throw Error("inotify watch on " + w.path + " got number " + std::to_string(wd) + ", not " + std::to_string(w.wd));
      inotify_rm_watch(in.get(), wd);
    }
  }
  // The removals above queued IN_IGNORED events the program must not see (its queue was empty
  // at the checkpoint).
  char buf[4096];
  while (read(in.get(), buf, sizeof buf) > 0) {
  }
  if (!(f.flags & O_NONBLOCK) && fcntl(in.get(), F_SETFL, f.flags & ~O_NONBLOCK) != 0) throw_errno("F_SETFL");
  return in.release();
}

int open_pidfd(int32_t pid, const img::Fd& f, const img::EventFile& e) {
  unsigned flags = ((f.flags & O_NONBLOCK) ? O_NONBLOCK : 0) | (e.thread ? PIDFD_THREAD : 0);
  return static_cast<int>(syscall(SYS_pidfd_open, pid, flags));
}

// A pidfd of a process that has been reaped: one of a child made for the purpose and reaped.
int dead_pidfd(const img::Fd& f, const img::EventFile& e) {
  int pidfd = -1;
  // Raw clone: exit signal 0 (no SIGCHLD for anyone, and not followed by ckrestore's tracing).
  long child = syscall(SYS_clone, CLONE_PIDFD, 0, &pidfd, 0, 0);
  if (child == 0) syscall(SYS_exit, 0);
  if (child < 0) throw_errno("clone for a pidfd of a finished process");
  while (waitpid(static_cast<pid_t>(child), nullptr, __WALL) < 0 && errno == EINTR) {
  }
  if ((f.flags & O_NONBLOCK) && fcntl(pidfd, F_SETFL, O_NONBLOCK) != 0) throw_errno("F_SETFL");
  (void)e;
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  return pidfd;
}

}  // namespace

bool is_event_kind(img::FdKind k) { return k >= img::FdKind::eventfd && k <= img::FdKind::pidfd; }

size_t epoll_filler(const img::Tree& tree, const img::EventFile& e) {
  const img::Fd* missing = nullptr;
  const img::EpollTarget* missing_target = nullptr;
  for (size_t i = 0; i < tree.processes.size(); i++) {
    const auto& fds = tree.processes[i].fds;
    const img::Fd* self = nullptr;
    for (const auto& f : fds)
      if (f.kind == img::FdKind::epoll && f.event_id == e.id) self = &f;
    if (!self) continue;
    const img::EpollTarget* lacking = nullptr;
    for (const auto& t : e.targets)
      if (std::none_of(fds.begin(), fds.end(), [&](const img::Fd& g) { return g.ofd_id == t.target_ofd; })) lacking = &t;
    if (!lacking) return i;
    if (!missing) missing = self, missing_target = lacking;
  }
  if (!missing) throw Error("epoll " + std::to_string(e.id) + " held by no process", ExitCode::bad_image);
  throw Error("fd " + std::to_string(missing->fd) + " (" + missing->link + "): epoll watching fd " +
                  std::to_string(missing_target->tfd) +
                  ", whose file no process holding the epoll has open, is not supported",
              ExitCode::unsupported);
}

int create_event_file(const img::Tree& tree, const img::Fd& f, int staged) {
  const img::EventFile& e = event_of(tree, f);
  const bool nonblock = (f.flags & O_NONBLOCK) != 0;
  switch (f.kind) {
    case img::FdKind::eventfd: {
      UniqueFd fd(eventfd(0, EFD_CLOEXEC | (nonblock ? EFD_NONBLOCK : 0) | (e.semaphore ? EFD_SEMAPHORE : 0)));
      if (!fd) throw_errno("eventfd");
      if (e.count && write(fd.get(), &e.count, sizeof e.count) != sizeof e.count) throw_errno("set eventfd counter");
      return fd.release();
    }
    case img::FdKind::signalfd: {
      uint64_t mask = e.sigmask;
      int fd = static_cast<int>(syscall(SYS_signalfd4, -1, &mask, sizeof mask, SFD_CLOEXEC | (nonblock ? SFD_NONBLOCK : 0)));
      if (fd < 0) throw_errno("signalfd");
      return fd;
    }
    case img::FdKind::timerfd: return make_timerfd(tree, f, e);
    case img::FdKind::inotify: return make_inotify(f, e);
    case img::FdKind::epoll: {
      int fd = epoll_create1(EPOLL_CLOEXEC);
      if (fd < 0) throw_errno("epoll_create1");
      if (nonblock && fcntl(fd, F_SETFL, O_NONBLOCK) != 0) throw_errno("F_SETFL");
      return fd;
    }
    case img::FdKind::pidfd: {
      if (e.pid <= 0) return dead_pidfd(f, e);
      int fd = open_pidfd(e.pid, f, e);
      if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
      }
      if (errno != ESRCH) throw_errno("pidfd_open " + std::to_string(e.pid));
      g_pending.push_back({&f, e.pid, staged});
      return -1;
    }
    default: break;
  }
  throw Error("not an event fd kind", ExitCode::bad_image);
}

void create_pending_pidfds(bool wait) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (auto it = g_pending.begin(); it != g_pending.end();) {
    int flags = ((it->fd->flags & O_NONBLOCK) ? O_NONBLOCK : 0) | ((it->fd->flags & O_EXCL) ? PIDFD_THREAD : 0);
    int fd = static_cast<int>(syscall(SYS_pidfd_open, it->pid, flags));
    if (fd < 0 && errno == ESRCH && wait && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    if (fd < 0 && errno == ESRCH && !wait) {
      ++it;
      continue;
    }
    if (fd < 0) throw_errno("fd " + std::to_string(it->fd->fd) + " (pidfd): pidfd_open " + std::to_string(it->pid));
    if (dup2(fd, it->staged) < 0) throw_errno("dup2 pidfd");
    close(fd);
    fcntl(it->staged, F_SETFD, FD_CLOEXEC);
    it = g_pending.erase(it);
  }
}

void forget_pending_pidfds() { g_pending.clear(); }

void fill_epolls(const img::Tree& tree, size_t index, int scratch_base) {
  const img::Process& p = tree.processes[index];
  std::set<int32_t> done;
  for (const auto& ep : p.fds) {
    if (ep.kind != img::FdKind::epoll || done.count(ep.event_id)) continue;
    done.insert(ep.event_id);
    const img::EventFile& e = event_of(tree, ep);
    if (epoll_filler(tree, e) != index) continue;
    with_context("fd " + std::to_string(ep.fd) + " (epoll)", [&] {
      for (const auto& t : e.targets) {
        const img::Fd* src = nullptr;
        for (const auto& g : p.fds)
          if (g.ofd_id == t.target_ofd && (!src || g.fd == t.tfd)) src = &g;
        if (!src) throw Error("epoll target fd " + std::to_string(t.tfd) + " missing", ExitCode::bad_image);
        epoll_event ev{};
        ev.events = t.events;
        if (!holder_had_cap(tree, e.id, kCapBlockSuspend)) ev.events &= ~static_cast<uint32_t>(EPOLLWAKEUP);
        ev.data.u64 = t.data;
        if (src->fd == t.tfd) {
          if (epoll_ctl(ep.fd, EPOLL_CTL_ADD, t.tfd, &ev) != 0) throw_errno("epoll_ctl add fd " + std::to_string(t.tfd));
          continue;
        }
        // Added under another number than the file has now (dup'ed, then closed): lend that
        // number to the file for the add. The entry lives as long as the file, not the number.
        int parked = fcntl(t.tfd, F_DUPFD_CLOEXEC, scratch_base);
        int parked_flags = parked >= 0 ? fcntl(t.tfd, F_GETFD) : 0;
        if (dup2(src->fd, t.tfd) < 0) throw_errno("dup2 for epoll target " + std::to_string(t.tfd));
        int r = epoll_ctl(ep.fd, EPOLL_CTL_ADD, t.tfd, &ev);
        int err = errno;
        if (parked >= 0) {
          dup2(parked, t.tfd);
          fcntl(t.tfd, F_SETFD, parked_flags);
          close(parked);
        } else {
          close(t.tfd);
        }
        if (r != 0) throw_errno("epoll_ctl add fd " + std::to_string(t.tfd), err);
      }
    });
  }
}

}  // namespace ck
