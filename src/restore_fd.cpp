#include "restore_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <map>
#include <set>

#include "error.hpp"
#include "image_dir.hpp"
#include "page_pipeline.hpp"
#include "restore_socket.hpp"
#include "restore_event_fd.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

FileAccessCreds g_access;

// Runs f with the filesystem uid/gid of the process being restored, so that the kernel's
// permission checks are those the user would get.
template <typename F>
auto as_owner(F&& f) {
  if (!g_access.active) return f();
  uid_t old_uid = static_cast<uid_t>(setfsuid(g_access.uid));
  gid_t old_gid = static_cast<gid_t>(setfsgid(g_access.gid));
  auto r = f();
  int err = errno;
  setfsgid(old_gid);
  setfsuid(old_uid);
  errno = err;
  return r;
}

std::string fd_str(int fd) { return "fd " + std::to_string(fd); }

void place(int tmp, int target) {
  if (tmp == target) return;
  if (dup2(tmp, target) < 0) throw_errno("dup2 to " + fd_str(target));
  close(tmp);
}

// Flags that only matter at open time, or that ck must not replay.
constexpr int kOpenOnly = O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_TMPFILE;

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

// A memfd again, under its name, with its content, mode and seals (seals last: they may
// forbid the writes that fill it).
UniqueFd memfd_with_content(const img::File& f, const std::string& image_dir) {
  std::string name = f.path.substr(strlen("/memfd:"));
  unsigned exec = (f.seals & F_SEAL_EXEC) ? MFD_NOEXEC_SEAL : MFD_EXEC;
  UniqueFd out(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | exec));
  if (!out && errno == EINVAL) out.reset(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!out) throw_errno("memfd_create " + name);
  UniqueFd src = img::open_image_file(image_dir, f.content, img::FileKind::file_content);
  read_file_content(src.get(), out.get());
  if (ftruncate(out.get(), static_cast<off_t>(f.size)) != 0) throw_errno("ftruncate memfd " + name);
  if (!(f.seals & F_SEAL_EXEC)) fchmod(out.get(), f.mode & 07777);
  if (f.seals && fcntl(out.get(), F_ADD_SEALS, f.seals) != 0) throw_errno("F_ADD_SEALS on memfd " + name);
  return out;
}

UniqueFd tmpfile_with_content(const img::File& f, const std::string& image_dir) {
  if (f.memfd) return memfd_with_content(f, image_dir);
  std::string dir = f.path.substr(0, f.path.rfind('/') + 1);
  if (dir.empty()) dir.push_back('/');  // not = "/": GCC 12 -O3 reports a false -Wrestrict
  UniqueFd out(as_owner([&] { return open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, f.mode & 07777); }));
  if (!out) {
    std::string name = f.path.substr(f.path.rfind('/') + 1);
    out.reset(memfd_create(name.c_str(), MFD_CLOEXEC));
    if (!out) throw_errno("create a file for deleted " + f.path);
  }
  UniqueFd src = img::open_image_file(image_dir, f.content, img::FileKind::file_content);
  read_file_content(src.get(), out.get());
  return out;
}

// A file whose content the image holds (a POSIX shm object) and that is gone: made again at its
// path with that content; a process that got there first has made it already.
int recreate_file(const img::File& f, const std::string& image_dir, int flags) {
  UniqueFd out(as_owner([&] { return open(f.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, f.mode & 07777); }));
  if (out) {
    UniqueFd src = img::open_image_file(image_dir, f.content, img::FileKind::file_content);
    read_file_content(src.get(), out.get());
  }
  int fd = as_owner([&] { return open(f.path.c_str(), flags | O_CLOEXEC); });
  if (fd < 0) throw_errno("recreate " + f.path);
  return fd;
}

}  // namespace

void set_file_access_creds(const FileAccessCreds& c) { g_access = c; }

int as_file_owner(const std::function<int()>& f) { return as_owner(f); }

int max_fd(const img::Process& p) {
  int m = -1;
  for (auto& f : p.fds) m = std::max(m, f.fd);
  return m;
}

int open_image_file_object(const img::File& f, const std::string& image_dir, int flags) {
  flags &= ~kOpenOnly;
  if (!f.deleted) {
    int fd = as_owner([&] { return open(f.path.c_str(), flags | O_CLOEXEC); });
    if (fd < 0 && errno == ENOENT && !f.content.empty()) fd = recreate_file(f, image_dir, flags);
    if (fd < 0 && g_access.active && (errno == EACCES || errno == EPERM))
      throw_errno("open " + f.path + " as uid " + std::to_string(g_access.uid) + ", the restored process's owner");
    if (fd < 0) throw_errno("open " + f.path);
    return fd;
  }
  UniqueFd tmp = tmpfile_with_content(f, image_dir);
  if ((flags & O_ACCMODE) == O_RDWR) return tmp.release();
  // Reopen through /proc for the access mode the process had.
  std::string self = "/proc/self/fd/" + std::to_string(tmp.get());
  int fd = open(self.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw_errno("reopen deleted " + f.path);
  return fd;
}

OfdPlan plan_ofds(const img::Tree& tree) {
  OfdPlan plan;
  int max = 2;
  std::map<int32_t, size_t> index_of;  // pid -> process index
  for (size_t i = 0; i < tree.processes.size(); i++) {
    index_of[tree.processes[i].pid] = i;
    max = std::max(max, max_fd(tree.processes[i]));
  }
  auto parent = [&](size_t i) -> std::optional<size_t> {
    auto it = index_of.find(tree.processes[i].ppid);
    if (i == 0 || it == index_of.end()) return std::nullopt;
    return it->second;
  };
  auto ancestors = [&](size_t i) {
    std::vector<size_t> chain = {i};
    while (auto p = parent(chain.back())) chain.push_back(*p);
    return chain;  // i, its parent, ..., the root
  };
  int32_t max_ofd = -1;
  std::map<int32_t, std::vector<size_t>> holders;
  for (size_t i = 0; i < tree.processes.size(); i++)
    for (const auto& f : tree.processes[i].fds) {
      holders[f.ofd_id].push_back(i);
      max_ofd = std::max(max_ofd, f.ofd_id);
    }
  // Both ends of a pipe are made by one pipe2(): their creator is common to the holders of both.
  std::map<int32_t, std::vector<int32_t>> pipe_ofds;
  for (const auto& p : tree.processes)
    for (const auto& f : p.fds)
      if (f.kind == img::FdKind::pipe) pipe_ofds[f.pipe_id].push_back(f.ofd_id);
  // So are the sockets of one group (both ends of a connection, ...).
  plan.socket_groups = socket_groups(tree);
  std::map<int32_t, std::vector<int32_t>> group_ofds;
  for (const auto& p : tree.processes)
    for (const auto& f : p.fds)
      if (f.kind == img::FdKind::socket) group_ofds[plan.socket_groups.at(static_cast<size_t>(f.socket_id))].push_back(f.ofd_id);
  for (auto* sets : {&pipe_ofds, &group_ofds})
    for (auto& [pipe, ofds] : *sets) {
      std::vector<size_t> all;
      for (int32_t o : ofds) all.insert(all.end(), holders[o].begin(), holders[o].end());
      for (int32_t o : ofds) holders[o] = all;
    }
  auto share_deleted = [&](size_t i, int32_t file_id) {
    auto it = plan.shared_files.find(file_id);
    if (it == plan.shared_files.end()) it = plan.shared_files.emplace(file_id, ++max_ofd).first;
    holders[it->second].push_back(i);
  };
  for (size_t i = 0; i < tree.processes.size(); i++)
    for (const auto& v : tree.processes[i].vmas)
      if (v.kind == img::VmaKind::file_shared && v.file_id >= 0 && tree.files.at(static_cast<size_t>(v.file_id)).deleted)
        share_deleted(i, v.file_id);
  // Every fd of a deleted file opens that one new file too (a memfd written through an fd and
  // read through a mapping, or opened twice, stays one file).
  for (size_t i = 0; i < tree.processes.size(); i++)
    for (const auto& f : tree.processes[i].fds)
      if (f.kind == img::FdKind::file && f.file_id >= 0 && tree.files.at(static_cast<size_t>(f.file_id)).deleted)
        share_deleted(i, f.file_id);
  for (auto& [ofd, procs] : holders) {
    // The lowest common ancestor: the deepest process on the root path of every holder.
    std::vector<size_t> common = ancestors(procs[0]);
    for (size_t h : procs) {
      auto chain = ancestors(h);
      std::vector<size_t> kept;
      for (size_t c : common)
        if (std::find(chain.begin(), chain.end(), c) != chain.end()) kept.push_back(c);
      common = kept;
    }
    if (common.empty()) throw Error("fds of processes without a common ancestor in the image", ExitCode::bad_image);
    plan.creator[ofd] = common.front();
  }
  plan.staging_base = max + 8;
  plan.internal_base = plan.staging_base + max_ofd + 8;
  return plan;
}

namespace {

// Makes open file description `ofd` (first fd `f` that uses it) at its staging number.
void create_ofd(const img::Tree& tree, const img::Fd& f, const OfdPlan& plan, const std::string& image_dir,
                StdioMode stdio, const int stdio_copy[3], std::map<int32_t, int32_t>& pipe_done,
                std::set<int32_t>& socket_groups_done) {
  const int target = plan.staging_base + f.ofd_id;
  int tmp = -1;
  if (f.kind == img::FdKind::stdio) {
    int src = stdio == StdioMode::null ? -1 : stdio_copy[std::min(f.fd, 2)];
    tmp = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 0) : open("/dev/null", O_RDWR | O_CLOEXEC);
    if (tmp < 0) throw_errno("stdio");
  } else if (f.kind == img::FdKind::socket) {
    const int32_t group = plan.socket_groups.at(static_cast<size_t>(f.socket_id));
    if (!socket_groups_done.insert(group).second) return;
    // Every socket of the group goes to the staging number of each description holding it.
    create_socket_group(tree, plan.socket_groups, group, [&](int32_t id, int fd) {
      for (const auto& p : tree.processes)
        for (const auto& g : p.fds) {
          if (g.kind != img::FdKind::socket || g.socket_id != id) continue;
          int want = plan.staging_base + g.ofd_id;
          if (fcntl(want, F_GETFD) >= 0) continue;
          if (dup2(fd, want) < 0) throw_errno("dup2 socket");
          if (fcntl(want, F_SETFL, g.flags) < 0) throw_errno("F_SETFL");
        }
    });
    return;
  } else if (f.kind == img::FdKind::pipe) {
    if (pipe_done.count(f.pipe_id)) return;
    const img::Pipe& pp = tree.pipes.at(static_cast<size_t>(f.pipe_id));
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe");
    if (pp.capacity && fcntl(fds[1], F_SETPIPE_SZ, pp.capacity) < 0)
      throw_errno("set pipe size " + std::to_string(pp.capacity));
    size_t done = 0;
    while (done < pp.data.size()) {
      ssize_t n = write(fds[1], pp.data.data() + done, pp.data.size() - done);
      if (n <= 0) throw_errno("refill pipe");
      done += static_cast<size_t>(n);
    }
    // Each end goes to the staging number of its own description.
    int ends[2] = {fds[0], fds[1]};
    for (const auto& p : tree.processes)
      for (const auto& g : p.fds) {
        if (g.kind != img::FdKind::pipe || g.pipe_id != f.pipe_id) continue;
        int end = ends[(g.flags & O_ACCMODE) == O_WRONLY ? 1 : 0];
        int want = plan.staging_base + g.ofd_id;
        if (fcntl(want, F_GETFD) >= 0) continue;
        if (dup2(end, want) < 0) throw_errno("dup2 pipe end");
        if (fcntl(want, F_SETFL, g.flags) < 0) throw_errno("F_SETFL");
      }
    close(fds[0]);
    close(fds[1]);
    pipe_done[f.pipe_id] = 1;
    return;
  } else if (is_event_kind(f.kind)) {
    tmp = create_event_file(tree, f, target);
    if (tmp < 0) return;  // a pidfd of a process not forked yet
  } else {
    const img::File& file = tree.files.at(static_cast<size_t>(f.file_id));
    if (auto shared = plan.shared_files.find(f.file_id); file.deleted && shared != plan.shared_files.end()) {
      // Reopened, so that it gets its own description with the access mode it had.
      std::string self = "/proc/self/fd/" + std::to_string(plan.staging_base + shared->second);
      tmp = open(self.c_str(), (static_cast<int>(f.flags) & ~kOpenOnly) | O_CLOEXEC);
      if (tmp < 0) throw_errno("reopen deleted " + file.path);
    } else {
      tmp = open_image_file_object(file, image_dir, static_cast<int>(f.flags));
    }
    if (file.type == img::FileType::regular || file.type == img::FileType::directory)
      if (lseek(tmp, static_cast<off_t>(f.pos), SEEK_SET) < 0) throw_errno("seek to " + std::to_string(f.pos));
  }
  place(tmp, target);
}

}  // namespace

void create_staged_ofds(const img::Tree& tree, size_t index, const OfdPlan& plan, const std::string& image_dir,
                        StdioMode stdio, const int stdio_copy[3]) {
  forget_pending_pidfds();
  for (const auto& [file_id, id] : plan.shared_files) {
    if (plan.creator.at(id) != index) continue;
    const img::File& f = tree.files.at(static_cast<size_t>(file_id));
    with_context("deleted shared file " + f.path, [&] { place(tmpfile_with_content(f, image_dir).release(), plan.staging_base + id); });
  }
  std::map<int32_t, int32_t> pipe_done;
  std::set<int32_t> socket_groups_done;
  std::set<int32_t> made;
  for (const auto& p : tree.processes)
    for (const auto& f : p.fds) {
      auto it = plan.creator.find(f.ofd_id);
      if (it == plan.creator.end() || it->second != index || made.count(f.ofd_id)) continue;
      with_context("fd " + std::to_string(f.fd) + " (" + f.link + ")",
                   [&] { create_ofd(tree, f, plan, image_dir, stdio, stdio_copy, pipe_done, socket_groups_done); });
      made.insert(f.ofd_id);
    }
}

void place_fds(const img::Process& p, const OfdPlan& plan, const std::vector<int>& internal) {
  std::set<int> targets;
  for (const img::Fd& f : p.fds) {
    int staged = plan.staging_base + f.ofd_id;
    if (dup2(staged, f.fd) < 0) throw_errno("fd " + std::to_string(f.fd) + " (" + f.link + "): dup2");
    if (fcntl(f.fd, F_SETFD, f.cloexec ? FD_CLOEXEC : 0) < 0) throw_errno("F_SETFD");
    targets.insert(f.fd);
  }
  // Whatever else is open (staging copies, ckrestore's own files) goes away.
  std::vector<int> extra;
  if (DIR* d = opendir("/proc/self/fd")) {
    int dfd = dirfd(d);
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      int fd = std::atoi(e->d_name);
      if (fd == dfd || targets.count(fd) || std::find(internal.begin(), internal.end(), fd) != internal.end()) continue;
      extra.push_back(fd);
    }
    closedir(d);
  }
  for (int fd : extra) close(fd);
}

}  // namespace ck
