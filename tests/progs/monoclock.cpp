// Watches CLOCK_MONOTONIC and CLOCK_BOOTTIME across a checkpoint: prints "tick N mono MS" every
// 100 ms, and "JUMP clock MS" when a clock moved by more than 1.5 s between two ticks or went
// backwards (a restore that does not continue the clocks).
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace {
long long ms(clockid_t c) {
  timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}
}  // namespace

int main() {
  long long mono = ms(CLOCK_MONOTONIC), boot = ms(CLOCK_BOOTTIME);
  for (unsigned long tick = 1;; tick++) {
    long long m = ms(CLOCK_MONOTONIC), b = ms(CLOCK_BOOTTIME);
    if (m - mono > 1500 || m < mono) printf("JUMP monotonic %lld\n", m - mono);
    if (b - boot > 1500 || b < boot) printf("JUMP boottime %lld\n", b - boot);
    mono = m, boot = b;
    printf("tick %lu mono %lld\n", tick, m);
    fflush(stdout);
    usleep(100000);
  }
}
