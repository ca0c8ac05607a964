// The benchmark suite: real ckdump/ckrestore of real programs, next to what the machine does
// with the same bytes in the same run. See bench/README.md; bench/run.sh builds and runs it.
//
// For each workload: start the program, wait until its data is in place, copy the memory ck
// would dump into our own memory (the "same bytes" of the baselines), time the baselines on
// that copy, then `ckdump --stats` (wall, frozen time, image size, peak RSS), `ckrestore -d`
// (wall until the program runs again, peak RSS), and check that the restored program still
// computes the checksum it computed before the dump.
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "error.hpp"
#include "pagemap_scan.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"
#include "unique_mapping.hpp"

using namespace ck;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
std::string fmt(const char* f, double v) {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

constexpr size_t kIo = 8u << 20;
constexpr double kMiB = 1048576.0;

struct Args {
  std::string dir = "/var/tmp";
  std::string build, src;
  std::vector<double> sizes = {1, 4};
  std::vector<std::string> only;
  // Extra dumps of the largest smooth workload at these levels. Level 1 by default: the image
  // size target compares with zstd -1 at its own level (the default level trades size for speed).
  std::vector<int> levels = {1};
  unsigned python_mib = 1024;
  unsigned vmas = 10000;
  unsigned threads = 4;
  unsigned repeat = 3;
  bool cold = false;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: ckbench --build DIR --src DIR [--dir DIR] [--sizes 1,4] [--only NAME,...]\n"
               "               [--levels L,...] [--python-mib N] [--vmas N] [--threads N] [--repeat N]\n"
               "               [--cache warm|cold]\n"
               "  --build DIR   meson build directory holding src/ckdump, src/ckrestore, bench/bench_target\n"
               "  --src DIR     the source tree (for bench/pyheap.py)\n"
               "  --dir DIR     where images and baseline files go (default /var/tmp)\n"
               "  --sizes LIST  GiB of the smooth and random workloads (default 1,4; a size is\n"
               "                skipped when the machine lacks ~3x its memory)\n"
               "  --only LIST   run only these workloads (smooth-4G, random-1G, python, vmas, threads, ...)\n"
               "  --levels LIST also dump the largest smooth workload with -R --compress=L (0 = none),\n"
               "                --repeat times each (medians); default 1, \"\" for none\n"
               "  --repeat N    measure everything N times, report medians (default 3)\n"
               "  --cache MODE  page cache state of the image and of zstd's file before each restore:\n"
               "                warm (read in whole first, the default) or cold (dropped)\n");
  std::exit(2);
}

template <typename T>
std::vector<T> split_list(const std::string& s, T (*conv)(const std::string&)) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(conv(item));
  return out;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage();
    const std::string v = argv[++i];
    if (k == "--dir") a.dir = v;
    else if (k == "--build") a.build = v;
    else if (k == "--src") a.src = v;
    else if (k == "--sizes") a.sizes = split_list<double>(v, [](const std::string& x) { return std::stod(x); });
    else if (k == "--only") a.only = split_list<std::string>(v, [](const std::string& x) { return x; });
    else if (k == "--levels") a.levels = split_list<int>(v, [](const std::string& x) { return std::stoi(x); });
    else if (k == "--python-mib") a.python_mib = static_cast<unsigned>(std::stoul(v));
    else if (k == "--vmas") a.vmas = static_cast<unsigned>(std::stoul(v));
    else if (k == "--threads") a.threads = static_cast<unsigned>(std::stoul(v));
    else if (k == "--repeat") a.repeat = std::max(1u, static_cast<unsigned>(std::stoul(v)));
    else if (k == "--cache") a.cold = v == "cold" ? true : v == "warm" ? false : (usage(), false);
    else usage();
  }
  if (a.build.empty() || a.src.empty()) usage();
  return a;
}

// ---- processes -----------------------------------------------------------------------------

struct Exit {
  int status = 0;
  double secs = 0;
  double maxrss_mib = 0;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  int code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
};

// Forks and execs argv with stdin from /dev/null and stdout/stderr to the given files.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err, bool session) {
  std::vector<char*> cargv;
  for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    if (session) setsid();
    const int in = open("/dev/null", O_RDONLY);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    const int e = err == out ? o : open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0) _exit(126);
    dup2(in, 0), dup2(o, 1), dup2(e, 2);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  return pid;
}

// Waits for pid to exit; after `timeout` seconds kills it (a hung ckrestore must not hang the
// suite) and says so.
Exit wait_exit(pid_t pid, Clock::time_point t0, double timeout, const std::string& what) {
  Exit r;
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, static_cast<int>(timeout * 1000))) < 0 && errno == EINTR) {
    }
    if (n == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      throw Error(what + " did not finish within " + fmt("%.0f", timeout) + " s (killed)");
    }
  }
  rusage ru{};
  while (wait4(pid, &r.status, 0, &ru) < 0)
    if (errno != EINTR) throw_errno("wait4 " + std::to_string(pid));
  r.secs = since(t0);
  r.maxrss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  return r;
}

// Runs ckdump and ckrestore from a small process forked before we allocate anything large:
// the kernel counts the RSS a process had before exec in its ru_maxrss, so spawned from us
// (holding the workload's copy) their peak RSS would read as ours.
class Launcher {
 public:
  Launcher() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
    UniqueFd mine(sv[0]), theirs(sv[1]);
    pid_ = fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
      mine.reset();
      serve(theirs.get());
    }
    sock_ = std::move(mine);
  }
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;
  ~Launcher() {
    sock_.reset();  // the server sees EOF and exits
    waitpid(pid_, nullptr, 0);
  }

  Exit run(const std::vector<std::string>& argv, const std::string& out, const std::string& err, double timeout) {
    std::string req = fmt("%.3f", timeout) + '\0' + out + '\0' + err;
    for (const auto& a : argv) req += '\0' + a;
    if (send(sock_.get(), req.data(), req.size(), 0) < 0) throw_errno("launcher send");
    Reply rep{};
    if (recv(sock_.get(), &rep, sizeof rep, 0) != static_cast<ssize_t>(sizeof rep)) throw_errno("launcher recv");
    if (rep.timed_out) throw Error(argv[0] + " did not finish within " + fmt("%.0f", timeout) + " s (killed)");
    if (rep.failed) throw Error("launcher: could not run " + argv[0]);
    return rep.exit;
  }

 private:
  struct Reply {
    Exit exit;
    bool timed_out = false, failed = false;
  };

  [[noreturn]] static void serve(int fd) {
    std::vector<char> buf(1 << 16);
    for (;;) {
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) _exit(0);
      std::vector<std::string> f;
      for (size_t pos = 0; pos <= static_cast<size_t>(n);) {
        const size_t end = std::find(buf.begin() + static_cast<long>(pos), buf.begin() + n, '\0') - buf.begin();
        f.emplace_back(buf.data() + pos, end - pos);
        pos = end + 1;
      }
      Reply rep;
      try {
        const std::vector<std::string> argv(f.begin() + 3, f.end());
        const auto t0 = Clock::now();
        rep.exit = wait_exit(spawn(argv, f[1], f[2], false), t0, std::stod(f[0]), argv[0]);
      } catch (const Error& e) {
        rep.timed_out = std::string(e.what()).find("did not finish") != std::string::npos;
        rep.failed = !rep.timed_out;
      }
      if (send(fd, &rep, sizeof rep, 0) < 0) _exit(1);
    }
  }

  pid_t pid_ = -1;
  UniqueFd sock_;
};

Launcher* launcher = nullptr;  // made first thing in main

Exit run(const std::vector<std::string>& argv, const std::string& out, const std::string& err, double timeout = 300) {
  return launcher->run(argv, out, err, timeout);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The value of "key": number in a one-line JSON object (ckdump --stats).
double json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) throw Error("no " + key + " in " + json);
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

uint64_t status_kib(pid_t pid, const std::string& field) {
  const std::string s = slurp("/proc/" + std::to_string(pid) + "/status");
  const auto at = s.find(field + ":");
  return at == std::string::npos ? 0 : std::strtoull(s.c_str() + at + field.size() + 1, nullptr, 10);
}

// Waits for a line starting with `prefix` after byte `from` of the program's output file.
std::string wait_line(const std::string& path, const std::string& prefix, size_t from, pid_t pid, double timeout) {
  const auto t0 = Clock::now();
  for (;;) {
    const std::string s = slurp(path);
    for (size_t pos = std::min(from, s.size()); pos < s.size();) {
      const size_t nl = s.find('\n', pos);
      if (nl == std::string::npos) break;
      if (s.compare(pos, prefix.size(), prefix) == 0) return s.substr(pos + prefix.size(), nl - pos - prefix.size());
      pos = nl + 1;
    }
    if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == pid) throw Error("the workload program died; see " + path);
    if (since(t0) > timeout) throw Error("timed out waiting for '" + prefix + "' in " + path);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Restored programs whose ckrestore failed or was killed end up as our children (subreaper).
void reap_orphans() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    struct stat st {};
    if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode)) total += static_cast<uint64_t>(st.st_size);
  }
  closedir(d);
  return total;
}

void remove_tree(const std::string& path) {
  if (path.size() < 8) return;  // never anything short like "/" or "/var"
  const std::string cmd = "rm -rf '" + path + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "ckbench: could not remove %s\n", path.c_str());
}

double mem_available_gib() {
  const std::string s = slurp("/proc/meminfo");
  const auto at = s.find("MemAvailable:");
  return at == std::string::npos ? 0 : std::strtod(s.c_str() + at + 13, nullptr) / kMiB;
}

// ---- the same bytes ck dumps ---------------------------------------------------------------

UniqueMapping map_anon(size_t len) {
  void* p = mmap(nullptr, std::max<size_t>(len, 4096), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap " + std::to_string(len));
  return UniqueMapping(p, std::max<size_t>(len, 4096));
}

void prefault(const UniqueMapping& m) {
  if (madvise(m.get(), m.size(), MADV_POPULATE_WRITE) != 0)
    for (size_t i = 0; i < m.size(); i += 4096) m.bytes()[i] = 0;
}

// Copies the memory ckdump stores (same selection as dump_vma.cpp: private and shared
// anonymous memory that is present, pages of private file mappings that differ from the
// file) into our memory, page-aligned ranges back to back.
UniqueMapping copy_dumped_memory(pid_t pid, size_t& len) {
  const std::string base = "/proc/" + std::to_string(pid);
  const auto maps = proc::parse_smaps(proc::read_file(base + "/smaps"), base + "/smaps");
  PagemapScanner scanner(pid);
  std::vector<PageRange> ranges;
  for (const auto& m : maps) {
    if (m.path == "[vsyscall]" || m.path == "[vdso]" || m.path == "[vvar]" || m.path == "[vvar_vclock]") continue;
    const bool anon = m.inode == 0;
    if (!anon && m.shared) continue;
    for (const auto& r : scanner.scan(m.start, m.end, anon ? ScanWant::present : ScanWant::written_private))
      ranges.push_back(r);
  }
  len = 0;
  for (const auto& r : ranges) len += r.end - r.start;
  UniqueMapping buf = map_anon(len);
  UniqueFd mem(open((base + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  size_t off = 0;
  for (const auto& r : ranges) {
    for (uint64_t a = r.start; a < r.end;) {
      const size_t n = std::min<uint64_t>(r.end - a, kIo);
      iovec l{buf.bytes() + off, n}, rv{reinterpret_cast<void*>(a), n};
      ssize_t got = process_vm_readv(pid, &l, 1, &rv, 1, 0);
      if (got <= 0) got = pread(mem.get(), buf.bytes() + off, n, static_cast<off_t>(a));  // PROT_NONE
      if (got <= 0) throw_errno("read memory of pid " + std::to_string(pid));
      a += static_cast<uint64_t>(got), off += static_cast<size_t>(got);
    }
  }
  return buf;
}

// ---- baselines -----------------------------------------------------------------------------

void write_all(int fd, const unsigned char* p, size_t len, const std::string& what) {
  while (len > 0) {
    const ssize_t n = write(fd, p, std::min(len, kIo));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what);
    p += n, len -= static_cast<size_t>(n);
  }
}

// zstd -1 -T0 over the bytes in memory: libzstd with one worker per CPU, as the CLI runs it
// (the CLI itself is slower: it also reads its input through a file). The output is saved to
// `zst_path` (fdatasync'ed, untimed) for the zstd -d baseline.
double time_zstd(const UniqueMapping& data, size_t len, const std::string& zst_path, uint64_t& out_bytes) {
  UniqueMapping comp = map_anon(ZSTD_compressBound(len));
  prefault(comp);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_nbWorkers, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1);
  const auto t0 = Clock::now();
  const size_t n = ZSTD_compress2(c.get(), comp.bytes(), comp.size(), data.bytes(), len);
  const double secs = since(t0);
  if (ZSTD_isError(n)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(n));
  out_bytes = n;
  UniqueFd fd(open(zst_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + zst_path);
  write_all(fd.get(), comp.bytes(), n, zst_path);
  if (fdatasync(fd.get()) != 0) throw_errno("fdatasync " + zst_path);
  return secs;
}

double time_memcpy(const UniqueMapping& data, size_t len) {
  UniqueMapping dst = map_anon(len);
  prefault(dst);
  const auto t0 = Clock::now();
  std::memcpy(dst.bytes(), data.bytes(), len);
  return since(t0);
}

double time_write(const UniqueMapping& data, size_t len, const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + path);
  const auto t0 = Clock::now();
  write_all(fd.get(), data.bytes(), len, path);
  if (fdatasync(fd.get()) != 0) throw_errno("fdatasync " + path);
  const double secs = since(t0);
  unlink(path.c_str());
  return secs;
}

// zstd -d of the baseline's output, read from its file, into fresh memory (a restore must
// allocate the program's memory too). zstd decompresses on one thread whatever -T says.
double time_unzstd(const std::string& zst_path, const UniqueMapping& expect, size_t len) {
  UniqueFd fd(open(zst_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + zst_path);
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> d(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::vector<unsigned char> in(ZSTD_DStreamInSize());
  UniqueMapping dst = map_anon(len);
  const auto t0 = Clock::now();
  ZSTD_outBuffer out{dst.bytes(), len, 0};
  for (;;) {
    const ssize_t n = read(fd.get(), in.data(), in.size());
    if (n < 0) throw_errno("read " + zst_path);
    if (n == 0) break;
    ZSTD_inBuffer ib{in.data(), static_cast<size_t>(n), 0};
    while (ib.pos < ib.size) {
      const size_t r = ZSTD_decompressStream(d.get(), &out, &ib);
      if (ZSTD_isError(r)) throw Error(std::string("unzstd: ") + ZSTD_getErrorName(r));
    }
  }
  const double secs = since(t0);
  if (out.pos != len || std::memcmp(dst.bytes(), expect.bytes(), len) != 0)
    throw Error("zstd -d baseline did not give back the bytes");
  return secs;
}

// Every restore (ck's and zstd -d) starts from the same page-cache state: its input files read
// in whole (warm: what the machine does, not the disk) or dropped from the cache (cold).
void set_cache(const std::string& path, bool cold) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw_errno("stat " + path);
  if (S_ISDIR(st.st_mode)) {
    DIR* d = opendir(path.c_str());
    if (!d) throw_errno("opendir " + path);
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.push_back(path + "/" + e->d_name);
    closedir(d);
    for (const auto& n : names) set_cache(n, cold);
    return;
  }
  if (!S_ISREG(st.st_mode)) return;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  if (cold) {
    if (posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED) != 0) throw Error("fadvise " + path);
    return;
  }
  std::vector<unsigned char> buf(kIo);
  while (read(fd.get(), buf.data(), buf.size()) > 0) {
  }
}

// ---- one workload --------------------------------------------------------------------------

struct Workload {
  std::string name;
  std::vector<std::string> argv;  // the program
  double data_gib = 0;            // for the memory check
  bool largest_smooth = false;    // where --levels runs
};

// Medians of repeated measurements: this kind of machine (VM, shared host) varies by 2x
// between two runs of the same thing.
struct Samples {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double median() const {
    if (v.empty()) return 0;
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    return s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
  }
  double max() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

struct LevelRun {
  int level = 0;
  Samples dump_s, frozen_s;
  uint64_t image_bytes = 0;
};

struct Result {
  std::string name, note;
  bool ran = false, unsupported = false;
  double data_mib = 0;
  Samples zstd, memcpy_, write, unzstd, dump, frozen, restore, ckdump_mib, ckrestore_mib, child_extra_mib;
  uint64_t zstd_bytes = 0, image_bytes = 0;
  std::vector<LevelRun> levels;
};

struct Dumped {
  Exit exit;
  double frozen_s = 0;
  uint64_t image_bytes = 0;
  std::string error;
};

Dumped ckdump(const Args& a, pid_t pid, const std::string& img, const std::string& work,
              const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {a.build + "/src/ckdump", "-t", std::to_string(pid), "-D", img, "--stats"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Dumped d;
  d.exit = run(argv, work + "/ckdump.json", work + "/ckdump.err");
  if (!d.exit.ok()) {
    d.error = slurp(work + "/ckdump.err");
    while (!d.error.empty() && d.error.back() == '\n') d.error.pop_back();
    return d;
  }
  const std::string json = slurp(work + "/ckdump.json");
  d.frozen_s = json_number(json, "frozen_seconds");
  d.image_bytes = dir_bytes(img);
  return d;
}

Result run_workload(const Args& a, const Workload& w, const std::vector<int>& levels) {
  Result r;
  r.name = w.name;
  // The program, our copy, and one of: zstd's output buffer (prefaulted), a memcpy or zstd -d
  // destination, the restored program.
  const double need = 3.3 * w.data_gib + 0.5;
  if (mem_available_gib() < need) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "skipped: needs %.1f GiB of free memory, %.1f available", need, mem_available_gib());
    r.note = buf;
    return r;
  }
  char tmpl[4096];
  std::snprintf(tmpl, sizeof tmpl, "%s/ckbench.XXXXXX", a.dir.c_str());
  if (!mkdtemp(tmpl)) throw_errno(std::string("mkdtemp ") + tmpl);
  const std::string work = tmpl, out = work + "/out.txt", img = work + "/ckpt", zst = work + "/baseline.zst";
  pid_t pid = -1, restored = -1;
  try {
    pid = spawn(w.argv, out, out, true);
    const std::string ready = wait_line(out, "ready ", 0, pid, 600);
    // Rounds over the levels (medians of --repeat), so that drift hits every level alike.
    r.levels.resize(levels.size());
    for (unsigned round = 0; round < (levels.empty() ? 0 : a.repeat); ++round)
      for (size_t li = 0; li < levels.size(); ++li) {
        const int level = levels[li];
        // Leave the program running: every level dumps the same memory.
        const std::string limg = work + "/ckpt-l" + std::to_string(level);
        Dumped d = ckdump(a, pid, limg, work, {"-R", level == 0 ? "--compress=none" : "--compress=" + std::to_string(level)});
        if (!d.exit.ok()) throw Error("ckdump --compress=" + std::to_string(level) + ": " + d.error);
        LevelRun& l = r.levels[li];
        l.level = level;
        l.dump_s.add(d.exit.secs);
        l.frozen_s.add(d.frozen_s);
        l.image_bytes = d.image_bytes;
        remove_tree(limg);
        remove_tree(limg + ".d");
      }
    uint64_t rss_before = 0;
    {
      size_t len = 0;
      UniqueMapping copy = copy_dumped_memory(pid, len);
      r.data_mib = static_cast<double>(len) / kMiB;
      // Rounds of baselines and ckdump interleaved, so that the machine's drift hits both.
      // All dumps but the last leave the program running.
      for (unsigned round = 0; round < a.repeat; ++round) {
        const bool last = round + 1 == a.repeat;
        r.zstd.add(time_zstd(copy, len, zst, r.zstd_bytes));
        r.memcpy_.add(time_memcpy(copy, len));
        r.write.add(time_write(copy, len, work + "/write.tmp"));
        set_cache(zst, a.cold);
        r.unzstd.add(time_unzstd(zst, copy, len));
        if (last) rss_before = status_kib(pid, "VmRSS");
        const std::string dimg = last ? img : work + "/ckpt-r" + std::to_string(round);
        Dumped d = last ? ckdump(a, pid, dimg, work, {}) : ckdump(a, pid, dimg, work, {"-R"});
        if (!d.exit.ok()) {
          r.unsupported = d.exit.code() == 4;
          r.note = (r.unsupported ? "unsupported: " : "ckdump failed: ") + d.error;
          kill_and_reap(pid);
          remove_tree(work);
          r.ran = true;
          return r;
        }
        r.dump.add(d.exit.secs);
        r.frozen.add(d.frozen_s);
        r.ckdump_mib.add(d.exit.maxrss_mib);
        r.image_bytes = d.image_bytes;
        if (!last) {
          remove_tree(dimg);
          remove_tree(dimg + ".d");
        }
      }
    }
    waitpid(pid, nullptr, 0);  // ckdump ended it; its PID must be free for the restore
    pid = -1;
    for (unsigned round = 0; round < a.repeat; ++round) {
      set_cache(img, a.cold);
      const size_t out_before = slurp(out).size();
      const Exit e =
          run({a.build + "/src/ckrestore", "-D", img, "-d"}, work + "/ckrestore.out", work + "/ckrestore.err", 120);
      if (!e.ok()) throw Error("ckrestore: " + slurp(work + "/ckrestore.err"));
      restored = static_cast<pid_t>(std::strtol(slurp(work + "/ckrestore.out").c_str(), nullptr, 10));
      r.restore.add(e.secs);
      r.ckrestore_mib.add(e.maxrss_mib);
      const double hwm = static_cast<double>(status_kib(restored, "VmHWM"));
      r.child_extra_mib.add(std::max(0.0, (hwm - static_cast<double>(rss_before)) / 1024.0));
      if (round == 0) {
        kill(restored, SIGUSR1);
        const std::string after = wait_line(out, "sum ", out_before, -1, 120);
        if (after != ready) throw Error("restored program's checksum " + after + " differs from " + ready);
      }
      kill_and_reap(restored);
      restored = -1;
    }
    r.ran = true;
  } catch (...) {
    kill_and_reap(pid);
    kill_and_reap(restored);
    remove_tree(work);
    throw;
  }
  remove_tree(work);
  return r;
}

// ---- report --------------------------------------------------------------------------------

void print_table(const std::vector<Result>& rs, unsigned repeat) {
  std::printf("\nmedians of %u runs\n", repeat);
  std::printf("%-12s %8s | %7s %8s %9s %9s | %7s %7s %7s | %7s %9s %7s %8s %7s | %6s %6s %6s %6s\n", "workload",
              "data MiB", "dump s", "frozen s", "image MB", "restore s", "ckdump", "ckrest", "child+", "zstd1 s",
              "zstd1 MB", "memcpy", "write+fs", "unzstd", "d/zstd", "i/zstd", "d/writ", "r/unzs");
  std::printf("%-12s %8s | %7s %8s %9s %9s | %7s %7s %7s | %7s %9s %7s %8s %7s | %6s %6s %6s %6s\n", "", "", "", "",
              "", "", "MiB", "MiB", "MiB", "", "", "s", "s", "s", "", "", "", "");
  for (const auto& r : rs) {
    const double zs = r.zstd.median(), ws = r.write.median(), us = r.unzstd.median();
    if (!r.ran || r.unsupported) {
      std::printf("%-12s %8s | %s\n", r.name.c_str(), r.data_mib > 0 ? fmt("%.0f", r.data_mib).c_str() : "-",
                  r.note.c_str());
      if (!r.zstd.v.empty())
        std::printf("%-12s %8s | %7s %8s %9s %9s | %7s %7s %7s | %7.3f %9.1f %7.3f %8.3f %7.3f |\n", "", "", "-", "-",
                    "-", "-", "-", "-", "-", zs, r.zstd_bytes / 1e6, r.memcpy_.median(), ws, us);
      continue;
    }
    const double ds = r.dump.median(), rst = r.restore.median();
    std::printf("%-12s %8.0f | %7.3f %8.3f %9.1f %9.3f | %7.1f %7.1f %7.1f | %7.3f %9.1f %7.3f %8.3f %7.3f | %6.2f %6.4f "
                "%6.2f %6.2f\n",
                r.name.c_str(), r.data_mib, ds, r.frozen.median(), r.image_bytes / 1e6, rst, r.ckdump_mib.max(),
                r.ckrestore_mib.max(), r.child_extra_mib.max(), zs, r.zstd_bytes / 1e6, r.memcpy_.median(), ws, us,
                ds / zs, double(r.image_bytes) / double(r.zstd_bytes), ds / ws, rst / us);
    for (const auto& l : r.levels)
      std::printf("%-12s %8s | %7.3f %8.3f %9.1f %9s |  (ckdump -R --compress=%s)\n", "", "", l.dump_s.median(),
                  l.frozen_s.median(), l.image_bytes / 1e6, "", l.level == 0 ? "none" : std::to_string(l.level).c_str());
  }
}

const Result* find(const std::vector<Result>& rs, const std::string& name) {
  for (const auto& r : rs)
    if (r.name == name && r.ran && !r.unsupported) return &r;
  return nullptr;
}

void print_targets(const std::vector<Result>& rs, double big) {
  std::printf("\ntargets (ratios of medians within this run):\n");
  const std::string g = fmt("%g", big) + "G";
  auto line = [](const std::string& what, const Result* r, double value, double limit) {
    if (r == nullptr) {
      std::printf("  %-62s %7s  not run\n", what.c_str(), "-");
      return;
    }
    std::printf("  %-62s %7.3f  %s\n", what.c_str(), value, value <= limit ? "PASS" : "FAIL");
  };
  const Result* s = find(rs, "smooth-" + g);
  const Result* x = find(rs, "random-" + g);
  line("dump smooth-" + g + ": wall / zstd -1 -T0 (<= 1.3)", s, s ? s->dump.median() / s->zstd.median() : 0, 1.3);
  line("dump smooth-" + g + ": image / zstd -1 output (<= 1)", s,
       s ? double(s->image_bytes) / double(s->zstd_bytes) : 0, 1.0);
  const LevelRun* l1 = nullptr;
  if (s)
    for (const auto& l : s->levels)
      if (l.level == 1) l1 = &l;
  line("dump smooth-" + g + " --compress=1 -R: wall / zstd -1 -T0 (<= 1.3)", l1 ? s : nullptr,
       l1 ? l1->dump_s.median() / s->zstd.median() : 0, 1.3);
  line("dump smooth-" + g + " --compress=1 -R: image / zstd -1 output (<= 1)", l1 ? s : nullptr,
       l1 ? double(l1->image_bytes) / double(s->zstd_bytes) : 0, 1.0);
  line("dump random-" + g + ": wall / write+fdatasync (<= 1.3)", x, x ? x->dump.median() / x->write.median() : 0, 1.3);
  line("restore smooth-" + g + ": wall / zstd -d (<= 1.3)", s, s ? s->restore.median() / s->unzstd.median() : 0, 1.3);
  line("restore random-" + g + ": wall / zstd -d (<= 1.3)", x, x ? x->restore.median() / x->unzstd.median() : 0, 1.3);
  const Result* v = find(rs, "vmas");
  const Result* one = find(rs, "smooth-1G");
  line("frozen vmas / frozen smooth-1G (<= 2)", v && one ? v : nullptr,
       v && one ? v->frozen.median() / one->frozen.median() : 0, 2);
  double peak = 0;
  const Result* any = nullptr;
  for (const auto& r : rs)
    if (r.ran && !r.unsupported) {
      peak = std::max({peak, r.ckdump_mib.max(), r.ckrestore_mib.max(), r.child_extra_mib.max()});
      any = &r;
    }
  line("peak RSS MiB: ckdump, ckrestore, restore overhead in the child (<= 256)", any, peak, 256);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "ckbench: run as root (ckrestore gives the program back its PID)\n");
    return 1;
  }
  Launcher spawner;  // before anything large is allocated; see Launcher
  launcher = &spawner;
  // The restored programs are re-parented to us when ckrestore -d exits: we reap them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  const std::string target = a.build + "/bench/bench_target";
  std::vector<Workload> ws;
  double big = 0;
  for (double g : a.sizes) {
    const std::string tag = fmt("%g", g) + "G", mib = std::to_string(static_cast<long>(g * 1024));
    ws.push_back({"smooth-" + tag, {target, mib, "smooth"}, g, false});
    ws.push_back({"random-" + tag, {target, mib, "random"}, g, false});
    big = std::max(big, g);
  }
  for (auto& w : ws) w.largest_smooth = w.name == "smooth-" + fmt("%g", big) + "G";
  ws.push_back({"python", {"/usr/bin/python3", a.src + "/bench/pyheap.py", std::to_string(a.python_mib)},
                a.python_mib / 1024.0, false});
  ws.push_back({"vmas", {target, "1024", "smooth", std::to_string(a.vmas)}, 1, false});
  ws.push_back({"threads", {target, "1024", "smooth", "1", std::to_string(a.threads)}, 1, false});

  std::printf("ckbench: %u CPUs, %.1f GiB available, images in %s, %s, page cache %s before restores\n",
              std::thread::hardware_concurrency(), mem_available_gib(), a.dir.c_str(), a.build.c_str(),
              a.cold ? "cold" : "warm");
  std::printf("vmas = 1 GiB smooth in %u mappings; threads = 1 GiB smooth, %u threads; python = %u MiB heap\n",
              a.vmas, a.threads, a.python_mib);
  std::fflush(stdout);
  std::vector<Result> rs;
  int rc = 0;
  for (const auto& w : ws) {
    if (!a.only.empty() && std::find(a.only.begin(), a.only.end(), w.name) == a.only.end()) continue;
    std::fprintf(stderr, "ckbench: %s ...\n", w.name.c_str());
    try {
      rs.push_back(run_workload(a, w, w.largest_smooth ? a.levels : std::vector<int>{}));
      reap_orphans();
    } catch (const Error& e) {
      Result r;
      r.name = w.name;
      r.note = std::string("FAILED: ") + e.what();
      rs.push_back(r);
      rc = 1;
      reap_orphans();
    }
  }
  print_table(rs, a.repeat);
  print_targets(rs, big);
  std::printf(
      "\ncolumns: dump s = ckdump wall until the image is durable; frozen s = ckdump's frozen_seconds; image MB = all\n"
      "files of the image; restore s = ckrestore -d wall until the program runs again; ckdump/ckrest MiB = their\n"
      "peak RSS; child+ = restored program's VmHWM minus its RSS before the dump (ckrestore's own memory in the\n"
      "child while it fills the pages); baselines on the same bytes copied to our memory: zstd1 = libzstd -1 with\n"
      "one worker per CPU (zstd -1 -T0), memcpy = one thread into prefaulted memory, write+fs = write to --dir and\n"
      "fdatasync, unzstd = zstd -d of zstd1's output file (cache as the header says) into fresh memory (zstd\n"
      "decompresses on one thread whatever -T says). Ratios: d/zstd = dump/zstd1, i/zstd = image/zstd1 bytes,\n"
      "d/writ = dump/write+fs, r/unzs = restore/unzstd.\n");
  return rc;
}
