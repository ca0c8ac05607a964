// File locks that must still be held after a restore: a flock, two POSIX record locks and an
// OFD lock held by the parent, a POSIX lock held by its child. Prints "tick N" every 100 ms; on
// SIGUSR1 it forks a fresh process that checks every lock is seen held by the right owner,
// then the owners unlock and a second check sees the file free. Prints "locks ok" or
// "locks FAIL ...".
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

volatile sig_atomic_t g_check = 0;
std::string g_path;

// Runs in a new process (another lock owner than the tree): which checks fail, as bits.
int probe(pid_t parent, pid_t child, bool expect_held) {
  int bad = 0;
  int fd = open(g_path.c_str(), O_RDWR);
  if (fd < 0) return 0xff;
  bool flocked = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (flocked != expect_held) bad |= 1;
  auto getlk = [&](int cmd, short type, off_t start, off_t len) {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    if (fcntl(fd, cmd, &fl) != 0) fl.l_type = -1;
    return fl;
  };
  struct flock a = getlk(F_GETLK, F_WRLCK, 0, 10);
  if (expect_held ? !(a.l_type == F_WRLCK && a.l_pid == parent && a.l_start == 0 && a.l_len == 10) : a.l_type != F_UNLCK)
    bad |= 2;
  struct flock b = getlk(F_GETLK, F_WRLCK, 50, 1);
  if (expect_held ? !(b.l_type == F_RDLCK && b.l_pid == parent && b.l_start == 40 && b.l_len == 20) : b.l_type != F_UNLCK)
    bad |= 4;
  struct flock c = getlk(F_OFD_GETLK, F_WRLCK, 100, 10);
  if (expect_held ? !(c.l_type == F_RDLCK && c.l_pid == -1 && c.l_start == 100 && c.l_len == 10) : c.l_type != F_UNLCK)
    bad |= 8;
  struct flock d = getlk(F_GETLK, F_RDLCK, 300, 5);
  if (expect_held ? !(d.l_type == F_WRLCK && d.l_pid == child && d.l_start == 200 && d.l_len == 0) : d.l_type != F_UNLCK)
    bad |= 16;
  return bad;
}

int run_probe(pid_t parent, pid_t child, bool expect_held) {
  pid_t p = fork();
  if (p == 0) _exit(probe(parent, child, expect_held));
  int st = 0;
  waitpid(p, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 0xff;
}

bool setlk(int fd, int cmd, short type, off_t start, off_t len) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl(fd, cmd, &fl) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  g_path = std::string(argv[1]) + "/locked.dat";
  int a = open(g_path.c_str(), O_RDWR | O_CREAT, 0600);
  int b = open(g_path.c_str(), O_RDWR);
  int c = open(g_path.c_str(), O_RDWR);
  if (a < 0 || b < 0 || c < 0 || ftruncate(a, 4096) != 0) return 1;
  int ack[2], go[2];
  if (pipe(ack) != 0 || pipe(go) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    int d = open(g_path.c_str(), O_RDWR);
    if (!setlk(d, F_SETLK, F_WRLCK, 200, 0)) _exit(1);
    if (write(ack[1], "l", 1) != 1) _exit(1);
    char x;
    if (read(go[0], &x, 1) != 1) _exit(1);  // unlock when told to
    bool ok = setlk(d, F_SETLK, F_UNLCK, 200, 0);
    if (write(ack[1], ok ? "u" : "f", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char x;
  if (read(ack[0], &x, 1) != 1) return 1;
  bool ok = flock(a, LOCK_EX | LOCK_NB) == 0 && setlk(b, F_SETLK, F_WRLCK, 0, 10) &&
            setlk(b, F_SETLK, F_RDLCK, 40, 20) && setlk(c, F_OFD_SETLK, F_RDLCK, 100, 10);
  if (!ok) {
    printf("locks FAIL: cannot lock: %s\n", strerror(errno));
    return 1;
  }
  signal(SIGUSR1, [](int) { g_check = 1; });
  printf("locks ready child=%d\n", child);
  fflush(stdout);
  for (unsigned long tick = 1; !g_check; tick++) {
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
  int held = run_probe(getpid(), child, true);
  flock(a, LOCK_UN);
  setlk(b, F_SETLK, F_UNLCK, 0, 0);
  setlk(c, F_OFD_SETLK, F_UNLCK, 100, 10);
  char u = 0;
  if (write(go[1], "g", 1) != 1 || read(ack[0], &u, 1) != 1) u = 0;
  int freed = run_probe(getpid(), child, false);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  if (held == 0 && freed == 0 && u == 'u')
    printf("locks ok\n");
  else
    printf("locks FAIL: held-check 0x%x unlock-check 0x%x child-unlock %c\n", held, freed, u ? u : '-');
  return 0;
}
