// Which pages of a process hold data, so that the dump reads and stores only those.
// Uses the PAGEMAP_SCAN ioctl (Linux >= 6.7), which returns whole ranges per call, and falls
// back to reading the 8-byte entries of /proc/PID/pagemap on older kernels.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "unique_fd.hpp"

namespace ck {

struct PageRange {
  uint64_t start = 0, end = 0;
  bool operator==(const PageRange&) const = default;
};

enum class ScanWant {
  present,          // present or swapped
  written_private,  // for MAP_PRIVATE file mappings: only pages that are anonymous (COW'd),
                    // i.e. differ from the file; clean pages come back from the file
};

class PagemapScanner {  // RAII over /proc/PID/pagemap
 public:
  // allow_ioctl=false forces the /proc/PID/pagemap entry reader (tests, old-kernel behaviour).
  explicit PagemapScanner(pid_t pid, bool allow_ioctl = true);
  ~PagemapScanner();
  PagemapScanner(PagemapScanner&&) noexcept;
  PagemapScanner& operator=(PagemapScanner&&) noexcept;

  // Page ranges of [start,end) (page aligned) that hold data: present or swapped, minus pages
  // mapping the shared zero page. Merged, sorted. Throws Error naming pid and address.
  std::vector<PageRange> scan(uint64_t start, uint64_t end, ScanWant want);

  bool uses_ioctl() const { return use_ioctl_; }

 private:
  // False when the kernel has no PAGEMAP_SCAN (then use_ioctl_ is cleared for good).
  bool scan_ioctl(uint64_t start, uint64_t end, ScanWant want, std::vector<PageRange>& out);
  void scan_entries(uint64_t start, uint64_t end, ScanWant want, std::vector<PageRange>& out);

  struct Buffers;  // the ioctl's output vector, reused by every call (a dump scans per VMA)

  pid_t pid_;
  UniqueFd fd_;
  std::unique_ptr<Buffers> buf_;
  bool use_ioctl_;
  bool ioctl_proven_ = false;  // once one call worked, EINVAL is a real error, not "unsupported"
  uint64_t zero_pfn_ = 0;      // PFN of the shared zero page for the entry reader; 0 = unknown
};

}  // namespace ck
