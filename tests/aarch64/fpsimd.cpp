// FP/SIMD and SVE registers in flight, the arm64 counterpart of tests/progs/fpustate.cpp (built
// as "fpustate" on arm64, so tests/e2e/fpu.sh and tests/aarch64/fpu.sh drive it the same way).
// Accumulators live only in vector registers across a long asm loop, so a checkpoint almost
// always lands while they are there:
// - NEON: v16/v17 (2 doubles each);
// - SVE (if the CPU has it): z16 over all lanes and z17 over the lanes a predicate (p1) selects,
//   at a vector length other than the kernel's default, so that a restore must set the vector
//   length, the upper lanes of the Z registers and the P registers.
// The rounding mode (FPCR) is set to upward and checked too. Every round prints
// "fpu ok round N ..." or "FPU MISMATCH ..." if a restore lost state.
// Built with -mbranch-protection=pac-ret+leaf: even the round functions sign their return
// address, so a restore without the program's pointer-authentication keys crashes on return.
// Usage: fpustate [ITERATIONS] [SVE_VL_BYTES]
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cfenv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr unsigned long kHwcapSve = 1ul << 22;

__attribute__((noinline)) void neon_round(double* acc, const double* inc, uint64_t iters) {
  asm volatile(
      "ldp q16, q17, [%[acc]]\n"
      "ldp q18, q19, [%[inc]]\n"
      "mov x9, %[n]\n"
      "1:\n"
      "fadd v16.2d, v16.2d, v18.2d\n"
      "fadd v17.2d, v17.2d, v19.2d\n"
      "subs x9, x9, #1\n"
      "b.ne 1b\n"
      "stp q16, q17, [%[acc]]\n"
      :
      : [acc] "r"(acc), [inc] "r"(inc), [n] "r"(iters)
      : "x9", "v16", "v17", "v18", "v19", "memory", "cc");
}

// z16 += lane number + 1 on every lane; z17 the same on the first half of the lanes only.
__attribute__((noinline)) void sve_round(double* a16, double* a17, uint64_t iters) {
  asm volatile(
      ".arch_extension sve\n"
      "ptrue p0.d\n"
      "cntd x10\n"
      "lsr x10, x10, #1\n"
      "mov x11, #0\n"
      "whilelo p1.d, x11, x10\n"
      "ld1d {z16.d}, p0/z, [%[a16]]\n"
      "ld1d {z17.d}, p0/z, [%[a17]]\n"
      "index z18.d, #1, #1\n"
      "scvtf z18.d, p0/m, z18.d\n"
      "mov x9, %[n]\n"
      "1:\n"
      "fadd z16.d, p0/m, z16.d, z18.d\n"
      "fadd z17.d, p1/m, z17.d, z18.d\n"
      "subs x9, x9, #1\n"
      "b.ne 1b\n"
      "st1d {z16.d}, p0, [%[a16]]\n"
      "st1d {z17.d}, p0, [%[a17]]\n"
      :
      : [a16] "r"(a16), [a17] "r"(a17), [n] "r"(iters)
      : "x9", "x10", "x11", "v16", "v17", "v18", "memory", "cc");
}

unsigned current_sve_vl() {
  uint64_t vl = 0;
  asm volatile(".arch_extension sve\n cntb %0" : "=r"(vl));
  return static_cast<unsigned>(vl);
}

// A vector length other than the default (a restore must set it) with more than 128 bits where
// the CPU allows (the upper lanes then matter): the largest power of two below the default,
// or 128 bits.
unsigned choose_vl(unsigned want) {
  unsigned dflt = static_cast<unsigned>(prctl(PR_SVE_GET_VL, 0, 0, 0, 0) & PR_SVE_VL_LEN_MASK);
  if (want == 0) want = dflt > 16 ? dflt / 2 : 16;
  int r = prctl(PR_SVE_SET_VL, want, 0, 0, 0);
  if (r < 0) {
    perror("PR_SVE_SET_VL");
    exit(1);
  }
  return static_cast<unsigned>(r & PR_SVE_VL_LEN_MASK);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t iters = argc > 1 ? strtoull(argv[1], nullptr, 10) : 5000000;
  const bool sve = getauxval(AT_HWCAP) & kHwcapSve;
  const unsigned vl = sve ? choose_vl(argc > 2 ? static_cast<unsigned>(atoi(argv[2])) : 0) : 0;
  fesetround(FE_UPWARD);
  printf("fpu ready sve_vl %u\n", vl);
  fflush(stdout);
  double acc[4] = {0, 0, 0, 0};
  const double inc[4] = {1, 2, 3, 4};
  const unsigned lanes = vl / 8;
  std::vector<double> z16(lanes ? lanes : 1, 0.0), z17(lanes ? lanes : 1, 0.0);
  for (uint64_t rounds = 1;; rounds++) {
    neon_round(acc, inc, iters);
    if (sve) sve_round(z16.data(), z17.data(), iters);
    const double n = static_cast<double>(rounds * iters);
    bool ok = fegetround() == FE_UPWARD;
    for (int i = 0; i < 4; i++) ok = ok && acc[i] == n * inc[i];
    if (sve) {
      ok = ok && current_sve_vl() == vl;
      for (unsigned i = 0; i < lanes; i++) {
        ok = ok && z16[i] == n * (i + 1);
        ok = ok && z17[i] == (i < lanes / 2 ? n * (i + 1) : 0.0);
      }
    }
    printf("%s round %llu vl %u acc %.0f %.0f %.0f %.0f z16 %.0f z17 %.0f\n", ok ? "fpu ok" : "FPU MISMATCH",
           static_cast<unsigned long long>(rounds), sve ? current_sve_vl() : 0, acc[0], acc[1], acc[2], acc[3],
           lanes ? z16[lanes - 1] : 0.0, lanes ? z17[lanes - 1] : 0.0);
    fflush(stdout);
    usleep(1000);
  }
}
