#include "dump.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "arch.hpp"
#include "dump_event_fd.hpp"
#include "dump_fd.hpp"
#include "dump_ipc.hpp"
#include "dump_socket.hpp"
#include "dump_task.hpp"
#include "dump_vma.hpp"
#include "error.hpp"
#include "fault.hpp"
#include "file_locks.hpp"
#include "guardian.hpp"
#include "image_dir.hpp"
#include "log.hpp"
#include "namespaces.hpp"
#include "page_pipeline.hpp"
#include "proc_parse.hpp"
#include "ptrace_seize.hpp"
#include "remote_syscall.hpp"
#include "time_ns.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The two syscalls that run without a safety net: the mmap of the area that holds the nets and
// its munmap. Each enters the kernel as an rt_sigreturn whose frame (below the red zone of the
// thread's stack, where a signal frame would go) holds the thread's original state, and becomes
// the syscall only at the syscall-entry stop; at the exit stop it is turned back into that
// rt_sigreturn. A ckdump that dies at either stop leaves a thread that returns to exactly where
// it was; only the microseconds between the two stops, while the kernel runs the syscall, are
// unguarded (the thread would return into the vDSO code after the syscall instruction).
int64_t guarded_syscall(Seized& t, uint64_t gadget, long nr, const uint64_t (&args)[6]) {
  const pid_t tid = t.tid();
  const auto& orig = t.original_regs();
  std::vector<uint8_t> probe = arch::safety_frame(orig, t.original_sigmask(), 0);
  const uint64_t frame_addr = (arch::get_sp(orig.gp) - 128 - probe.size()) & ~uint64_t{63};
  auto frame = arch::safety_frame(orig, t.original_sigmask(), frame_addr);
  try {
    remote_write(tid, frame_addr, frame.data(), frame.size());
  } catch (const Error&) {
    // No room on that stack: an ordinary (unguarded) injected syscall.
    t.set_sigmask(~0ull);
    RemoteSyscall rs(t, gadget);
    return rs.call(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
  }
  auto safe = arch::make_syscall_regs(orig.gp, gadget, arch::rt_sigreturn_nr(), args);
  arch::set_sp(safe, arch::sigreturn_sp(frame_addr));
  t.regs_dirty();
  arch::set_gp_regs(tid, safe);
  t.set_sigmask(~0ull);  // only now: the rt_sigreturn puts the mask back too
  t.step_syscall_stop();  // entry of the rt_sigreturn
  auto at_entry = arch::get_gp_regs(tid);
  arch::set_syscall_nr(at_entry, nr);
  arch::set_gp_regs(tid, at_entry);
  auto window = Clock::now();
  if (nr == SYS_mmap && fault_enabled("mmap_window")) {
    ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr);
    raise(SIGKILL);
  }
  t.step_syscall_stop();  // exit of the syscall
  int64_t r = arch::syscall_result(arch::get_gp_regs(tid));
  arch::set_gp_regs(tid, safe);
  CK_LOG(2, "pid %d: syscall %ld ran unguarded for %.1f us", tid, nr, since(window) * 1e6);
  return r;
}

// The target's memory ckdump works with while it injects syscalls when there is no way back
// (see collect_state_from_area): for each thread its safety net (arch::safety_code and the
// frame that puts the thread back if ckdump dies, one page or more), then a page for syscall
// arguments and results. Mapped and unmapped with guarded_syscall.
class InjectionArea {
 public:
  InjectionArea(Seized& leader, uint64_t gadget, const std::vector<std::vector<uint8_t>>& frames_sizes_of)
      : leader_(leader), gadget_(gadget) {
    for (const auto& f : frames_sizes_of) {
      offsets_.push_back(size_);
      size_ += (arch::kSafetyCodeSize + f.size() + 4095) & ~size_t{4095};
    }
    data_off_ = size_;
    size_ += 4096;
    const uint64_t args[6] = {0, size_, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                              static_cast<uint64_t>(-1), 0};
    int64_t r = guarded_syscall(leader, gadget, SYS_mmap, args);
    if (r < 0 && r > -4096) throw_errno("pid " + std::to_string(leader.tid()) + ": mmap injection area", static_cast<int>(-r));
    addr_ = static_cast<uint64_t>(r);
  }
  InjectionArea(const InjectionArea&) = delete;
  InjectionArea& operator=(const InjectionArea&) = delete;
  ~InjectionArea() {
    try {
      const uint64_t args[6] = {addr_, size_, 0, 0, 0, 0};
      int64_t r = guarded_syscall(leader_, gadget_, SYS_munmap, args);
      if (r < 0) log::error("removing the injection area from the target: munmap: " + std::string(strerror(static_cast<int>(-r))));
    } catch (const Error& e) {
      log::error("removing the injection area from the target: " + e.message());
    }
  }
  uint64_t code(size_t thread) const { return addr_ + offsets_[thread]; }
  uint64_t frame(size_t thread) const { return code(thread) + arch::kSafetyCodeSize; }
  uint64_t data() const { return addr_ + data_off_; }

 private:
  Seized& leader_;
  uint64_t gadget_;
  std::vector<size_t> offsets_;
  size_t size_ = 0, data_off_ = 0;
  uint64_t addr_ = 0;
};

// Returns the vDSO's bytes (vdso.ck), empty if the process has none.
std::string fill_manifest(img::Manifest& m, const img::Tree& tree, pid_t vdso_pid, uint64_t vdso_start, uint64_t vdso_end) {
  utsname u{};
  uname(&u);
  m.arch = arch::kName;
  m.page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  m.kernel = u.release;
  m.hostname = u.nodename;
  m.ck_version = CK_VERSION;
  m.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  m.root_pid = tree.root_pid;
  m.cpu.xsave_size = arch::host_cpu_features().xsave_size;
  for (auto& p : tree.processes) {
    auto h = arch::hwcaps_needed(p.mm.auxv);
    m.cpu.hwcap |= h.hwcap;
    m.cpu.hwcap2 |= h.hwcap2;
    for (auto& t : p.threads) {
      m.cpu.xfeatures |= arch::fp_features_used(t.fpregs);
      m.cpu.xsave_size = static_cast<uint32_t>(t.fpregs.size());
    }
    for (auto& v : p.vmas) {
      if (v.kind == img::VmaKind::vvar) m.vvar_size = v.end - v.start;
      if (v.kind == img::VmaKind::vvar_vclock) m.vvar_vclock_size = v.end - v.start;
    }
  }
  if (vdso_end > vdso_start) {
    std::string bytes(vdso_end - vdso_start, '\0');
    remote_read(vdso_pid, vdso_start, bytes.data(), bytes.size());
    m.vdso_size = bytes.size();
    m.vdso_xxh3 = img::checksum(bytes.data(), bytes.size());
    return bytes;
  }
  return {};
}

int32_t exe_file(pid_t pid, FileTable& files) {
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  std::string path = proc::read_link(link);
  const std::string suffix = " (deleted)";
  bool deleted = path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (deleted) path.resize(path.size() - suffix.size());
  struct stat st {};
  if (stat(link.c_str(), &st) != 0) throw_errno("stat " + link);
  return files.add(path, deleted, st, deleted ? link : std::string());
}

// A readable fd with the content of a deleted file: the file itself through /proc, or for
// "mem:PID:START:LEN:PGOFF" a copy of what the process has mapped, made in a memfd. `size`
// is set to the content's length.
UniqueFd open_content_source(const std::string& source, uint64_t& size) {
  if (source.rfind("mem:", 0) != 0) {
    UniqueFd fd(open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open " + source);
    struct stat st {};
    if (fstat(fd.get(), &st) == 0) size = static_cast<uint64_t>(st.st_size);
    return fd;
  }
  unsigned long long pid = 0, start = 0, len = 0, pgoff = 0;
  if (sscanf(source.c_str(), "mem:%llu:%llu:%llu:%llu", &pid, &start, &len, &pgoff) != 4)
    throw Error("bad content source " + source);
  UniqueFd mem(open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (!mem) throw_errno("open /proc/" + std::to_string(pid) + "/mem");
  UniqueFd out(memfd_create("ck-content", MFD_CLOEXEC));
  if (!out) throw_errno("memfd_create");
  std::vector<char> page(4096);
  uint64_t done = 0;
  // Page by page: the first page past the file's end fails to read (SIGBUS for the program).
  for (; done < len; done += page.size()) {
    ssize_t n = pread(mem.get(), page.data(), page.size(), static_cast<off_t>(start + done));
    if (n <= 0) break;
    if (pwrite(out.get(), page.data(), static_cast<size_t>(n), static_cast<off_t>(pgoff + done)) != n)
      throw_errno("copy of mapped content");
  }
  size = pgoff + done;
  return out;
}

// Until the killed task has exited (a zombie waiting for its parent counts as gone: the
// parent's business).
void wait_gone(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  for (int i = 0; i < 200; i++) {
    auto text = proc::read_file_if_exists(path);
    if (!text || proc::parse_stat(*text, path).state == 'Z') return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// One process of the tree while it is dumped: every thread seized (threads[0] is the leader).
struct SeizedProcess {
  pid_t pid = -1;
  bool zombie = false;
  std::vector<Seized> threads;
  AddressSpace as;
  std::optional<ReturnPath> way_back;  // when its threads fit a StackNet each (see collect_process)
};

std::vector<pid_t> list_threads(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Seizes every thread; a thread created meanwhile by one not yet stopped is found by listing
// again until the list no longer changes.
void seize_threads(SeizedProcess& sp) {
  sp.threads.push_back(Seized::seize_and_interrupt(sp.pid));
  for (bool grew = true; grew;) {
    grew = false;
    for (pid_t tid : list_threads(sp.pid)) {
      bool have = std::any_of(sp.threads.begin(), sp.threads.end(), [&](const Seized& s) { return s.tid() == tid; });
      if (have) continue;
      try {
        sp.threads.push_back(Seized::seize_and_interrupt(tid));
      } catch (const Error&) {
        if (access(("/proc/" + std::to_string(sp.pid) + "/task/" + std::to_string(tid)).c_str(), F_OK) == 0) throw;
        continue;  // it exited meanwhile
      }
      grew = true;
    }
  }
}

std::vector<pid_t> children_of(const SeizedProcess& sp) {
  std::vector<pid_t> out;
  for (const auto& t : sp.threads) {
    auto text = proc::read_file_if_exists("/proc/" + std::to_string(sp.pid) + "/task/" + std::to_string(t.tid()) +
                                          "/children");
    if (!text) continue;
    for (pid_t c : proc::parse_children(*text)) out.push_back(c);
  }
  return out;
}

// The tree rooted at `root`, parents before children. Each process is stopped before its
// children are listed, so none can be missed.
std::vector<SeizedProcess> seize_tree(pid_t root, Guardian& guardian) {
  std::vector<SeizedProcess> tree;
  std::vector<pid_t> queue = {root};
  for (size_t i = 0; i < queue.size(); i++) {
    pid_t pid = queue[i];
    with_context("pid " + std::to_string(pid), [&] {
      TaskCheck check = check_task_supported(pid);
      SeizedProcess sp;
      sp.pid = pid;
      sp.zombie = check.zombie;
      if (sp.zombie && i == 0) throw Error("it is a zombie (already exited)");
      if (!sp.zombie) {
        seize_threads(sp);
        for (auto& t : sp.threads) t.guard_stops_with(&guardian);
        for (pid_t c : children_of(sp)) queue.push_back(c);
      }
      tree.push_back(std::move(sp));
    });
  }
  return tree;
}

size_t ns_depth(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  return std::max<size_t>(1, proc::parse_status(proc::read_file(path), path).nspid.size());
}

// The process to dump for `pid`: itself, or for a program under ckrun (or ckrun itself) the
// init of ckrun's namespaces, so that the whole namespace is checkpointed.
pid_t resolve_root(pid_t pid, bool& own_namespaces) {
  own_namespaces = false;
  const size_t ours = ns_depth(getpid());
  auto text = proc::read_file_if_exists("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  if (text)
    for (pid_t c : proc::parse_children(*text))
      if (ns_depth(c) > ns_depth(pid) && ns::inner_pid(c) == 1) {
        own_namespaces = true;
        return c;  // pid is ckrun, c the init it made
      }
  pid_t cur = pid;
  while (ns_depth(cur) > ours) {
    if (ns::inner_pid(cur) == 1) {
      own_namespaces = true;
      return cur;
    }
    const std::string path = "/proc/" + std::to_string(cur) + "/stat";
    cur = proc::parse_stat(proc::read_file(path), path).ppid;
  }
  return pid;
}

// In an image of ckrun's namespaces every PID is the one inside them: that is what the
// programs know and what ckrestore recreates.
void use_inner_pids(img::Tree& tree, const std::vector<SeizedProcess>& seized) {
  std::map<int32_t, int32_t> inner;  // outer pid -> pid inside
  std::vector<proc::Status> st;
  for (const auto& sp : seized) {
    const std::string path = "/proc/" + std::to_string(sp.pid) + "/status";
    st.push_back(proc::parse_status(proc::read_file(path), path));
    inner[sp.pid] = st.back().nspid.empty() ? sp.pid : st.back().nspid.back();
  }
  auto last_or_zero = [](const std::vector<pid_t>& v) { return v.empty() ? 0 : v.back(); };
  for (size_t i = 0; i < seized.size(); i++) {
    img::Process& p = tree.processes[i];
    p.pid = inner[seized[i].pid];
    p.ppid = inner.count(p.ppid) ? inner[p.ppid] : 0;
    p.pgid = last_or_zero(st[i].nspgid);
    p.sid = last_or_zero(st[i].nssid);
    for (auto& t : p.threads) {
      const std::string path = "/proc/" + std::to_string(seized[i].pid) + "/task/" + std::to_string(t.tid) + "/status";
      auto ts = proc::parse_status(proc::read_file(path), path);
      t.tid = ts.nspid.empty() ? t.tid : ts.nspid.back();
    }
  }
  const std::string base = "/proc/" + std::to_string(seized[0].pid);
  tree.root_pid = tree.processes[0].pid;
  tree.own_namespaces = true;
  tree.uid_map = ns::normalize_id_map(proc::read_file(base + "/uid_map"));
  tree.gid_map = ns::normalize_id_map(proc::read_file(base + "/gid_map"));
}

// The way back of arch.hpp for one process: a return gadget in its vDSO and a sigreturn
// trampoline in its vDSO, libc or another file mapped executable (libc first: that is where
// it is). Empty if there is none.
std::optional<ReturnPath> return_path(const SeizedProcess& sp) {
  for (const auto& t : sp.threads) {
    auto status = proc::read_file_if_exists("/proc/" + std::to_string(sp.pid) + "/task/" + std::to_string(t.tid()) + "/status");
    if (status && arch::way_back_forbidden(*status)) return std::nullopt;
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (int libc_pass = 1; libc_pass >= 0; libc_pass--)
    for (const auto& v : sp.as.vmas) {
      bool file = v.kind == img::VmaKind::file_private || v.kind == img::VmaKind::file_shared;
      bool libc = v.name.find("/libc.so") != std::string::npos || v.name.find("/libc-") != std::string::npos ||
                  v.name.find("ld-musl") != std::string::npos;
      if (file && (v.prot & PROT_EXEC) && libc == (libc_pass == 1)) ranges.emplace_back(v.start, v.end);
    }
  return find_return_path(sp.pid, sp.as.vdso_start, sp.as.vdso_end, ranges, size_t{256} << 20);
}

// One thread's injected syscalls on that way back: the frame, and below it a scratch area for
// syscall results, on the thread's own stack below its red zone, where the kernel would write
// the frame of a signal arriving now (the ABI lets anything clobber it). The bytes that were
// there are put back when done. The thread points at the way back before its signals are
// blocked, so from the first change on a ckdump that dies leaves it exactly as it was.
class StackNet {
 public:
  static constexpr size_t kScratch = 4096;  // the page collect_*_state may use (dump_task.hpp)
  static size_t frame_size(const Seized& t, const ReturnPath& path) {
    return arch::guarded_frame(t.original_regs(), t.original_sigmask(), 0, path.trampoline).size();
  }
  // Between the scratch and the frame, room for what a vDSO function (arch::VdsoCall) pushes.
  static constexpr size_t kGap = 512;
  static uint64_t low_end(const Seized& t, size_t frame_size) {
    return arch::guarded_frame_addr(arch::get_sp(t.original_regs().gp), frame_size) - kGap - kScratch;
  }

  StackNet(Seized& t, const ReturnPath& path) : t_(t), rs_(t, path.gadget) {
    const size_t size = frame_size(t, path);
    lo_ = low_end(t, size);
    const uint64_t frame_addr = lo_ + kScratch + kGap;
    saved_.resize(kScratch + kGap + size);
    remote_read(t.tid(), lo_, saved_.data(), saved_.size());
    auto frame = arch::guarded_frame(t.original_regs(), t.original_sigmask(), frame_addr, path.trampoline);
    remote_write(t.tid(), frame_addr, frame.data(), frame.size());
    rs_.guard(frame_addr, path.trampoline);
    if (path.via_nr >= 0) rs_.via(path.via_nr, path.via_args);
    const uint64_t none[6] = {};
    t.regs_dirty();
    arch::set_gp_regs(t.tid(), path.via_nr >= 0 ? rs_.regs_for(path.via_nr, path.via_args) : rs_.regs_for(SYS_getpid, none));
    // Nothing may be delivered while the thread runs our syscalls; what arrives stays pending.
    t.set_sigmask(~0ull);
    fault_point("armed");
  }
  StackNet(const StackNet&) = delete;
  StackNet& operator=(const StackNet&) = delete;
  ~StackNet() {
    if (done_) return;
    try {
      finish();
    } catch (const Error& e) {
      log::error("putting back pid " + std::to_string(t_.tid()) + ": " + e.message());
    }
  }

  RemoteSyscall& rs() { return rs_; }
  uint64_t scratch() const { return lo_; }
  // The thread was killed: nothing to put back.
  void abandon() { done_ = true; }
  // Registers and signal mask back (Seized::restore_state), then the stack's bytes.
  void finish() {
    done_ = true;
    t_.restore_state();
    remote_write(t_.tid(), lo_, saved_.data(), saved_.size());
  }

 private:
  Seized& t_;
  RemoteSyscall rs_;
  uint64_t lo_ = 0;
  std::vector<uint8_t> saved_;
  bool done_ = false;
};

// Whether every thread's stack has room for its StackNet (mapped and writable there): checked
// for all before any is used, so that a process goes one way or the other as a whole.
bool nets_fit(const SeizedProcess& sp, const ReturnPath& path) {
  for (const auto& t : sp.threads) {
    const size_t size = StackNet::kScratch + StackNet::kGap + StackNet::frame_size(t, path);
    const uint64_t lo = StackNet::low_end(t, StackNet::frame_size(t, path));
    std::vector<uint8_t> bytes(size);
    try {
      remote_read(t.tid(), lo, bytes.data(), bytes.size());
      remote_write(t.tid(), lo, bytes.data(), bytes.size());  // the same bytes: only whether it can
    } catch (const Error&) {
      return false;
    }
  }
  return true;
}

// The fallback when the target offers no way back (no return gadget in its vDSO, no sigreturn
// trampoline, no room on a stack): syscalls run from an injection area mapped in the target,
// whose safety nets stay mapped should ckdump die meanwhile.
void collect_state_from_area(SeizedProcess& sp, uint64_t gadget, img::Process& p, img::Tree* sysv_into) {
  const pid_t pid = sp.pid;
  std::vector<std::vector<uint8_t>> frames;
  for (auto& t : sp.threads) frames.push_back(arch::safety_frame(t.original_regs(), 0, 0));
  InjectionArea area(sp.threads[0], gadget, frames);
  RemoteSyscall leader(sp.threads[0], area.code(0));
  for (size_t i = 0; i < sp.threads.size(); i++) {
    auto frame = arch::safety_frame(sp.threads[i].original_regs(), sp.threads[i].original_sigmask(), area.frame(i));
    remote_write(pid, area.frame(i), frame.data(), frame.size());
    auto code = arch::safety_code(area.code(i), area.frame(i));
    remote_write_code(pid, area.code(i), code.data(), code.size());
  }
  collect_process_state(leader, area.data(), p);
  if (sysv_into) collect_sysv_ipc(leader, area.data(), *sysv_into);
  p.threads.resize(sp.threads.size());
  for (size_t i = 0; i < sp.threads.size(); i++) {
    RemoteSyscall rs(sp.threads[i], area.code(i));
    if (i > 0) {
      // On its safety net before its signals are blocked (see StackNet).
      const uint64_t none[6] = {};
      sp.threads[i].regs_dirty();
      arch::set_gp_regs(sp.threads[i].tid(), rs.regs_for(SYS_getpid, none));
      sp.threads[i].set_sigmask(~0ull);
    }
    collect_thread_state(rs, area.data(), p.threads[i]);
    if (i + 1 == sp.threads.size()) fault_point("injected");
    // Back in its own state before the area goes (the leader leaves it through the guarded munmap).
    if (i > 0) sp.threads[i].restore_state();
  }
}

// While ckdump has changed the target's sockets (repair mode, a peek offset), the threads of
// the processes holding them are parked: each is on its way back (a StackNet), its registers
// loaded with a clock_nanosleep of kParkSeconds that it only ever runs if ckdump dies. The
// kernel lets a dead tracer's tracees go at once; so parked, they first sleep while the guardian
// puts the sockets back (a millisecond or so), and only then return to their own state, instead
// of running with a socket still in repair mode (where a send fails). Normally the sleep never
// runs and each thread is put back as it was. A process without a way back on its threads'
// stacks, or whose way back goes through a vDSO function (arm64: the syscall is replaced only
// at its entry stop, by ckdump), is not parked.
class ParkedThreads {
 public:
  static constexpr long kParkSeconds = 1;
  ParkedThreads(std::vector<SeizedProcess>& seized, const std::vector<ProcessFds>& fds) {
    for (size_t i = 0; i < seized.size() && i < fds.size(); i++) {
      SeizedProcess& sp = seized[i];
      if (sp.zombie) continue;
      if (std::none_of(fds[i].fds->begin(), fds[i].fds->end(),
                       [](const img::Fd& f) { return f.kind == img::FdKind::socket; }))
        continue;
      if (!sp.way_back || sp.way_back->via_nr >= 0) {
        CK_LOG(1, "pid %d: no way back to park its threads on while its sockets are read", sp.pid);
        continue;
      }
      for (auto& t : sp.threads) {
        nets_.push_back(std::make_unique<StackNet>(t, *sp.way_back));
        StackNet& net = *nets_.back();
        const struct timespec ts{kParkSeconds, 0};
        remote_write(t.tid(), net.scratch(), &ts, sizeof ts);
        const uint64_t args[6] = {CLOCK_MONOTONIC, 0, net.scratch(), 0, 0, 0};
        arch::set_gp_regs(t.tid(), net.rs().regs_for(SYS_clock_nanosleep, args));
      }
    }
  }
  ParkedThreads(const ParkedThreads&) = delete;
  ParkedThreads& operator=(const ParkedThreads&) = delete;
  // Every thread back in its own state (StackNet::finish), in reverse order.
  ~ParkedThreads() {
    while (!nets_.empty()) nets_.pop_back();
  }
  // The threads were killed.
  void abandon() {
    for (auto& n : nets_) n->abandon();
  }

 private:
  std::vector<std::unique_ptr<StackNet>> nets_;
};

// Holds SIGINT, SIGTERM, SIGHUP and SIGQUIT while ckdump has changed state of the target that
// only its own code puts back (sockets in TCP repair mode, a peek offset): such a signal would
// end ckdump without the destructors that undo it. They are delivered when the hold ends.
class HoldTermSignals {
 public:
  HoldTermSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~HoldTermSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  HoldTermSignals(const HoldTermSignals&) = delete;
  HoldTermSignals& operator=(const HoldTermSignals&) = delete;

 private:
  sigset_t old_;
};

// Reads everything of one stopped process but its pages.
// `sysv_into`: for the init of a tree with its own IPC namespace, where its SysV objects go.
void collect_process(SeizedProcess& sp, FileTable& files, img::Process& p, img::Tree* sysv_into) {
  const pid_t pid = sp.pid;
  CK_LOG(1, "pid %d: %zu thread(s): address space, fds, kernel state", pid, sp.threads.size());
  sp.as = collect_address_space(pid, files);
  p.vmas = sp.as.vmas;
  if (sp.as.vdso_end == 0) throw Error("the process has no [vdso]: cannot inject syscalls", ExitCode::unsupported);
  p.fds = collect_fds(pid, files);
  // Strict mode is per thread and would kill the process at the first injected syscall.
  for (const auto& t : sp.threads) {
    const std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(t.tid()) + "/status";
    if (proc::parse_status(proc::read_file(path), path).seccomp == 1)
      throw Error("thread " + std::to_string(t.tid()) + " runs in seccomp strict mode: not supported", ExitCode::unsupported);
  }
  p.locks = collect_locks(pid, p.fds);
  const uint64_t gadget = find_syscall_insn(pid, sp.as.vdso_start, sp.as.vdso_end);
  auto path = fault_enabled("area") ? std::nullopt : return_path(sp);
  if (path && nets_fit(sp, *path)) {
    sp.way_back = path;
    CK_LOG(2, "pid %d: injecting at %#llx%s, way back through %#llx", pid, static_cast<unsigned long long>(path->gadget),
           path->via_nr >= 0 ? " (a vDSO function)" : "", static_cast<unsigned long long>(path->trampoline));
    // One thread at a time leaves its original state, and is back in it before the next.
    {
      StackNet net(sp.threads[0], *path);
      collect_process_state(net.rs(), net.scratch(), p);
      if (sysv_into) collect_sysv_ipc(net.rs(), net.scratch(), *sysv_into);
      net.finish();
    }
    p.threads.resize(sp.threads.size());
    for (size_t i = 0; i < sp.threads.size(); i++) {
      StackNet net(sp.threads[i], *path);
      collect_thread_state(net.rs(), net.scratch(), p.threads[i]);
      if (i + 1 == sp.threads.size()) fault_point("injected");
      net.finish();
    }
  } else {
    CK_LOG(1, "pid %d: no way back without memory of ours: injecting from a mapped safety-net page", pid);
    collect_state_from_area(sp, gadget, p, sysv_into);
  }
  p.mm.exe_file_id = exe_file(pid, files);
  // A stopped job (SIGSTOP, ^Z) comes back stopped: with a SIGSTOP pending it stops again the
  // moment ckrestore lets it go, and continues on SIGCONT.
  if (sp.threads[0].group_stop_signal() != 0) {
    auto is_stop = [](const img::SigInfo& si) {
      int sig = 0;
      std::memcpy(&sig, si.raw.data(), sizeof sig);
      return sig == SIGSTOP;
    };
    if (std::none_of(p.shared_pending.begin(), p.shared_pending.end(), is_stop)) {
      img::SigInfo si;
      const int head[3] = {SIGSTOP, 0, SI_USER};  // si_signo, si_errno, si_code
      std::memcpy(si.raw.data(), head, sizeof head);
      p.shared_pending.push_back(si);
    }
    CK_LOG(1, "pid %d: stopped by signal %d: restored stopped", pid, sp.threads[0].group_stop_signal());
  }
}

// Ends the injection phase of a process: scratch page gone (by the caller), original registers
// and signal mask back while it stays stopped. Should ckdump die during the long page dump
// that follows, the kernel detaches threads that are exactly as they were.
void put_back_registers(SeizedProcess& sp) {
  for (auto& t : sp.threads) t.restore_state();
}

}  // namespace

DumpReport dump(const DumpOptions& opts) {
  auto t0 = Clock::now();
  DumpReport rep;
  return with_context("dump pid " + std::to_string(opts.pid), [&]() -> DumpReport {
    check_task_supported(opts.pid);
    bool own_namespaces = false;
    const pid_t root = resolve_root(opts.pid, own_namespaces);
    if (root != opts.pid) CK_LOG(1, "pid %d runs under ckrun: dumping its namespace from pid %d", opts.pid, root);
    img::ImageWriter writer(opts.dir, opts.keep);  // fails early (and harmlessly) on a bad directory
    img::Tree tree;
    tree.root_pid = root;
    img::Manifest manifest;

    // Before anything of the target changes (and before it is frozen: the fork costs ~1 ms),
    // the process that puts back what a SIGKILLed ckdump could not. Destroyed after the seizures.
    auto guardian_at = Clock::now();
    Guardian guardian;
    rep.guardian_seconds = since(guardian_at);
    CK_LOG(1, "seizing the tree of pid %d", root);
    std::vector<SeizedProcess> seized = seize_tree(root, guardian);
    auto frozen_at = Clock::now();
    rep.seize_seconds = std::chrono::duration<double>(frozen_at - t0).count();
    fault_point("seized");
    FileTable files(tree.files);
    const bool own_ipc = own_namespaces && ns::other_ns(root, "ipc");
    tree.processes.resize(seized.size());
    std::vector<ProcessFds> fds;
    for (size_t i = 0; i < seized.size(); i++) {
      img::Process& p = tree.processes[i];
      with_context("pid " + std::to_string(seized[i].pid), [&] {
        if (seized[i].zombie) {
          collect_zombie(seized[i].pid, p);
        } else {
          collect_process(seized[i], files, p, i == 0 && own_ipc ? &tree : nullptr);
          put_back_registers(seized[i]);
        }
      });
      fds.push_back({seized[i].pid, &p.fds});
    }
    link_fds(fds, tree.pipes);
    for (const auto& f : tree.files)  // POSIX shm objects: gone after a reboot, not on another node
      if (!f.deleted && f.type == img::FileType::regular && f.path.rfind("/dev/shm/", 0) == 0)
        files.keep_content(f.id, f.path);
    check_sysv_attachments(tree, own_ipc);
    if (!own_ipc) {
      std::vector<pid_t> os_pids;
      for (const auto& sp : seized) os_pids.push_back(sp.pid);
      check_foreign_sysv(os_pids);
    }
    dedupe_ofd_locks(tree.processes);
    SocketDump sockets(SocketDumpOptions{opts.drop_external_tcp}, guardian);
    {
      HoldTermSignals hold;  // the target's sockets are changed (repair mode, peek offset) meanwhile
      ParkedThreads parked(seized, fds);
      sockets.collect(fds, seized[0].pid, tree);
    }
    tree.own_netns = own_namespaces && ns::other_ns(seized[0].pid, "net");
    if (own_namespaces) {
      use_inner_pids(tree, seized);
      std::vector<pid_t> os_pids;
      for (const auto& sp : seized) os_pids.push_back(sp.pid);
      ns::collect_time_ns(tree, os_pids);
    }
    collect_event_files(fds, tree);
    const SeizedProcess& first = seized[0];
    const std::string vdso = fill_manifest(manifest, tree, first.pid, first.as.vdso_start, first.as.vdso_end);

    auto phase = Clock::now();
    rep.state_seconds = std::chrono::duration<double>(phase - frozen_at).count();
    PageDumpOptions po;
    po.level = opts.level;
    po.threads = opts.threads;
    po.progress = opts.progress;
    std::vector<img::ImageWriter::Stream> unfinished;  // finished (fdatasync) once all is read
    for (size_t i = 0; i < seized.size(); i++) {
      img::Process& p = tree.processes[i];
      if (p.zombie) continue;
      CK_LOG(1, "pid %d: writing %zu memory spans", seized[i].pid, seized[i].as.spans.size());
      auto stream = writer.open_stream("pages-" + std::to_string(p.pid) + ".ck", img::FileKind::pages);
      PageDumpStats ps = dump_pages(seized[i].pid, seized[i].as.spans, stream, po, p.pages);
      stream.flush();
      unfinished.push_back(std::move(stream));
      p.pages_raw_bytes = ps.raw_bytes;
      p.zero_pages_skipped = ps.zero_pages;
      rep.pages += ps.pages_dumped;
      rep.zero_pages += ps.zero_pages;
      rep.raw_bytes += ps.raw_bytes;
      rep.pages_bytes += ps.written_bytes;
      rep.read_seconds += ps.read_seconds;
      rep.compress_seconds += ps.compress_seconds;
      rep.write_seconds += ps.write_seconds;
      rep.writer_wait_seconds += ps.writer_wait_seconds;
      rep.frames += ps.frames;
      rep.raw_frames += ps.raw_frames;
    }
    if (!vdso.empty()) {  // for a restore on a kernel with another vDSO (vdso.hpp)
      auto stream = writer.open_stream(img::kVdsoName, img::FileKind::file_content);
      stream.write(vdso.data(), vdso.size());
      stream.flush();
      unfinished.push_back(std::move(stream));
    }
    for (auto& [id, source] : files.content_sources()) {
      CK_LOG(1, "saving content of deleted file %s", tree.files[id].path.c_str());
      UniqueFd src = open_content_source(source, tree.files[id].size);
      auto stream = writer.open_stream(tree.files[id].content, img::FileKind::file_content);
      write_file_content(src.get(), tree.files[id].size, stream);
      stream.flush();
      unfinished.push_back(std::move(stream));
    }
    // Everything of the processes is read. A process left running goes now: the final
    // fdatasyncs and the commit need nothing more from it, and a failure there still leaves
    // it running untouched (only the image is lost).
    if (opts.leave_running) {
      for (auto& sp : seized)
        for (auto& t : sp.threads) t.put_back();
      rep.frozen_seconds = since(frozen_at);
    }
    rep.pages_seconds = since(phase);
    phase = Clock::now();
    for (auto& stream : unfinished) stream.finish();
    rep.sync_seconds = since(phase);
    phase = Clock::now();
    writer.write_file("tree.ck", img::FileKind::tree, img::encode_tree(tree));
    fault_point("commit");
    CK_LOG(1, "committing image");
    writer.commit(manifest);
    fault_point("committed");
    rep.commit_seconds = since(phase);
    rep.image_bytes = writer.bytes_written();
    phase = Clock::now();
    if (!opts.leave_running) {
      HoldTermSignals hold;  // sockets in repair mode from here on: only the kill may follow
      std::optional<ParkedThreads> parked;
      if (sockets.silences_any()) parked.emplace(seized, fds);
      sockets.silence_before_kill();
      fault_point("silenced");
      std::vector<pid_t> live;
      for (auto& sp : seized)
        if (!sp.zombie) live.push_back(sp.pid);
      try {
        guardian.killing(live);
      } catch (const Error& e) {
        // The image is committed and the connections are silenced: the kill must follow, by
        // ckdump itself, now without a guardian to finish it should ckdump die meanwhile.
        log::warn(e.message() + ": killing the tree without it");
      }
      fault_point("killing");
      // The whole tree goes at once: no process may see another die and react.
      for (pid_t pid : live) ::kill(pid, SIGKILL);
      if (parked) parked->abandon();
      guardian.done();  // the tree is going: its sockets close in repair mode, as they should
      // Reaped in any order: an init of a PID namespace finishes dying only once its traced
      // children are reaped, and their exits come to us, the tracer.
      for (auto& sp : seized)
        for (auto& t : sp.threads) t.forget();
      while (waitpid(-1, nullptr, __WALL) > 0 || errno == EINTR) {
      }
      rep.frozen_seconds = since(frozen_at);
      wait_gone(root);
    }
    rep.end_seconds = since(phase);
    rep.total_seconds = since(t0);
    return rep;
  });
}

}  // namespace ck
