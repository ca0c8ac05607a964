// Event fds that must survive a checkpoint: `evfds KIND [DIR]` sets up KIND, prints "ready",
// waits for SIGUSR1 (sent after the restore) and then checks its own state, printing one
// "KIND ... OK" or "FAIL ..." line per check and "done" at the end.
// KIND: eventfd, epoll, timerfd, signalfd, inotify (watches DIR), memfd, pidfd, shared (an
// eventfd and epoll shared with a child).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD static_cast<idtype_t>(3)
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

namespace {

volatile sig_atomic_t g_go = 0;
int g_fails = 0;

void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

void check(bool ok, const char* what) {
  if (ok) {
    say("%s OK", what);
  } else {
    say("FAIL %s (errno %d %s)", what, errno, strerror(errno));
    g_fails++;
  }
}

void wait_go() {
  say("ready");
  while (!g_go) pause();
}

int64_t now(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

std::string link_of(int fd) {
  char buf[256] = {};
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

uint64_t rd(int fd) {
  uint64_t v = 0;
  if (read(fd, &v, sizeof v) != sizeof v) return UINT64_MAX;
  return v;
}

void wr(int fd, uint64_t v) {
  if (write(fd, &v, sizeof v) != sizeof v) say("FAIL write eventfd");
}

// ---- eventfd ----------------------------------------------------------------------------

void eventfd_test() {
  int counter = eventfd(0, EFD_NONBLOCK);
  wr(counter, 5);
  wr(counter, 0xfffffffe00ull);
  int sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
  int blocking = eventfd(7, EFD_CLOEXEC);
  wait_go();
  check(rd(counter) == 5 + 0xfffffffe00ull, "eventfd counter");
  check(rd(counter) == UINT64_MAX && errno == EAGAIN, "eventfd empty after read, nonblocking");
  check(rd(sem) == 1 && rd(sem) == 1 && rd(sem) == 1, "eventfd semaphore gives 1 three times");
  check(rd(sem) == UINT64_MAX && errno == EAGAIN, "eventfd semaphore then empty");
  check((fcntl(blocking, F_GETFL) & O_NONBLOCK) == 0 && (fcntl(blocking, F_GETFD) & FD_CLOEXEC), "eventfd flags");
  check(rd(blocking) == 7, "eventfd blocking counter");
  wr(counter, 2);
  check(readable(counter, 0) && rd(counter) == 2, "eventfd still works");
}

// ---- epoll ------------------------------------------------------------------------------

void epoll_test() {
  int ep = epoll_create1(0);
  int ready = eventfd(1, EFD_NONBLOCK);  // readable at once
  int p[2];
  if (pipe(p) != 0) abort();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0x1234567890ull;
  epoll_ctl(ep, EPOLL_CTL_ADD, ready, &ev);
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = 77;
  epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
  // Added under a number the file no longer has: dup'ed elsewhere, the first number closed.
  int moved = eventfd(0, EFD_NONBLOCK);
  ev.events = EPOLLIN;
  ev.data.u64 = 99;
  epoll_ctl(ep, EPOLL_CTL_ADD, moved, &ev);
  int moved_now = dup2(moved, 40);
  close(moved);
  // Nested: an epoll watching an epoll watching an eventfd.
  int inner = epoll_create1(EPOLL_CLOEXEC);
  int deep = eventfd(0, EFD_NONBLOCK);
  ev.events = EPOLLIN;
  ev.data.u64 = 5;
  epoll_ctl(inner, EPOLL_CTL_ADD, deep, &ev);
  ev.data.u64 = 6;
  epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev);
  say("fds ep=%d ready=%d pipe=%d moved=%d->%d inner=%d deep=%d", ep, ready, p[0], moved, moved_now, inner, deep);
  wait_go();
  epoll_event out[8];
  int n = epoll_wait(ep, out, 8, 1000);
  check(n == 1 && out[0].data.u64 == 0x1234567890ull && (out[0].events & EPOLLIN), "epoll reports the ready eventfd with its data");
  rd(ready);
  check(epoll_wait(ep, out, 8, 200) == 0, "epoll reports nothing else");
  if (write(p[1], "x", 1) != 1) abort();
  n = epoll_wait(ep, out, 8, 1000);
  check(n == 1 && out[0].data.u64 == 77, "epoll reports the pipe after a write");
  check(epoll_wait(ep, out, 8, 200) == 0, "edge-triggered pipe reported once");
  wr(moved_now, 1);
  n = epoll_wait(ep, out, 8, 1000);
  check(n == 1 && out[0].data.u64 == 99, "epoll target added under a closed number still reported");
  rd(moved_now);
  wr(deep, 1);
  n = epoll_wait(ep, out, 8, 1000);
  check(n == 1 && out[0].data.u64 == 6, "nested epoll reported by the outer one");
  n = epoll_wait(inner, out, 8, 1000);
  check(n == 1 && out[0].data.u64 == 5, "inner epoll reports its eventfd");
  ev.events = EPOLLIN;
  errno = 0;
  check(epoll_ctl(ep, EPOLL_CTL_ADD, ready, &ev) < 0 && errno == EEXIST, "interest list holds the eventfd (EEXIST)");
  check(epoll_ctl(ep, EPOLL_CTL_DEL, ready, nullptr) == 0, "interest entry can be deleted");
  check((fcntl(inner, F_GETFD) & FD_CLOEXEC) != 0, "epoll close-on-exec kept");
}

// ---- timerfd ----------------------------------------------------------------------------

void timerfd_test(int gap_ms) {
  int periodic = timerfd_create(CLOCK_MONOTONIC, 0);
  itimerspec its{};
  its.it_value = {0, 200000000};
  its.it_interval = {0, 200000000};
  timerfd_settime(periodic, 0, &its, nullptr);
  // Wall-clock deadline a few seconds after the checkpoint: the test waits `gap_ms` between
  // dump and restore, so a deadline restored as "time left" would come late.
  int wall = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
  int64_t deadline = now(CLOCK_REALTIME) + 5000000000ll;
  its = {};
  its.it_value = {static_cast<time_t>(deadline / 1000000000), static_cast<long>(deadline % 1000000000)};
  timerfd_settime(wall, TFD_TIMER_ABSTIME, &its, nullptr);
  int far = timerfd_create(CLOCK_BOOTTIME, 0);
  its = {};
  its.it_value = {1000, 0};
  timerfd_settime(far, 0, &its, nullptr);
  int off = timerfd_create(CLOCK_MONOTONIC, 0);
  // Expired before the checkpoint and not read: only its expiration count says it fired.
  int expired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  its = {};
  its.it_value = {0, 1000000};
  timerfd_settime(expired, 0, &its, nullptr);
  say("gap %d", gap_ms);
  wait_go();
  itimerspec got{};
  timerfd_gettime(periodic, &got);
  check(got.it_interval.tv_sec == 0 && got.it_interval.tv_nsec == 200000000 && (got.it_value.tv_nsec || got.it_value.tv_sec),
        "periodic timerfd armed with its interval");
  uint64_t missed = rd(periodic);
  check(missed != UINT64_MAX && missed >= 1, "periodic timerfd expirations counted while held");
  rd(periodic);  // the next expiration: from here on they come every interval
  // Counted, not timed one by one: a late wake-up (a loaded machine) reads 2 at once. Timed
  // from the expiration just read (the time to the next one, less an interval), not from when
  // this thread got to run after it.
  timerfd_gettime(periodic, &got);
  int64_t t0 = now(CLOCK_MONOTONIC) + got.it_value.tv_sec * 1000000000ll + got.it_value.tv_nsec - 200000000;
  uint64_t total = 0;
  while (total < 5) {
    uint64_t k = rd(periodic);
    if (k == UINT64_MAX) break;
    total += k;
  }
  int64_t elapsed = now(CLOCK_MONOTONIC) - t0;
  int64_t due = static_cast<int64_t>(total) * 200000000;
  say("%llu expirations in %lld ms", (unsigned long long)total, (long long)(elapsed / 1000000));
  check(elapsed >= due - 5000000 && elapsed <= due + 300000000, "periodic timerfd fires every 200 ms");
  timerfd_gettime(far, &got);
  check(got.it_value.tv_sec > 950 && got.it_value.tv_sec < 1000, "one-shot timerfd keeps its remaining time");
  timerfd_gettime(off, &got);
  check(got.it_value.tv_sec == 0 && got.it_value.tv_nsec == 0, "disarmed timerfd stays disarmed");
  check(readable(expired, 0) && rd(expired) == 1, "expired one-shot timerfd keeps its expiration to read");
  check(!readable(wall, 0) || now(CLOCK_REALTIME) >= deadline, "wall-clock timerfd not early");
  check(readable(wall, 10000), "wall-clock timerfd fires");
  int64_t late = now(CLOCK_REALTIME) - deadline;
  say("wall-clock timer fired %lld ms after its deadline", (long long)(late / 1000000));
  check(late >= 0 && late < 1000000000ll, "wall-clock timerfd fires at its deadline");
  check(rd(wall) == 1, "wall-clock timerfd expired once");
}

// ---- signalfd ---------------------------------------------------------------------------

void signalfd_test() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGWINCH);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  wait_go();
  // One SIGUSR2 was sent before the checkpoint (pending), one after the restore.
  signalfd_siginfo si{};
  int got = 0;
  for (int i = 0; i < 50 && got < 1; i++) {
    if (readable(sfd, 100) && read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2) got++;
  }
  check(got == 1, "signalfd delivers the SIGUSR2 pending at the checkpoint");
  kill(getpid(), SIGWINCH);
  check(readable(sfd, 1000) && read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGWINCH,
        "signalfd gets a signal of its mask");
  say("waiting for SIGUSR2");
  bool ok = false;
  for (int i = 0; i < 100 && !ok; i++)
    if (readable(sfd, 100) && read(sfd, &si, sizeof si) == sizeof si) ok = si.ssi_signo == SIGUSR2;
  check(ok, "signalfd gets SIGUSR2 sent after the restore");
  check((fcntl(sfd, F_GETFL) & O_NONBLOCK) && read(sfd, &si, sizeof si) < 0 && errno == EAGAIN, "signalfd nonblocking");
}

// ---- inotify ----------------------------------------------------------------------------

void inotify_test(const char* dir) {
  std::string d = dir, file = d + "/watched.txt";
  FILE* f = fopen(file.c_str(), "w");
  fputs("x\n", f);
  fclose(f);
  int in = inotify_init1(IN_NONBLOCK);
  // Watch numbers past 16 (fdinfo shows them in hex), and gaps the restore must reproduce.
  for (int i = 0; i < 20; i++) inotify_rm_watch(in, inotify_add_watch(in, "/", IN_ACCESS));
  int gone = inotify_add_watch(in, "/", IN_ACCESS);
  int wd_dir = inotify_add_watch(in, d.c_str(), IN_CREATE | IN_DELETE);
  int wd_file = inotify_add_watch(in, file.c_str(), IN_MODIFY | IN_EXCL_UNLINK);
  inotify_rm_watch(in, gone);
  char buf[4096];
  while (read(in, buf, sizeof buf) > 0) {
  }
  say("wd dir=%d file=%d", wd_dir, wd_file);
  wait_go();
  say("waiting for events");
  bool created = false, modified = false;
  for (int i = 0; i < 100 && !(created && modified); i++) {
    if (!readable(in, 100)) continue;
    ssize_t n = read(in, buf, sizeof buf);
    for (ssize_t at = 0; at < n;) {
      auto* e = reinterpret_cast<inotify_event*>(buf + at);
      say("event wd %d mask %x name '%s'", e->wd, e->mask, e->len ? e->name : "");
      if (e->wd == wd_dir && (e->mask & IN_CREATE) && e->len && !strcmp(e->name, "new.txt")) created = true;
      if (e->wd == wd_file && (e->mask & IN_MODIFY)) modified = true;
      if (e->wd == gone || (e->mask & IN_IGNORED)) say("FAIL unexpected event"), g_fails++;
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  check(created, "inotify reports IN_CREATE in the watched directory under its wd");
  check(modified, "inotify reports IN_MODIFY of the watched file under its wd");
  errno = 0;
  check(inotify_rm_watch(in, gone) < 0 && errno == EINVAL, "the removed watch stays removed");
  check(inotify_add_watch(in, d.c_str(), IN_CREATE | IN_DELETE | IN_MASK_ADD) == wd_dir, "the directory watch keeps its number");
}

// ---- shared between processes -------------------------------------------------------

// An eventfd and an epoll watching it, inherited by a child: after the restore, what the child
// writes is what the parent's epoll reports (one open file description, not two copies).
volatile sig_atomic_t g_child_go = 0;

void shared_test() {
  int efd = eventfd(0, EFD_NONBLOCK);
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 4242;
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  wr(efd, 10);
  pid_t child = fork();
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_child_go = 1; };
    sigaction(SIGUSR2, &sa, nullptr);
    while (!g_child_go) pause();
    uint64_t v = rd(efd);  // takes the parent's 10: the counter is shared
    wr(efd, v == 10 ? 1 : 1000);
    _exit(v == 10 ? 0 : 1);
  }
  say("child %d", child);
  wait_go();
  epoll_event out[2];
  check(epoll_wait(ep, out, 2, 1000) == 1 && out[0].data.u64 == 4242, "parent epoll sees the shared eventfd");
  kill(child, SIGUSR2);
  int status = -1;
  waitpid(child, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child read the counter the parent set");
  check(epoll_wait(ep, out, 2, 1000) == 1 && rd(efd) == 1, "parent reads what the child wrote");
}

// ---- memfd ------------------------------------------------------------------------------

void memfd_test() {
  int m = memfd_create("ck-mem", MFD_ALLOW_SEALING);
  const char text[] = "hello memfd";
  if (write(m, text, sizeof text) != sizeof text) abort();
  if (ftruncate(m, 8192) != 0) abort();
  char* map = static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0));
  strcpy(map + 4096, "written through the mapping");
  fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  lseek(m, 3, SEEK_SET);
  int sealed = memfd_create("ck-sealed", MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (sealed < 0) sealed = memfd_create("ck-sealed", MFD_ALLOW_SEALING);
  if (write(sealed, "frozen", 6) != 6) abort();
  int want_seals = F_SEAL_WRITE | F_SEAL_SEAL | (fcntl(sealed, F_GET_SEALS) & F_SEAL_EXEC);
  fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL);
  // A read-only shared mapping is allowed under F_SEAL_WRITE, and must be again after the restore.
  auto* frozen = static_cast<const char*>(mmap(nullptr, 4096, PROT_READ, MAP_SHARED, sealed, 0));
  if (frozen == MAP_FAILED) abort();
  int plain = memfd_create("ck-plain", 0);  // sealing not allowed: F_SEAL_SEAL
  if (write(plain, "p", 1) != 1) abort();
  wait_go();
  char buf[64] = {};
  check(pread(m, buf, sizeof text, 0) == sizeof text && !strcmp(buf, text), "memfd content");
  check(!strcmp(map + 4096, "written through the mapping"), "memfd mapping content");
  check(pwrite(m, "HELLO", 5, 0) == 5 && !memcmp(map, "HELLO", 5), "memfd fd and mapping are one file");
  check(lseek(m, 0, SEEK_CUR) == 3, "memfd offset");
  check(fcntl(m, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "memfd seals");
  errno = 0;
  check(ftruncate(m, 16384) < 0 && errno == EPERM, "F_SEAL_GROW still forbids growing");
  check(link_of(m).rfind("/memfd:ck-mem", 0) == 0, "memfd name");
  check(fcntl(sealed, F_GET_SEALS) == want_seals, "sealed memfd seals");
  errno = 0;
  check(pwrite(sealed, "x", 1, 0) < 0 && errno == EPERM, "F_SEAL_WRITE still forbids writes");
  errno = 0;
  check(fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK) < 0 && errno == EPERM, "F_SEAL_SEAL still forbids new seals");
  check(pread(sealed, buf, 6, 0) == 6 && !memcmp(buf, "frozen", 6), "sealed memfd content");
  check(!memcmp(frozen, "frozen", 6) && mprotect(const_cast<char*>(frozen), 4096, PROT_READ | PROT_WRITE) < 0,
        "sealed memfd mapped read-only, and cannot be made writable");
  check(fcntl(plain, F_GET_SEALS) == F_SEAL_SEAL, "memfd without MFD_ALLOW_SEALING stays unsealable");
}

// ---- pidfd ------------------------------------------------------------------------------

int fdinfo_pid(int fd) {
  std::string path = "/proc/self/fdinfo/" + std::to_string(fd);
  FILE* f = fopen(path.c_str(), "r");
  char line[256];
  int pid = -2;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "Pid:", 4)) pid = atoi(line + 4);
  if (f) fclose(f);
  return pid;
}

void pidfd_test() {
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  int live = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  // A second child inherits the pidfd of the first: at the restore it must exist before this
  // one is forked.
  pid_t heir = fork();
  if (heir == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_child_go = 1; };
    sigaction(SIGUSR2, &sa, nullptr);
    while (!g_child_go) pause();
    _exit(fdinfo_pid(live) == child ? 0 : 1);
  }
  pid_t done = fork();
  if (done == 0) _exit(3);
  int dead = static_cast<int>(syscall(SYS_pidfd_open, done, PIDFD_NONBLOCK));
  waitpid(done, nullptr, 0);
  // A zombie: exited, not reaped; its pidfd must report the exit and reap it with its status.
  pid_t zombie = fork();
  if (zombie == 0) _exit(5);
  int undead = static_cast<int>(syscall(SYS_pidfd_open, zombie, 0));
  siginfo_t zi{};
  waitid(P_PIDFD, static_cast<id_t>(undead), &zi, WEXITED | WNOWAIT);  // until it is a zombie
  say("child %d", child);
  wait_go();
  check(fdinfo_pid(live) == child, "pidfd refers to the child");
  kill(heir, SIGUSR2);
  int status = -1;
  check(waitpid(heir, &status, 0) == heir && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "a second child inherited the pidfd of the first");
  check(!readable(live, 100), "pidfd of a live child not readable");
  check(fdinfo_pid(dead) == -1, "pidfd of a reaped child says so");
  check(readable(dead, 0), "pidfd of a reaped child readable");
  check(fdinfo_pid(undead) == zombie && readable(undead, 0), "pidfd of a zombie child readable");
  siginfo_t zs{};
  check(waitid(P_PIDFD, static_cast<id_t>(undead), &zs, WEXITED) == 0 && zs.si_pid == zombie && zs.si_status == 5,
        "waitid(P_PIDFD) reaps the zombie with its status");
  check(syscall(SYS_pidfd_send_signal, live, SIGTERM, nullptr, 0) == 0, "pidfd_send_signal");
  check(readable(live, 5000), "pidfd readable once the child exits");
  siginfo_t si{};
  check(waitid(P_PIDFD, static_cast<id_t>(live), &si, WEXITED) == 0 && si.si_pid == child && si.si_status == SIGTERM,
        "waitid(P_PIDFD) reaps the child");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_go = 1; };
  sigaction(SIGUSR1, &sa, nullptr);
  std::string kind = argv[1];
  if (kind == "eventfd") eventfd_test();
  else if (kind == "epoll") epoll_test();
  else if (kind == "timerfd") timerfd_test(argc > 2 ? atoi(argv[2]) : 0);
  else if (kind == "signalfd") signalfd_test();
  else if (kind == "inotify") inotify_test(argc > 2 ? argv[2] : ".");
  else if (kind == "memfd") memfd_test();
  else if (kind == "shared") shared_test();
  else if (kind == "pidfd") pidfd_test();
  else return 2;
  say(g_fails ? "done with %d FAIL" : "done", g_fails);
  return g_fails ? 1 : 0;
}
