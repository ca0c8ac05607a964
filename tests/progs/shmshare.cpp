// Shared memory between a parent and its child that must stay shared across a restore: shared
// anonymous memory (split into three VMAs in the parent by an mprotect), a named POSIX shm
// object (/dev/shm, kept) and an unlinked one. The parent runs rounds: it writes a round number
// into each region and waits until the child has echoed it back in the same region (a copy
// that is no longer shared never answers). Prints "round N" every 10 rounds; on SIGUSR1 it
// checks what both wrote before the checkpoint and prints "shm ok" or "shm FAIL ...".
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <time.h>

namespace {

constexpr size_t kPage = 4096;
volatile sig_atomic_t g_check = 0;

struct Slot {
  std::atomic<int64_t> round;
  std::atomic<int64_t> ack;
};

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

char* map_shm(const std::string& name, bool unlink_it) {
  int fd = shm_open(name.c_str(), O_CREAT | O_RDWR | O_EXCL, 0600);
  if (fd < 0 || ftruncate(fd, 2 * kPage) != 0) {
    perror("shm_open");
    _exit(1);
  }
  if (unlink_it) shm_unlink(name.c_str());
  void* p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) _exit(1);
  return static_cast<char*>(p);
}

}  // namespace

int main() {
  const std::string named = "/ck-shmshare-" + std::to_string(getpid());
  char* anon = static_cast<char*>(mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (anon == MAP_FAILED) return 1;
  char* shm = map_shm(named, false);
  char* gone = map_shm(named + "-unlinked", true);
  // The round goes in page 0 and the answer in page 3 of the anonymous region: two VMAs of
  // one object in the parent once page 2 is made read-only.
  Slot* anon_round = reinterpret_cast<Slot*>(anon);
  Slot* anon_ack = reinterpret_cast<Slot*>(anon + 3 * kPage);
  Slot* slots_round[3] = {anon_round, reinterpret_cast<Slot*>(shm), reinterpret_cast<Slot*>(gone)};
  Slot* slots_ack[3] = {anon_ack, reinterpret_cast<Slot*>(shm + kPage), reinterpret_cast<Slot*>(gone + kPage)};
  const char* names[3] = {"anonymous", "named-shm", "unlinked-shm"};
  strcpy(anon + 2 * kPage, "parent-before");
  strcpy(shm + 100, "named-before");
  strcpy(gone + 100, "unlinked-before");

  pid_t child = fork();
  if (child == 0) {
    strcpy(anon + kPage, "child-before");
    for (;;) {
      for (int i = 0; i < 3; i++) {
        int64_t r = slots_round[i]->round.load();
        if (r < 0) _exit(0);
        if (slots_ack[i]->ack.load() != r) slots_ack[i]->ack.store(r);
      }
      usleep(2000);
    }
  }
  if (mprotect(anon + 2 * kPage, kPage, PROT_READ) != 0) return 1;
  signal(SIGUSR1, [](int) { g_check = 1; });
  printf("shmshare ready\n");
  fflush(stdout);
  for (int64_t round = 1;; round++) {
    for (int i = 0; i < 3; i++) slots_round[i]->round.store(round);
    double deadline = now() + 20;
    for (int i = 0; i < 3; i++)
      while (slots_ack[i]->ack.load() != round) {
        if (now() > deadline) {
          printf("shm FAIL: no answer in the %s region for round %lld\n", names[i], static_cast<long long>(round));
          fflush(stdout);
          kill(child, SIGKILL);
          shm_unlink(named.c_str());
          return 1;
        }
        usleep(1000);
      }
    if (round % 10 == 0) {
      printf("round %lld\n", static_cast<long long>(round));
      fflush(stdout);
    }
    if (g_check) break;
    usleep(20000);
  }
  bool ok = strcmp(anon + kPage, "child-before") == 0 && strcmp(anon + 2 * kPage, "parent-before") == 0 &&
            strcmp(shm + 100, "named-before") == 0 && strcmp(gone + 100, "unlinked-before") == 0;
  anon_round->round.store(-1);
  int st = 0;
  waitpid(child, &st, 0);
  ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  shm_unlink(named.c_str());
  printf(ok ? "shm ok\n" : "shm FAIL: content written before the checkpoint is wrong\n");
  return ok ? 0 : 1;
}
