// Page finding (pagemap_scan) and page moving (page_pipeline) against a real child process
// whose memory layout and content the test controls.
#define BOOST_TEST_MODULE test_pages
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "error.hpp"
#include "image_dir.hpp"
#include "page_pipeline.hpp"
#include "pagemap_scan.hpp"
#include "unique_fd.hpp"
#include "unique_mapping.hpp"

namespace ck {
std::ostream& operator<<(std::ostream& os, const PageRange& r) {
  return os << std::hex << "[0x" << r.start << ",0x" << r.end << ")" << std::dec;
}
}  // namespace ck

using namespace ck;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kAnonPages = 16;
constexpr uint64_t kFilePages = 8;
constexpr uint64_t kProtNonePages = 4;
// Every other page written: more ranges than one ioctl returns (4096), and more than the
// kernel's bounce buffer (512) in the second call, which leaves walk_end stale.
constexpr uint64_t kSparsePages = 10000;
constexpr uint64_t kBigPages = 1024;     // 4 MiB of mixed data, many frames

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Content the child writes at vaddr: compressible text stamped with the address, or (random)
// noise, so frames of both codecs appear.
void fill_page(unsigned char* p, uint64_t vaddr, bool random) {
  if (random) {
    uint64_t s = vaddr;
    for (uint64_t i = 0; i < kPage; i += 8) {
      const uint64_t v = splitmix(s);
      std::memcpy(p + i, &v, 8);
    }
    return;
  }
  for (uint64_t i = 0; i < kPage; ++i) p[i] = static_cast<unsigned char>("checkpoint "[i % 11]);
  std::memcpy(p + 64, &vaddr, 8);
}

unsigned char file_byte(uint64_t off) { return static_cast<unsigned char>(off * 7 + 3); }

// PAGEMAP_SCAN came with Linux 6.7: before it the scanner must fall back to /proc/PID/pagemap
// entries (the Debian arm64 kernel of the VM tests is 6.1), and from it on it must use it.
bool kernel_has_pagemap_scan() {
  utsname u{};
  BOOST_TEST_REQUIRE(uname(&u) == 0);
  unsigned major = 0, minor = 0;
  BOOST_TEST_REQUIRE(std::sscanf(u.release, "%u.%u", &major, &minor) == 2, u.release);
  return major > 6 || (major == 6 && minor >= 7);
}

// Random in 128 KiB blocks, so that whole frames of random pages exist (stored raw).
bool big_page_random(uint64_t index) { return index / 32 % 3 == 0; }

struct Layout {
  uint64_t anon = 0, file = 0, prot_none = 0, sparse = 0, big = 0, hole = 0;
};

// The child's memory:
//   anon:      pages 0-3 and 8-9 written, 6 only read (maps the zero page), 7 written with zeros
//   file:      MAP_PRIVATE of a file; pages 0-3 read, pages 2 and 5 written (COW)
//   prot_none: pages 1-2 written, then the whole region made PROT_NONE
//   sparse:    even pages written
//   big:       all pages written, every third 128 KiB block random
//   hole:      unmapped
Layout build_child_memory(const std::string& file_path) {
  Layout l;
  auto map = [](uint64_t pages, int prot, int flags, int fd) {
    void* p = mmap(nullptr, pages * kPage, prot, flags, fd, 0);
    if (p == MAP_FAILED) _exit(10);
    // Keep THP (and its huge zero page) out of the exact-range assertions.
    madvise(p, pages * kPage, MADV_NOHUGEPAGE);
    return reinterpret_cast<uint64_t>(p);
  };
  auto page = [](uint64_t base, uint64_t i) { return reinterpret_cast<unsigned char*>(base + i * kPage); };
  const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;

  l.anon = map(kAnonPages, rw, anon, -1);
  for (uint64_t i : {0, 1, 2, 3, 8, 9}) fill_page(page(l.anon, i), l.anon + i * kPage, false);
  (void)*static_cast<volatile unsigned char*>(page(l.anon, 6));
  std::memset(page(l.anon, 7), 0, kPage);

  const int fd = open(file_path.c_str(), O_RDONLY);
  if (fd < 0) _exit(11);
  l.file = map(kFilePages, rw, MAP_PRIVATE, fd);
  close(fd);
  for (uint64_t i = 0; i < 4; ++i) (void)*static_cast<volatile unsigned char*>(page(l.file, i));
  for (uint64_t i : {2, 5}) fill_page(page(l.file, i), l.file + i * kPage, false);

  l.prot_none = map(kProtNonePages, rw, anon, -1);
  for (uint64_t i : {1, 2}) fill_page(page(l.prot_none, i), l.prot_none + i * kPage, true);
  if (mprotect(page(l.prot_none, 0), kProtNonePages * kPage, PROT_NONE) != 0) _exit(12);

  l.sparse = map(kSparsePages, rw, anon, -1);
  for (uint64_t i = 0; i < kSparsePages; i += 2) fill_page(page(l.sparse, i), l.sparse + i * kPage, false);

  l.big = map(kBigPages, rw, anon, -1);
  for (uint64_t i = 0; i < kBigPages; ++i) fill_page(page(l.big, i), l.big + i * kPage, big_page_random(i));

  l.hole = map(4, rw, anon, -1);
  munmap(page(l.hole, 0), 4 * kPage);
  return l;
}

// A forked, stopped child with the layout above; killed and reaped on destruction.
class Child {
 public:
  explicit Child(const std::string& file_path) {
    int p[2];
    BOOST_REQUIRE(pipe(p) == 0);
    UniqueFd rd(p[0]), wr(p[1]);
    pid_ = fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const Layout l = build_child_memory(file_path);
      if (write(wr.get(), &l, sizeof l) != sizeof l) _exit(13);
      for (;;) pause();
    }
    wr.reset();
    unsigned char buf[sizeof(Layout)];  // a byte buffer: GCC mistakes &layout_ for its first member
    BOOST_REQUIRE(read(rd.get(), buf, sizeof buf) == static_cast<ssize_t>(sizeof buf));
    std::memcpy(&layout_, buf, sizeof buf);
    BOOST_REQUIRE(kill(pid_, SIGSTOP) == 0);
    int status = 0;
    BOOST_REQUIRE(waitpid(pid_, &status, WUNTRACED) == pid_);
    BOOST_REQUIRE(WIFSTOPPED(status));
  }
  ~Child() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  const Layout& layout() const { return layout_; }

 private:
  pid_t pid_ = -1;
  Layout layout_;
};

std::vector<PageRange> pages(uint64_t base, std::initializer_list<std::pair<uint64_t, uint64_t>> idx) {
  std::vector<PageRange> v;
  for (auto [a, b] : idx) v.push_back({base + a * kPage, base + b * kPage});
  return v;
}

// A temporary directory with the private file the child maps.
struct Fixture {
  fs::path dir;
  std::string file;
  Fixture() {
    char tmpl[] = "/tmp/ck-test-pages-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    file = (dir / "mapped").string();
    std::vector<unsigned char> content(kFilePages * kPage);
    for (size_t i = 0; i < content.size(); ++i) content[i] = file_byte(i);
    UniqueFd fd(open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
    BOOST_REQUIRE(fd);
    BOOST_REQUIRE(write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// ---- what was dumped, and where it lands locally -------------------------------------------

struct Region {
  uint64_t base = 0, pages = 0;
  UniqueMapping local;
};

// Local zero-filled copies of the child's regions; translate() maps child addresses into them.
struct LocalMemory {
  std::vector<Region> regions;
  void add(uint64_t base, uint64_t npages) {
    void* p = mmap(nullptr, npages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    BOOST_REQUIRE(p != MAP_FAILED);
    regions.push_back({base, npages, UniqueMapping(p, npages * kPage)});
  }
  Translate translate() const {
    return [this](uint64_t vaddr, uint64_t len) -> unsigned char* {
      for (const auto& r : regions)
        if (vaddr >= r.base && vaddr + len <= r.base + r.pages * kPage) return r.local.bytes() + (vaddr - r.base);
      return nullptr;
    };
  }
  const Region& at(uint64_t base) const {
    for (const auto& r : regions)
      if (r.base == base) return r;
    BOOST_FAIL("no region");
    return regions.front();
  }
};

// Spans as dump_vma builds them: present pages of anonymous memory, COW'd pages of the file
// mapping (kept even when zero: the file has other bytes there).
std::vector<PageSpan> spans_of(pid_t pid, const Layout& l) {
  PagemapScanner sc(pid);
  std::vector<PageSpan> spans;
  auto add = [&](uint64_t base, uint64_t n, ScanWant want, bool keep_zero) {
    for (auto r : sc.scan(base, base + n * kPage, want)) spans.push_back({r.start, r.end, keep_zero});
  };
  add(l.anon, kAnonPages, ScanWant::present, false);
  add(l.file, kFilePages, ScanWant::written_private, true);
  add(l.prot_none, kProtNonePages, ScanWant::present, false);
  add(l.sparse, kSparsePages, ScanWant::present, false);
  add(l.big, kBigPages, ScanWant::present, false);
  return spans;
}

LocalMemory local_for(const Layout& l) {
  LocalMemory m;
  m.add(l.anon, kAnonPages);
  m.add(l.file, kFilePages);
  m.add(l.prot_none, kProtNonePages);
  m.add(l.sparse, kSparsePages);
  m.add(l.big, kBigPages);
  return m;
}

// What a region must hold after restore: dumped pages' content, zeros elsewhere.
void check_region(const Region& r, const std::vector<uint64_t>& written, bool random_fn(uint64_t)) {
  std::vector<unsigned char> want(kPage);
  for (uint64_t i = 0; i < r.pages; ++i) {
    const bool has = std::find(written.begin(), written.end(), i) != written.end();
    if (has)
      fill_page(want.data(), r.base + i * kPage, random_fn(i));
    else
      std::fill(want.begin(), want.end(), 0);
    BOOST_TEST_CONTEXT("region 0x" << std::hex << r.base << " page " << std::dec << i)
    BOOST_TEST(std::memcmp(r.local.bytes() + i * kPage, want.data(), kPage) == 0);
  }
}

bool never(uint64_t) { return false; }
bool always(uint64_t) { return true; }
std::vector<uint64_t> every(uint64_t n, uint64_t step) {
  std::vector<uint64_t> v;
  for (uint64_t i = 0; i < n; i += step) v.push_back(i);
  return v;
}

void check_restored(const LocalMemory& m, const Layout& l) {
  check_region(m.at(l.anon), {0, 1, 2, 3, 8, 9}, never);
  check_region(m.at(l.file), {2, 5}, never);
  check_region(m.at(l.prot_none), {1, 2}, always);
  check_region(m.at(l.sparse), every(kSparsePages, 2), never);
  check_region(m.at(l.big), every(kBigPages, 1), big_page_random);
}

// A dump into a pages stream of a staging image; the file stays readable until destruction.
struct Dumped {
  img::ImageWriter writer;
  std::vector<img::PageFrame> index;
  PageDumpStats stats;
  std::string path;
  Dumped(const fs::path& dir, pid_t pid, const std::vector<PageSpan>& spans, const PageDumpOptions& opts)
      : writer((dir / "img").string()) {
    auto out = writer.open_stream("pages-1.ck", img::FileKind::pages);
    stats = dump_pages(pid, spans, out, opts, index);
    out.finish();
    path = writer.staging_path() + "/pages-1.ck";
  }
  UniqueFd open_ro() const { return UniqueFd(open(path.c_str(), O_RDONLY)); }
};

void expect_bad_image(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    BOOST_FAIL("no error");
  } catch (const Error& e) {
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(ExitCode::bad_image));
    BOOST_TEST(e.message().find(part) != std::string::npos, e.message() << " lacks " << part);
  }
}

}  // namespace

// ---- scanning ----------------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(scan, Fixture)

BOOST_AUTO_TEST_CASE(exact_ranges_both_paths) {
  Child c(file);
  const Layout& l = c.layout();
  for (bool ioctl_path : {true, false}) {
    BOOST_TEST_CONTEXT("ioctl " << ioctl_path) {
      PagemapScanner sc(c.pid(), ioctl_path);
      const auto anon_want = pages(l.anon, {{0, 4}, {7, 10}});  // 6 maps the zero page, 7 holds zeros
      BOOST_TEST(sc.scan(l.anon, l.anon + kAnonPages * kPage, ScanWant::present) == anon_want,
                 boost::test_tools::per_element());
      BOOST_TEST(sc.scan(l.anon, l.anon + kAnonPages * kPage, ScanWant::written_private) == anon_want,
                 boost::test_tools::per_element());
      BOOST_TEST(sc.uses_ioctl() == (ioctl_path && kernel_has_pagemap_scan()));

      const auto file_written = pages(l.file, {{2, 3}, {5, 6}});
      BOOST_TEST(sc.scan(l.file, l.file + kFilePages * kPage, ScanWant::written_private) == file_written,
                 boost::test_tools::per_element());
      // Read faults map neighbouring page-cache pages too (fault-around): only bounds are exact.
      const auto file_present = sc.scan(l.file, l.file + kFilePages * kPage, ScanWant::present);
      BOOST_REQUIRE(!file_present.empty());
      BOOST_TEST(file_present.front().start == l.file);
      BOOST_TEST(file_present.front().end >= l.file + 4 * kPage);
      BOOST_TEST(file_present.back().end <= l.file + kFilePages * kPage);

      const auto pn = pages(l.prot_none, {{1, 3}});
      BOOST_TEST(sc.scan(l.prot_none, l.prot_none + kProtNonePages * kPage, ScanWant::present) == pn,
                 boost::test_tools::per_element());
      BOOST_TEST(sc.scan(l.prot_none, l.prot_none + kProtNonePages * kPage, ScanWant::written_private) == pn,
                 boost::test_tools::per_element());

      std::vector<PageRange> sparse;
      for (uint64_t i = 0; i < kSparsePages; i += 2) sparse.push_back({l.sparse + i * kPage, l.sparse + (i + 1) * kPage});
      BOOST_TEST(sc.scan(l.sparse, l.sparse + kSparsePages * kPage, ScanWant::present) == sparse);
      // 600 ranges in one call: the kernel stops and resumes its walk internally.
      const std::vector<PageRange> part(sparse.begin(), sparse.begin() + 600);
      BOOST_TEST(sc.scan(l.sparse, l.sparse + 1200 * kPage, ScanWant::present) == part);

      BOOST_TEST(sc.scan(l.hole, l.hole + 4 * kPage, ScanWant::present).empty());
      BOOST_TEST(sc.scan(l.big, l.big, ScanWant::present).empty());
      BOOST_TEST(sc.scan(l.big, l.big + kBigPages * kPage, ScanWant::present) == pages(l.big, {{0, kBigPages}}),
                 boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(ioctl_and_fallback_agree_over_all_test_mappings) {
  Child c(file);
  const Layout& l = c.layout();
  PagemapScanner fast(c.pid()), slow(c.pid(), false);
  // Everything the test mapped and whatever lies between (the entry reader is slow on vast holes).
  const uint64_t lo = std::min({l.anon, l.file, l.prot_none, l.sparse, l.big, l.hole});
  const uint64_t hi = std::max({l.anon + kAnonPages * kPage, l.file + kFilePages * kPage,
                                l.prot_none + kProtNonePages * kPage, l.sparse + kSparsePages * kPage,
                                l.big + kBigPages * kPage, l.hole + 4 * kPage});
  BOOST_TEST_REQUIRE(hi - lo < (1ull << 32));
  for (ScanWant w : {ScanWant::present, ScanWant::written_private}) {
    const auto a = fast.scan(lo, hi, w);
    const auto b = slow.scan(lo, hi, w);
    BOOST_TEST(a == b);
    BOOST_TEST(!a.empty());
  }
  BOOST_TEST(fast.uses_ioctl() == kernel_has_pagemap_scan());
  BOOST_TEST(!slow.uses_ioctl());
}

BOOST_AUTO_TEST_CASE(errors) {
  BOOST_CHECK_THROW(PagemapScanner(999999999), Error);
  Child c(file);
  PagemapScanner sc(c.pid());
  try {
    sc.scan(c.layout().anon + 1, c.layout().anon + kPage, ScanWant::present);
    BOOST_FAIL("no error");
  } catch (const Error& e) {
    BOOST_TEST(e.message().find("pid " + std::to_string(c.pid())) != std::string::npos, e.message());
    BOOST_TEST(e.message().find("not page aligned") != std::string::npos, e.message());
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- dump and restore ------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(pipeline, Fixture)

BOOST_AUTO_TEST_CASE(round_trip_zstd_many_frames) {
  Child c(file);
  const Layout& l = c.layout();
  const auto spans = spans_of(c.pid(), l);
  PageDumpOptions opts;
  opts.threads = 3;              // more workers than cores: ordering must still hold
  opts.frame_bytes = 64 * 1024;  // many frames, several runs per frame in the sparse region
  Dumped d(dir, c.pid(), spans, opts);

  const uint64_t data_pages = 6 + 2 + 2 + kSparsePages / 2 + kBigPages;
  BOOST_TEST(d.stats.pages_dumped == data_pages);
  BOOST_TEST(d.stats.zero_pages == 1u);  // anon page 7
  BOOST_TEST(d.stats.raw_bytes == data_pages * kPage);
  BOOST_TEST(d.stats.frames == d.index.size());
  BOOST_REQUIRE(!d.index.empty());
  BOOST_TEST(d.index.front().offset == img::kFileHeaderSize);
  bool saw_raw = false, saw_zstd = false, saw_multi_run = false;
  uint64_t written = 0;
  for (size_t i = 0; i < d.index.size(); ++i) {
    const auto& f = d.index[i];
    if (i > 0) BOOST_TEST(f.offset == d.index[i - 1].offset + d.index[i - 1].comp_len);
    saw_raw |= f.codec == img::Codec::raw;
    saw_zstd |= f.codec == img::Codec::zstd;
    saw_multi_run |= f.runs.size() > 1;
    written += f.comp_len;
  }
  BOOST_TEST(written == d.stats.written_bytes);
  BOOST_TEST(saw_raw);   // frames of random big pages don't shrink
  BOOST_TEST(saw_zstd);
  BOOST_TEST(saw_multi_run);
  BOOST_TEST(d.stats.written_bytes < d.stats.raw_bytes);

  for (unsigned threads : {1u, 0u, 4u}) {
    LocalMemory m = local_for(l);
    UniqueFd fd = d.open_ro();
    const auto rs = restore_pages(fd.get(), d.index, m.translate(), threads);
    BOOST_TEST(rs.raw_bytes == d.stats.raw_bytes);
    check_restored(m, l);
  }
}

BOOST_AUTO_TEST_CASE(round_trip_level0_raw) {
  Child c(file);
  const Layout& l = c.layout();
  PageDumpOptions opts;
  opts.level = 0;
  opts.frame_bytes = 1u << 20;
  Dumped d(dir, c.pid(), spans_of(c.pid(), l), opts);
  for (const auto& f : d.index) {
    BOOST_TEST((f.codec == img::Codec::raw));
    BOOST_TEST(f.comp_len == f.raw_len);
  }
  BOOST_TEST(d.stats.written_bytes == d.stats.raw_bytes);
  LocalMemory m = local_for(l);
  UniqueFd fd = d.open_ro();
  restore_pages(fd.get(), d.index, m.translate());
  check_restored(m, l);
}

BOOST_AUTO_TEST_CASE(keep_zero_spans_keep_zero_pages) {
  Child c(file);
  const Layout& l = c.layout();
  std::vector<PageSpan> spans{{l.anon + 6 * kPage, l.anon + 10 * kPage, true}};
  Dumped d(dir, c.pid(), spans, PageDumpOptions{});
  BOOST_TEST(d.stats.pages_dumped == 4u);
  BOOST_TEST(d.stats.zero_pages == 0u);
  BOOST_REQUIRE(d.index.size() == 1u);
  BOOST_REQUIRE(d.index[0].runs.size() == 1u);
  BOOST_TEST(d.index[0].runs[0].vaddr == l.anon + 6 * kPage);
  BOOST_TEST(d.index[0].runs[0].npages == 4u);
}

BOOST_AUTO_TEST_CASE(all_zero_spans_write_nothing) {
  Child c(file);
  const Layout& l = c.layout();
  std::vector<PageSpan> spans{{l.anon + 4 * kPage, l.anon + 8 * kPage, false}};
  Dumped d(dir, c.pid(), spans, PageDumpOptions{});
  BOOST_TEST(d.index.empty());
  BOOST_TEST(d.stats.zero_pages == 4u);
  BOOST_TEST(d.stats.written_bytes == 0u);
}

BOOST_AUTO_TEST_CASE(unreadable_address_names_pid_and_address) {
  Child c(file);
  const Layout& l = c.layout();
  // Good frames around the bad one, on several workers: the error must surface, threads joined.
  std::vector<PageSpan> spans{{l.big, l.big + kBigPages * kPage, false}, {l.hole, l.hole + 2 * kPage, false},
                              {l.anon, l.anon + 4 * kPage, false}};
  PageDumpOptions opts;
  opts.threads = 2;
  opts.frame_bytes = 256 * 1024;
  try {
    Dumped d(dir, c.pid(), spans, opts);
    BOOST_FAIL("no error");
  } catch (const Error& e) {
    char addr[32];
    std::snprintf(addr, sizeof addr, "0x%llx", static_cast<unsigned long long>(l.hole));
    const std::string want = "read pid " + std::to_string(c.pid()) + " memory at " + addr + ": ";
    BOOST_TEST(e.message().find(want) == 0u, e.message() << " vs " << want);
  }
  const std::vector<PageSpan> unaligned{{l.anon + 1, l.anon + kPage, false}};
  BOOST_CHECK_THROW(Dumped(dir, c.pid(), unaligned, opts), Error);
}

BOOST_AUTO_TEST_CASE(write_failure_joins_workers) {
  Child c(file);
  const Layout& l = c.layout();
  img::ImageWriter w((dir / "img").string());
  auto out = w.open_stream("pages-1.ck", img::FileKind::pages);
  out.finish();  // every later write throws: the writer side fails while workers run
  PageDumpOptions opts;
  opts.threads = 2;
  opts.frame_bytes = 64 * 1024;
  std::vector<img::PageFrame> index;
  BOOST_CHECK_THROW(dump_pages(c.pid(), spans_of(c.pid(), l), out, opts, index), Error);
}

BOOST_AUTO_TEST_CASE(damaged_frames_are_bad_image) {
  Child c(file);
  const Layout& l = c.layout();
  PageDumpOptions opts;
  opts.frame_bytes = 64 * 1024;
  Dumped d(dir, c.pid(), spans_of(c.pid(), l), opts);
  // A zstd frame in the middle, so that the damage is found among many good frames.
  size_t k = d.index.size() / 2;
  while (k < d.index.size() && d.index[k].codec != img::Codec::zstd) ++k;
  BOOST_REQUIRE(k < d.index.size());
  const auto& f = d.index[k];
  const std::string where = "pages frame " + std::to_string(k) + " at offset " + std::to_string(f.offset) + ": ";

  LocalMemory m = local_for(l);
  {  // a wrong raw_len
    auto idx = d.index;
    idx[k].raw_len += kPage;
    UniqueFd fd = d.open_ro();
    expect_bad_image([&] { restore_pages(fd.get(), idx, m.translate(), 2); }, where);
  }
  {  // runs pointing nowhere we restore
    auto idx = d.index;
    idx[k].runs[0].vaddr = l.hole;
    UniqueFd fd = d.open_ro();
    expect_bad_image([&] { restore_pages(fd.get(), idx, m.translate(), 2); }, where);
  }
  {  // flipped bytes inside the frame: zstd or its checksum notices
    UniqueFd rw(open(d.path.c_str(), O_RDWR));
    BOOST_REQUIRE(rw);
    std::vector<unsigned char> buf(f.comp_len);
    BOOST_REQUIRE(pread(rw.get(), buf.data(), buf.size(), f.offset) == static_cast<ssize_t>(buf.size()));
    for (size_t i = buf.size() / 2; i < buf.size() / 2 + 16; ++i) buf[i] ^= 0x5a;
    BOOST_REQUIRE(pwrite(rw.get(), buf.data(), buf.size(), f.offset) == static_cast<ssize_t>(buf.size()));
    expect_bad_image([&] { restore_pages(rw.get(), d.index, m.translate(), 2); }, where);
    // The last frame cut short.
    const auto& last = d.index.back();
    BOOST_REQUIRE(ftruncate(rw.get(), static_cast<off_t>(last.offset + last.comp_len - 1)) == 0);
    auto tail = std::vector<img::PageFrame>{last};
    expect_bad_image([&] { restore_pages(rw.get(), tail, m.translate(), 1); }, "pages frame 0 at offset");
    expect_bad_image([&] { restore_pages(rw.get(), d.index, m.translate(), 2); }, "pages frame ");
  }
}

BOOST_AUTO_TEST_CASE(file_content_round_trip) {
  // Mixed content over several chunks, with a short tail.
  const uint64_t len = 9u * 1024 * 1024 + 1234;
  std::vector<unsigned char> content(len);
  uint64_t s = 42;
  for (uint64_t i = 0; i < len; i += 8) {
    const uint64_t v = (i / (1 << 20)) % 2 ? splitmix(s) : i / 64;
    std::memcpy(content.data() + i, &v, std::min<uint64_t>(8, len - i));
  }
  const std::string src = (dir / "deleted").string(), dst = (dir / "restored").string();
  {
    UniqueFd fd(open(src.c_str(), O_WRONLY | O_CREAT, 0600));
    BOOST_REQUIRE(write(fd.get(), content.data(), len) == static_cast<ssize_t>(len));
  }
  img::ImageWriter w((dir / "img").string());
  auto out = w.open_stream("file-0.ck", img::FileKind::file_content);
  {
    UniqueFd fd(open(src.c_str(), O_RDONLY));
    write_file_content(fd.get(), len, out);
  }
  out.finish();
  const std::string image = w.staging_path() + "/file-0.ck";
  UniqueFd in(open(image.c_str(), O_RDONLY));
  BOOST_REQUIRE(lseek(in.get(), img::kFileHeaderSize, SEEK_SET) == static_cast<off_t>(img::kFileHeaderSize));
  {
    UniqueFd d(open(dst.c_str(), O_RDWR | O_CREAT, 0600));
    read_file_content(in.get(), d.get());
    std::vector<unsigned char> back(len + 1);
    BOOST_REQUIRE(pread(d.get(), back.data(), back.size(), 0) == static_cast<ssize_t>(len));
    back.resize(len);
    BOOST_TEST((back == content));
  }
  {  // damage in the first chunk's zstd data
    UniqueFd rw(open(image.c_str(), O_RDWR));
    unsigned char junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    BOOST_REQUIRE(pwrite(rw.get(), junk, sizeof junk, img::kFileHeaderSize + 100) == 8);
    BOOST_REQUIRE(lseek(rw.get(), img::kFileHeaderSize, SEEK_SET) >= 0);
    UniqueFd d(open(dst.c_str(), O_WRONLY | O_TRUNC));
    expect_bad_image([&] { read_file_content(rw.get(), d.get()); }, "file content chunk 0");
  }
  {  // a source shorter than announced
    UniqueFd fd(open(src.c_str(), O_RDONLY));
    auto out2 = w.open_stream("file-1.ck", img::FileKind::file_content);
    BOOST_CHECK_THROW(write_file_content(fd.get(), len + 10, out2), Error);
  }
}

// Memory of this very process (process_vm_readv reads our own pages as well): regions of
// several MiB, which the forked child's layout does not have.
struct OwnRegion {
  UniqueMapping m;
  explicit OwnRegion(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    BOOST_REQUIRE(p != MAP_FAILED);
    m = UniqueMapping(p, bytes);
  }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(m.get()); }
  Translate translate_into(const UniqueMapping& dst) const {
    return [this, &dst](uint64_t vaddr, uint64_t len) -> unsigned char* {
      return vaddr >= addr() && vaddr + len <= addr() + m.size() ? dst.bytes() + (vaddr - addr()) : nullptr;
    };
  }
};

uint64_t file_xxh3(const std::string& path, uint64_t& size) {
  UniqueFd fd(open(path.c_str(), O_RDONLY));
  BOOST_REQUIRE(fd);
  std::vector<unsigned char> all;
  unsigned char buf[65536];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) all.insert(all.end(), buf, buf + n);
  size = all.size();
  return XXH3_64bits(all.data(), all.size());
}

BOOST_AUTO_TEST_CASE(incompressible_frames_skip_zstd) {
  // 8 MiB of random bytes, then 4 MiB of text, then 4 MiB random but for one text page in
  // the middle of the frame's samples: frames of 4 MiB.
  constexpr size_t kMiB = 1u << 20;
  OwnRegion r(16 * kMiB);
  uint64_t seed = 7;
  for (size_t i = 0; i < 16 * kMiB; i += 8) {
    const uint64_t v = splitmix(seed);
    std::memcpy(r.m.bytes() + i, &v, 8);
  }
  for (size_t i = 8 * kMiB; i < 12 * kMiB; ++i) r.m.bytes()[i] = static_cast<unsigned char>("checkpoint "[i % 11]);
  for (size_t i = 14 * kMiB; i < 14 * kMiB + 128 * 1024; ++i) r.m.bytes()[i] = 'x';
  const std::vector<PageSpan> spans{{r.addr(), r.addr() + 16 * kMiB, false}};
  Dumped d(dir, getpid(), spans, PageDumpOptions{});
  BOOST_REQUIRE(d.index.size() == 4u);
  BOOST_TEST((d.index[0].codec == img::Codec::raw));
  BOOST_TEST((d.index[1].codec == img::Codec::raw));
  BOOST_TEST((d.index[2].codec == img::Codec::zstd));
  BOOST_TEST((d.index[3].codec == img::Codec::zstd));  // one sample compressible: zstd runs
  BOOST_TEST(d.stats.raw_frames == 2u);
  BOOST_TEST(d.stats.frames == 4u);
  UniqueMapping dst(mmap(nullptr, 16 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 16 * kMiB);
  UniqueFd fd = d.open_ro();
  restore_pages(fd.get(), d.index, r.translate_into(dst));
  BOOST_TEST(std::memcmp(dst.bytes(), r.m.bytes(), 16 * kMiB) == 0);
}

BOOST_AUTO_TEST_CASE(huge_frame_request_is_capped) {
  constexpr size_t kMiB = 1u << 20;
  OwnRegion r(40 * kMiB);
  for (size_t i = 0; i < 40 * kMiB; i += kPage) {
    const size_t stamp = i + 1;  // no page all zeros: every one is dumped
    std::memcpy(r.m.bytes() + i, &stamp, sizeof stamp);
  }
  PageDumpOptions opts;
  opts.frame_bytes = size_t{1} << 30;
  opts.threads = 64;  // more workers than the buffer budget has frames for
  Dumped d(dir, getpid(), {{r.addr(), r.addr() + 40 * kMiB, false}}, opts);
  BOOST_REQUIRE(d.index.size() == 2u);
  BOOST_TEST(d.index[0].raw_len == 32 * kMiB);
  BOOST_TEST(d.index[1].raw_len == 8 * kMiB);
  UniqueMapping dst(mmap(nullptr, 40 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 40 * kMiB);
  UniqueFd fd = d.open_ro();
  restore_pages(fd.get(), d.index, r.translate_into(dst), 3);
  BOOST_TEST(std::memcmp(dst.bytes(), r.m.bytes(), 40 * kMiB) == 0);
}

BOOST_AUTO_TEST_CASE(restore_checks_the_whole_file) {
  Child c(file);
  const Layout& l = c.layout();
  PageDumpOptions opts;
  opts.frame_bytes = 64 * 1024;
  Dumped d(dir, c.pid(), spans_of(c.pid(), l), opts);
  for (uint64_t first_max : {uint64_t{0}, uint64_t{1} << 40}) {  // hashed meanwhile / first
    FileCheck check;
    check.path = d.path;
    check.xxh3 = file_xxh3(d.path, check.size);
    check.hash_first_max = first_max;
    {
      LocalMemory m = local_for(l);
      UniqueFd fd = d.open_ro();
      restore_pages(fd.get(), d.index, m.translate(), 2, &check);
      check_restored(m, l);
    }
    // A byte flipped inside a raw frame: no frame checksum covers it, only the file's.
    size_t k = 0;
    while (k < d.index.size() && d.index[k].codec != img::Codec::raw) ++k;
    BOOST_REQUIRE(k < d.index.size());
    UniqueFd rw(open(d.path.c_str(), O_RDWR));
    unsigned char b = 0;
    const off_t at = static_cast<off_t>(d.index[k].offset + 100);
    BOOST_REQUIRE(pread(rw.get(), &b, 1, at) == 1);
    b ^= 1;
    BOOST_REQUIRE(pwrite(rw.get(), &b, 1, at) == 1);
    {
      LocalMemory m = local_for(l);
      restore_pages(rw.get(), d.index, m.translate(), 2);  // unnoticed without the check
      expect_bad_image([&] { restore_pages(rw.get(), d.index, m.translate(), 2, &check); }, "checksum mismatch");
      expect_bad_image([&] { restore_pages(rw.get(), d.index, m.translate(), 1, &check); }, d.path);
    }
    FileCheck longer = check;
    longer.size += 1;
    LocalMemory m = local_for(l);
    expect_bad_image([&] { restore_pages(rw.get(), d.index, m.translate(), 2, &longer); }, "truncated");
    b ^= 1;  // repaired for the next round
    BOOST_REQUIRE(pwrite(rw.get(), &b, 1, at) == 1);
  }
}

BOOST_AUTO_TEST_CASE(file_content_check) {
  const uint64_t len = 5u * 1024 * 1024 + 77;
  std::vector<unsigned char> content(len);
  for (uint64_t i = 0; i < len; ++i) content[i] = static_cast<unsigned char>(i * 31 / 4096);
  const std::string src = (dir / "deleted").string(), dst = (dir / "restored").string();
  {
    UniqueFd fd(open(src.c_str(), O_WRONLY | O_CREAT, 0600));
    BOOST_REQUIRE(write(fd.get(), content.data(), len) == static_cast<ssize_t>(len));
  }
  img::ImageWriter w((dir / "img").string());
  auto out = w.open_stream("file-0.ck", img::FileKind::file_content);
  {
    UniqueFd fd(open(src.c_str(), O_RDONLY));
    write_file_content(fd.get(), len, out);
  }
  out.finish();
  const std::string image = w.staging_path() + "/file-0.ck";
  FileCheck check;
  check.path = image;
  check.xxh3 = file_xxh3(image, check.size);
  UniqueFd in(open(image.c_str(), O_RDONLY));
  {
    BOOST_REQUIRE(lseek(in.get(), img::kFileHeaderSize, SEEK_SET) >= 0);
    UniqueFd d(open(dst.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
    read_file_content(in.get(), d.get(), &check);
    struct stat st {};
    BOOST_REQUIRE(fstat(d.get(), &st) == 0);
    BOOST_TEST(static_cast<uint64_t>(st.st_size) == len);
  }
  FileCheck wrong = check;
  wrong.xxh3 ^= 1;
  BOOST_REQUIRE(lseek(in.get(), img::kFileHeaderSize, SEEK_SET) >= 0);
  UniqueFd d(open(dst.c_str(), O_WRONLY | O_TRUNC));
  expect_bad_image([&] { read_file_content(in.get(), d.get(), &wrong); }, "checksum mismatch");
}

BOOST_AUTO_TEST_SUITE_END()
