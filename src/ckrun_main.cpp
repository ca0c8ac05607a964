// ckrun: starts a program so that its own user can checkpoint and restore it.
//
// The program runs in a new user namespace (mapping only the user's own uid and gid), PID
// namespace and mount namespace (with its own /proc), under a small init (PID 1) that reaps
// orphans, forwards signals and exits with the program's status. The user owns these
// namespaces, so ckdump may trace the tree whatever kernel.yama.ptrace_scope says, and
// ckrestore may recreate it with the same PIDs without any privilege.
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "cli_common.hpp"
#include "namespaces.hpp"
#include "unique_fd.hpp"

namespace {

const char kHelp[] =
    "usage: ckrun [--net] [--] PROGRAM [ARGS...]\n"
    "Run PROGRAM so that its user can checkpoint it (ckdump -t PID, with the PID of ckrun or of\n"
    "the program) and restore it (ckrestore) without any privilege, with the same PIDs.\n"
    "Signals TERM, INT, HUP, QUIT, USR1, USR2, CONT sent to ckrun reach the program;\n"
    "ckrun exits with the program's status.\n"
    "  --net   also a network namespace of its own, with only loopback (up): TCP connections\n"
    "          between its processes can then be checkpointed without privilege (TCP_REPAIR)\n";

[[noreturn]] void init_main(int go_fd, char** argv, bool net) {
  char go = 0;
  if (read(go_fd, &go, 1) != 1) _exit(127);
  close(go_fd);
  ck::ns::mount_own_proc();
  if (net) ck::ns::bring_up_loopback();
  // pid 1 only receives signals it has a handler for: install one for each forwarded signal,
  // then block them all and take them with sigwaitinfo.
  sigset_t set = ck::ns::forwarded_signals();
  sigaddset(&set, SIGCHLD);
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember(&set, sig)) signal(sig, [](int) {});
  sigprocmask(SIG_BLOCK, &set, nullptr);
  prctl(PR_SET_NAME, "ckrun-init");
  pid_t prog = fork();
  if (prog < 0) _exit(127);
  if (prog == 0) {
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    for (int sig = 1; sig < NSIG; sig++)
      if (sigismember(&set, sig)) signal(sig, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "ckrun: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  ck::ns::init_loop(prog, set);
}

}  // namespace

int main(int argc, char** argv) {
  return ck::run_main("ckrun", [&] {
    int first = 1;
    if (first < argc && (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help"))) {
      fputs(kHelp, stdout);
      return 0;
    }
    bool net = false;
    if (first < argc && !strcmp(argv[first], "--net")) net = true, first++;
    if (first < argc && !strcmp(argv[first], "--")) first++;
    if (first >= argc) ck::usage_error("missing PROGRAM");
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) ck::throw_errno("pipe");
    ck::UniqueFd go_r(go[0]), go_w(go[1]);
    pid_t init = ck::ns::clone_into_new_namespaces(net);
    if (init == 0) {
      go_w.reset();
      init_main(go_r.get(), argv + first, net);
    }
    go_r.reset();
    ck::ns::write_id_maps(init, ck::ns::own_id_map(getuid()), ck::ns::own_id_map(getgid()));
    char g = 1;
    if (write(go_w.get(), &g, 1) != 1) ck::throw_errno("start init");
    go_w.reset();
    return ck::ns::forward_and_wait(init);
  });
}
