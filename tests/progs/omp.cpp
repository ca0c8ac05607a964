// An OpenMP reduction that takes seconds; the checkpoint lands in the middle of the parallel
// region. Prints "omp sum S expected E ok" at the end, then "omp done".
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? atoll(argv[1]) : 3000000000ll;
  printf("omp ready threads=%d\n", omp_get_max_threads());
  fflush(stdout);
  uint64_t sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(dynamic, 1000000)
  for (int64_t i = 0; i < n; i++) sum += static_cast<uint64_t>(i % 7) * (i & 3);
  uint64_t expected = 0;
  for (int64_t i = 0; i < 84 && i < n; i++) expected += static_cast<uint64_t>(i % 7) * (i & 3);
  expected *= static_cast<uint64_t>(n / 84);
  for (int64_t i = n - n % 84; i < n; i++) expected += static_cast<uint64_t>(i % 7) * (i & 3);
  printf("omp sum %llu expected %llu %s\n", static_cast<unsigned long long>(sum),
         static_cast<unsigned long long>(expected), sum == expected ? "ok" : "WRONG");
  printf("omp done\n");
  fflush(stdout);
}
