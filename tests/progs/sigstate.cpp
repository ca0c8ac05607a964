// Signal state that must survive: handlers for SIGINT and SIGUSR1 (counting), SIGUSR2 blocked
// with one instance pending, an alternate signal stack the SIGUSR1 handler runs on, an itimer.
// On SIGINT it prints "sigint N"; on SIGUSR1 "sigusr1 N onstack=1"; on SIGHUP it unblocks
// SIGUSR2 and prints "usr2 delivered=1" if the pending one arrived; "alarms N" grows.
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

static volatile sig_atomic_t n_int = 0, n_usr1 = 0, usr2 = 0, on_stack = 0, n_alarm = 0, hup = 0;
static char altstack[64 * 1024];

int main() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { n_int = n_int + 1; };
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = [](int) {
    int local;
    on_stack = reinterpret_cast<char*>(&local) >= altstack && reinterpret_cast<char*>(&local) < altstack + sizeof altstack;
    n_usr1 = n_usr1 + 1;
  };
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_flags = 0;
  sa.sa_handler = [](int) { usr2 = 1; };
  sigaction(SIGUSR2, &sa, nullptr);
  sa.sa_handler = [](int) { n_alarm = n_alarm + 1; };
  sigaction(SIGALRM, &sa, nullptr);
  sa.sa_handler = [](int) { hup = 1; };
  sigaction(SIGHUP, &sa, nullptr);
  stack_t ss{};
  ss.ss_sp = altstack;
  ss.ss_size = sizeof altstack;
  sigaltstack(&ss, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  raise(SIGUSR2);  // stays pending
  itimerval it{{0, 200000}, {0, 200000}};
  setitimer(ITIMER_REAL, &it, nullptr);
  printf("sigstate ready\n");
  fflush(stdout);
  int seen_int = 0, seen_usr1 = 0;
  for (;;) {
    pause();
    if (n_int != seen_int) printf("sigint %d\n", seen_int = n_int);
    if (n_usr1 != seen_usr1) printf("sigusr1 %d onstack=%d\n", seen_usr1 = n_usr1, static_cast<int>(on_stack));
    if (hup) {
      hup = 0;
      sigprocmask(SIG_UNBLOCK, &set, nullptr);
      printf("usr2 delivered=%d\n", static_cast<int>(usr2));
    }
    if (n_alarm % 5 == 0) printf("alarms %d\n", static_cast<int>(n_alarm));
    fflush(stdout);
  }
}
