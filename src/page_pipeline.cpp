#include "page_pipeline.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "error.hpp"
#include "hex.hpp"
#include "fault.hpp"
#include "log.hpp"

namespace ck {
namespace {

using Clock = std::chrono::steady_clock;
using Run = img::PageFrame::Run;

// process_vm_readv takes at most this many remote iovecs per call (UIO_MAXIOV).
constexpr size_t kMaxIov = 1024;
// A frame's raw_len is a u32 in the image; larger frames would not compress better anyway
// and would only make the pipeline's buffers (kPipelineBudget) hold fewer of them.
constexpr size_t kMaxFrameBytes = 32u << 20;
// All frame buffers of one dump stay under this, however many CPUs compress: ckdump runs
// beside the job it checkpoints, on machines with hundreds of cores as well.
constexpr size_t kPipelineBudget = 128u << 20;
// Frames are first probed with zstd on this many bytes at three places; see worth_compressing.
constexpr size_t kProbeBytes = 64u << 10;
// Reads of the whole-file check in restore_pages.
constexpr size_t kHashChunk = 4u << 20;
// Chunks of deleted-file content; a header claiming more is damage, not data.
constexpr uint32_t kContentChunk = 4u << 20;
constexpr uint32_t kMaxContentChunk = 64u << 20;

uint64_t page_size() {
  static const uint64_t ps = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return ps;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

unsigned worker_count(unsigned requested, size_t jobs) {
  unsigned n = requested != 0 ? requested : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(n, jobs)));
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
using CCtxPtr = std::unique_ptr<ZSTD_CCtx, CCtxFree>;
using DCtxPtr = std::unique_ptr<ZSTD_DCtx, DCtxFree>;

// Frames carry their own checksum so that restore notices damage frame by frame, even when
// only part of the pages file is read.
CCtxPtr make_cctx(int level) {
  CCtxPtr c(ZSTD_createCCtx());
  if (!c) throw Error("zstd: out of memory");
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1);
  // Level 1 (the default) looks for matches of 6 bytes or more. Memory of numerical programs
  // is mostly doubles, whose neighbours share their sign, exponent and leading mantissa bytes:
  // 4-byte matches find those. Measured on the smooth benchmark field: 0.08 % smaller for 3 %
  // more compression time, which keeps ck's image below zstd -1's own.
  if (level == 1) ZSTD_CCtx_setParameter(c.get(), ZSTD_c_minMatch, 4);
  return c;
}

DCtxPtr make_dctx() {
  DCtxPtr d(ZSTD_createDCtx());
  if (!d) throw Error("zstd: out of memory");
  return d;
}

// Buffers are written in full before they are read, so skip the zero fill of make_unique.
std::unique_ptr<unsigned char[]> raw_buffer(size_t len) {
  return std::unique_ptr<unsigned char[]>(new unsigned char[len]);
}

// Joins its threads on every exit path (also when the owner unwinds with an exception), after
// `stop` has told them to give up, so an error never ends in std::terminate.
class ThreadGroup {
 public:
  explicit ThreadGroup(std::function<void()> stop) : stop_(std::move(stop)) {}
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  ~ThreadGroup() { join(); }
  template <typename F>
  void spawn(F&& f) {
    threads_.emplace_back(std::forward<F>(f));
  }
  void join() {
    if (threads_.empty()) return;
    stop_();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::function<void()> stop_;
  std::vector<std::thread> threads_;
};

// Keeps the first exception of several workers, to rethrow on the calling thread.
class FirstError {
 public:
  void set(std::exception_ptr e) {
    std::lock_guard lk(mu_);
    if (!err_) err_ = std::move(e);
    failed_.store(true, std::memory_order_relaxed);
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() {
    std::lock_guard lk(mu_);
    if (err_) std::rethrow_exception(err_);
  }

 private:
  std::mutex mu_;
  std::exception_ptr err_;
  std::atomic<bool> failed_{false};
};

// ---- reading target memory ---------------------------------------------------------------

// A piece of one span that belongs to one frame.
struct Piece {
  uint64_t vaddr = 0;
  uint64_t len = 0;
  bool keep_zero = false;
};

struct FramePlan {
  std::vector<Piece> pieces;
  uint64_t bytes = 0;
};

// Cuts the spans into frames of at most frame_bytes up front, so that workers can read and
// compress any frame on their own and the writer only has to keep the order.
std::vector<FramePlan> plan_frames(pid_t pid, const std::vector<PageSpan>& spans, size_t frame_bytes) {
  const uint64_t ps = page_size();
  std::vector<FramePlan> plan;
  FramePlan cur;
  for (const PageSpan& s : spans) {
    if (s.start % ps != 0 || s.end % ps != 0 || s.start > s.end)
      throw Error("dump pages of pid " + std::to_string(pid) + ": span " + hex(s.start) + "-" + hex(s.end) +
                  " is not page aligned");
    for (uint64_t pos = s.start; pos < s.end;) {
      const uint64_t take = std::min<uint64_t>(s.end - pos, frame_bytes - cur.bytes);
      cur.pieces.push_back({pos, take, s.keep_zero});
      cur.bytes += take;
      pos += take;
      if (cur.bytes == frame_bytes) plan.push_back(std::exchange(cur, {}));
    }
  }
  if (cur.bytes != 0) plan.push_back(std::move(cur));
  return plan;
}

[[noreturn]] void throw_read_error(pid_t pid, uint64_t addr, int err) {
  throw_errno("read pid " + std::to_string(pid) + " memory at " + hex(addr), err);
}

// /proc/PID/mem, opened on first need: it reads pages that process_vm_readv refuses
// (PROT_NONE, write-only), because the kernel reads them with FOLL_FORCE like a debugger.
class ProcMem {
 public:
  explicit ProcMem(pid_t pid) : pid_(pid) {}
  int fd() {
    std::call_once(once_, [this] {
      const std::string path = "/proc/" + std::to_string(pid_) + "/mem";
      fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd_) err_ = errno;
    });
    return fd_.get();
  }
  int open_error() const { return err_; }

 private:
  pid_t pid_;
  std::once_flag once_;
  UniqueFd fd_;
  int err_ = 0;
};

// Reads [vaddr, vaddr+len) through /proc/PID/mem.
void read_proc_mem(pid_t pid, ProcMem& mem, uint64_t vaddr, unsigned char* dst, uint64_t len) {
  const int fd = mem.fd();
  if (fd < 0) throw_read_error(pid, vaddr, mem.open_error());
  while (len > 0) {
    // Offsets are unsigned for this file; the cast keeps high addresses intact.
    const ssize_t n = ::pread(fd, dst, len, static_cast<off_t>(vaddr));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_read_error(pid, vaddr, errno);
    if (n == 0) throw_read_error(pid, vaddr, EIO);
    vaddr += static_cast<uint64_t>(n);
    dst += n;
    len -= static_cast<uint64_t>(n);
  }
}

// Reads all pieces of a frame, back to back, into buf. process_vm_readv does the bulk with
// many remote iovecs per call; where it stops short (a piece it may not read), that piece
// is read through /proc/PID/mem and the fast path resumes after it.
void read_pieces(pid_t pid, ProcMem& mem, const std::vector<Piece>& pieces, unsigned char* buf) {
  std::vector<iovec> remote;
  remote.reserve(std::min(pieces.size(), kMaxIov));
  size_t pi = 0;      // current piece
  uint64_t done = 0;  // bytes of pieces[pi] already read
  unsigned char* dst = buf;
  auto advance = [&](uint64_t n) {
    dst += n;
    while (n > 0) {
      const uint64_t step = std::min(n, pieces[pi].len - done);
      done += step;
      n -= step;
      if (done == pieces[pi].len) ++pi, done = 0;
    }
  };
  while (pi < pieces.size()) {
    remote.clear();
    uint64_t total = 0;
    for (size_t i = pi; i < pieces.size() && remote.size() < kMaxIov; ++i) {
      const uint64_t skip = i == pi ? done : 0;
      remote.push_back({reinterpret_cast<void*>(pieces[i].vaddr + skip), pieces[i].len - skip});
      total += pieces[i].len - skip;
    }
    iovec local{dst, total};
    const ssize_t n = ::process_vm_readv(pid, &local, 1, remote.data(), remote.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EFAULT && errno != EIO) throw_read_error(pid, pieces[pi].vaddr + done, errno);
    if (n > 0) {
      advance(static_cast<uint64_t>(n));
      continue;
    }
    // The first byte left is one process_vm_readv cannot read: take the rest of its piece
    // the slow way (it fails with the real reason if the page is truly unreadable).
    const uint64_t rest = pieces[pi].len - done;
    read_proc_mem(pid, mem, pieces[pi].vaddr + done, dst, rest);
    advance(rest);
  }
}

// ---- zero pages ----------------------------------------------------------------------------

using word_alias = uint64_t __attribute__((may_alias));

// Most data pages have a non-zero word near the start, so test a few words before OR-ing
// the rest in blocks the compiler can vectorise.
bool page_is_zero(const unsigned char* page, size_t len) {
  const auto* w = reinterpret_cast<const word_alias*>(page);
  const size_t n = len / sizeof(uint64_t);
  if ((w[0] | w[1] | w[2] | w[3]) != 0) return false;
  for (size_t i = 0; i < n; i += 64) {
    uint64_t acc = 0;
    for (size_t j = 0; j < 64; ++j) acc |= w[i + j];
    if (acc != 0) return false;
  }
  return true;
}

struct Filtered {
  uint64_t kept_bytes = 0;
  uint64_t zero_pages = 0;
};

// Compacts the frame in place, dropping all-zero pages where the span allows it, and lists
// the kept pages as runs. Runs never cross pieces, so never cross spans (whose destinations
// at restore may be unrelated).
Filtered drop_zero_pages(unsigned char* buf, const std::vector<Piece>& pieces, std::vector<Run>& runs) {
  const uint64_t ps = page_size();
  Filtered f;
  uint64_t in = 0;
  runs.clear();
  for (const Piece& p : pieces) {
    bool run_open = false;
    for (uint64_t off = 0; off < p.len; off += ps, in += ps) {
      if (!p.keep_zero && page_is_zero(buf + in, ps)) {
        ++f.zero_pages;
        run_open = false;
        continue;
      }
      if (in != f.kept_bytes) std::memmove(buf + f.kept_bytes, buf + in, ps);
      f.kept_bytes += ps;
      if (run_open)
        ++runs.back().npages;
      else
        runs.push_back({p.vaddr + off, 1});
      run_open = true;
    }
  }
  return f;
}

// ---- incompressible frames -------------------------------------------------------------

// Whether zstd is worth running on a whole frame. Incompressible memory (random numbers,
// compressed or encrypted buffers) is common in large jobs, and zstd spends nearly as long
// failing on it as compressing: so three samples of kProbeBytes (start, middle, end) are
// compressed first, and a frame none of whose samples shrinks by at least 1/128 is stored
// raw. That costs 5 % of compressing an incompressible frame (1.5 % of a compressible one,
// where the first sample decides), and the restore then only reads it. A
// frame that is mixed (some pages compressible) but whose three samples all land in
// incompressible parts is stored raw too: a bounded loss, and matches longer than a sample
// (zstd -1 looks back 512 KiB) are rare in process memory.
bool worth_compressing(ZSTD_CCtx* cctx, const unsigned char* p, size_t len, unsigned char* scratch) {
  if (len < 8 * kProbeBytes) return true;
  const uint64_t ps = page_size();
  const size_t mid = (len / 2) / ps * ps;
  for (size_t off : {size_t{0}, mid, len - kProbeBytes}) {
    const size_t n = ZSTD_compress2(cctx, scratch, kProbeBytes, p + off, kProbeBytes);
    if (ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) continue;
    if (ZSTD_isError(n)) throw Error(std::string("zstd compress: ") + ZSTD_getErrorName(n));
    if (n <= kProbeBytes - kProbeBytes / 128) return true;
  }
  return false;
}

// ---- the dump pipeline ---------------------------------------------------------------------

// One frame in flight: its buffers are reused for frame i, i+window, i+2*window, ...
struct Slot {
  std::unique_ptr<unsigned char[]> raw, comp;
  std::vector<Run> runs;
  uint64_t raw_len = 0, out_len = 0, zero_pages = 0, planned_pages = 0;
  img::Codec codec = img::Codec::raw;
  bool ready = false;
  const unsigned char* out_data() const { return codec == img::Codec::raw ? raw.get() : comp.get(); }
};

class Progress {
 public:
  Progress(bool on, uint64_t total_pages) : on_(on), total_(total_pages), t0_(Clock::now()), last_(t0_) {}
  void update(uint64_t done_pages, bool final) {
    if (!on_) return;
    const auto now = Clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double secs = std::max(1e-9, std::chrono::duration<double>(now - t0_).count());
    const double mb = static_cast<double>(done_pages * page_size()) / 1e6;
    std::fprintf(stderr, "\r%s: pages %" PRIu64 "/%" PRIu64 " (%3.0f%%) %8.1f MB/s", log::program(), done_pages,
                 total_, total_ ? 100.0 * static_cast<double>(done_pages) / static_cast<double>(total_) : 100.0,
                 mb / secs);
    if (final) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool on_;
  uint64_t total_;
  Clock::time_point t0_, last_;
};

class DumpPipeline {
 public:
  DumpPipeline(pid_t pid, const std::vector<PageSpan>& spans, const PageDumpOptions& opts)
      : pid_(pid), opts_(opts), mem_(pid) {
    const uint64_t ps = page_size();
    frame_bytes_ = std::clamp<size_t>(opts.frame_bytes / ps * ps, ps, kMaxFrameBytes);
    plan_ = plan_frames(pid, spans, frame_bytes_);
    workers_ = worker_count(opts.threads, plan_.size());
    // Two frames per worker: one being filled while the other waits for the writer, which
    // keeps every core busy while the writer is blocked on the disk for a moment. Capped by
    // kPipelineBudget: 16 slots of 2 x 4 MiB at the default frame size, so up to 8 workers get
    // two slots each, and at most 16 workers run (16 cores of zstd -1 outpace any disk).
    const size_t per_slot = frame_bytes_ * (opts.level != 0 ? 2 : 1);
    const size_t max_slots = std::max<size_t>(2, kPipelineBudget / per_slot);
    slots_.resize(std::min({plan_.size(), 2 * size_t{workers_}, max_slots}));
    workers_ = static_cast<unsigned>(std::min<size_t>(workers_, slots_.size()));
    for (auto& s : slots_) {
      s.raw = raw_buffer(frame_bytes_);
      // Output only as large as the input: a frame that does not fit is stored raw anyway.
      if (opts.level != 0) s.comp = raw_buffer(frame_bytes_);
    }
  }

  PageDumpStats run(img::ImageWriter::Stream& out, std::vector<img::PageFrame>& index) {
    const auto t0 = Clock::now();
    PageDumpStats st;
    uint64_t total_pages = 0;
    for (const auto& f : plan_) total_pages += f.bytes / page_size();
    Progress progress(opts_.progress, total_pages);
    {
      ThreadGroup group([this] { stop(); });
      for (unsigned w = 0; w < workers_; ++w) group.spawn([this] { work(); });
      uint64_t done_pages = 0;
      for (size_t i = 0; i < plan_.size(); ++i) {
        auto t = Clock::now();
        Slot* s = wait_ready(i);
        st.writer_wait_seconds += seconds_since(t);
        if (s == nullptr) break;  // a worker failed
        t = Clock::now();
        append(*s, out, index, st);
        st.write_seconds += seconds_since(t);
        done_pages += s->planned_pages;
        release(i);
        if (i == plan_.size() / 2) fault_point("pages");
        progress.update(done_pages, false);
      }
      group.join();
      errors_.rethrow();
      progress.update(done_pages, true);
    }
    st.seconds = seconds_since(t0);
    st.read_seconds = read_seconds_;
    st.compress_seconds = compress_seconds_;
    return st;
  }

 private:
  void stop() {
    std::lock_guard lk(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  struct Times {
    double read = 0, compress = 0;
  };

  // Worker: claims the next frame once its slot is free, fills it, hands it to the writer.
  void work() {
    CCtxPtr cctx;
    Times times;
    try {
      if (opts_.level != 0) cctx = make_cctx(opts_.level);  // negative: zstd fast levels
      for (;;) {
        size_t i;
        {
          std::unique_lock lk(mu_);
          cv_.wait(lk, [&] { return stopping_ || next_ >= plan_.size() || next_ < written_ + slots_.size(); });
          if (stopping_ || next_ >= plan_.size()) break;
          i = next_++;
        }
        Slot& s = slots_[i % slots_.size()];
        fill(plan_[i], s, cctx.get(), times);
        std::lock_guard lk(mu_);
        s.ready = true;
        cv_.notify_all();
      }
    } catch (...) {
      errors_.set(std::current_exception());
      stop();
    }
    std::lock_guard lk(mu_);
    read_seconds_ += times.read;
    compress_seconds_ += times.compress;
  }

  void fill(const FramePlan& f, Slot& s, ZSTD_CCtx* cctx, Times& times) {
    auto t0 = Clock::now();
    read_pieces(pid_, mem_, f.pieces, s.raw.get());
    const Filtered kept = drop_zero_pages(s.raw.get(), f.pieces, s.runs);
    times.read += seconds_since(t0);
    s.planned_pages = f.bytes / page_size();
    s.zero_pages = kept.zero_pages;
    s.raw_len = kept.kept_bytes;
    s.codec = img::Codec::raw;
    s.out_len = s.raw_len;
    if (cctx == nullptr || s.raw_len == 0) return;
    t0 = Clock::now();
    const bool worth = worth_compressing(cctx, s.raw.get(), s.raw_len, s.comp.get());
    const size_t n = worth ? ZSTD_compress2(cctx, s.comp.get(), s.raw_len, s.raw.get(), s.raw_len) : 0;
    times.compress += seconds_since(t0);
    if (!worth) return;
    // Incompressible data (already compressed, random) is stored as is: restore then only copies.
    if (ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return;
    if (ZSTD_isError(n)) throw Error(std::string("zstd compress: ") + ZSTD_getErrorName(n));
    if (n < s.raw_len) {
      s.codec = img::Codec::zstd;
      s.out_len = n;
    }
  }

  Slot* wait_ready(size_t i) {
    Slot& s = slots_[i % slots_.size()];
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return stopping_ || s.ready; });
    return s.ready && !errors_.failed() ? &s : nullptr;
  }

  void release(size_t i) {
    std::lock_guard lk(mu_);
    slots_[i % slots_.size()].ready = false;
    written_ = i + 1;
    cv_.notify_all();
  }

  static void append(const Slot& s, img::ImageWriter::Stream& out, std::vector<img::PageFrame>& index,
                     PageDumpStats& st) {
    st.zero_pages += s.zero_pages;
    if (s.raw_len == 0) return;  // nothing but zero pages
    img::PageFrame pf;
    pf.offset = out.offset();
    pf.codec = s.codec;
    pf.comp_len = static_cast<uint32_t>(s.out_len);
    pf.raw_len = static_cast<uint32_t>(s.raw_len);
    pf.runs = s.runs;
    out.write(s.out_data(), s.out_len);
    index.push_back(std::move(pf));
    st.pages_dumped += s.raw_len / page_size();
    st.raw_bytes += s.raw_len;
    st.written_bytes += s.out_len;
    ++st.frames;
    if (s.codec == img::Codec::raw) ++st.raw_frames;
  }

  pid_t pid_;
  PageDumpOptions opts_;
  ProcMem mem_;
  size_t frame_bytes_ = 0;
  std::vector<FramePlan> plan_;
  unsigned workers_ = 1;
  std::vector<Slot> slots_;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_ = 0;      // next frame a worker claims
  size_t written_ = 0;   // frames appended so far; a worker may run at most slots_.size() ahead
  bool stopping_ = false;
  FirstError errors_;
  double read_seconds_ = 0, compress_seconds_ = 0;  // under mu_
};

// ---- restore -----------------------------------------------------------------------------

[[noreturn]] void bad_frame(size_t n, const img::PageFrame& f, const std::string& what) {
  throw Error("pages frame " + std::to_string(n) + " at offset " + std::to_string(f.offset) + ": " + what,
              ExitCode::bad_image);
}

uint64_t run_bytes(const Run& r) { return uint64_t{r.npages} * page_size(); }

// Reads exactly len bytes at off; a short read means the index points past the end.
void pread_full(int fd, void* dst, size_t len, uint64_t off, size_t n, const img::PageFrame& f) {
  auto* p = static_cast<unsigned char*>(dst);
  while (len > 0) {
    const ssize_t got = ::pread(fd, p, len, static_cast<off_t>(off));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno("read pages frame " + std::to_string(n) + " at offset " + std::to_string(f.offset));
    if (got == 0) bad_frame(n, f, "file ends inside the frame");
    p += got;
    off += static_cast<uint64_t>(got);
    len -= static_cast<size_t>(got);
  }
}

class FrameRestorer {
 public:
  FrameRestorer(int fd, uint64_t file_size, const Translate& tr) : fd_(fd), file_size_(file_size), tr_(tr) {}

  void restore(size_t n, const img::PageFrame& f) {
    check(n, f);
    if (f.raw_len == 0) return;
    unsigned char* dst = contiguous_destination(n, f);
    unsigned char* target = dst;
    if (target == nullptr) {
      if (tmp_.size() < f.raw_len) tmp_.resize(f.raw_len);
      target = tmp_.data();
    }
    if (f.codec == img::Codec::raw) {
      pread_full(fd_, target, f.raw_len, f.offset, n, f);
    } else {
      if (src_.size() < f.comp_len) src_.resize(f.comp_len);
      pread_full(fd_, src_.data(), f.comp_len, f.offset, n, f);
      decompress(n, f, target);
    }
    if (dst == nullptr) scatter(n, f, target);
  }

 private:
  void check(size_t n, const img::PageFrame& f) const {
    uint64_t sum = 0;
    for (const Run& r : f.runs) sum += run_bytes(r);
    if (sum != f.raw_len)
      bad_frame(n, f, "raw_len " + std::to_string(f.raw_len) + " does not match its runs (" + std::to_string(sum) +
                          " bytes)");
    if (f.codec != img::Codec::raw && f.codec != img::Codec::zstd)
      bad_frame(n, f, "unknown codec " + std::to_string(static_cast<unsigned>(f.codec)));
    if (f.codec == img::Codec::raw && f.comp_len != f.raw_len)
      bad_frame(n, f, "raw frame of " + std::to_string(f.comp_len) + " bytes, expected " + std::to_string(f.raw_len));
    if (f.offset > file_size_ || f.comp_len > file_size_ - f.offset)
      bad_frame(n, f, "frame of " + std::to_string(f.comp_len) + " bytes runs past the end of the file (" +
                          std::to_string(file_size_) + " bytes)");
  }

  unsigned char* translate(size_t n, const img::PageFrame& f, const Run& r) const {
    unsigned char* p = tr_(r.vaddr, run_bytes(r));
    if (p == nullptr) bad_frame(n, f, "address " + hex(r.vaddr) + " is outside every restored mapping");
    return p;
  }

  // Where the frame can be decompressed in one piece: the common single-run frame, or runs
  // that follow each other both in the target and in our memory. nullptr otherwise.
  unsigned char* contiguous_destination(size_t n, const img::PageFrame& f) const {
    unsigned char* first = translate(n, f, f.runs[0]);
    uint64_t off = run_bytes(f.runs[0]);
    for (size_t i = 1; i < f.runs.size(); ++i) {
      if (f.runs[i].vaddr != f.runs[i - 1].vaddr + run_bytes(f.runs[i - 1])) return nullptr;
      if (translate(n, f, f.runs[i]) != first + off) return nullptr;
      off += run_bytes(f.runs[i]);
    }
    return first;
  }

  void decompress(size_t n, const img::PageFrame& f, unsigned char* target) {
    if (!dctx_) dctx_ = make_dctx();
    const size_t got = ZSTD_decompressDCtx(dctx_.get(), target, f.raw_len, src_.data(), f.comp_len);
    if (ZSTD_isError(got)) bad_frame(n, f, ZSTD_getErrorName(got));
    if (got != f.raw_len)
      bad_frame(n, f, "decompressed to " + std::to_string(got) + " bytes, expected " + std::to_string(f.raw_len));
  }

  void scatter(size_t n, const img::PageFrame& f, const unsigned char* from) const {
    for (const Run& r : f.runs) {
      std::memcpy(translate(n, f, r), from, run_bytes(r));
      from += run_bytes(r);
    }
  }

  int fd_;
  uint64_t file_size_;
  const Translate& tr_;
  DCtxPtr dctx_;
  std::vector<unsigned char> src_, tmp_;  // per thread, grown to the largest frame seen
};

// The whole-file check of restore_pages: hashes [0, size) of the file sequentially on its own
// thread while the workers restore, and gives up early when they fail.
class FileHasher {
 public:
  FileHasher(int fd, const FileCheck& check) : fd_(fd), check_(check), state_(XXH3_createState()) {
    if (state_ == nullptr) throw Error("xxh3: out of memory");
    XXH3_64bits_reset(state_);
  }
  FileHasher(const FileHasher&) = delete;
  FileHasher& operator=(const FileHasher&) = delete;
  ~FileHasher() { XXH3_freeState(state_); }

  void run(const FirstError& errors) {
    auto buf = raw_buffer(kHashChunk);
    for (uint64_t off = 0; off < check_.size && !errors.failed();) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kHashChunk, check_.size - off));
      const ssize_t n = ::pread(fd_, buf.get(), want, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read " + check_.path);
      if (n == 0) throw Error(check_.path + ": changed while being read", ExitCode::bad_image);
      XXH3_64bits_update(state_, buf.get(), static_cast<size_t>(n));
      off += static_cast<uint64_t>(n);
    }
  }

  void verify() const {
    if (XXH3_64bits_digest(state_) != check_.xxh3)
      throw Error(check_.path + ": checksum mismatch (file damaged)", ExitCode::bad_image);
  }

 private:
  int fd_;
  const FileCheck& check_;
  XXH3_state_t* state_;
};

void check_size(const FileCheck& check, uint64_t size) {
  if (size < check.size)
    throw Error(check.path + ": truncated: " + std::to_string(size) + " bytes, manifest says " +
                    std::to_string(check.size),
                ExitCode::bad_image);
  if (size > check.size)
    throw Error(check.path + ": " + std::to_string(size) + " bytes, manifest says " + std::to_string(check.size) +
                    " (file grew)",
                ExitCode::bad_image);
}

// ---- deleted-file content ------------------------------------------------------------------

void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint32_t get_u32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Reads up to len bytes; fewer only at end of file.
size_t read_upto(int fd, unsigned char* dst, size_t len, const std::string& what) {
  size_t got = 0;
  while (got < len) {
    const ssize_t n = ::read(fd, dst + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

void write_all(int fd, const unsigned char* p, size_t len, const std::string& what) {
  while (len > 0) {
    const ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what);
    p += n;
    len -= static_cast<size_t>(n);
  }
}

}  // namespace

PageDumpStats dump_pages(pid_t pid, const std::vector<PageSpan>& spans, img::ImageWriter::Stream& out,
                         const PageDumpOptions& opts, std::vector<img::PageFrame>& index) {
  DumpPipeline pipeline(pid, spans, opts);
  return pipeline.run(out, index);
}

PageRestoreStats restore_pages(int fd, const std::vector<img::PageFrame>& index, const Translate& translate,
                               unsigned threads, const FileCheck* check) {
  const auto t0 = Clock::now();
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno("stat pages file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::optional<FileHasher> hasher;
  if (check != nullptr) {
    check_size(*check, file_size);
    hasher.emplace(fd, *check);
    // A small file is hashed first, on this thread: no thread more than the workers (a
    // process being restored in a new PID namespace must not spend PIDs its relatives still
    // have to be created with), and nothing unverified is used.
    if (file_size <= check->hash_first_max) {
      hasher->run(FirstError{});
      hasher->verify();
      hasher.reset();
    }
  }

  std::atomic<size_t> next{0};
  FirstError errors;
  auto work = [&] {
    try {
      FrameRestorer r(fd, file_size, translate);
      while (!errors.failed()) {
        const size_t i = next.fetch_add(1);
        if (i >= index.size()) break;
        r.restore(i, index[i]);
      }
    } catch (...) {
      errors.set(std::current_exception());
    }
  };
  {
    ThreadGroup group([] {});
    if (hasher)
      group.spawn([&] {
        try {
          hasher->run(errors);
        } catch (...) {
          errors.set(std::current_exception());
        }
      });
    const unsigned n = worker_count(threads, index.size());
    for (unsigned w = 1; w < n; ++w) group.spawn(work);
    work();  // the calling thread is one of the workers
    group.join();
  }
  errors.rethrow();
  if (hasher) hasher->verify();

  PageRestoreStats rs;
  for (const auto& f : index) rs.raw_bytes += f.raw_len;
  rs.seconds = seconds_since(t0);
  return rs;
}

// Format: a sequence of [u32 raw_len][u32 comp_len][comp_len bytes], little endian; a chunk
// with comp_len == raw_len is stored raw (zstd is used only when strictly smaller).
void write_file_content(int src_fd, uint64_t len, img::ImageWriter::Stream& out) {
  auto raw = raw_buffer(kContentChunk);
  auto comp = raw_buffer(kContentChunk);
  CCtxPtr cctx = make_cctx(1);
  for (uint64_t pos = 0; pos < len;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(len - pos, kContentChunk));
    size_t got = 0;
    while (got < want) {
      const ssize_t n = ::pread(src_fd, raw.get() + got, want - got, static_cast<off_t>(pos + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read file content at offset " + std::to_string(pos + got));
      if (n == 0) throw Error("read file content: file ends at " + std::to_string(pos + got) + ", expected " +
                              std::to_string(len) + " bytes");
      got += static_cast<size_t>(n);
    }
    const size_t c = ZSTD_compress2(cctx.get(), comp.get(), want, raw.get(), want);
    const bool too_big = ZSTD_isError(c) && ZSTD_getErrorCode(c) == ZSTD_error_dstSize_tooSmall;
    if (ZSTD_isError(c) && !too_big) throw Error(std::string("zstd compress: ") + ZSTD_getErrorName(c));
    const bool use_zstd = !too_big && c < want;
    unsigned char hdr[8];
    put_u32(hdr, static_cast<uint32_t>(want));
    put_u32(hdr + 4, static_cast<uint32_t>(use_zstd ? c : want));
    out.write(hdr, sizeof hdr);
    out.write(use_zstd ? comp.get() : raw.get(), use_zstd ? c : want);
    pos += want;
  }
}

void read_file_content(int image_fd, int dst_fd, const FileCheck* check) {
  DCtxPtr dctx = make_dctx();
  std::vector<unsigned char> comp, raw;
  // With a check, every byte of the file is hashed as it goes by, the header before our
  // position included. Content reaches dst_fd before the checksum is known: when this throws,
  // the caller must discard what dst_fd holds.
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state(nullptr, XXH3_freeState);
  if (check != nullptr) {
    struct stat st {};
    if (::fstat(image_fd, &st) != 0) throw_errno("stat " + check->path);
    check_size(*check, static_cast<uint64_t>(st.st_size));
    state.reset(XXH3_createState());
    if (!state) throw Error("xxh3: out of memory");
    XXH3_64bits_reset(state.get());
    const off_t pos = ::lseek(image_fd, 0, SEEK_CUR);
    if (pos < 0) throw_errno("seek " + check->path);
    std::vector<unsigned char> head(static_cast<size_t>(pos));
    if (::pread(image_fd, head.data(), head.size(), 0) != pos) throw_errno("read " + check->path);
    XXH3_64bits_update(state.get(), head.data(), head.size());
  }
  auto hash = [&](const void* p, size_t n) {
    if (state) XXH3_64bits_update(state.get(), p, n);
  };
  for (size_t chunk = 0;; ++chunk) {
    const std::string where = "file content chunk " + std::to_string(chunk);
    auto bad = [&](const std::string& what) { throw Error(where + ": " + what, ExitCode::bad_image); };
    unsigned char hdr[8];
    const size_t h = read_upto(image_fd, hdr, sizeof hdr, "read " + where);
    hash(hdr, h);
    if (h == 0) {
      if (state && XXH3_64bits_digest(state.get()) != check->xxh3)
        throw Error(check->path + ": checksum mismatch (file damaged)", ExitCode::bad_image);
      return;
    }
    if (h != sizeof hdr) bad("truncated header");
    const uint32_t raw_len = get_u32(hdr), comp_len = get_u32(hdr + 4);
    if (raw_len > kMaxContentChunk || comp_len > raw_len) bad("bad lengths " + std::to_string(raw_len) + "/" +
                                                              std::to_string(comp_len));
    comp.resize(comp_len);
    if (read_upto(image_fd, comp.data(), comp_len, "read " + where) != comp_len) bad("truncated");
    hash(comp.data(), comp_len);
    if (comp_len == raw_len) {
      write_all(dst_fd, comp.data(), comp_len, "write restored file content");
      continue;
    }
    raw.resize(raw_len);
    const size_t n = ZSTD_decompressDCtx(dctx.get(), raw.data(), raw_len, comp.data(), comp_len);
    if (ZSTD_isError(n)) bad(ZSTD_getErrorName(n));
    if (n != raw_len) bad("decompressed to " + std::to_string(n) + " bytes, expected " + std::to_string(raw_len));
    write_all(dst_fd, raw.data(), raw_len, "write restored file content");
  }
}

}  // namespace ck
