#include "ptrace_seize.hpp"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

#include "error.hpp"
#include "fault.hpp"
#include "log.hpp"

namespace ck {

namespace {
std::string tid_str(pid_t tid) { return "pid " + std::to_string(tid); }

// The value of "Key:" in /proc/TID/status (its first field), or -1.
long status_field(pid_t tid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(in, line))
    if (line.rfind(k, 0) == 0) return std::strtol(line.c_str() + k.size(), nullptr, 10);
  return -1;
}

}  // namespace

// Why PTRACE_SEIZE said EPERM, as far as can be told from outside (the kernel's checks in
// ptrace_may_access, in its order): an existing tracer, another user, a non-dumpable process
// (whose files in /proc/PID then belong to root), Yama.
std::string why_not_traceable(pid_t tid) {
  if (long tracer = status_field(tid, "TracerPid"); tracer > 0)
    return "it is already traced by pid " + std::to_string(tracer) + " (a debugger, strace or another ckdump)";
  const long uid = status_field(tid, "Uid");
  if (uid >= 0 && static_cast<uid_t>(uid) != getuid())
    return "it belongs to another user (uid " + std::to_string(uid) + "); only its owner or root may checkpoint it";
  struct stat st {};
  if (stat(("/proc/" + std::to_string(tid) + "/stat").c_str(), &st) == 0 && uid >= 0 && st.st_uid != static_cast<uid_t>(uid))
    return "it is not dumpable (prctl(PR_SET_DUMPABLE, 0), or it changed its credentials or ran a setuid program)";
  std::ifstream yama("/proc/sys/kernel/yama/ptrace_scope");
  int scope = 0;
  if (yama >> scope && scope > 0)
    return "kernel.yama.ptrace_scope is " + std::to_string(scope) +
           ", which forbids tracing a process that is not a child: start the program under ckrun";
  return "Operation not permitted (a security module or a capability it lacks)";
}

int wait_traced(pid_t tid) {
  int status = 0;
  for (;;) {
    pid_t r = waitpid(tid, &status, __WALL);
    if (r == tid) break;
    if (r < 0 && errno == EINTR) continue;
    throw_errno("waitpid " + tid_str(tid));
  }
  if (WIFEXITED(status))
    throw Error(tid_str(tid) + " exited with status " + std::to_string(WEXITSTATUS(status)) + " while traced");
  if (WIFSIGNALED(status))
    throw Error(tid_str(tid) + " was killed by signal " + std::to_string(WTERMSIG(status)) + " while traced");
  return status;
}

Seized Seized::seize_and_interrupt(pid_t tid) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, PTRACE_O_TRACESYSGOOD) != 0) {
    int err = errno;
    if (err == EPERM) throw Error("cannot trace " + tid_str(tid) + ": " + why_not_traceable(tid), ExitCode::permission);
    if (err == ESRCH) throw Error(tid_str(tid) + ": no such process");
    throw_errno("ptrace seize " + tid_str(tid), err);
  }
  Seized s(tid);
  s.active_ = true;
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) throw_errno("ptrace interrupt " + tid_str(tid));
  for (;;) {
    int status = wait_traced(tid);
    if (!WIFSTOPPED(status)) continue;
    if ((status >> 16) == PTRACE_EVENT_STOP) {
      // The stop signal when the task's group is stopped (a job stopped by SIGSTOP or ^Z).
      if (WSTOPSIG(status) != SIGTRAP) s.group_stop_sig_ = WSTOPSIG(status);
      break;
    }
    // A signal arrived before our interrupt: let it be delivered as it would have been.
    int sig = WSTOPSIG(status);
    if (ptrace(PTRACE_CONT, tid, nullptr, sig) != 0) throw_errno("ptrace cont " + tid_str(tid));
  }
  s.load_original_state();
  return s;
}

Seized Seized::seize_child_stopped(pid_t tid, const std::function<void()>& after_seize) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) != 0)
    throw_errno("ptrace seize " + tid_str(tid));
  Seized s(tid);
  s.active_ = true;
  s.kill_on_destroy_ = true;
  after_seize();
  for (;;) {
    int status = wait_traced(tid);
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP && (status >> 16) == 0) break;
    int sig = WIFSTOPPED(status) && (status >> 16) == 0 ? WSTOPSIG(status) : 0;
    if (ptrace(PTRACE_CONT, tid, nullptr, sig) != 0) throw_errno("ptrace cont " + tid_str(tid));
  }
  s.load_original_state();
  return s;
}

void Seized::load_original_state() {
  orig_ = arch::get_regs(tid_);
  if (ptrace(PTRACE_GETSIGMASK, tid_, sizeof orig_mask_, &orig_mask_) != 0)
    throw_errno("ptrace getsigmask " + tid_str(tid_));
}

Seized Seized::attached_stopped(pid_t tid) {
  Seized s(tid);
  s.active_ = true;
  s.kill_on_destroy_ = true;
  s.load_original_state();
  return s;
}

Seized Seized::adopt_new_task(pid_t tid) {
  Seized s(tid);
  s.active_ = true;
  s.kill_on_destroy_ = true;
  for (;;) {
    int status = wait_traced(tid);
    if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP) break;
    throw Error("new task " + std::to_string(tid) + ": unexpected first stop (status " + std::to_string(status) + ")");
  }
  s.load_original_state();
  return s;
}

Seized::Seized(Seized&& o) noexcept
    : tid_(o.tid_),
      active_(std::exchange(o.active_, false)),
      kill_on_destroy_(o.kill_on_destroy_),
      regs_dirty_(o.regs_dirty_),
      mask_dirty_(o.mask_dirty_),
      last_new_task_(o.last_new_task_),
      at_syscall_stop_(o.at_syscall_stop_),
      held_stop_(o.held_stop_),
      guardian_(o.guardian_),
      held_stop_id_(o.held_stop_id_),
      group_stop_sig_(o.group_stop_sig_),
      orig_(std::move(o.orig_)),
      orig_mask_(o.orig_mask_) {}

Seized::~Seized() {
  if (!active_) return;
  if (kill_on_destroy_) kill();
  else restore_and_detach();
}

void Seized::set_sigmask(uint64_t mask) {
  if (ptrace(PTRACE_SETSIGMASK, tid_, sizeof mask, &mask) != 0) throw_errno("ptrace setsigmask " + tid_str(tid_));
  mask_dirty_ = true;
}

// A SIGSTOP the task got while we inject: it is held (we resume the task without it) and sent
// again when the task is let go. The guardian hears of it before it is dropped; should that
// fail, the stop is still sent again on every path out of here.
void Seized::hold_stop() {
  if (held_stop_) return;
  held_stop_ = true;
  if (guardian_) held_stop_id_ = guardian_->stop_held(tid_);
}

void Seized::step_syscall_stop() {
  if (fault_enabled("send_stop")) {
    // Test hook: a SIGSTOP that comes while the task runs its first injected syscall.
    static bool sent = false;
    if (!std::exchange(sent, true)) syscall(SYS_tkill, tid_, SIGSTOP);
  }
  if (ptrace(PTRACE_SYSCALL, tid_, nullptr, nullptr) != 0) throw_errno("ptrace syscall " + tid_str(tid_));
  int status = wait_traced(tid_);
  // A task of a stopped group traps again (PTRACE_EVENT_STOP) before it runs anything, once
  // for the interrupt that seized it; a SIGSTOP sent meanwhile (the only signal our mask lets
  // through) is held back and sent again when the task is let go (restore_and_detach, release).
  for (int again = 0; WIFSTOPPED(status) && again < 64; again++) {
    const int ev = status >> 16, sig = WSTOPSIG(status);
    if (ev == PTRACE_EVENT_STOP) {
      // nothing ran: resume into the syscall again
    } else if (ev == 0 && sig == SIGSTOP) {
      CK_LOG(1, "pid %d: SIGSTOP during an injected syscall: held until the task is let go", tid_);
      hold_stop();
    } else {
      break;
    }
    if (ptrace(PTRACE_SYSCALL, tid_, nullptr, nullptr) != 0) throw_errno("ptrace syscall " + tid_str(tid_));
    if (held_stop_) fault_point("stop_held");
    status = wait_traced(tid_);
  }
  int event = status >> 16;
  if (WIFSTOPPED(status) && (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK)) {
    unsigned long msg = 0;
    ptrace(PTRACE_GETEVENTMSG, tid_, nullptr, &msg);
    last_new_task_ = static_cast<pid_t>(msg);
    if (ptrace(PTRACE_SYSCALL, tid_, nullptr, nullptr) != 0) throw_errno("ptrace syscall " + tid_str(tid_));
    status = wait_traced(tid_);
  }
  if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
    throw Error(tid_str(tid_) + ": unexpected stop (status " + std::to_string(status) + ") during an injected syscall");
  at_syscall_stop_ = true;
}

// From a syscall stop (after injected syscalls) to a stop inside get_signal(): PTRACE_INTERRUPT
// makes the task trap there on its way out of the syscall, before it runs user code. Registers
// set at that stop go through the kernel's syscall-restart logic when the task is let go.
void Seized::enter_signal_stop() {
  if (!at_syscall_stop_) return;
  if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0) throw_errno("ptrace interrupt " + tid_str(tid_));
  if (ptrace(PTRACE_CONT, tid_, nullptr, nullptr) != 0) throw_errno("ptrace cont " + tid_str(tid_));
  int status = wait_traced(tid_);
  // A SIGSTOP that came meanwhile stops the task in the same place, inside get_signal (and
  // that trap consumes the interrupt's): held, like one during the syscalls.
  if (WIFSTOPPED(status) && (status >> 16) == 0 && WSTOPSIG(status) == SIGSTOP) {
    CK_LOG(1, "pid %d: SIGSTOP while leaving injected syscalls: held until the task is let go", tid_);
    hold_stop();
  } else if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP)
    throw Error(tid_str(tid_) + ": unexpected stop (status " + std::to_string(status) + ") leaving an injected syscall");
  at_syscall_stop_ = false;
}

void Seized::hand_over(const arch::TaskRegs& regs, uint64_t sigmask) {
  enter_signal_stop();
  arch::set_regs(tid_, regs);
  if (ptrace(PTRACE_SETSIGMASK, tid_, sizeof sigmask, &sigmask) != 0) throw_errno("ptrace setsigmask " + tid_str(tid_));
  release();
}

// The signal mask goes back before the registers: a thread whose registers are still ours
// takes its way back (rt_sigreturn, mask included) should we die between the two, while one
// with its original registers and our mask would run on with every signal blocked.
void Seized::restore_state() {
  if (regs_dirty_) enter_signal_stop();
  if (mask_dirty_) {
    if (ptrace(PTRACE_SETSIGMASK, tid_, sizeof orig_mask_, &orig_mask_) != 0)
      throw_errno("ptrace setsigmask " + tid_str(tid_));
    mask_dirty_ = false;
  }
  if (regs_dirty_) {
    arch::set_regs(tid_, orig_);
    regs_dirty_ = false;
  }
}

void Seized::restore_and_detach() noexcept {
  active_ = false;
  const bool held = held_stop_;
  try {
    if (regs_dirty_) enter_signal_stop();
    if (mask_dirty_) ptrace(PTRACE_SETSIGMASK, tid_, sizeof orig_mask_, &orig_mask_);  // first: see restore_state
    if (regs_dirty_) arch::set_regs(tid_, orig_);
  } catch (const Error& e) {
    log::error("restoring " + tid_str(tid_) + ": " + e.message());
  }
  send_held_stop();
  ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
  if (held && guardian_) guardian_->forget(held_stop_id_);  // (a stop sent twice is one stop)
}

void Seized::send_held_stop() noexcept {
  if (held_stop_) syscall(SYS_tkill, tid_, SIGSTOP);  // taken once the task is let go
  held_stop_ = false;
}

void Seized::release() {
  if (!active_) return;
  active_ = false;
  const bool held = held_stop_;
  send_held_stop();
  ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
  if (held && guardian_) guardian_->forget(held_stop_id_);
}

void Seized::kill() {
  if (!active_) return;
  active_ = false;
  ::kill(tid_, SIGKILL);
}

}  // namespace ck
