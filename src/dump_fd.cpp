#include "dump_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

#include "dump_event_fd.hpp"
#include "error.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"

namespace ck {

int32_t FileTable::add(const std::string& path, bool deleted, const struct stat& st, const std::string& source) {
  auto key = std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
  if (auto it = by_inode_.find(key); it != by_inode_.end()) {
    if (deleted && !source.empty() && !sources_.count(it->second)) sources_[it->second] = source;
    return it->second;
  }
  img::File f;
  f.id = static_cast<int32_t>(files_.size());
  if (S_ISDIR(st.st_mode)) f.type = img::FileType::directory;
  else if (S_ISCHR(st.st_mode)) f.type = img::FileType::chardev;
  else if (S_ISFIFO(st.st_mode)) f.type = img::FileType::fifo;
  else if (S_ISBLK(st.st_mode)) f.type = img::FileType::blockdev;
  else f.type = img::FileType::regular;
  f.path = path;
  f.mode = st.st_mode;
  f.size = static_cast<uint64_t>(st.st_size);
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.rdev = st.st_rdev;
  f.deleted = deleted;
  if (deleted) {
    f.content = "file-" + std::to_string(f.id) + ".ck";
    if (!source.empty()) sources_[f.id] = source;
  }
  files_.push_back(f);
  by_inode_[key] = f.id;
  return f.id;
}

namespace {

constexpr const char* kDeletedSuffix = " (deleted)";

std::vector<int> list_fds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) throw_errno("open " + dir);
  std::vector<int> fds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    fds.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  std::sort(fds.begin(), fds.end());
  return fds;
}

bool is_tty(const struct stat& st) {
  if (!S_ISCHR(st.st_mode)) return false;
  unsigned maj = major(st.st_rdev);
  // 4: /dev/ttyN and serial, 5: /dev/tty, /dev/ptmx, 136-143: pty slaves
  return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

[[noreturn]] void unsupported(int fd, const std::string& link, const std::string& why) {
  throw Error("fd " + std::to_string(fd) + " (" + link + "): " + why, ExitCode::unsupported);
}

// Bytes queued in a pipe, read without consuming them: tee() from a second open of the pipe
// (through /proc) into a pipe of ours.
std::string peek_pipe(pid_t pid, int fd, uint32_t& capacity) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  UniqueFd src(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!src) throw_errno("open " + path);
  int cap = fcntl(src.get(), F_GETPIPE_SZ);
  if (cap < 0) throw_errno("F_GETPIPE_SZ " + path);
  capacity = static_cast<uint32_t>(cap);
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  if (fcntl(w.get(), F_SETPIPE_SZ, cap) < 0) throw_errno("F_SETPIPE_SZ " + std::to_string(cap));
  ssize_t n = tee(src.get(), w.get(), INT_MAX, SPLICE_F_NONBLOCK);
  if (n < 0 && errno != EAGAIN) throw_errno("tee " + path);
  std::string data(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t k = read(r.get(), data.data() + got, data.size() - got);
    if (k <= 0) throw_errno("read pipe copy of " + path);
    got += static_cast<size_t>(k);
  }
  return data;
}

std::optional<std::string> read_link_opt(const std::string& path) {
  char buf[PATH_MAX + 32];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("readlink " + path);
  }
  return std::string(buf, static_cast<size_t>(n));
}

uint64_t bracket_ino(const std::string& link) {
  auto a = link.find('['), b = link.find(']');
  if (a == std::string::npos || b == std::string::npos || b <= a + 1) return 0;
  return std::strtoull(link.substr(a + 1, b - a - 1).c_str(), nullptr, 10);
}

}  // namespace

std::vector<img::Fd> collect_fds(pid_t pid, FileTable& files) {
  const std::string base = "/proc/" + std::to_string(pid);
  std::vector<img::Fd> out;
  for (int fd : list_fds(pid)) {
    img::Fd r;
    r.fd = fd;
    std::string fdpath = base + "/fd/" + std::to_string(fd);
    auto link = read_link_opt(fdpath);
    auto info_text = proc::read_file_if_exists(base + "/fdinfo/" + std::to_string(fd));
    if (!link || !info_text) continue;  // closed meanwhile (cannot happen while stopped, but harmless)
    r.link = *link;
    auto info = proc::parse_fdinfo(*info_text, "fdinfo/" + std::to_string(fd));
    r.cloexec = (info.flags & O_CLOEXEC) != 0;
    r.flags = info.flags & ~static_cast<uint32_t>(O_CLOEXEC);
    r.pos = info.pos;
    struct stat st {};
    bool have_stat = stat(fdpath.c_str(), &st) == 0;

    if (r.link.rfind("pipe:[", 0) == 0) {
      r.kind = img::FdKind::pipe;
    } else if (r.link.rfind("socket:[", 0) == 0) {
      r.kind = img::FdKind::socket;  // examined with the whole tree (SocketDump)
    } else if (auto kind = event_fd_kind(r.link)) {
      r.kind = *kind;  // its state is read once the whole tree is known (collect_event_files)
    } else if (r.link.rfind("anon_inode:", 0) == 0 || r.link[0] != '/') {
      refuse_pseudo_fd(fd, r.link);
    } else if (r.link == "/secretmem (deleted)") {
      unsupported(fd, r.link, "memfd_secret areas are not supported (their content cannot be read)");
    } else {
      if (!have_stat) throw_errno("stat " + fdpath + " (" + r.link + ")");
      bool deleted = r.link.size() > strlen(kDeletedSuffix) &&
                     r.link.compare(r.link.size() - strlen(kDeletedSuffix), std::string::npos, kDeletedSuffix) == 0;
      std::string path = deleted ? r.link.substr(0, r.link.size() - strlen(kDeletedSuffix)) : r.link;
      if (is_tty(st) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
        if (fd > 2) unsupported(fd, r.link, is_tty(st) ? "terminals beyond stdin/stdout/stderr are not supported yet"
                                                       : "named FIFOs beyond stdin/stdout/stderr are not supported yet");
        r.kind = img::FdKind::stdio;
      } else if (S_ISBLK(st.st_mode)) {
        unsupported(fd, r.link, "block devices are not supported");
      } else if (S_ISCHR(st.st_mode) && !(major(st.st_rdev) == 1)) {
        // Only the memory devices (major 1: null, zero, full, random, urandom) are stateless.
        unsupported(fd, r.link, "character device " + std::to_string(major(st.st_rdev)) + ":" +
                                    std::to_string(minor(st.st_rdev)) + " is not supported");
      } else {
        if (deleted && !S_ISREG(st.st_mode)) unsupported(fd, r.link, "a deleted non-regular file");
        r.kind = img::FdKind::file;
        r.file_id = files.add(path, deleted, st, deleted ? fdpath : std::string());
      }
    }
    out.push_back(r);
  }

  return out;
}

void link_fds(const std::vector<ProcessFds>& procs, std::vector<img::Pipe>& pipes) {
  struct Ref {
    pid_t pid;
    img::Fd* fd;
  };
  std::vector<Ref> all;
  for (const auto& p : procs)
    for (auto& fd : *p.fds) all.push_back({p.os_pid, &fd});

  std::map<uint64_t, std::vector<Ref>> by_pipe;  // pipe inode -> its fds in the tree
  for (auto& r : all)
    if (r.fd->kind == img::FdKind::pipe) by_pipe[bracket_ino(r.fd->link)].push_back(r);
  for (auto& [ino, refs] : by_pipe) {
    bool has_read = false, has_write = false;
    for (auto& r : refs) ((r.fd->flags & O_ACCMODE) == O_WRONLY ? has_write : has_read) = true;
    if (!(has_read && has_write)) {
      for (auto& r : refs) {
        if (r.fd->fd > 2)
          unsupported(r.fd->fd, r.fd->link, "pipe to a process outside the checkpoint (only stdin/stdout/stderr may be)");
        r.fd->kind = img::FdKind::stdio;
      }
      continue;
    }
    img::Pipe p;
    p.id = static_cast<int32_t>(pipes.size());
    p.ino = ino;
    for (auto& r : refs)
      if ((r.fd->flags & O_ACCMODE) != O_WRONLY) {
        p.data = peek_pipe(r.pid, r.fd->fd, p.capacity);
        break;
      }
    for (auto& r : refs) r.fd->pipe_id = p.id;
    pipes.push_back(std::move(p));
  }

  // Sharing an open file description means sharing offset and status flags; only kcmp can tell
  // (the same path opened twice is two descriptions).
  int32_t next = 0;
  for (size_t i = 0; i < all.size(); i++) {
    for (size_t j = 0; j < i && all[i].fd->ofd_id < 0; j++) {
      if (all[j].fd->link != all[i].fd->link) continue;
      if (syscall(SYS_kcmp, all[j].pid, all[i].pid, KCMP_FILE, all[j].fd->fd, all[i].fd->fd) == 0)
        all[i].fd->ofd_id = all[j].fd->ofd_id;
    }
    if (all[i].fd->ofd_id < 0) all[i].fd->ofd_id = next++;
  }
}

}  // namespace ck
