// What one ptrace-injected syscall costs (RemoteSyscall, as ckrestore moves every VMA with one
// injected mremap and ckdump asks the task for its state), next to the same syscalls run by a
// process on itself: the gap is what running them all from code inside the task (one
// injection for the whole list) would save.
//   bench_inject [VMAS]   (default 10000; needs ptrace rights over its own child)
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "error.hpp"
#include "proc_parse.hpp"
#include "ptrace_seize.hpp"
#include "remote_syscall.hpp"
#include "unique_fd.hpp"

using namespace ck;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
constexpr uint64_t kPage = 4096;

// VMAS one-page mappings, each touched, every other page of a reserved stretch (so none
// merge); then MOVED more of the same size further up, as free targets for mremap.
struct Layout {
  uint64_t base = 0, target = 0;
};

Layout make_layout(size_t vmas) {
  const size_t span = 2 * vmas * kPage;
  void* p = mmap(nullptr, 2 * span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap reserve");
  const auto base = reinterpret_cast<uint64_t>(p);
  munmap(p, 2 * span);
  for (size_t i = 0; i < vmas; ++i) {
    void* at = reinterpret_cast<void*>(base + 2 * i * kPage);
    if (mmap(at, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != at)
      throw_errno("mmap vma");
    *static_cast<volatile char*>(at) = 1;
  }
  return {base, base + span};
}

uint64_t vdso_syscall(pid_t pid) {
  for (const auto& m : proc::parse_maps(proc::read_file("/proc/" + std::to_string(pid) + "/maps")))
    if (m.path == "[vdso]") return find_syscall_insn(pid, m.start, m.end);
  throw Error("no [vdso]");
}

}  // namespace

int main(int argc, char** argv) {
  const size_t vmas = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  try {
    int ready[2];
    if (pipe(ready) != 0) throw_errno("pipe");
    const pid_t child = fork();
    if (child < 0) throw_errno("fork");
    if (child == 0) {
      const Layout l = make_layout(vmas);
      if (write(ready[1], &l, sizeof l) != sizeof l) _exit(1);
      for (;;) pause();
    }
    close(ready[1]);
    unsigned char buf[sizeof(Layout)];
    if (read(ready[0], buf, sizeof buf) != sizeof buf) throw Error("child failed");
    Layout l;
    std::memcpy(&l, buf, sizeof l);

    double getpid_s = 0, mremap_s = 0;
    {
      Seized task = Seized::seize_and_interrupt(child);
      RemoteSyscall rs(task, vdso_syscall(child));
      const int n = 2000;
      auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) rs.check("getpid", SYS_getpid);
      getpid_s = since(t0) / n;
      t0 = Clock::now();
      for (size_t i = 0; i < vmas; ++i)
        rs.check("mremap", SYS_mremap, l.base + 2 * i * kPage, kPage, kPage, MREMAP_MAYMOVE | MREMAP_FIXED,
                 l.target + 2 * i * kPage);
      mremap_s = since(t0) / static_cast<double>(vmas);
      task.put_back();
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);

    // The same work done by a process on itself: the kernel's share.
    const Layout mine = make_layout(vmas);
    auto t0 = Clock::now();
    for (int i = 0; i < 2000; ++i) syscall(SYS_getpid);
    const double local_getpid = since(t0) / 2000;
    t0 = Clock::now();
    for (size_t i = 0; i < vmas; ++i)
      if (syscall(SYS_mremap, mine.base + 2 * i * kPage, kPage, kPage, MREMAP_MAYMOVE | MREMAP_FIXED,
                  mine.target + 2 * i * kPage) < 0)
        throw_errno("mremap");
    const double local_mremap = since(t0) / static_cast<double>(vmas);

    std::printf("bench_inject: %zu one-page VMAs\n", vmas);
    std::printf("  %-28s %10s %10s %12s\n", "syscall", "injected", "in-process", "x VMAS (s)");
    std::printf("  %-28s %8.1f us %8.2f us %12.3f\n", "getpid", getpid_s * 1e6, local_getpid * 1e6,
                getpid_s * static_cast<double>(vmas));
    std::printf("  %-28s %8.1f us %8.2f us %12.3f\n", "mremap (move one VMA)", mremap_s * 1e6, local_mremap * 1e6,
                mremap_s * static_cast<double>(vmas));
    std::printf("  all %zu mremaps from inside the task instead: %.3f s -> %.3f s\n", vmas,
                mremap_s * static_cast<double>(vmas), local_mremap * static_cast<double>(vmas) + getpid_s);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_inject: %s\n", e.what());
    return 1;
  }
  return 0;
}
