#include "dump_event_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "error.hpp"
#include "fd_passing.hpp"
#include "log.hpp"
#include "proc_parse.hpp"
#include "restore_event_fd.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

struct Named {
  const char* link;  // after "anon_inode:"
  img::FdKind kind;
};
constexpr Named kEventKinds[] = {
    {"[eventfd]", img::FdKind::eventfd},   {"[eventpoll]", img::FdKind::epoll}, {"[signalfd]", img::FdKind::signalfd},
    {"[timerfd]", img::FdKind::timerfd},   {"inotify", img::FdKind::inotify},   {"[pidfd]", img::FdKind::pidfd},
};

// What the kinds ck refuses are, and why they cannot be saved.
struct Refusal {
  const char* link;
  const char* why;
};
constexpr Refusal kRefused[] = {
    {"[io_uring]", "io_uring instances are not supported (their rings and in-flight requests cannot be saved)"},
    {"[perf_event]", "perf events are not supported (their counters and ring buffers cannot be saved)"},
    {"bpf-map", "BPF maps are not supported"},
    {"bpf-prog", "BPF programs are not supported"},
    {"bpf_link", "BPF links are not supported"},
    {"bpf_iter", "BPF iterators are not supported"},
    {"[bpf-token]", "BPF tokens are not supported"},
    {"[userfaultfd]", "userfaultfd is not supported (its registered ranges and pending faults cannot be saved)"},
    {"[fanotify]", "fanotify groups are not supported (their marks and permission events cannot be saved)"},
    {"kvm-vm", "KVM virtual machines are not supported"},
    {"kvm-vcpu", "KVM virtual CPUs are not supported"},
    {"[fscontext]", "file system contexts (fsopen) are not supported"},
    {"[landlock-ruleset]", "Landlock rulesets are not supported"},
    {"sync_file", "sync files are not supported"},
};

std::string pstr(pid_t pid) { return std::to_string(pid); }

UniqueFd fd_copy(pid_t pid, int fd) { return FdCopier().copy(pid, fd); }

std::string fdinfo(pid_t pid, int fd) { return proc::read_file("/proc/" + pstr(pid) + "/fdinfo/" + std::to_string(fd)); }

// The kernel shows s_dev in its own encoding (major << 20 | minor); stat() in glibc's.
dev_t user_dev(uint32_t kdev) { return makedev(kdev >> 20, kdev & 0xfffff); }

[[noreturn]] void unsupported(const img::Fd& f, const std::string& why) {
  throw Error("fd " + std::to_string(f.fd) + " (" + f.link + "): " + why, ExitCode::unsupported);
}

bool same_inode(const std::string& path, dev_t dev, uint64_t ino) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

// ---- inotify: from a watched inode back to a path ------------------------------------

// With CAP_DAC_READ_SEARCH the kernel opens the inode from the handle fdinfo shows; the name
// /proc/self/fd then gives is checked before it is believed.
std::optional<std::string> path_by_handle(pid_t pid, const proc::InotifyMark& m, dev_t dev) {
  if (m.fhandle.empty()) return std::nullopt;
  const std::string root = "/proc/" + pstr(pid) + "/root";
  std::vector<proc::MountInfo> mounts;
  try {
    mounts = proc::parse_mountinfo(proc::read_file("/proc/" + pstr(pid) + "/mountinfo"));
  } catch (const Error&) {
    return std::nullopt;
  }
  std::vector<char> buf(sizeof(file_handle) + m.fhandle.size());
  auto* fh = reinterpret_cast<file_handle*>(buf.data());
  fh->handle_bytes = static_cast<unsigned>(m.fhandle.size());
  fh->handle_type = m.fhandle_type;
  std::memcpy(fh->f_handle, m.fhandle.data(), m.fhandle.size());
  for (const auto& mi : mounts) {
    if (makedev(mi.dev_major, mi.dev_minor) != dev) continue;
    UniqueFd mnt(open((root + mi.mount_point).c_str(), O_PATH | O_CLOEXEC));
    if (!mnt) continue;
    UniqueFd f(static_cast<int>(syscall(SYS_open_by_handle_at, mnt.get(), fh, O_PATH | O_CLOEXEC)));
    if (!f) {
      if (errno == EPERM) return std::nullopt;  // no CAP_DAC_READ_SEARCH: no point trying other mounts
      continue;
    }
    auto path = proc::read_link("/proc/self/fd/" + std::to_string(f.get()));
    if (!path.empty() && path[0] == '/' && same_inode(root + path, dev, m.ino)) return path;
  }
  return std::nullopt;
}

// Without the capability: look for the inode where programs usually watch, breadth first and
// within a budget: the working directory, the directories of the process's open files, /tmp.
std::optional<std::string> path_by_search(pid_t pid, const std::vector<std::string>& starts, dev_t dev, uint64_t ino) {
  const std::string root = "/proc/" + pstr(pid) + "/root";
  size_t budget = 50000;
  std::set<std::string> seen;
  std::deque<std::pair<std::string, int>> queue;
  for (const auto& s : starts)
    if (!s.empty() && s[0] == '/' && seen.insert(s).second) queue.emplace_back(s, 0);
  for (const auto& [s, depth] : queue)
    if (same_inode(root + s, dev, ino)) return s;
  while (!queue.empty() && budget > 0) {
    auto [dir, depth] = queue.front();
    queue.pop_front();
    DIR* d = opendir((root + dir).c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || budget == 0) continue;
      budget--;
      struct stat st {};
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      std::string path = (dir == "/" ? "" : dir) + "/" + e->d_name;
      if (st.st_dev == dev && st.st_ino == ino) {
        closedir(d);
        return path;
      }
      if (S_ISDIR(st.st_mode) && depth < 4 && path != "/proc" && path != "/sys" && seen.insert(path).second)
        queue.emplace_back(path, depth + 1);
    }
    closedir(d);
  }
  return std::nullopt;
}

void collect_inotify(pid_t pid, const img::Fd& f, const img::Tree& tree, const img::Process& p, img::EventFile& e) {
  UniqueFd copy = fd_copy(pid, f.fd);
  int queued = 0;
  if (ioctl(copy.get(), FIONREAD, &queued) == 0 && queued > 0)
    unsupported(f, "an inotify instance with " + std::to_string(queued) +
                       " bytes of unread events is not supported (they cannot be saved without taking them from the "
                       "program): checkpoint again once it has read them");
  std::vector<std::string> starts;
  try {
    starts.push_back(proc::read_link("/proc/" + pstr(pid) + "/cwd"));
  } catch (const Error&) {
  }
  for (const auto& g : p.fds)
    if (g.file_id >= 0) {
      const std::string& path = tree.files[static_cast<size_t>(g.file_id)].path;
      starts.push_back(path.substr(0, std::max<size_t>(1, path.rfind('/'))));
    }
  starts.push_back("/tmp");
  for (const auto& m : proc::parse_inotify_fdinfo(fdinfo(pid, f.fd), "fdinfo/" + std::to_string(f.fd))) {
    dev_t dev = user_dev(m.sdev);
    auto path = path_by_handle(pid, m, dev);
    if (!path) path = path_by_search(pid, starts, dev, m.ino);
    if (!path)
      unsupported(f, "inotify watch " + std::to_string(m.wd) + " on inode " + std::to_string(m.ino) + " of device " +
                         std::to_string(major(dev)) + ":" + std::to_string(minor(dev)) +
                         ": its path was not found (ckdump needs CAP_DAC_READ_SEARCH to resolve any watch; without it, "
                         "only watches under the working directory, the directories of open files and /tmp)");
    starts.push_back(*path);
    img::InotifyWatch w;
    w.wd = m.wd;
    w.mask = m.mask;
    w.dev = dev;
    w.ino = m.ino;
    w.path = *path;
    e.watches.push_back(std::move(w));
  }
}

// ---- epoll: each target back to an open file description of the tree -------------------

struct FdRef {
  pid_t os_pid;
  const img::Fd* fd;
};

void collect_epoll(pid_t pid, const img::Fd& f, const std::vector<FdRef>& all, img::EventFile& e) {
  auto tfds = proc::parse_epoll_fdinfo(fdinfo(pid, f.fd), "fdinfo/" + std::to_string(f.fd));
  std::map<int, uint32_t> nth;  // tfd -> entries with that number seen so far (kcmp's toff)
  for (const auto& t : tfds) {
    kcmp_epoll_slot slot{static_cast<uint32_t>(f.fd), static_cast<uint32_t>(t.tfd), nth[t.tfd]++};
    auto same = [&](const FdRef& r) {
      return syscall(SYS_kcmp, r.os_pid, pid, KCMP_EPOLL_TFD, r.fd->fd, &slot) == 0;
    };
    const FdRef* hit = nullptr;
    for (const auto& r : all)  // the fd it was added under, in the epoll's own process, first
      if (r.os_pid == pid && r.fd->fd == t.tfd && same(r)) hit = &r;
    for (size_t i = 0; !hit && i < all.size(); i++)
      if (same(all[i])) hit = &all[i];
    if (!hit)
      unsupported(f, "epoll watches fd " + std::to_string(t.tfd) +
                         ", whose file no process of the checkpoint holds open (a file passed to another process?)");
    img::EpollTarget x;
    x.tfd = t.tfd;
    x.events = t.events;
    x.data = t.data;
    x.target_ofd = hit->fd->ofd_id;
    e.targets.push_back(x);
  }
}

void collect_timerfd(pid_t pid, const img::Fd& f, img::EventFile& e) {
  // timerfd_gettime first: for a periodic timer that expired while the program was stopped it
  // re-arms the timer and counts the missed expirations, which fdinfo alone would show as
  // "disarmed" (the count a read() then returns is the same either way).
  UniqueFd copy = fd_copy(pid, f.fd);
  itimerspec its{};
  if (timerfd_gettime(copy.get(), &its) != 0) throw_errno("timerfd_gettime");
  auto t = proc::parse_timerfd_fdinfo(fdinfo(pid, f.fd), "fdinfo/" + std::to_string(f.fd));
  e.clockid = t.clockid;
  e.count = t.ticks;
  e.settime_flags = t.settime_flags;
  e.value_ns = int64_t{its.it_value.tv_sec} * 1000000000 + its.it_value.tv_nsec;
  e.interval_ns = int64_t{its.it_interval.tv_sec} * 1000000000 + its.it_interval.tv_nsec;
  if ((t.settime_flags & TFD_TIMER_ABSTIME) && e.value_ns > 0 &&
      (t.clockid == CLOCK_REALTIME || t.clockid == CLOCK_REALTIME_ALARM)) {
    // Wall-clock deadlines keep their meaning across a restore; other clocks restart there.
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    e.deadline_ns = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec + e.value_ns;
  }
  if (t.clockid != CLOCK_REALTIME && t.clockid != CLOCK_MONOTONIC && t.clockid != CLOCK_BOOTTIME &&
      t.clockid != CLOCK_REALTIME_ALARM && t.clockid != CLOCK_BOOTTIME_ALARM)
    unsupported(f, "timerfd on clock " + std::to_string(t.clockid) + " is not supported");
}

void collect_pidfd(pid_t pid, const img::Fd& f, const std::vector<ProcessFds>& procs, const img::Tree& tree,
                   img::EventFile& e) {
  auto info = proc::parse_pidfd_fdinfo(fdinfo(pid, f.fd), "fdinfo/" + std::to_string(f.fd));
  e.thread = (f.flags & O_EXCL) != 0;  // PIDFD_THREAD
  if (info.pid <= 0) {
    e.pid = 0;  // the process has been reaped: the pidfd only reports that
    return;
  }
  for (size_t i = 0; i < procs.size(); i++) {
    if (procs[i].os_pid == info.pid) {
      e.pid = tree.processes[i].pid;
      return;
    }
  }
  // A thread of the tree other than a leader.
  for (size_t i = 0; i < procs.size(); i++)
    if (access(("/proc/" + pstr(procs[i].os_pid) + "/task/" + pstr(info.pid)).c_str(), F_OK) == 0)
      unsupported(f, "pidfd of thread " + pstr(info.pid) + " (not a process leader) is not supported");
  std::string comm = "?";
  if (auto c = proc::read_file_if_exists("/proc/" + pstr(info.pid) + "/comm")) comm = c->substr(0, c->find('\n'));
  unsupported(f, "pidfd of pid " + pstr(info.pid) + " ('" + comm + "'), a process outside the checkpoint, is not supported");
}

// ---- memfd ------------------------------------------------------------------------------

void collect_memfds(const std::vector<ProcessFds>& procs, img::Tree& tree) {
  for (auto& file : tree.files) {
    if (!file.deleted || file.path.rfind("/memfd:", 0) != 0) continue;
    file.memfd = true;
    UniqueFd copy;
    std::string where;
    for (size_t i = 0; i < procs.size() && !copy; i++)
      for (const auto& f : *procs[i].fds)
        if (f.kind == img::FdKind::file && f.file_id == file.id) {
          copy = fd_copy(procs[i].os_pid, f.fd);
          where = "fd " + std::to_string(f.fd) + " (" + f.link + ")";
          break;
        }
    for (size_t i = 0; i < procs.size() && !copy; i++)
      for (const auto& v : tree.processes[i].vmas)
        if (v.file_id == file.id) {
          char mf[96];
          snprintf(mf, sizeof mf, "/proc/%d/map_files/%llx-%llx", procs[i].os_pid, static_cast<unsigned long long>(v.start),
                   static_cast<unsigned long long>(v.end));
          copy.reset(open(mf, O_RDONLY | O_CLOEXEC));
          where = "mapping of " + file.path;
          break;
        }
    if (!copy) {
      // map_files needs CAP_CHECKPOINT_RESTORE: the content is saved, the seals are not known.
      log::warn(file.path + " is only mapped and its seals cannot be read without privilege; restored unsealed");
      continue;
    }
    struct statfs sfs {};
    if (fstatfs(copy.get(), &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC)
      throw Error(where + ": hugetlb memfds are not supported", ExitCode::unsupported);
    int seals = fcntl(copy.get(), F_GET_SEALS);
    if (seals < 0) throw_errno(where + ": F_GET_SEALS");
    file.seals = static_cast<uint32_t>(seals);
    // The seal forbids new writable mappings but kept the ones made before it; a restore
    // makes every mapping anew.
    if (seals & F_SEAL_FUTURE_WRITE)
      for (const auto& p : tree.processes)
        for (const auto& v : p.vmas)
          if (v.file_id == file.id && v.kind == img::VmaKind::file_shared && (v.prot & PROT_WRITE))
            throw Error(where + ": a memfd sealed with F_SEAL_FUTURE_WRITE and still mapped writable is not supported",
                        ExitCode::unsupported);
  }
}

}  // namespace

std::optional<img::FdKind> event_fd_kind(const std::string& link) {
  if (link.rfind("anon_inode:", 0) != 0) return std::nullopt;
  std::string what = link.substr(11);
  for (const auto& k : kEventKinds)
    if (what == k.link) return k.kind;
  return std::nullopt;
}

void refuse_pseudo_fd(int fd, const std::string& link) {
  std::string prefix = "fd " + std::to_string(fd) + " (" + link + "): ";
  if (link.rfind("anon_inode:", 0) == 0) {
    std::string what = link.substr(11);
    for (const auto& r : kRefused)  // "kvm-vcpu:3": a kind with an instance number
      if (what == r.link || what.rfind(std::string(r.link) + ":", 0) == 0) throw Error(prefix + r.why, ExitCode::unsupported);
    if (what.size() > 2 && what.front() == '[' && what.back() == ']') what = what.substr(1, what.size() - 2);
    throw Error(prefix + "anonymous-inode files of kind '" + what + "' are not supported", ExitCode::unsupported);
  }
  // nsfs ("net:[4026531840]") and other pseudo files without a path.
  auto colon = link.find(":[");
  if (colon != std::string::npos && colon > 0)
    throw Error(prefix + link.substr(0, colon) + " namespace file descriptors are not supported", ExitCode::unsupported);
  throw Error(prefix + "this kind of file descriptor is not supported", ExitCode::unsupported);
}

void collect_event_files(const std::vector<ProcessFds>& procs, img::Tree& tree) {
  collect_memfds(procs, tree);
  std::vector<FdRef> all;
  for (const auto& p : procs)
    for (const auto& f : *p.fds) all.push_back({p.os_pid, &f});
  std::map<int32_t, int32_t> event_of_ofd;
  for (size_t i = 0; i < procs.size(); i++) {
    for (auto& f : *procs[i].fds) {
      if (f.kind < img::FdKind::eventfd || f.kind > img::FdKind::pidfd) continue;
      if (auto it = event_of_ofd.find(f.ofd_id); it != event_of_ofd.end()) {
        f.event_id = it->second;
        continue;
      }
      const pid_t pid = procs[i].os_pid;
      img::EventFile e;
      e.id = static_cast<int32_t>(tree.event_files.size());
      e.kind = f.kind;
      with_context("pid " + pstr(pid), [&] {
        switch (f.kind) {
          case img::FdKind::eventfd: {
            auto info = proc::parse_eventfd_fdinfo(fdinfo(pid, f.fd), "fdinfo/" + std::to_string(f.fd));
            e.count = info.count;
            e.semaphore = info.semaphore;
            // Nothing else tells the mode without consuming the counter: say so rather than
            // change the program's semantics unnoticed.
            if (!info.semaphore_known)
              log::warn("pid " + pstr(pid) + " fd " + std::to_string(f.fd) +
                        " (eventfd): this kernel does not show whether it is in semaphore mode "
                        "(newer kernels do); it is restored in normal mode");
            break;
          }
          case img::FdKind::signalfd:
            e.sigmask = proc::parse_signalfd_fdinfo(fdinfo(pid, f.fd), "fdinfo/" + std::to_string(f.fd));
            break;
          case img::FdKind::timerfd: collect_timerfd(pid, f, e); break;
          case img::FdKind::epoll: collect_epoll(pid, f, all, e); break;
          case img::FdKind::inotify: collect_inotify(pid, f, tree, tree.processes[i], e); break;
          case img::FdKind::pidfd: collect_pidfd(pid, f, procs, tree, e); break;
          default: break;
        }
      });
      f.event_id = e.id;
      event_of_ofd[f.ofd_id] = e.id;
      tree.event_files.push_back(std::move(e));
    }
  }
  // An interest list is filled at restore by one process that holds the epoll and every file
  // it watches: refuse now what could not be restored then.
  for (const auto& e : tree.event_files) {
    if (e.kind != img::FdKind::epoll) continue;
    try {
      epoll_filler(tree, e);
    } catch (const Error& err) {
      throw Error(err.message(), ExitCode::unsupported);
    }
  }
}

}  // namespace ck
