// A time namespace for the tree (`ckrun --time-ns`), so that CLOCK_MONOTONIC and CLOCK_BOOTTIME
// continue from their checkpointed values after a restore, on another boot or machine too,
// instead of jumping (backwards, on a machine up for less time). ckrun's init enters a new time
// namespace for its children with zero offsets; ckdump records both clocks as the tree sees
// them; ckrestore's init makes a new time namespace whose offsets put the clocks back there
// before it forks the tree. The clocks stand still while the tree is checkpointed.
#pragma once

#include <sys/types.h>

#include <vector>

#include "image_records.hpp"

namespace ck::ns {

// In ckrun's init before it forks the program: a new time namespace for its children.
void unshare_time_ns();

// At dump of a tree with its own namespaces (`os_pids`: as ckdump sees them, root first): sets
// tree.time_ns and the clocks if the tree's processes are in a time namespace of their own.
void collect_time_ns(img::Tree& tree, const std::vector<pid_t>& os_pids);

// In the restored init, before it forks: the new time namespace with the offsets that continue
// the clocks of the image.
void enter_time_ns(const img::Tree& tree);

}  // namespace ck::ns
