// Vector registers in flight: an accumulator lives only in ymm registers across a long asm
// loop, so a checkpoint almost always lands while it is there. Every round prints the
// accumulator and the value it must have; "FPU MISMATCH" if a restore lost register state.
// The rounding mode (MXCSR) is set to upward and checked too.
#include <cfenv>
#include <cstdint>
#include <cstdio>
#include <unistd.h>

int main() {
  fesetround(FE_UPWARD);
  printf("fpu ready\n");
  fflush(stdout);
  double acc[4] = {0, 0, 0, 0};
  const double inc[4] = {1, 2, 3, 4};
  uint64_t rounds = 0;
  for (;;) {
    const uint64_t iters = 50000000;
    asm volatile(
        "vmovupd (%[acc]), %%ymm0\n"
        "vmovupd (%[inc]), %%ymm1\n"
        "mov %[n], %%rcx\n"
        "1:\n"
        "vaddpd %%ymm1, %%ymm0, %%ymm0\n"
        "dec %%rcx\n"
        "jnz 1b\n"
        "vmovupd %%ymm0, (%[acc])\n"
        :
        : [acc] "r"(acc), [inc] "r"(inc), [n] "r"(iters)
        : "rcx", "xmm0", "xmm1", "memory", "cc");
    rounds++;
    bool ok = true;
    for (int i = 0; i < 4; i++) ok = ok && acc[i] == static_cast<double>(rounds * iters) * inc[i];
    ok = ok && fegetround() == FE_UPWARD;
    printf("%s round %llu acc %.0f %.0f %.0f %.0f\n", ok ? "fpu ok" : "FPU MISMATCH",
           static_cast<unsigned long long>(rounds), acc[0], acc[1], acc[2], acc[3]);
    fflush(stdout);
    usleep(1000);
  }
}
