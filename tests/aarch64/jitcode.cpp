// Code made at run time, the way JIT compilers make it, so that a restore must bring back
// executable pages with content and the CPU must fetch exactly those instructions:
//   - an RWX page whose code, written once at start, adds its arguments and a constant;
//   - a W^X page rewritten every tick (made writable, written, cache-synced, made executable)
//     with a function returning the tick number.
// Prints "tick N ok" every 100 ms, or "tick N FAIL ..." if a function returned something else;
// exits 0 on SIGTERM.
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

volatile sig_atomic_t stop = 0;

using Fn = int (*)(int, int);

constexpr uint32_t kRet = 0xd65f03c0;                                 // ret
constexpr uint32_t kAddW0W0W1 = 0x0b010000;                           // add w0, w0, w1
uint32_t add_w0_imm(uint32_t imm12) { return 0x11000000 | (imm12 << 10); }  // add w0, w0, #imm
uint32_t movz_w0(uint32_t imm16) { return 0x52800000 | (imm16 << 5); }     // movz w0, #imm

void put(void* at, const uint32_t* code, size_t n) {
  std::memcpy(at, code, n * 4);
  __builtin___clear_cache(static_cast<char*>(at), static_cast<char*>(at) + n * 4);
}

}  // namespace

int main() {
  signal(SIGTERM, [](int) { stop = 1; });
  const size_t pg = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* rwx = mmap(nullptr, pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* wx = mmap(nullptr, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (rwx == MAP_FAILED || wx == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  const uint32_t adder[] = {kAddW0W0W1, add_w0_imm(1000), kRet};
  put(rwx, adder, 3);
  printf("jitcode ready\n");
  fflush(stdout);
  for (int tick = 1; !stop; tick++) {
    const uint32_t k = static_cast<uint32_t>(tick) & 0xffff;
    if (mprotect(wx, pg, PROT_READ | PROT_WRITE) != 0) return 1;
    const uint32_t ret_tick[] = {movz_w0(k), kRet};
    put(wx, ret_tick, 2);
    if (mprotect(wx, pg, PROT_READ | PROT_EXEC) != 0) return 1;
    const int a = reinterpret_cast<Fn>(rwx)(tick, 7);
    const int b = reinterpret_cast<Fn>(wx)(0, 0);
    if (a == tick + 1007 && b == static_cast<int>(k))
      printf("tick %d ok\n", tick);
    else
      printf("tick %d FAIL adder %d (want %d), ret_tick %d (want %u)\n", tick, a, tick + 1007, b, k);
    fflush(stdout);
    usleep(100000);
  }
  return 0;
}
