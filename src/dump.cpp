#include "dump.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "arch.hpp"
#include "dump_fd.hpp"
#include "dump_task.hpp"
#include "dump_vma.hpp"
#include "error.hpp"
#include "image_dir.hpp"
#include "log.hpp"
#include "page_pipeline.hpp"
#include "proc_parse.hpp"
#include "ptrace_seize.hpp"
#include "remote_syscall.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A page of the target's memory for injected syscalls' arguments; unmapped again on the way
// out, whatever happens.
class RemoteScratch {
 public:
  static constexpr size_t kSize = 4096;
  explicit RemoteScratch(RemoteSyscall& rs) : rs_(rs) {
    addr_ = rs.check("mmap scratch page", SYS_mmap, 0, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     static_cast<uint64_t>(-1), 0);
  }
  RemoteScratch(const RemoteScratch&) = delete;
  RemoteScratch& operator=(const RemoteScratch&) = delete;
  ~RemoteScratch() {
    try {
      rs_.call(SYS_munmap, addr_, kSize);
    } catch (const Error& e) {
      log::error("removing scratch page from the target: " + e.message());
    }
  }
  uint64_t addr() const { return addr_; }

 private:
  RemoteSyscall& rs_;
  uint64_t addr_ = 0;
};

void fill_manifest(img::Manifest& m, const img::Process& p, pid_t pid, uint64_t vdso_start, uint64_t vdso_end) {
  utsname u{};
  uname(&u);
  m.arch = arch::kName;
  m.page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  m.kernel = u.release;
  m.hostname = u.nodename;
  m.ck_version = CK_VERSION;
  m.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  m.root_pid = pid;
  auto host = arch::host_cpu_features();
  m.cpu.xfeatures = 0;
  for (auto& t : p.threads) m.cpu.xfeatures |= arch::fp_features_used(t.fpregs);
  m.cpu.xsave_size = p.threads.empty() ? host.xsave_size : static_cast<uint32_t>(p.threads[0].fpregs.size());
  for (auto& v : p.vmas) {
    if (v.kind == img::VmaKind::vvar) m.vvar_size = v.end - v.start;
    if (v.kind == img::VmaKind::vvar_vclock) m.vvar_vclock_size = v.end - v.start;
  }
  if (vdso_end > vdso_start) {
    std::string bytes(vdso_end - vdso_start, '\0');
    remote_read(pid, vdso_start, bytes.data(), bytes.size());
    m.vdso_size = bytes.size();
    m.vdso_xxh3 = img::checksum(bytes.data(), bytes.size());
  }
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

}  // namespace

DumpReport dump(const DumpOptions& opts) {
  auto t0 = Clock::now();
  DumpReport rep;
  const pid_t pid = opts.pid;
  return with_context("dump pid " + std::to_string(pid), [&]() -> DumpReport {
    check_task_supported(pid);
    img::ImageWriter writer(opts.dir);  // fails early (and harmlessly) on a bad directory
    img::Tree tree;
    tree.root_pid = pid;
    tree.processes.resize(1);
    img::Process& p = tree.processes[0];
    img::Manifest manifest;

    CK_LOG(1, "seizing pid %d", pid);
    Seized task = Seized::seize_and_interrupt(pid);
    auto frozen_at = Clock::now();
    FileTable files(tree.files);
    CK_LOG(1, "reading address space");
    AddressSpace as = collect_address_space(pid, files);
    p.vmas = std::move(as.vmas);
    if (as.vdso_end == 0) throw Error("the target has no [vdso]: cannot inject syscalls", ExitCode::unsupported);
    CK_LOG(1, "reading file descriptors");
    p.fds = collect_fds(pid, files, tree.pipes);
    {
      RemoteSyscall rs(task, find_syscall_insn(pid, as.vdso_start, as.vdso_end));
      // Nothing may be delivered while the task runs our syscalls; what arrives stays pending.
      task.set_sigmask(~0ull);
      RemoteScratch scratch(rs);
      CK_LOG(1, "collecting task state");
      collect_task_state(rs, scratch.addr(), p);
    }
    p.mm.exe_file_id = exe_file(pid, files);
    fill_manifest(manifest, p, pid, as.vdso_start, as.vdso_end);

    CK_LOG(1, "writing %zu memory spans", as.spans.size());
    PageDumpOptions po;
    po.level = opts.level;
    po.threads = opts.threads;
    po.progress = opts.progress;
    {
      auto stream = writer.open_stream("pages-" + std::to_string(pid) + ".ck", img::FileKind::pages);
      PageDumpStats ps = dump_pages(pid, as.spans, stream, po, p.pages);
      stream.finish();
      p.pages_raw_bytes = ps.raw_bytes;
      p.zero_pages_skipped = ps.zero_pages;
      rep.pages = ps.pages_dumped;
      rep.zero_pages = ps.zero_pages;
      rep.raw_bytes = ps.raw_bytes;
      rep.image_bytes += ps.written_bytes;
    }
    for (auto& [id, source] : files.content_sources()) {
      CK_LOG(1, "saving content of deleted file %s", tree.files[id].path.c_str());
      UniqueFd src(open(source.c_str(), O_RDONLY | O_CLOEXEC));
      if (!src) throw_errno("open " + source + " (deleted file " + tree.files[id].path + ")");
      auto stream = writer.open_stream(tree.files[id].content, img::FileKind::file_content);
      write_file_content(src.get(), tree.files[id].size, stream);
      stream.finish();
    }
    writer.write_file("tree.ck", img::FileKind::tree, img::encode_tree(tree));
    CK_LOG(1, "committing image");
    writer.commit(manifest);
    if (opts.leave_running) {
      task.put_back();
      rep.frozen_seconds = since(frozen_at);
    } else {
      task.kill();
      rep.frozen_seconds = since(frozen_at);
      wait_gone(pid);
    }
    rep.total_seconds = since(t0);
    return rep;
  });
}

}  // namespace ck
