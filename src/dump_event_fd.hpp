// Event fds (eventfd, epoll, signalfd, timerfd, inotify, pidfd) and memfds at dump time, and
// the refusal, by name, of every other anonymous-inode fd (io_uring, perf events, bpf, ...).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dump_fd.hpp"
#include "image_records.hpp"

namespace ck {

// The FdKind of an fd ck restores from its /proc/PID/fd link ("anon_inode:[eventfd]", ...);
// nullopt for any other link.
std::optional<img::FdKind> event_fd_kind(const std::string& link);

// Throws Error(unsupported) for an anonymous-inode or other pseudo-file fd ck cannot restore,
// naming what it is ("fd 7 (anon_inode:[io_uring]): io_uring instances are not supported ...").
[[noreturn]] void refuse_pseudo_fd(int fd, const std::string& link);

// For the whole tree, once link_fds has given every open file description its ofd_id and the
// processes their PIDs as the tree sees them (procs[i] is tree.processes[i]): reads the state of
// every event fd into one Tree::event_files record per open file description, sets Fd::event_id,
// and records memfds' seals. Throws Error(unsupported) naming what cannot be restored (a pidfd
// of a process outside the tree, unread inotify events, a watch whose path cannot be found...).
// Reads only: the kernel objects are left as they were.
void collect_event_files(const std::vector<ProcessFds>& procs, img::Tree& tree);

}  // namespace ck
