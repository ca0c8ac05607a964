#include "pagemap_scan.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/fs.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "error.hpp"
#include "hex.hpp"
#include "log.hpp"
#include "unique_mapping.hpp"

// The UAPI of PAGEMAP_SCAN (Linux 6.7), for build hosts whose headers predate it.
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
struct page_region {
  __u64 start;
  __u64 end;
  __u64 categories;
};
struct pm_scan_arg {
  __u64 size;
  __u64 flags;
  __u64 start;
  __u64 end;
  __u64 walk_end;
  __u64 vec;
  __u64 vec_len;
  __u64 max_pages;
  __u64 category_inverted;
  __u64 category_mask;
  __u64 category_anyof_mask;
  __u64 return_mask;
};
#endif

namespace ck {
namespace {

constexpr uint64_t kPmPresent = 1ull << 63;
constexpr uint64_t kPmSwapped = 1ull << 62;
constexpr uint64_t kPmFile = 1ull << 61;  // file page or shared anonymous (shmem) page
constexpr uint64_t kPmPfnMask = (1ull << 55) - 1;

// Room for this many separate ranges per ioctl; the loop continues from walk_end when it fills.
constexpr size_t kRegionsPerCall = 4096;
// Entries per pread of the fallback: 512 KiB of entries covers 256 MiB of address space.
constexpr size_t kEntriesPerRead = 64 * 1024;

uint64_t page_size() {
  static const uint64_t ps = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return ps;
}

std::string where(pid_t pid, uint64_t addr) {
  return "scan pid " + std::to_string(pid) + " pagemap at " + hex(addr);
}

// Appends [start,end) to a sorted range list, merging with the last range when they touch
// (or overlap: a range cut at the end of one ioctl call continues in the next).
void append_range(std::vector<PageRange>& out, uint64_t start, uint64_t end) {
  if (!out.empty() && start <= out.back().end)
    out.back().end = std::max(out.back().end, end);
  else
    out.push_back({start, end});
}

// The zero page has one PFN system-wide; the entry reader can only tell "reads as zeros,
// never written" pages by that PFN. Learned from a page of our own that maps it. PFNs are
// hidden without CAP_SYS_ADMIN: then 0, and such pages are kept (the dump drops them anyway
// when it finds them all zero).
uint64_t find_zero_pfn() {
  const uint64_t ps = page_size();
  void* p = ::mmap(nullptr, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 0;
  UniqueMapping page(p, ps);
  // A read fault on untouched private anonymous memory maps the shared zero page.
  (void)*static_cast<volatile const unsigned char*>(page.get());
  UniqueFd fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  uint64_t entry = 0;
  const off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / ps * sizeof entry);
  if (::pread(fd.get(), &entry, sizeof entry, off) != sizeof entry) return 0;
  return (entry & kPmPresent) ? (entry & kPmPfnMask) : 0;
}

bool entry_wanted(uint64_t e, ScanWant want, uint64_t zero_pfn) {
  if (e & kPmPresent) {
    if (zero_pfn != 0 && (e & kPmPfnMask) == zero_pfn) return false;
  } else if (!(e & kPmSwapped)) {
    return false;
  }
  return want == ScanWant::present || !(e & kPmFile);
}

}  // namespace

struct PagemapScanner::Buffers {
  std::vector<page_region> regions = std::vector<page_region>(kRegionsPerCall);
};

PagemapScanner::~PagemapScanner() = default;
PagemapScanner::PagemapScanner(PagemapScanner&&) noexcept = default;
PagemapScanner& PagemapScanner::operator=(PagemapScanner&&) noexcept = default;

PagemapScanner::PagemapScanner(pid_t pid, bool allow_ioctl) : pid_(pid), use_ioctl_(allow_ioctl) {
  const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_) throw_errno("open " + path);
  if (!use_ioctl_) zero_pfn_ = find_zero_pfn();
}

std::vector<PageRange> PagemapScanner::scan(uint64_t start, uint64_t end, ScanWant want) {
  const uint64_t ps = page_size();
  if (start % ps != 0 || end % ps != 0 || start > end)
    throw Error(where(pid_, start) + ": range " + hex(start) + "-" + hex(end) + " is not page aligned");
  std::vector<PageRange> out;
  if (start == end) return out;
  if (use_ioctl_ && scan_ioctl(start, end, want, out)) return out;
  scan_entries(start, end, want, out);
  return out;
}

bool PagemapScanner::scan_ioctl(uint64_t start, uint64_t end, ScanWant want, std::vector<PageRange>& out) {
  // 96 KiB, allocated once: zeroing a fresh one for each of 10 000 VMAs cost more than the
  // ioctls themselves.
  if (!buf_) buf_ = std::make_unique<Buffers>();
  std::vector<page_region>& vec = buf_->regions;
  // A page matches when ((categories ^ inverted) & mask) == mask and it has any of anyof:
  // so "inverted+mask" encode the categories that must be absent.
  uint64_t absent = PAGE_IS_PFNZERO;
  if (want == ScanWant::written_private) absent |= PAGE_IS_FILE;
  pm_scan_arg arg{};
  arg.size = sizeof arg;
  arg.vec = reinterpret_cast<uintptr_t>(vec.data());
  arg.vec_len = vec.size();
  arg.category_inverted = absent;
  arg.category_mask = absent;
  arg.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
  arg.return_mask = 0;  // no categories reported, so the kernel merges present and swapped runs

  uint64_t pos = start;
  while (pos < end) {
    arg.start = pos;
    arg.end = end;
    arg.walk_end = 0;
    const int n = ::ioctl(fd_.get(), PAGEMAP_SCAN, &arg);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (!ioctl_proven_ && (err == ENOTTY || err == EINVAL)) {
        CK_LOG(1, "PAGEMAP_SCAN unavailable (%s), reading /proc/%d/pagemap entries", std::strerror(err), pid_);
        use_ioctl_ = false;
        zero_pfn_ = find_zero_pfn();
        out.clear();
        return false;
      }
      throw_errno(where(pid_, pos), err);
    }
    ioctl_proven_ = true;
    for (int i = 0; i < n; ++i) append_range(out, vec[i].start, vec[i].end);
    // Only a full output vector stops the walk early. walk_end alone cannot tell: the kernel
    // (6.7..6.18 at least) leaves a stale walk_end from an internal stop-and-resume of its
    // 512-entry bounce buffer even when the walk went on to the end; trusting it re-reports
    // ranges out of order.
    if (static_cast<size_t>(n) < vec.size()) break;
    const uint64_t next = std::max<uint64_t>(arg.walk_end, vec[n - 1].end);
    if (next <= pos) throw Error(where(pid_, pos) + ": PAGEMAP_SCAN made no progress");
    pos = next;
  }
  return true;
}

void PagemapScanner::scan_entries(uint64_t start, uint64_t end, ScanWant want, std::vector<PageRange>& out) {
  const uint64_t ps = page_size();
  std::vector<uint64_t> entries(kEntriesPerRead);
  for (uint64_t pos = start; pos < end;) {
    const uint64_t count = std::min<uint64_t>((end - pos) / ps, entries.size());
    const off_t off = static_cast<off_t>(pos / ps * sizeof(uint64_t));
    const ssize_t got = ::pread(fd_.get(), entries.data(), count * sizeof(uint64_t), off);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_errno(where(pid_, pos));
    }
    // Past the top of the user address space the kernel returns nothing more.
    if (got == 0) break;
    const uint64_t n = static_cast<uint64_t>(got) / sizeof(uint64_t);
    if (n == 0) throw Error(where(pid_, pos) + ": short pagemap read");
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t addr = pos + i * ps;
      if (entry_wanted(entries[i], want, zero_pfn_)) append_range(out, addr, addr + ps);
    }
    pos += n * ps;
  }
}

}  // namespace ck
