#include "remote_syscall.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "arch.hpp"
#include "error.hpp"
#include "hex.hpp"
#include "unique_fd.hpp"
#include "vdso.hpp"

namespace ck {

std::vector<uint8_t> RemoteSyscall::regs_for(long nr, const uint64_t (&args)[6]) const {
  auto gp = arch::make_syscall_regs(task_.original_regs().gp, insn_, nr, args);
  if (guard_frame_) arch::guard_syscall_regs(gp, guard_frame_, guard_trampoline_);
  return gp;
}

int64_t RemoteSyscall::call(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
  const uint64_t args[6] = {a0, a1, a2, a3, a4, a5};
  task_.regs_dirty();
  if (via_nr_ >= 0) {
    arch::set_gp_regs(task_.tid(), regs_for(via_nr_, via_args_));
    task_.step_syscall_stop();  // entry of the vDSO function's syscall
    auto gp = arch::get_gp_regs(task_.tid());
    if (arch::get_syscall_nr(gp) != via_nr_)
      throw Error("pid " + std::to_string(task_.tid()) + ": the vDSO function made syscall " +
                  std::to_string(arch::get_syscall_nr(gp)) + ", not " + std::to_string(via_nr_));
    gp = arch::make_syscall_regs(gp, arch::get_ip(gp), nr, args);
    arch::set_syscall_nr(gp, nr);
    arch::set_gp_regs(task_.tid(), gp);
    task_.step_syscall_stop();  // exit
    return arch::syscall_result(arch::get_gp_regs(task_.tid()));
  }
  arch::set_gp_regs(task_.tid(), regs_for(nr, args));
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


std::optional<ReturnPath> find_return_path(pid_t pid, uint64_t vdso_start, uint64_t vdso_end,
                                           const std::vector<std::pair<uint64_t, uint64_t>>& exec_ranges,
                                           size_t max_bytes) {
  ReturnPath path;
  std::vector<uint8_t> bytes(vdso_end - vdso_start);
  remote_read(pid, vdso_start, bytes.data(), bytes.size());
  const auto insn = arch::syscall_insn();
  for (size_t off = 0; off + insn.size() <= bytes.size() && !path.gadget; off += arch::syscall_insn_align())
    if (std::memcmp(bytes.data() + off, insn.data(), insn.size()) == 0 &&
        arch::is_return_gadget(bytes.data() + off, bytes.size() - off))
      path.gadget = vdso_start + off;
  if (!path.gadget) {
    auto call = arch::way_back_call();
    if (!call) return std::nullopt;
    path.gadget = vdso_symbol(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), call->symbol);
    if (!path.gadget) return std::nullopt;
    path.gadget += vdso_start;
    path.via_nr = call->nr;
    for (int i = 0; i < 6; i++) path.via_args[i] = call->args[i];
  }
  const auto tramps = arch::sigreturn_trampolines();
  const size_t align = arch::trampoline_align();
  auto search = [&](uint64_t start, const std::vector<uint8_t>& b) {
    for (const auto& t : tramps)
      for (auto it = b.begin(); (it = std::search(it, b.end(), t.begin(), t.end())) != b.end(); ++it)
        if (static_cast<size_t>(it - b.begin()) % align == 0) return start + static_cast<uint64_t>(it - b.begin());
    return uint64_t{0};
  };
  path.trampoline = search(vdso_start, bytes);
  size_t budget = max_bytes;
  for (auto [start, end] : exec_ranges) {
    if (path.trampoline) break;
    if (end - start > budget) continue;
    budget -= end - start;
    bytes.resize(end - start);
    try {
      remote_read(pid, start, bytes.data(), bytes.size());
    } catch (const Error&) {
      continue;  // a mapping past its file's end: not readable, and nothing to find there
    }
    path.trampoline = search(start, bytes);
  }
  if (!path.trampoline) return std::nullopt;
  return path;
}

}  // namespace ck
