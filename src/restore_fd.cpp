#include "restore_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "error.hpp"
#include "image_dir.hpp"
#include "page_pipeline.hpp"
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

int move_above(int fd, int floor) {
  int n = fcntl(fd, F_DUPFD_CLOEXEC, floor);
  if (n < 0) throw_errno("move internal fd " + std::to_string(fd));
  close(fd);
  return n;
}

void place(int tmp, int target) {
  if (tmp == target) return;
  if (dup2(tmp, target) < 0) throw_errno("dup2 to " + fd_str(target));
  close(tmp);
}

// Flags that only matter at open time, or that ck must not replay.
constexpr int kOpenOnly = O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_TMPFILE;

UniqueFd tmpfile_with_content(const img::File& f, const std::string& image_dir) {
  std::string dir = f.path.substr(0, f.path.rfind('/') + 1);
  if (dir.empty()) dir = "/";
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

}  // namespace

void set_file_access_creds(const FileAccessCreds& c) { g_access = c; }

int max_fd(const img::Process& p) {
  int m = -1;
  for (auto& f : p.fds) m = std::max(m, f.fd);
  return m;
}

int open_image_file_object(const img::File& f, const std::string& image_dir, int flags) {
  flags &= ~kOpenOnly;
  if (!f.deleted) {
    int fd = as_owner([&] { return open(f.path.c_str(), flags | O_CLOEXEC); });
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

void restore_fds(const img::Tree& tree, const img::Process& p, const std::string& image_dir, StdioMode stdio,
                 std::vector<int>& internal) {
  const int floor = max_fd(p) + 3;  // +1, +2 are for the exe file and the error pipe
  for (int& fd : internal) fd = move_above(fd, floor);
  int stdio_copy[3];
  for (int i = 0; i < 3; i++) {
    stdio_copy[i] = fcntl(i, F_DUPFD_CLOEXEC, floor);
    if (stdio_copy[i] < 0) stdio_copy[i] = -1;  // ckrestore itself had it closed
  }

  std::map<int32_t, std::pair<int, int>> pipe_ends;  // pipe id -> (read, write), above floor
  auto pipe_end = [&](const img::Fd& f) {
    auto it = pipe_ends.find(f.pipe_id);
    if (it == pipe_ends.end()) {
      if (f.pipe_id < 0 || static_cast<size_t>(f.pipe_id) >= tree.pipes.size())
        throw Error(fd_str(f.fd) + ": bad pipe id in image", ExitCode::bad_image);
      const img::Pipe& pp = tree.pipes[f.pipe_id];
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe");
      if (pp.capacity && fcntl(fds[1], F_SETPIPE_SZ, pp.capacity) < 0)
        throw_errno("set pipe size " + std::to_string(pp.capacity));
      size_t done = 0;
      while (done < pp.data.size()) {
        ssize_t n = write(fds[1], pp.data.data() + done, pp.data.size() - done);
        if (n <= 0) throw_errno("refill pipe of " + fd_str(f.fd));
        done += static_cast<size_t>(n);
      }
      it = pipe_ends.emplace(f.pipe_id, std::make_pair(move_above(fds[0], floor), move_above(fds[1], floor))).first;
    }
    return (f.flags & O_ACCMODE) == O_WRONLY ? it->second.second : it->second.first;
  };

  std::set<int> targets;
  for (const img::Fd& f : p.fds) {
    with_context(fd_str(f.fd) + " (" + f.link + ")", [&] {
      int tmp = -1;
      if (f.shares_with >= 0) {
        tmp = fcntl(f.shares_with, F_DUPFD_CLOEXEC, 0);
        if (tmp < 0) throw_errno("dup of fd " + std::to_string(f.shares_with));
      } else if (f.kind == img::FdKind::stdio) {
        int src = stdio == StdioMode::null ? -1 : stdio_copy[std::min(f.fd, 2)];
        tmp = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 0) : open("/dev/null", O_RDWR | O_CLOEXEC);
        if (tmp < 0) throw_errno("stdio");
      } else if (f.kind == img::FdKind::pipe) {
        tmp = fcntl(pipe_end(f), F_DUPFD_CLOEXEC, 0);
        if (tmp < 0) throw_errno("dup pipe");
        if (fcntl(tmp, F_SETFL, f.flags) < 0) throw_errno("F_SETFL");
      } else {
        if (f.file_id < 0 || static_cast<size_t>(f.file_id) >= tree.files.size())
          throw Error("bad file id in image", ExitCode::bad_image);
        tmp = open_image_file_object(tree.files[f.file_id], image_dir, static_cast<int>(f.flags));
        if (tree.files[f.file_id].type == img::FileType::regular || tree.files[f.file_id].type == img::FileType::directory)
          if (lseek(tmp, static_cast<off_t>(f.pos), SEEK_SET) < 0) throw_errno("seek to " + std::to_string(f.pos));
      }
      place(tmp, f.fd);
      if (fcntl(f.fd, F_SETFD, f.cloexec ? FD_CLOEXEC : 0) < 0) throw_errno("F_SETFD");
      targets.insert(f.fd);
    });
  }
  for (auto& [id, ends] : pipe_ends) {
    close(ends.first);
    close(ends.second);
  }
  for (int c : stdio_copy)
    if (c >= 0) close(c);

  // Whatever else ckrestore had open goes away.
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
