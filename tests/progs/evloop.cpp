// An event loop as libraries build them: one epoll over a timerfd (ticks every 100 ms), an
// eventfd (written by the loop itself every 5 ticks, as a worker would wake it) and a signalfd
// (SIGUSR2, SIGTERM). Prints "tick N" per timer expiration, "wake K" per eventfd wake-up and
// "signal SIGUSR2 n" per signal; a checkpoint must not lose, repeat or reorder any of them.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

int main() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  itimerspec its{{0, 100000000}, {0, 100000000}};
  timerfd_settime(tfd, 0, &its, nullptr);
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  ev.data.u32 = 2;
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  ev.data.u32 = 3;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
  uint64_t ticks = 0, wakes = 0, pending_wake = 0, signals = 0;
  for (;;) {
    epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 2000);
    if (n == 0) printf("FAIL no event for 2 s\n");
    for (int i = 0; i < n; i++) {
      uint64_t v = 0;
      if (out[i].data.u32 == 1 && read(tfd, &v, sizeof v) == sizeof v) {
        for (uint64_t k = 0; k < v; k++) {
          printf("tick %llu\n", static_cast<unsigned long long>(++ticks));
          if (ticks % 5 == 0) pending_wake++;
        }
        if (pending_wake) {
          uint64_t one = pending_wake;
          pending_wake = 0;
          if (write(efd, &one, sizeof one) != sizeof one) printf("FAIL eventfd write\n");
        }
      } else if (out[i].data.u32 == 2 && read(efd, &v, sizeof v) == sizeof v) {
        for (uint64_t k = 0; k < v; k++) printf("wake %llu\n", static_cast<unsigned long long>(++wakes));
      } else if (out[i].data.u32 == 3) {
        signalfd_siginfo si{};
        while (read(sfd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo == SIGTERM) {
            printf("bye after %llu ticks\n", static_cast<unsigned long long>(ticks));
            return 0;
          }
          printf("signal SIGUSR2 %llu\n", static_cast<unsigned long long>(++signals));
        }
      } else {
        printf("FAIL unexpected event data %u\n", out[i].data.u32);
      }
    }
    fflush(stdout);
  }
}
