// Collecting the address space of a stopped process: its VMAs as image records, and the
// spans of memory whose contents go into the image.
#pragma once

#include <sys/types.h>

#include <vector>

#include "dump_fd.hpp"
#include "image_records.hpp"
#include "page_pipeline.hpp"

namespace ck {

struct AddressSpace {
  std::vector<img::Vma> vmas;      // in address order, vsyscall excluded
  std::vector<PageSpan> spans;     // what dump_pages must read
  uint64_t vdso_start = 0, vdso_end = 0;
};

// Throws Error(unsupported) naming the first mapping ck cannot restore (device mappings,
// SysV shm, shared mappings of deleted files, userfaultfd-registered ranges).
AddressSpace collect_address_space(pid_t pid, FileTable& files);

}  // namespace ck
