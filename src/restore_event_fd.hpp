// Recreating event fds (eventfd, epoll, signalfd, timerfd, inotify, pidfd) in the restored
// processes. Each open file description is made once, like any other (restore_fd.hpp), by
// create_event_file; an epoll's interest list needs its target fds at their numbers and is
// filled by one holder after place_fds (fill_epolls); a pidfd needs its process to exist.
#pragma once

#include <cstddef>

#include "image_records.hpp"

namespace ck {

bool is_event_kind(img::FdKind k);

// The process (index into tree.processes) that fills the interest list of epoll `e`: the first
// that holds the epoll and an fd of every open file description it watches. Throws Error
// naming the watched file no single holder has.
size_t epoll_filler(const img::Tree& tree, const img::EventFile& e);

// Creates the open file description of event fd `f` and returns its fd (close-on-exec), or -1
// for a pidfd whose process does not exist yet: it is made at `staged` by create_pending_pidfds.
int create_event_file(const img::Tree& tree, const img::Fd& f, int staged);

// Makes the pidfds create_event_file had to leave (their processes are children forked since).
// wait: poll until each process exists (a grandchild its own parent is forking); otherwise
// only those whose process exists already.
void create_pending_pidfds(bool wait);
void forget_pending_pidfds();  // in a new child: its parent's list is not its own

// In process `index`, its fds in place: fills the epoll interest lists it is the filler of.
// scratch_base: a free fd number from which fds may be parked for a moment.
void fill_epolls(const img::Tree& tree, size_t index, int scratch_base);

}  // namespace ck
