// A small process tree: the parent is a session and process-group leader; it has a zombie
// child (exited with status 3, never reaped until SIGUSR1), and a worker child in its process
// group, connected by a pipe with data queued in it; both share the parent's output file.
// On SIGUSR1 the parent reaps the zombie ("zombie status 3"), asks the worker through the
// pipe to report ("worker N"), and checks its own session/group ("session ok").
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

static volatile sig_atomic_t want = 0;

int main() {
  setsid();
  int p[2];
  if (pipe(p) != 0) return 1;
  pid_t zombie = fork();
  if (zombie == 0) _exit(3);
  siginfo_t si;
  if (waitid(P_PID, static_cast<id_t>(zombie), &si, WEXITED | WNOWAIT) != 0) return 1;  // a zombie before "ready"
  pid_t worker = fork();
  if (worker == 0) {
    close(p[1]);
    char buf[64];
    for (unsigned long n = 0;; n++) {
      ssize_t k = read(p[0], buf, sizeof buf);
      if (k <= 0) _exit(9);
      printf("worker %lu got %.*s pgid-ok=%d\n", n, static_cast<int>(k), buf, getpgrp() == getppid());
      fflush(stdout);
    }
  }
  close(p[0]);
  if (write(p[1], "queued", 6) != 6) return 1;  // read at once: the worker prints "worker 0"
  signal(SIGUSR1, [](int) { want = 1; });
  printf("tree ready zombie=%d worker=%d\n", zombie, worker);
  fflush(stdout);
  for (;;) {
    pause();
    if (!want) continue;
    want = 0;
    int st = 0;
    pid_t r = waitpid(zombie, &st, WNOHANG);
    printf("zombie %s status %d\n", r == zombie ? "reaped" : "MISSING", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    if (!WIFEXITED(st)) printf("zombie raw status %#x errno %d\n", st, r < 0 ? errno : 0);
    printf("session %s\n", getsid(0) == getpid() && getpgrp() == getpid() ? "ok" : "WRONG");
    fflush(stdout);
    if (write(p[1], "ping", 4) != 4) printf("pipe WRONG\n");
  }
}
