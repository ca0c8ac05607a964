// Collecting the open file descriptors of a process, and the table of files they (and file
// mappings) refer to.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "image_records.hpp"

namespace ck {

// Deduplicates files by (device, inode) so that an fd and a mapping of the same file share
// one record, and remembers where the content of deleted files can be read from.
class FileTable {
 public:
  explicit FileTable(std::vector<img::File>& files) : files_(files) {}
  // `path` as the kernel shows it (without " (deleted)"); `st` is the object's own stat.
  // `source` is a path (e.g. /proc/PID/fd/N) through which a deleted file can still be read.
  int32_t add(const std::string& path, bool deleted, const struct stat& st, const std::string& source = {});
  // Deleted files whose content goes into the image: file id -> readable source path.
  const std::map<int32_t, std::string>& content_sources() const { return sources_; }

 private:
  std::vector<img::File>& files_;
  std::map<std::pair<uint64_t, uint64_t>, int32_t> by_inode_;
  std::map<int32_t, std::string> sources_;
};

// Every fd of `pid` (stopped). Throws Error(unsupported) naming the first fd ck cannot restore
// (an eventfd, a terminal beyond stdio, ...). Pipes are left for link_fds, sockets for
// SocketDump (dump_socket.hpp).
std::vector<img::Fd> collect_fds(pid_t pid, FileTable& files);

// The fds of one process of the tree, with the pid /proc and kcmp know it by.
struct ProcessFds {
  pid_t os_pid;
  std::vector<img::Fd>* fds;
};

// What only the whole tree shows: a pipe with both ends in the tree gets a Pipe record with the
// bytes queued in it (one with an end outside is refused unless only stdio uses it), and fds
// sharing an open file description (dup, fork) get the same ofd_id.
void link_fds(const std::vector<ProcessFds>& procs, std::vector<img::Pipe>& pipes);

}  // namespace ck
