// POSIX timers that must continue after a restore with their ids, signals, values and
// notification: a periodic CLOCK_MONOTONIC timer signalling the process (SIGRTMIN, sigev_value
// 0xabc), a deleted one (a gap in the ids), a one-shot CLOCK_REALTIME SIGEV_NONE timer 1000 s
// ahead, and a periodic timer that signals one thread (SIGEV_THREAD_ID, SIGUSR2). Prints
// "tick N" every 100 ms; on SIGUSR1 it checks everything and prints "timers ok" or
// "timers FAIL ...". Also an alarm() 1000 s ahead and a periodic ITIMER_VIRTUAL.
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t g_check = 0;
std::atomic<long> g_rt_count{0}, g_thread_count{0}, g_bad{0};
timer_t g_periodic, g_gap, g_oneshot, g_thread_timer;
std::atomic<pid_t> g_worker_tid{0};

void on_rt(int, siginfo_t* si, void*) {
  if (si->si_code != SI_TIMER || si->si_value.sival_int != 0xabc) g_bad++;
  g_rt_count++;
}

void* worker(void*) {
  g_worker_tid = static_cast<pid_t>(syscall(SYS_gettid));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&set, &si) != SIGUSR2) continue;
    if (si.si_code != SI_TIMER || si.si_value.sival_int != 0xdef) g_bad++;
    g_thread_count++;
  }
  return nullptr;
}

double ms(const itimerspec& t, bool interval) {
  const timespec& v = interval ? t.it_interval : t.it_value;
  return v.tv_sec * 1e3 + v.tv_nsec / 1e6;
}

}  // namespace

int main() {
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, nullptr);  // only the worker takes it
  pthread_t th;
  pthread_create(&th, nullptr, worker, nullptr);
  while (!g_worker_tid) usleep(1000);

  struct sigaction sa {};
  sa.sa_sigaction = on_rt;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGRTMIN, &sa, nullptr);
  signal(SIGUSR1, [](int) { g_check = 1; });

  sigevent se{};
  se.sigev_notify = SIGEV_SIGNAL;
  se.sigev_signo = SIGRTMIN;
  se.sigev_value.sival_int = 0xabc;
  timer_create(CLOCK_MONOTONIC, &se, &g_periodic);
  timer_create(CLOCK_MONOTONIC, &se, &g_gap);
  se.sigev_notify = SIGEV_NONE;
  timer_create(CLOCK_REALTIME, &se, &g_oneshot);
  se.sigev_notify = SIGEV_THREAD_ID;
  se._sigev_un._tid = g_worker_tid;
  se.sigev_signo = SIGUSR2;
  se.sigev_value.sival_int = 0xdef;
  timer_create(CLOCK_MONOTONIC, &se, &g_thread_timer);
  timer_delete(g_gap);
  itimerspec p50{{0, 50000000}, {0, 50000000}}, p100{{0, 100000000}, {0, 100000000}}, once{{0, 0}, {1000, 0}};
  timer_settime(g_periodic, 0, &p50, nullptr);
  timer_settime(g_oneshot, 0, &once, nullptr);
  timer_settime(g_thread_timer, 0, &p100, nullptr);
  alarm(1000);  // one-shot ITIMER_REAL
  itimerval virt{{10, 0}, {10, 0}};
  setitimer(ITIMER_VIRTUAL, &virt, nullptr);
  printf("timers ready ids %ld %ld %ld gap %ld\n", reinterpret_cast<long>(g_periodic), reinterpret_cast<long>(g_oneshot),
         reinterpret_cast<long>(g_thread_timer), reinterpret_cast<long>(g_gap));
  fflush(stdout);
  for (unsigned long tick = 1; !g_check; tick++) {
    printf("tick %lu rt %ld thread %ld\n", tick, g_rt_count.load(), g_thread_count.load());
    fflush(stdout);
    usleep(100000);
  }

  std::string why;
  itimerspec a{}, b{}, c{};
  if (timer_gettime(g_periodic, &a) != 0 || ms(a, true) != 50 || ms(a, false) <= 0 || ms(a, false) > 50)
    why += " periodic";
  if (timer_gettime(g_oneshot, &b) != 0 || ms(b, true) != 0 || ms(b, false) < 900e3 || ms(b, false) > 1000e3)
    why += " oneshot";
  if (timer_gettime(g_thread_timer, &c) != 0 || ms(c, true) != 100) why += " thread-timer";
  unsigned left = alarm(0);
  if (left < 900 || left > 1000) why += " alarm(" + std::to_string(left) + ")";
  itimerval vt{};
  getitimer(ITIMER_VIRTUAL, &vt);
  if (vt.it_interval.tv_sec != 10 || vt.it_value.tv_sec > 10 || (vt.it_value.tv_sec == 0 && vt.it_value.tv_usec == 0))
    why += " itimer-virtual";
  itimerspec g{};
  if (timer_gettime(g_gap, &g) == 0 || errno != EINVAL) why += " gap-exists";
  long rt0 = g_rt_count, th0 = g_thread_count;
  for (int i = 0; i < 10; i++) usleep(100000);  // restarts after each signal
  long rt = g_rt_count - rt0, thr = g_thread_count - th0;
  if (rt < 5) why += " periodic-signals(" + std::to_string(rt) + ")";
  if (thr < 3) why += " thread-signals(" + std::to_string(thr) + ")";
  if (g_bad) why += " wrong-siginfo";
  printf(why.empty() ? "timers ok\n" : "timers FAIL:%s\n", why.c_str());
  return 0;
}
