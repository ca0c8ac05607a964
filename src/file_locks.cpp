#include "file_locks.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <tuple>
#include <cstring>
#include <sstream>

#include "error.hpp"
#include "proc_parse.hpp"

namespace ck {

namespace {

const char* kind_name(img::LockKind k) {
  switch (k) {
    case img::LockKind::flock: return "flock";
    case img::LockKind::posix: return "POSIX record lock";
    case img::LockKind::ofd: return "OFD lock";
  }
  return "lock";
}

std::string range_str(const img::FileLock& l) {
  return std::to_string(l.start) + "-" + (l.len ? std::to_string(l.start + l.len - 1) : std::string("EOF"));
}

}  // namespace

std::vector<img::FileLock> parse_fdinfo_locks(const std::string& text, int fd, const std::string& what) {
  std::vector<img::FileLock> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("lock:", 0) != 0) continue;
    // "lock:\t1: POSIX  ADVISORY  WRITE 4207 fe:00:10953012 0 EOF"
    std::istringstream w(line.substr(5));
    std::string id, kind, mode, type, pid, dev, start, end;
    if (!(w >> id >> kind >> mode >> type >> pid >> dev >> start >> end))
      throw Error(what + ": cannot parse fdinfo line '" + line + "'");
    img::FileLock l;
    l.fd = fd;
    if (kind == "FLOCK") {
      l.kind = img::LockKind::flock;
    } else if (kind == "POSIX") {
      l.kind = img::LockKind::posix;
    } else if (kind == "OFDLCK") {
      l.kind = img::LockKind::ofd;
    } else if (kind == "LEASE" || kind == "DELEG") {
      throw Error(what + ": holds a file lease (fcntl F_SETLEASE): not supported", ExitCode::unsupported);
    } else {
      throw Error(what + ": holds a " + kind + " lock: not supported", ExitCode::unsupported);
    }
    if (mode != "ADVISORY")
      throw Error(what + ": holds a " + mode + " " + kind + " lock: not supported", ExitCode::unsupported);
    if (type == "WRITE")
      l.write = true;
    else if (type != "READ")
      throw Error(what + ": " + kind + " lock of type " + type + ": not supported", ExitCode::unsupported);
    char* e = nullptr;
    errno = 0;
    l.start = std::strtoull(start.c_str(), &e, 10);
    if (errno || *e) throw Error(what + ": bad lock start in '" + line + "'");
    if (end != "EOF") {
      uint64_t last = std::strtoull(end.c_str(), &e, 10);
      if (errno || *e || last < l.start) throw Error(what + ": bad lock end in '" + line + "'");
      l.len = last - l.start + 1;
    }
    out.push_back(l);
  }
  return out;
}

std::vector<img::FileLock> collect_locks(pid_t pid, const std::vector<img::Fd>& fds) {
  std::vector<img::FileLock> out;
  for (const auto& f : fds) {
    if (f.kind != img::FdKind::file) continue;
    auto text = proc::read_file_if_exists("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(f.fd));
    if (!text) continue;
    for (auto& l : parse_fdinfo_locks(*text, f.fd, "fd " + std::to_string(f.fd) + " (" + f.link + ")")) out.push_back(l);
  }
  return out;
}

void dedupe_ofd_locks(std::vector<img::Process>& processes) {
  std::set<std::tuple<int32_t, img::LockKind, bool, uint64_t, uint64_t>> seen;
  for (auto& p : processes) {
    std::vector<img::FileLock> kept;
    for (const auto& l : p.locks) {
      if (l.kind != img::LockKind::posix) {
        auto fd = std::find_if(p.fds.begin(), p.fds.end(), [&](const img::Fd& f) { return f.fd == l.fd; });
        if (fd != p.fds.end() && !seen.insert({fd->ofd_id, l.kind, l.write, l.start, l.len}).second) continue;
      }
      kept.push_back(l);
    }
    p.locks = std::move(kept);
  }
}

void take_locks(const img::Process& p) {
  for (const auto& l : p.locks) {
    int r;
    if (l.kind == img::LockKind::flock) {
      r = flock(l.fd, (l.write ? LOCK_EX : LOCK_SH) | LOCK_NB);
    } else {
      struct flock fl {};
      fl.l_type = l.write ? F_WRLCK : F_RDLCK;
      fl.l_whence = SEEK_SET;
      fl.l_start = static_cast<off_t>(l.start);
      fl.l_len = static_cast<off_t>(l.len);
      r = fcntl(l.fd, l.kind == img::LockKind::posix ? F_SETLK : F_OFD_SETLK, &fl);
    }
    if (r == 0) continue;
    int err = errno;
    std::string what = "fd " + std::to_string(l.fd) + ": " + kind_name(l.kind) + " (" + (l.write ? "write" : "read") +
                       (l.kind == img::LockKind::flock ? "" : ", bytes " + range_str(l)) + ")";
    if (err == EAGAIN || err == EWOULDBLOCK || err == EACCES)
      throw Error(what + " it held is now held by another process", ExitCode::conflict);
    throw_errno("take " + what + " again", err);
  }
}

}  // namespace ck
