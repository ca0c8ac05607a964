/* Calls the vDSO through glibc's cached pointers across a checkpoint: clock_gettime
 * (CLOCK_MONOTONIC, CLOCK_REALTIME), gettimeofday, time and getcpu every 100 ms, and a SIGUSR1
 * handler installed with sigaction (glibc adds its SA_RESTORER) raised every 5th tick. A SIGUSR2
 * handler prints "usr2 in", sleeps 3 s (a checkpoint taken then has a signal frame whose return
 * goes to the old vDSO's sigreturn on arm64) and prints "usr2 out". Prints
 * "tick N" each time, "FAIL ..." (and exits 1) when a clock goes backwards, the clocks disagree,
 * the handler did not run, or a call failed.
 *
 * A seccomp filter makes those syscalls fail with EPERM: the calls must be served by a working
 * vDSO without entering the kernel. Code of an old vDSO whose data pages are gone (a vDSO proxy
 * that does not jump to the new vDSO) falls back to the syscall, or reads zeros (time() == 0),
 * and the program says FAIL. Prints "novdso" and exits 2 when this machine's clock source
 * cannot be read from user space (then nothing is tested). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_usr1(int sig) {
  (void)sig;
  handled++;
}

static void on_usr2(int sig) {
  (void)sig;
  static const char in[] = "usr2 in\n", out[] = "usr2 out\n";
  struct timespec d = {3, 0};
  if (write(1, in, sizeof in - 1) < 0) _exit(1);
  while (nanosleep(&d, &d) != 0 && errno == EINTR) {
  }
  if (write(1, out, sizeof out - 1) < 0) _exit(1);
}

static void fail(unsigned long tick, const char* what) {
  printf("FAIL tick %lu: %s (%s)\n", tick, what, strerror(errno));
  fflush(stdout);
  exit(1);
}

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

static void deny_time_syscalls(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      DENY(__NR_clock_gettime),
      DENY(__NR_gettimeofday),
#ifdef __NR_time
      DENY(__NR_time),
#endif
#ifdef __x86_64__
      DENY(__NR_getcpu), /* arm64's vDSO has no getcpu: glibc makes the syscall there */
#endif
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("seccomp");
    exit(1);
  }
}

static long long ns(const struct timespec* t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) fail(0, "sigaction");
  sa.sa_handler = on_usr2;
  if (sigaction(SIGUSR2, &sa, NULL) != 0) fail(0, "sigaction");
  deny_time_syscalls();
  struct timespec m0;
  if (clock_gettime(CLOCK_MONOTONIC, &m0) != 0) {
    printf("novdso\n");
    return 2;
  }
  long cpus = sysconf(_SC_NPROCESSORS_CONF);
  long long last_mono = ns(&m0);
  for (unsigned long tick = 1;; tick++) {
    struct timespec mono, real;
    struct timeval tv;
    unsigned cpu = 0, node = 0;
    if (clock_gettime(CLOCK_MONOTONIC, &mono) != 0) fail(tick, "clock_gettime(CLOCK_MONOTONIC)");
    if (clock_gettime(CLOCK_REALTIME, &real) != 0) fail(tick, "clock_gettime(CLOCK_REALTIME)");
    if (gettimeofday(&tv, NULL) != 0) fail(tick, "gettimeofday");
    time_t t = time(NULL);
    if (t == (time_t)-1) fail(tick, "time");
    if (getcpu(&cpu, &node) != 0) fail(tick, "getcpu");
    if (ns(&mono) < last_mono) fail(tick, "CLOCK_MONOTONIC went backwards");
    last_mono = ns(&mono);
    long long real_us = ns(&real) / 1000, tv_us = tv.tv_sec * 1000000LL + tv.tv_usec;
    if (tv_us < real_us || tv_us - real_us > 2000000) fail(tick, "gettimeofday disagrees with CLOCK_REALTIME");
    if (t < real.tv_sec - 1 || t > tv.tv_sec + 1) fail(tick, "time() disagrees with CLOCK_REALTIME");
    if (cpus > 0 && cpu >= (unsigned)cpus) fail(tick, "getcpu gave a CPU that does not exist");
    if (tick % 5 == 0) {
      sig_atomic_t before = handled;
      if (kill(getpid(), SIGUSR1) != 0) fail(tick, "kill");
      if (handled != before + 1) fail(tick, "the SIGUSR1 handler did not run");
    }
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}
