// A ptrace seizure of one task, owned: the destructor puts the task back exactly as it was
// found (registers, signal mask) and detaches, whatever happened in between. This is what
// keeps the target running untouched when ckdump fails.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "arch.hpp"

namespace ck {

// Told of a SIGSTOP before it is held back while syscalls are injected, and once it was sent
// again (ckdump's Guardian, src/guardian.hpp, which sends it should ckdump die in between).
class HeldStopWatch {
 public:
  virtual uint32_t stop_held(pid_t tid) = 0;
  virtual void forget(uint32_t id) noexcept = 0;

 protected:
  ~HeldStopWatch() = default;
};

class Seized {
 public:
  // Seizes a task that is not ours and stops it with PTRACE_INTERRUPT.
  static Seized seize_and_interrupt(pid_t tid);
  // Seizes our own child (with PTRACE_O_EXITKILL: it dies if we do), runs `after_seize` (which
  // lets the child go on) and waits until the child stops itself with SIGSTOP. Such a seizure
  // kills the child when destroyed before release(): a half-restored process must not live.
  static Seized seize_child_stopped(pid_t tid, const std::function<void()>& after_seize);

  Seized(Seized&& o) noexcept;
  Seized& operator=(Seized&&) = delete;
  Seized(const Seized&) = delete;
  ~Seized();

  pid_t tid() const { return tid_; }
  // A SIGSTOP held back from here on is told to `w` first (ckdump; a restore's tasks die with
  // us anyway).
  void guard_stops_with(HeldStopWatch* w) { guardian_ = w; }
  const arch::TaskRegs& original_regs() const { return orig_; }
  uint64_t original_sigmask() const { return orig_mask_; }

  // Marks the registers as changed: the destructor restores them (with the syscall-restart
  // fixup the kernel would otherwise have applied).
  void regs_dirty() { regs_dirty_ = true; }
  void set_sigmask(uint64_t mask);

  // Resumes with PTRACE_SYSCALL and waits for the next syscall stop; throws if the task dies
  // or stops for anything else. A clone/fork event on the way (an injected clone3 with
  // PTRACE_O_TRACECLONE/TRACEFORK set) is passed over; the new task's id is kept.
  void step_syscall_stop();
  pid_t last_new_task() const { return last_new_task_; }
  // The stop signal if the task's thread group was stopped (job control) when it was seized, else 0.
  int group_stop_signal() const { return group_stop_sig_; }

  // A task that was auto-attached to us (PTRACE_O_TRACECLONE/FORK of a traced task): waits for
  // its first stop. Killed if destroyed before release(), like seize_child_stopped.
  static Seized adopt_new_task(pid_t tid);
  // A task we already trace and that is in a ptrace stop now. Killed if destroyed before release().
  static Seized attached_stopped(pid_t tid);

  // Gives the task its final registers and signal mask and lets it go, from a stop inside the
  // kernel's signal path so that the kernel applies its syscall-restart rules to them.
  void hand_over(const arch::TaskRegs& regs, uint64_t sigmask);

  // Puts back the original registers and signal mask now, from a stop inside the signal path,
  // and keeps the task stopped: from here on, whatever happens to us, the task goes on exactly
  // as it was (a tracer's death detaches it).
  void restore_state();

  // Restores registers and signal mask and detaches now (what the destructor would do).
  void put_back() {
    if (active_) restore_and_detach();
  }
  // The task is no longer to be put back: it was killed (dump done) or handed its final
  // state (restore done). Detaches without touching registers.
  void release();
  // Sends SIGKILL and forgets the task.
  void kill();
  // The task was killed: nothing to put back (the caller reaps it).
  void forget() { active_ = false; }

 private:
  explicit Seized(pid_t tid) : tid_(tid) {}
  void restore_and_detach() noexcept;
  void enter_signal_stop();
  void load_original_state();  // registers and signal mask of the stopped task, as found
  void send_held_stop() noexcept;
  void hold_stop();

  pid_t tid_ = -1;
  bool active_ = false;
  bool kill_on_destroy_ = false;
  bool regs_dirty_ = false;
  bool mask_dirty_ = false;
  pid_t last_new_task_ = -1;
  bool at_syscall_stop_ = false;
  bool held_stop_ = false;
  HeldStopWatch* guardian_ = nullptr;
  uint32_t held_stop_id_ = 0;  // the guardian's name for it
  int group_stop_sig_ = 0;
  arch::TaskRegs orig_;
  uint64_t orig_mask_ = 0;
};

// Why this process may not trace `tid` (ptrace or /proc said EPERM/EACCES), in words: already
// traced, another user's, not dumpable, Yama.
std::string why_not_traceable(pid_t tid);

// Waits for a state change of a traced task; throws naming the task if it exited or was killed.
int wait_traced(pid_t tid);

}  // namespace ck
