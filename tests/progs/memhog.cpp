// Holds N MiB of data and a counter. Prints "tick N" every 100 ms and, on SIGUSR1, "sum X"
// (a checksum of all its memory), so a test can compare its state before and after a restore.
// SIGTERM makes it exit with status 7. Usage: memhog MiB smooth|random|zero [COPY]
// With COPY, the data is also written there once (benchmarks compress the same bytes).
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

static volatile sig_atomic_t want_sum = 0, want_exit = 0;

static uint64_t checksum(const uint64_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], nullptr, 10) : 64;
  const char* kind = argc > 2 ? argv[2] : "smooth";
  size_t n = mib * 1024 * 1024 / 8;
  auto* data = static_cast<uint64_t*>(malloc(n * 8));
  if (!data) return 1;
  if (!strcmp(kind, "random")) {
    std::mt19937_64 rng(42);
    for (size_t i = 0; i < n; i++) data[i] = rng();
  } else if (!strcmp(kind, "zero")) {
    memset(data, 0, n * 8);
  } else {
    // A smooth field, as a simulation would hold: doubles varying slowly in space.
    auto* d = reinterpret_cast<double*>(data);
    for (size_t i = 0; i < n; i++) d[i] = std::sin(i * 1e-4) * std::cos(i * 3e-7) + 1e-3 * std::sin(i * 0.37);
  }
  if (argc > 3) {
    FILE* copy = fopen(argv[3], "wb");
    if (!copy || fwrite(data, 8, n, copy) != n || fclose(copy) != 0) return 1;
  }
  signal(SIGUSR1, [](int) { want_sum = 1; });
  signal(SIGTERM, [](int) { want_exit = 1; });
  printf("ready sum %016llx\n", static_cast<unsigned long long>(checksum(data, n)));
  fflush(stdout);
  for (uint64_t tick = 1;; tick++) {
    if (want_exit) return 7;
    if (want_sum) {
      want_sum = 0;
      printf("sum %016llx\n", static_cast<unsigned long long>(checksum(data, n)));
    }
    printf("tick %llu\n", static_cast<unsigned long long>(tick));
    fflush(stdout);
    data[tick % n] += 0;  // touch memory, keep the checksum stable
    usleep(100000);
  }
}
