#include "seccomp_state.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cerrno>
#include <string>

#include "error.hpp"
#include "proc_parse.hpp"

namespace ck {

void collect_seccomp(pid_t tid, img::Thread& t) {
  const std::string path = "/proc/" + std::to_string(tid) + "/status";
  auto st = proc::parse_status(proc::read_file(path), path);
  if (st.seccomp == 0) return;
  if (st.seccomp == 1)
    throw Error("tid " + std::to_string(tid) + " runs in seccomp strict mode: not supported", ExitCode::unsupported);
  for (unsigned long i = 0;; i++) {
    long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, i, nullptr);
    if (n < 0 && errno == ENOENT) break;
    if (n < 0 && (errno == EACCES || errno == EPERM))
      throw Error("tid " + std::to_string(tid) +
                      " runs under a seccomp filter: reading it needs CAP_SYS_ADMIN (dump as root): not supported",
                  ExitCode::unsupported);
    if (n < 0) throw_errno("tid " + std::to_string(tid) + ": read seccomp filter " + std::to_string(i));
    std::vector<uint8_t> prog(static_cast<size_t>(n) * sizeof(sock_filter));
    if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, i, prog.data()) != n)
      throw_errno("tid " + std::to_string(tid) + ": read seccomp filter " + std::to_string(i));
    t.seccomp_filters.push_back(std::move(prog));
  }
}

void restore_seccomp(RemoteSyscall& rs, uint64_t data, uint64_t data_size, const img::Thread& t, bool no_new_privs) {
  const pid_t tid = rs.task().tid();
  if (no_new_privs) rs.check("prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  for (size_t k = t.seccomp_filters.size(); k-- > 0;) {  // oldest first
    const auto& prog = t.seccomp_filters[k];
    const std::string what = "seccomp filter " + std::to_string(k) + " of tid " + std::to_string(tid);
    if (prog.size() + 16 > data_size)
      throw Error(what + ": " + std::to_string(prog.size() / 8) + " instructions, too large to install", ExitCode::unsupported);
    struct {
      uint64_t len;  // unsigned short + padding, as struct sock_fprog
      uint64_t filter;
    } fprog{prog.size() / sizeof(sock_filter), data + 16};
    remote_write(tid, data, &fprog, sizeof fprog);
    remote_write(tid, data + 16, prog.data(), prog.size());
    rs.check("install " + what, SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, data);
  }
}

}  // namespace ck
