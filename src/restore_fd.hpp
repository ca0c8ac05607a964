// Recreating the file descriptors of a process, in the restored child itself.
#pragma once

#include <string>
#include <vector>

#include "image_records.hpp"

namespace ck {

enum class StdioMode { inherit, null };

// Recreates every fd of `p` at its number with its flags, offset and sharing. Runs in the
// child that becomes the process. `internal` lists fds of ckrestore that must survive: they
// are moved above the target's fds first (and their new numbers written back). Everything
// else is closed. Throws Error naming the fd.
void restore_fds(const img::Tree& tree, const img::Process& p, const std::string& image_dir, StdioMode stdio,
                 std::vector<int>& internal);

// The highest fd number the process had (-1 if none).
int max_fd(const img::Process& p);

// The credentials files are opened with. A root ckrestore restoring another user's process
// must not hand it a file that user could not open: set in the child before any file is opened.
struct FileAccessCreds {
  bool active = false;
  uint32_t uid = 0, gid = 0;
};
void set_file_access_creds(const FileAccessCreds& c);

// Opens a file of the image for reading: the file at its path, or for a deleted file a new
// unnamed file holding the content saved in the image.
int open_image_file_object(const img::File& f, const std::string& image_dir, int flags);

}  // namespace ck
