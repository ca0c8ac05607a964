#include "guardian.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dump_socket.hpp"
#include "error.hpp"
#include "fd_passing.hpp"
#include "log.hpp"

namespace ck {

namespace {

enum Op : uint32_t { kHello = 1, kRepair, kPeekOff, kStop, kForget, kKill, kKillAll, kDone };

// One message, one seqpacket record; a socket travels with it as SCM_RIGHTS.
struct Msg {
  uint32_t op;
  uint32_t id;
  int64_t value;
};

struct Entry {
  Op op;
  uint32_t id;
  int fd;
  int64_t value;
};

// A "Key:" field of /proc/TID/status, or -1 once the task is gone.
long status_field(pid_t tid, const char* key) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* t = strstr(buf, key);
  if (!t) return -1;
  return strtol(t + strlen(key), nullptr, 10);
}

// Whether `tid` is still traced by a thread of the dead ckdump (the tracer is a thread; one
// already gone from /proc counts as ckdump's until the kernel has detached its tracees).
bool traced_by(pid_t tid, pid_t ckdump) {
  const long tracer = status_field(tid, "\nTracerPid:");
  if (tracer <= 0) return false;
  if (tracer == ckdump) return true;
  const long tgid = status_field(static_cast<pid_t>(tracer), "\nTgid:");
  return tgid == ckdump || tgid < 0;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ckdump died: put back what it left changed. Sockets first, at once: the kernel lets the dead
// tracer's threads go as it exits, and those of processes holding a changed socket are parked
// for a second (dump.cpp, ParkedThreads) only so that this comes first. A held SIGSTOP only
// once its task is no longer traced by the dead ckdump: the kernel detaches tracees after the
// tracer's files are closed (the end of file we saw); so the stop is taken as the job-control
// stop of an untraced task, never reported to a tracer on its way out.
void undo(std::vector<Entry>& entries, pid_t ckdump) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->op == kRepair) {
      leave_tcp_repair(it->fd, static_cast<int>(it->value));
    } else if (it->op == kPeekOff) {
      int v = static_cast<int>(it->value);
      setsockopt(it->fd, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof v);
    }
  }
  // Bounded: a tracer stuck in its exit (or a new tracer) must not keep the stop from coming.
  for (int waited = 0;; waited++) {
    bool traced = false;
    for (const Entry& e : entries)
      if (e.op == kStop && traced_by(static_cast<pid_t>(e.value), ckdump)) traced = true;
    if (!traced || waited >= 10000) break;
    sleep_ms(1);
  }
  for (const Entry& e : entries)
    if (e.op == kStop) syscall(SYS_tkill, static_cast<pid_t>(e.value), SIGSTOP);
}

[[noreturn]] void guardian_main(int sock, pid_t ckdump) {
  // Nothing of ckdump's but its socket: no image directory, pidfd, /proc/PID/mem, terminal
  // or pipe kept open by a process that may outlive ckdump.
  if (sock != 3) {
    if (dup3(sock, 3, O_CLOEXEC) < 0) _exit(1);
    sock = 3;
  }
  syscall(SYS_close_range, 0, 2, 0);
  syscall(SYS_close_range, 4, ~0u, 0);
  if (chdir("/") != 0) _exit(1);
  prctl(PR_SET_NAME, "ck-guardian", 0, 0, 0);
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;  // room for every socket in repair mode at once
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  struct sigaction sa {};
  for (int sig = 1; sig < NSIG; sig++) {
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, nullptr);  // none of ckdump's handlers
  }
  sa.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  Msg hello{kHello, 0, getpid()};
  if (send(sock, &hello, sizeof hello, MSG_NOSIGNAL) != sizeof hello) _exit(1);
  std::vector<Entry> entries;
  std::vector<pid_t> kill_list;
  bool kill_all = false;  // the whole list came: only then is the kill the guardian's to finish
  for (;;) {
    Msg m{};
    int fd = -1;
    ssize_t n = recv_with_fd(sock, &m, sizeof m, &fd);
    if (n <= 0) break;  // end of file (or a reset): ckdump is gone
    if (n != sizeof m) _exit(1);
    switch (m.op) {
      case kDone:
        _exit(0);
      case kRepair:
      case kPeekOff:
        // Its socket did not come (no room for another fd): ckdump must not make the change
        // it announced, and learns so from its next message failing.
        if (fd < 0) _exit(1);
        entries.push_back({static_cast<Op>(m.op), m.id, fd, m.value});
        fd = -1;
        break;
      case kStop:
        entries.push_back({kStop, m.id, -1, m.value});
        break;
      case kForget:
        for (auto it = entries.begin(); it != entries.end(); ++it)
          if (it->id == m.id) {
            if (it->fd >= 0) close(it->fd);
            entries.erase(it);
            break;
          }
        break;
      case kKill:
        kill_list.push_back(static_cast<pid_t>(m.value));
        break;
      case kKillAll:
        kill_all = true;
        break;
      default:
        break;
    }
    if (fd >= 0) close(fd);
  }
  if (kill_all) {
    // The dump was complete and the kill had begun: it is finished, the sockets stay in repair
    // mode as the dump left them (closing them sends nothing).
    for (pid_t p : kill_list) kill(p, SIGKILL);
    _exit(0);
  }
  undo(entries, ckdump);
  _exit(0);
}

}  // namespace

Guardian::Guardian() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    throw_errno("cannot start the guardian process (it puts back the target's sockets and stops should ckdump be "
                "killed): socketpair");
  sock_.reset(sv[0]);
  UniqueFd theirs(sv[1]);
  const pid_t me = getpid();
  mid_ = fork();
  if (mid_ < 0)
    throw_errno("cannot start the guardian process (it puts back the target's sockets and stops should ckdump be "
                "killed): fork");
  if (mid_ == 0) {
    // Never back into ckdump's code from here: its destructors belong to ckdump.
    try {
      setsid();
      pid_t g = fork();
      if (g != 0) _exit(g < 0 ? 1 : 0);
      guardian_main(theirs.release(), me);
    } catch (...) {
    }
    _exit(1);
  }
  // Neither the intermediate's exit nor the guardian's hello is waited for here (a few
  // hundred microseconds, more on a loaded machine): both come long before the first change,
  // where started() checks them.
}

// The guardian's hello, before the first message: without it (its fork failed, it died) the
// change the message announces must not be made.
void Guardian::started() {
  if (pid_ > 0) return;
  reap_intermediate();
  Msg hello{};
  ssize_t n;
  while ((n = recv(sock_.get(), &hello, sizeof hello, 0)) < 0 && errno == EINTR) {
  }
  if (n != sizeof hello || hello.op != kHello)
    throw Error("cannot start the guardian process (it puts back the target's sockets and stops should ckdump be "
                "killed): it did not answer");
  pid_ = static_cast<pid_t>(hello.value);
  CK_LOG(2, "guardian pid %d", pid_);
}

void Guardian::reap_intermediate() noexcept {
  if (mid_ <= 0) return;
  // (ECHILD: a wait for any child reaped it already.)
  while (waitpid(mid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  mid_ = -1;
}

void Guardian::done() noexcept {
  reap_intermediate();
  if (!sock_) return;
  Msg m{kDone, 0, 0};
  ::send(sock_.get(), &m, sizeof m, MSG_NOSIGNAL);
  sock_.reset();
}

void Guardian::send(uint32_t op, Id id, int64_t value, int fd) {
  if (!sock_) throw Error("the guardian process was told it is done");
  started();
  const Msg m{op, id, value};
  const ssize_t n = send_with_fd(sock_.get(), &m, sizeof m, fd);
  // Unsaid means unguarded: the caller must not make the change.
  if (n != sizeof m) throw_errno("the guardian process (pid " + std::to_string(pid_) + ") is gone");
}

Guardian::Id Guardian::tcp_repair(int fd, int reuseaddr) {
  Id id = next_++;
  send(kRepair, id, reuseaddr, fd);
  return id;
}

Guardian::Id Guardian::peek_offset(int fd, int value) {
  Id id = next_++;
  send(kPeekOff, id, value, fd);
  return id;
}

Guardian::Id Guardian::stop_held(pid_t tid) {
  Id id = next_++;
  send(kStop, id, tid);
  return id;
}

void Guardian::forget(Id id) noexcept {
  try {
    send(kForget, id, 0);
  } catch (const Error&) {
    // A guardian gone has nothing left to undo either.
  }
}

void Guardian::killing(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) send(kKill, 0, p);
  // A list cut short by ckdump's death is not acted on: the guardian then puts the sockets back
  // instead, and the tree, untouched, runs on.
  send(kKillAll, 0, 0);
}

}  // namespace ck
