#include "remote_syscall.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "arch.hpp"
#include "error.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {
std::string hex(uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}
}  // namespace

int64_t RemoteSyscall::call(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
  const uint64_t args[6] = {a0, a1, a2, a3, a4, a5};
  task_.regs_dirty();
  arch::set_gp_regs(task_.tid(), arch::make_syscall_regs(task_.original_regs().gp, insn_, nr, args));
  task_.step_syscall_stop();  // entry
  task_.step_syscall_stop();  // exit
  return arch::syscall_result(arch::get_gp_regs(task_.tid()));
}

uint64_t RemoteSyscall::check(const std::string& what, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                              uint64_t a4, uint64_t a5) {
  int64_t r = call(nr, a0, a1, a2, a3, a4, a5);
  if (r < 0 && r > -4096) throw_errno("pid " + std::to_string(task_.tid()) + ": " + what, static_cast<int>(-r));
  return static_cast<uint64_t>(r);
}

void remote_read(pid_t pid, uint64_t addr, void* buf, size_t len) {
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n < 0) throw_errno("read memory of pid " + std::to_string(pid) + " at " + hex(addr));
  if (static_cast<size_t>(n) != len)
    throw Error("read memory of pid " + std::to_string(pid) + " at " + hex(addr) + ": short read");
}

void remote_write(pid_t pid, uint64_t addr, const void* buf, size_t len) {
  iovec local{const_cast<void*>(buf), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n < 0) throw_errno("write memory of pid " + std::to_string(pid) + " at " + hex(addr));
  if (static_cast<size_t>(n) != len)
    throw Error("write memory of pid " + std::to_string(pid) + " at " + hex(addr) + ": short write");
}

// Why not process_vm_writev: it copies into the target's pages like any data and leaves the
// caches alone, which is all x86 needs, but an arm64 CPU may then fetch stale instructions from
// its instruction cache (or the data cache may not have written them back to where fetch looks).
// The target cannot do the maintenance itself: it must not run before the code is right. The
// kernel can: a write to /proc/PID/mem goes through access_remote_vm() and copy_to_user_page(),
// which on arm64 cleans the data cache and invalidates the instruction cache for the written
// range of an executable mapping (flush_ptrace_access), as it does for PTRACE_POKETEXT and
// breakpoints. It is one code path for every architecture; the cost, an open per call, is
// nothing next to the syscalls that follow.
void remote_write_code(pid_t pid, uint64_t addr, const void* buf, size_t len) {
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path + " to write code");
  const auto* p = static_cast<const char*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd.get(), p + done, len - done, static_cast<off_t>(addr + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write code into pid " + std::to_string(pid) + " at " + hex(addr + done));
    if (n == 0) throw Error("write code into pid " + std::to_string(pid) + " at " + hex(addr + done) + ": short write");
    done += static_cast<size_t>(n);
  }
}

uint64_t find_syscall_insn(pid_t pid, uint64_t start, uint64_t end) {
  std::vector<uint8_t> bytes(end - start);
  remote_read(pid, start, bytes.data(), bytes.size());
  auto insn = arch::syscall_insn();
  size_t align = arch::syscall_insn_align();
  for (size_t off = 0; off + insn.size() <= bytes.size(); off += align)
    if (std::memcmp(bytes.data() + off, insn.data(), insn.size()) == 0) return start + off;
  throw Error("no syscall instruction in pid " + std::to_string(pid) + " at " + hex(start) + "-" + hex(end));
}

}  // namespace ck
