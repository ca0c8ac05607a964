#include "dump_task.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <cstring>

#include "arch.hpp"
#include "error.hpp"
#include "kernel_abi.hpp"
#include "log.hpp"
#include "proc_parse.hpp"

namespace ck {

namespace {


template <typename T>
T read_scratch(pid_t pid, uint64_t scratch) {
  T v{};
  remote_read(pid, scratch, &v, sizeof v);
  return v;
}

std::string pstr(pid_t pid) { return "pid " + std::to_string(pid); }

void collect_signals(RemoteSyscall& rs, uint64_t scratch, img::Process& p) {
  pid_t pid = p.pid;
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    int64_t r = rs.call(SYS_rt_sigaction, sig, 0, scratch, 8);
    if (r < 0) continue;  // signals the kernel does not let us query (none on Linux today)
    auto ka = read_scratch<KernelSigaction>(pid, scratch);
    p.sigactions[sig - 1] = {ka.handler, ka.flags, ka.restorer, ka.mask};
  }
  // Signals pending for the whole process.
  for (int i = 0;; i++) {
    __ptrace_peeksiginfo_args a{static_cast<uint64_t>(i), PTRACE_PEEKSIGINFO_SHARED, 1};
    img::SigInfo si;
    long n = ptrace(PTRACE_PEEKSIGINFO, pid, &a, si.raw.data());
    if (n < 0) throw_errno("ptrace peeksiginfo " + pstr(pid));
    if (n == 0) break;
    p.shared_pending.push_back(si);
  }
}

// A thread stopped inside an rseq critical section would, on its next return to user space,
// be moved to the section's abort handler by the kernel; the restored thread is not, so it
// goes there now.
void fixup_rseq(pid_t tid, img::Thread& t) {
  if (!t.rseq.ptr) return;
  uint64_t cs = 0;
  remote_read(tid, t.rseq.ptr + 8, &cs, sizeof cs);  // struct rseq.rseq_cs
  if (!cs) return;
  struct {
    uint32_t version, flags;
    uint64_t start_ip, post_commit_offset, abort_ip;
  } desc{};
  remote_read(tid, cs, &desc, sizeof desc);
  uint64_t ip = arch::get_ip(t.gpregs);
  if (ip >= desc.start_ip && ip - desc.start_ip < desc.post_commit_offset) {
    CK_LOG(1, "tid %d: in an rseq critical section, moved to its abort handler", tid);
    arch::set_ip(t.gpregs, desc.abort_ip);
  }
}

}  // namespace

void collect_thread_state(RemoteSyscall& rs, uint64_t scratch, img::Thread& t) {
  const Seized& task = rs.task();
  pid_t tid = task.tid();
  t.tid = tid;
  t.gpregs = task.original_regs().gp;
  t.fpregs = task.original_regs().fp;
  arch::fixup_syscall_restart(t.gpregs);
  t.sigmask = task.original_sigmask();
  for (int i = 0;; i++) {
    __ptrace_peeksiginfo_args a{static_cast<uint64_t>(i), 0, 1};
    img::SigInfo si;
    long n = ptrace(PTRACE_PEEKSIGINFO, tid, &a, si.raw.data());
    if (n < 0) throw_errno("ptrace peeksiginfo " + pstr(tid));
    if (n == 0) break;
    t.pending.push_back(si);
  }
  rs.check("sigaltstack", SYS_sigaltstack, 0, scratch);
  auto ks = read_scratch<KernelStack>(tid, scratch);
  t.altstack = {ks.sp, ks.size, ks.flags};
  rs.check("prctl(PR_GET_TID_ADDRESS)", SYS_prctl, PR_GET_TID_ADDRESS, scratch);
  t.clear_child_tid = read_scratch<uint64_t>(tid, scratch);
  rs.check("get_robust_list", SYS_get_robust_list, 0, scratch, scratch + 8);
  t.robust_list = read_scratch<uint64_t>(tid, scratch);
  t.robust_list_len = read_scratch<uint64_t>(tid, scratch + 8);
  __ptrace_rseq_configuration rc{};
  long n = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof rc, &rc);
  if (n > 0 && rc.rseq_abi_pointer != 0) t.rseq = {rc.rseq_abi_pointer, rc.rseq_abi_size, rc.signature, rc.flags};
  auto comm = proc::read_file_if_exists("/proc/" + std::to_string(tid) + "/comm");
  if (comm) t.comm = comm->substr(0, comm->find('\n'));
  fixup_rseq(tid, t);
}

static TaskCheck check_task_supported_unguarded(pid_t pid);

TaskCheck check_task_supported(pid_t pid) {
  try {
    return check_task_supported_unguarded(pid);
  } catch (const Error& e) {
    if (e.code() != ExitCode::permission) throw;
    // Whatever /proc refused, the reason is the one ptrace would give.
    throw Error("cannot trace " + pstr(pid) + ": " + why_not_traceable(pid), ExitCode::permission);
  }
}

static TaskCheck check_task_supported_unguarded(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  auto status = proc::parse_status(proc::read_file(base + "/status"), base + "/status");
  if (status.tgid != pid)
    throw Error(pstr(pid) + " is a thread of process " + std::to_string(status.tgid) + ": give the process id",
                ExitCode::usage);
  TaskCheck r;
  r.zombie = status.state == 'Z' || status.state == 'X';
  r.threads = status.threads;
  if (r.zombie) return r;
  auto timers = proc::read_file_if_exists(base + "/timers");
  if (timers && !timers->empty())
    throw Error(pstr(pid) + " uses POSIX timers (timer_create): not supported yet", ExitCode::unsupported);
  if (status.seccomp == 2)
    throw Error(pstr(pid) + " runs under a seccomp filter: not supported yet", ExitCode::unsupported);
  return r;
}

void collect_zombie(pid_t pid, img::Process& p) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  auto stat = proc::parse_stat(proc::read_file(path), path);
  p.pid = pid;
  p.zombie = true;
  p.ppid = stat.ppid;
  p.pgid = stat.pgrp;
  p.sid = stat.session;
  p.comm = stat.comm;
  p.exit_status = stat.exit_code;
  p.exit_signal = stat.exit_signal;
}

void collect_process_state(RemoteSyscall& rs, uint64_t scratch, img::Process& p) {
  pid_t pid = rs.task().tid();
  const std::string base = "/proc/" + std::to_string(pid);
  p.pid = pid;

  auto status = proc::parse_status(proc::read_file(base + "/status"), base + "/status");
  auto stat = proc::parse_stat(proc::read_file(base + "/stat"), base + "/stat");
  p.ppid = stat.ppid;
  p.pgid = stat.pgrp;
  p.sid = stat.session;
  p.exit_signal = stat.exit_signal;
  p.comm = status.name;
  p.umask = status.umask;
  p.cwd = proc::read_link(base + "/cwd");
  auto& c = p.creds;
  c.uid = status.uid[0], c.euid = status.uid[1], c.suid = status.uid[2], c.fsuid = status.uid[3];
  c.gid = status.gid[0], c.egid = status.gid[1], c.sgid = status.gid[2], c.fsgid = status.gid[3];
  c.groups = status.groups;
  c.cap_inh = status.cap_inh, c.cap_prm = status.cap_prm, c.cap_eff = status.cap_eff;
  c.cap_bnd = status.cap_bnd, c.cap_amb = status.cap_amb;
  c.no_new_privs = status.no_new_privs;

  auto& mm = p.mm;
  mm.start_code = stat.startcode, mm.end_code = stat.endcode, mm.start_stack = stat.startstack;
  mm.start_data = stat.start_data, mm.end_data = stat.end_data, mm.start_brk = stat.start_brk;
  mm.arg_start = stat.arg_start, mm.arg_end = stat.arg_end, mm.env_start = stat.env_start, mm.env_end = stat.env_end;
  mm.auxv = proc::parse_auxv(proc::read_file(base + "/auxv"), base + "/auxv");
  mm.brk = rs.check("brk", SYS_brk, 0);

  for (int res = 0; res < 16; res++) {
    rs.check("prlimit64", SYS_prlimit64, 0, res, 0, scratch);
    auto lim = read_scratch<rlimit>(pid, scratch);
    p.rlimits[res] = {lim.rlim_cur, lim.rlim_max};
  }
  p.personality = static_cast<uint32_t>(rs.check("personality", SYS_personality, 0xffffffff));
  p.dumpable = static_cast<int32_t>(rs.check("prctl(PR_GET_DUMPABLE)", SYS_prctl, PR_GET_DUMPABLE));
  rs.check("prctl(PR_GET_PDEATHSIG)", SYS_prctl, PR_GET_PDEATHSIG, scratch);
  p.pdeathsig = read_scratch<int32_t>(pid, scratch);
  rs.check("prctl(PR_GET_CHILD_SUBREAPER)", SYS_prctl, PR_GET_CHILD_SUBREAPER, scratch);
  p.child_subreaper = read_scratch<int32_t>(pid, scratch) != 0;
  p.timerslack_ns = rs.check("prctl(PR_GET_TIMERSLACK)", SYS_prctl, PR_GET_TIMERSLACK);
  p.thp_disable = rs.check("prctl(PR_GET_THP_DISABLE)", SYS_prctl, PR_GET_THP_DISABLE) != 0;
  for (int which = 0; which < 3; which++) {
    rs.check("getitimer", SYS_getitimer, which, scratch);
    auto it = read_scratch<itimerval>(pid, scratch);
    p.itimers[which] = {it.it_interval.tv_sec * 1000000 + it.it_interval.tv_usec,
                        it.it_value.tv_sec * 1000000 + it.it_value.tv_usec};
  }
  collect_signals(rs, scratch, p);
}

}  // namespace ck
