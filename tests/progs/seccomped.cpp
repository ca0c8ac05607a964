// A program under a seccomp filter (after no_new_privs) that makes getpriority() fail with
// errno 42 and allows everything else; a thread started afterwards inherits it. Prints "tick N"
// every 100 ms; on SIGUSR1 both threads check that the filter still acts and prints
// "seccomp ok" or "seccomp FAIL ...". A normal user's ckdump must refuse it by name.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

volatile sig_atomic_t g_check = 0;

bool filtered() {
  errno = 0;
  return getpriority(PRIO_PROCESS, 0) == -1 && errno == 42;
}

std::string status_field(const std::string& name) {
  std::ifstream in("/proc/thread-self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", name.size() + 1));
  return "?";
}

bool thread_ok() { return filtered() && status_field("Seccomp") == "2" && status_field("NoNewPrivs") == "1"; }

void* worker(void* out) {
  while (!g_check) usleep(10000);
  *static_cast<bool*>(out) = thread_ok();
  return nullptr;
}

}  // namespace

int main() {
  sock_filter insns[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpriority, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 42),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{sizeof insns / sizeof insns[0], insns};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("seccomp");
    return 1;
  }
  signal(SIGUSR1, [](int) { g_check = 1; });
  bool worker_ok = false;
  pthread_t th;
  pthread_create(&th, nullptr, worker, &worker_ok);
  for (unsigned long tick = 1; !g_check; tick++) {
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
  bool main_ok = thread_ok();
  pthread_join(th, nullptr);
  printf(main_ok && worker_ok ? "seccomp ok\n" : "seccomp FAIL: main %d worker %d\n", main_ok, worker_ok);
  return 0;
}
