// Recreating the file descriptors of a process, in the restored child itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "image_records.hpp"

namespace ck {

enum class StdioMode { inherit, null };

// Open file descriptions are shared between fds of one or several processes (dup, fork). Each
// is created once, at staging number staging_base + ofd_id, by the lowest common ancestor of the
// processes holding it, before that process forks its children: they inherit it, and every
// holder dup2()s it to its own fd number. Nothing is passed between unrelated processes.
struct OfdPlan {
  int staging_base = 0;   // above every fd number of the tree
  int internal_base = 0;  // above the staging range: where ckrestore keeps its own fds
  std::map<int32_t, size_t> creator;  // ofd id -> index of the process that creates it
  // Deleted files mapped MAP_SHARED (memfd, unlinked /dev/shm): one new file for all mappers,
  // made like an open file description, under an id after the real ones. file id -> that id.
  std::map<int32_t, int32_t> shared_files;
  std::vector<int32_t> socket_groups;  // socket id -> the group made with it (restore_socket.hpp)
};
OfdPlan plan_ofds(const img::Tree& tree);

// In process `index`, before it forks its children: creates the descriptions it is the creator of.
// stdio_copy: ckrestore's own stdin/stdout/stderr (copies above internal_base; -1 if closed).
void create_staged_ofds(const img::Tree& tree, size_t index, const OfdPlan& plan, const std::string& image_dir,
                        StdioMode stdio, const int stdio_copy[3]);

// In the process, after its children exist: puts every fd at its number with its close-on-exec
// flag and closes everything else but `internal`.
void place_fds(const img::Process& p, const OfdPlan& plan, const std::vector<int>& internal);

// The highest fd number the process had (-1 if none).
int max_fd(const img::Process& p);

// The credentials files are opened with. A root ckrestore restoring another user's process
// must not hand it a file that user could not open: set in the child before any file is opened.
struct FileAccessCreds {
  bool active = false;
  uint32_t uid = 0, gid = 0;
};
void set_file_access_creds(const FileAccessCreds& c);
// Runs f with those credentials as the file system ones (for opens done elsewhere: inotify).
int as_file_owner(const std::function<int()>& f);

// Runs f (a syscall that creates or removes a file, e.g. binding a unix socket) with the
// filesystem credentials files are opened with.
int as_file_owner(const std::function<int()>& f);

// Opens a file of the image for reading: the file at its path, or for a deleted file a new
// unnamed file holding the content saved in the image.
int open_image_file_object(const img::File& f, const std::string& image_dir, int flags);

}  // namespace ck
