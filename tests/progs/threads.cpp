// 8 threads, each updating its own counter and, under a shared mutex, a shared one; some sleep
// in nanosleep, some wait on a condition variable. On SIGUSR1 the main thread prints
// "counts c0 ... c7 shared S consistent=1" (S must equal the sum of the counters: the mutex
// still works). Threads are named worker-N.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

static std::mutex mu;
static std::condition_variable cv;
static unsigned long shared_count = 0;
static unsigned long counts[8];
static volatile sig_atomic_t want = 0;

int main() {
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; i++) {
    ts.emplace_back([i] {
      char name[16];
      snprintf(name, sizeof name, "worker-%d", i);
      pthread_setname_np(pthread_self(), name);
      for (;;) {
        {
          std::unique_lock<std::mutex> l(mu);
          counts[i]++;
          shared_count++;
          if (i % 2) cv.wait_for(l, std::chrono::milliseconds(3));
        }
        if (i % 2 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        cv.notify_all();
      }
    });
  }
  signal(SIGUSR1, [](int) { want = 1; });
  printf("threads ready\n");
  fflush(stdout);
  for (unsigned long tick = 1;; tick++) {
    if (want) {
      want = 0;
      std::lock_guard<std::mutex> l(mu);
      unsigned long sum = 0;
      printf("counts");
      for (unsigned long c : counts) printf(" %lu", c), sum += c;
      printf(" shared %lu consistent=%d\n", shared_count, sum == shared_count);
    }
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}
