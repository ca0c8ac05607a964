// SysV IPC across a restore (run under ckrun, which gives the tree its own IPC namespace): a
// keyed segment attached by a parent and its child, a segment already removed (IPC_RMID) while
// both have it attached, a semaphore set and a message queue with two messages. The two
// processes exchange round numbers through the keyed segment (a copy no longer shared stops
// answering). Prints "tick N" every 100 ms; on SIGUSR1 it checks ids, keys, values, content
// and messages, then the child waits on a semaphore the parent posts, and it prints "sysv ok"
// or "sysv FAIL ...".
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr size_t kPage = 4096;
volatile sig_atomic_t g_check = 0;

struct Shared {
  std::atomic<long> round, ack;
  std::atomic<int> child_saw_sem;
};

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace

int main() {
  // Ids that a new namespace would not hand out first: each kind's first id is used up.
  shmctl(shmget(IPC_PRIVATE, kPage, 0600), IPC_RMID, nullptr);
  semctl(semget(IPC_PRIVATE, 1, 0600), 0, IPC_RMID);
  msgctl(msgget(IPC_PRIVATE, 0600), IPC_RMID, nullptr);
  int keyed = shmget(0x1234, 3 * kPage, IPC_CREAT | IPC_EXCL | 0600);
  int removed = shmget(IPC_PRIVATE, kPage, IPC_CREAT | 0600);
  int sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
  int q = msgget(0x4321, IPC_CREAT | IPC_EXCL | 0640);
  if (keyed < 0 || removed < 0 || sem < 0 || q < 0) {
    perror("sysv");
    return 1;
  }
  char* a = static_cast<char*>(shmat(keyed, nullptr, 0));
  char* b = static_cast<char*>(shmat(removed, nullptr, 0));
  shmctl(removed, IPC_RMID, nullptr);
  unsigned short init[3] = {5, 0, 7};
  semctl(sem, 0, SETALL, init);
  struct {
    long type;
    char text[16];
  } m1{1, "hello"}, m2{2, "world!"};
  msgsnd(q, &m1, 6, 0);
  msgsnd(q, &m2, 7, 0);
  auto* sh = reinterpret_cast<Shared*>(a + kPage);
  strcpy(a, "keyed-before");
  strcpy(b, "removed-before");

  pid_t child = fork();
  if (child == 0) {
    strcpy(a + 2 * kPage, "child-before");
    bool waited = false;
    for (;;) {
      long r = sh->round.load();
      if (r < 0 && !waited) {
        sembuf down{1, -1, 0};  // the parent posts semaphore 1 after the restore
        sh->child_saw_sem.store(semop(sem, &down, 1) == 0 ? 1 : -1);
        waited = true;
      }
      if (r >= 0 && sh->ack.load() != r) sh->ack.store(r);
      usleep(2000);
    }
  }
  signal(SIGUSR1, [](int) { g_check = 1; });
  printf("sysv ready shm %d %d sem %d msg %d\n", keyed, removed, sem, q);
  fflush(stdout);
  for (long round = 1; !g_check; round++) {
    sh->round.store(round);
    double deadline = now() + 20;
    while (sh->ack.load() != round) {
      if (now() > deadline) {
        printf("sysv FAIL: the child no longer answers through the segment\n");
        kill(child, SIGKILL);
        return 1;
      }
      usleep(1000);
    }
    if (round % 5 == 0) {
      printf("tick %ld\n", round / 5);
      fflush(stdout);
    }
    usleep(20000);
  }

  std::string why;
  if (shmget(0x1234, 0, 0) != keyed) why += " keyed-id";
  if (strcmp(a, "keyed-before") || strcmp(a + 2 * kPage, "child-before")) why += " keyed-content";
  if (strcmp(b, "removed-before")) why += " removed-content";
  shmid_ds ds{};
  if (shmctl(removed, IPC_STAT, &ds) != 0 || !(ds.shm_perm.mode & SHM_DEST) || ds.shm_nattch != 2)
    why += " removed-state";
  unsigned short v[3] = {};
  if (semctl(sem, 0, GETALL, v) != 0 || v[0] != 5 || v[1] != 0 || v[2] != 7) why += " sem-values";
  if (msgget(0x4321, 0) != q) why += " msg-id";
  msqid_ds qd{};
  if (msgctl(q, IPC_STAT, &qd) != 0 || (qd.msg_perm.mode & 0777) != 0640) why += " msg-mode";
  decltype(m1) in{};
  if (msgrcv(q, &in, sizeof in.text, 0, IPC_NOWAIT) != 6 || in.type != 1 || strcmp(in.text, "hello")) why += " msg-1";
  if (msgrcv(q, &in, sizeof in.text, 0, IPC_NOWAIT) != 7 || in.type != 2 || strcmp(in.text, "world!")) why += " msg-2";
  sh->round.store(-1);
  sembuf up{1, 1, 0};
  semop(sem, &up, 1);
  double deadline = now() + 20;
  while (sh->child_saw_sem.load() == 0 && now() < deadline) usleep(1000);
  if (sh->child_saw_sem.load() != 1) why += " sem-wakeup";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  shmctl(keyed, IPC_RMID, nullptr);
  semctl(sem, 0, IPC_RMID);
  msgctl(q, IPC_RMID, nullptr);
  printf(why.empty() ? "sysv ok\n" : "sysv FAIL:%s\n", why.c_str());
  return 0;
}
