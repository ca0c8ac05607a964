// How fast ck moves page contents, next to what the machine can do anyway: dumps N GiB of a
// forked child's memory with dump_pages into a pages file and restores it with restore_pages,
// and times the same bytes through zstd -1 -T0 (libzstd, nbWorkers), memcpy, write+fdatasync,
// and the two ways of reading another process's memory. See bench/README.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "error.hpp"
#include "image_dir.hpp"
#include "page_pipeline.hpp"
#include "pagemap_scan.hpp"
#include "unique_fd.hpp"
#include "unique_mapping.hpp"
#include "workload_data.hpp"

using namespace ck;

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 4u << 20;

struct Args {
  double gib = 1;
  std::string dir = "/var/tmp";
  unsigned threads = 0;
  int level = 1;
  size_t frame_bytes = 4u << 20;
  bool progress = false;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: bench_pages [--gib N] [--dir DIR] [--threads N] [--level L]\n"
               "  --gib N      size of each workload in GiB (default 1)\n"
               "  --dir DIR    where the pages file and the write baseline go (default /var/tmp)\n"
               "  --threads N  dump/restore workers, 0 = all CPUs (default 0)\n"
               "  --level L    zstd level of the dump, 0 = raw (default 1)\n"
               "  --frame-kib N  raw bytes per frame (default 4096)\n"
               "  --progress   show the dump's progress line\n");
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--progress") {
      a.progress = true;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (k == "--gib")
      a.gib = std::atof(v);
    else if (k == "--dir")
      a.dir = v;
    else if (k == "--threads")
      a.threads = static_cast<unsigned>(std::atoi(v));
    else if (k == "--level")
      a.level = std::atoi(v);
    else if (k == "--frame-kib")
      a.frame_bytes = static_cast<size_t>(std::atol(v)) << 10;
    else
      usage();
  }
  if (a.gib <= 0) usage();
  return a;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

UniqueMapping map_anon(size_t len) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap " + std::to_string(len));
  return UniqueMapping(p, len);
}

// Faults every page in, so that a timing measures the operation and not first-touch faults.
void prefault(const UniqueMapping& m) {
  for (size_t i = 0; i < m.size(); i += 4096) m.bytes()[i] = 1;
}

void parallel_for(size_t n, const std::function<void(size_t, size_t)>& f) {
  const unsigned t = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::jthread> threads;
  for (unsigned k = 0; k < t; ++k) threads.emplace_back([&, k] { f(n * k / t, n * (k + 1) / t); });
}

// The workloads of the suite (workload_data.hpp): the same bytes bench_target holds.
void fill_smooth(unsigned char* p, size_t len) {
  ckbench::smooth_rows(len / ckbench::kRowBytes, [p](size_t j, const double* row) {
    std::memcpy(p + j * ckbench::kRowBytes, row, ckbench::kRowBytes);
  });
}

void fill_random(unsigned char* p, size_t len) {
  parallel_for(len / kChunk, [p](size_t a, size_t b) {
    for (size_t c = a; c < b; ++c) ckbench::random_fill(p + c * kChunk, kChunk, c * kChunk / 8);
  });
}

// A child holding its own copy of the workload (every page written after fork, so none is
// shared with us), stopped while we read it. Killed on destruction.
class Target {
 public:
  explicit Target(const UniqueMapping& data) {
    int p[2];
    if (pipe(p) != 0) throw_errno("pipe");
    UniqueFd rd(p[0]), wr(p[1]);
    pid_ = fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
      volatile unsigned char* b = data.bytes();
      for (size_t i = 0; i < data.size(); i += 4096) b[i] = b[i];
      char c = 1;
      if (write(wr.get(), &c, 1) != 1) _exit(1);
      for (;;) pause();
    }
    wr.reset();
    char c;
    if (read(rd.get(), &c, 1) != 1) throw Error("bench child died");
    kill(pid_, SIGSTOP);
    waitpid(pid_, nullptr, WUNTRACED);
  }
  ~Target() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct Row {
  std::string op;
  double secs = 0;
  uint64_t out_bytes = 0;  // 0: not applicable
};

class Table {
 public:
  Table(std::string workload, uint64_t bytes) : workload_(std::move(workload)), bytes_(bytes) {}
  void add(Row r) { rows_.push_back(std::move(r)); }
  double gbps(const Row& r) const { return static_cast<double>(bytes_) / r.secs / 1e9; }
  void print(const std::string& ref_op) const {
    const Row* ref = nullptr;
    for (const auto& r : rows_)
      if (r.op == ref_op) ref = &r;
    std::printf("\n%-8s %-31s %12s %9s %8s %14s %7s %9s\n", "workload", "operation", "bytes", "wall s", "GB/s",
                "output bytes", "ratio", "vs zstd");
    for (const auto& r : rows_) {
      std::printf("%-8s %-31s %12llu %9.3f %8.2f ", workload_.c_str(), r.op.c_str(),
                  static_cast<unsigned long long>(bytes_), r.secs, gbps(r));
      if (r.out_bytes != 0)
        std::printf("%14llu %7.3f ", static_cast<unsigned long long>(r.out_bytes),
                    static_cast<double>(bytes_) / static_cast<double>(r.out_bytes));
      else
        std::printf("%14s %7s ", "-", "-");
      if (ref != nullptr) std::printf("%8.2fx", gbps(r) / gbps(*ref));
      std::printf("\n");
    }
    std::fflush(stdout);
  }

 private:
  std::string workload_;
  uint64_t bytes_;
  std::vector<Row> rows_;
};

// ---- baselines -------------------------------------------------------------------------

Row time_memcpy(const UniqueMapping& src, const UniqueMapping& dst) {
  const auto t0 = Clock::now();
  std::memcpy(dst.bytes(), src.bytes(), src.size());
  return {"memcpy (1 thread)", since(t0), 0};
}

Row time_zstd_mt(const UniqueMapping& src, int level) {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c(ZSTD_createCCtx(), ZSTD_freeCCtx);
  const int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_nbWorkers, workers);
  const size_t cap = ZSTD_compressBound(src.size());
  UniqueMapping out = map_anon(cap);
  prefault(out);
  const auto t0 = Clock::now();
  const size_t n = ZSTD_compress2(c.get(), out.bytes(), cap, src.bytes(), src.size());
  const double s = since(t0);
  if (ZSTD_isError(n)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(n));
  return {"zstd -" + std::to_string(level) + " -T0 (memory)", s, n};
}

Row time_write_fdatasync(const UniqueMapping& src, const std::string& dir) {
  const std::string path = dir + "/ck-bench-write.tmp";
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + path);
  const auto t0 = Clock::now();
  for (size_t off = 0; off < src.size();) {
    const ssize_t n = write(fd.get(), src.bytes() + off, std::min(kChunk, src.size() - off));
    if (n < 0) throw_errno("write " + path);
    off += static_cast<size_t>(n);
  }
  if (fdatasync(fd.get()) != 0) throw_errno("fdatasync " + path);
  const double s = since(t0);
  unlink(path.c_str());
  return {"write+fdatasync", s, src.size()};
}

// The two ways to read another process's memory, one thread, 4 MiB at a time.
Row time_process_vm_readv(pid_t pid, uint64_t remote, const UniqueMapping& dst) {
  const auto t0 = Clock::now();
  for (size_t off = 0; off < dst.size(); off += kChunk) {
    const size_t len = std::min(kChunk, dst.size() - off);
    iovec l{dst.bytes() + off, len}, r{reinterpret_cast<void*>(remote + off), len};
    if (process_vm_readv(pid, &l, 1, &r, 1, 0) != static_cast<ssize_t>(len)) throw_errno("process_vm_readv");
  }
  return {"process_vm_readv (1 thread)", since(t0), 0};
}

Row time_proc_mem(pid_t pid, uint64_t remote, const UniqueMapping& dst) {
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  const auto t0 = Clock::now();
  for (size_t off = 0; off < dst.size();) {
    const ssize_t n = pread(fd.get(), dst.bytes() + off, std::min(kChunk, dst.size() - off),
                            static_cast<off_t>(remote + off));
    if (n <= 0) throw_errno("pread " + path);
    off += static_cast<size_t>(n);
  }
  return {"pread /proc/pid/mem (1 thread)", since(t0), 0};
}

// ---- ck --------------------------------------------------------------------------------

struct CkRun {
  Row dump, dump_no_sync, restore, restore_prefaulted;
  bool identical = false;
  std::string breakdown;
};

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

CkRun time_ck(pid_t pid, const UniqueMapping& data, const Args& a) {
  const uint64_t base = reinterpret_cast<uint64_t>(data.get());
  CkRun r;
  img::ImageWriter writer(a.dir + "/ck-bench-image");
  std::vector<img::PageFrame> index;
  {
    const auto t0 = Clock::now();
    PagemapScanner scanner(pid);
    std::vector<PageSpan> spans;
    for (const auto& pr : scanner.scan(base, base + data.size(), ScanWant::present))
      spans.push_back({pr.start, pr.end, false});
    auto out = writer.open_stream("pages-1.ck", img::FileKind::pages);
    PageDumpOptions opts;
    opts.level = a.level;
    opts.threads = a.threads;
    opts.frame_bytes = a.frame_bytes;
    opts.progress = a.progress;
    const auto st = dump_pages(pid, spans, out, opts, index);
    const auto t_sync = Clock::now();
    out.finish();  // fdatasync: the dump is durable only here
    r.breakdown = "pipeline " + fmt(st.seconds) + " s: workers read " + fmt(st.read_seconds) + " s + compress " +
                  fmt(st.compress_seconds) + " s (thread time); writer waited " + fmt(st.writer_wait_seconds) +
                  " s, wrote " + fmt(st.write_seconds) + " s; fdatasync " + fmt(since(t_sync)) + " s; " +
                  std::to_string(st.raw_frames) + "/" + std::to_string(st.frames) + " frames raw";
    r.dump = {"ck dump -" + std::to_string(a.level) + " +fdatasync", since(t0), st.written_bytes};
    r.dump_no_sync = {"ck dump -" + std::to_string(a.level) + " (pipeline only)", st.seconds, st.written_bytes};
  }
  const std::string path = writer.staging_path() + "/pages-1.ck";
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  auto restore = [&](const UniqueMapping& dst) {
    Translate tr = [&](uint64_t vaddr, uint64_t len) -> unsigned char* {
      return vaddr >= base && vaddr + len <= base + dst.size() ? dst.bytes() + (vaddr - base) : nullptr;
    };
    const auto t0 = Clock::now();
    restore_pages(fd.get(), index, tr, a.threads);
    return since(t0);
  };
  {
    UniqueMapping dst = map_anon(data.size());  // fresh memory, as a restore maps it
    r.restore = {"ck restore (fresh memory)", restore(dst), 0};
    r.identical = std::memcmp(dst.bytes(), data.bytes(), data.size()) == 0;
  }
  {
    UniqueMapping dst = map_anon(data.size());
    prefault(dst);
    r.restore_prefaulted = {"ck restore (prefaulted)", restore(dst), 0};
    r.identical = r.identical && std::memcmp(dst.bytes(), data.bytes(), data.size()) == 0;
  }
  return r;
}

void run_workload(const char* name, void (*fill)(unsigned char*, size_t), const Args& a) {
  const size_t bytes = static_cast<size_t>(a.gib * 1073741824.0) / kChunk * kChunk;
  UniqueMapping data = map_anon(bytes);
  madvise(data.get(), bytes, MADV_NOHUGEPAGE);  // the usual 4 KiB pages of a process
  fill(data.bytes(), bytes);
  Target child(data);
  const uint64_t remote = reinterpret_cast<uint64_t>(data.get());  // same address after fork

  Table t(name, bytes);
  t.add(time_zstd_mt(data, 1));
  {
    UniqueMapping dst = map_anon(bytes);
    prefault(dst);
    t.add(time_memcpy(data, dst));
    t.add(time_process_vm_readv(child.pid(), remote, dst));
    t.add(time_proc_mem(child.pid(), remote, dst));
  }
  t.add(time_write_fdatasync(data, a.dir));
  const CkRun ck = time_ck(child.pid(), data, a);
  t.add(ck.dump_no_sync);
  t.add(ck.dump);
  t.add(ck.restore);
  t.add(ck.restore_prefaulted);
  t.print("zstd -1 -T0 (memory)");
  std::printf("%-8s ck dump: %s\n", name, ck.breakdown.c_str());
  if (!ck.identical) throw Error(std::string(name) + ": restored bytes differ from the original");
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  std::printf("bench_pages: %.2f GiB per workload, %u CPUs, dir %s, dump level %d, threads %u\n", a.gib,
              std::thread::hardware_concurrency(), a.dir.c_str(), a.level, a.threads);
  try {
    run_workload("smooth", fill_smooth, a);
    run_workload("random", fill_random, a);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_pages: %s\n", e.what());
    return 1;
  }
  return 0;
}
