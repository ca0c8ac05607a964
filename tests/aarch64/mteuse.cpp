// Memory Tagging Extension state, which ck cannot checkpoint yet (tags are not saved) and must
// refuse by name, and tagged addresses without MTE, which it must keep. Prints "tick N" every
// 100 ms, and with "addr" the tagged-address control it has ("ctrl N"), so a test can see it
// survive a restore. Usage: mteuse tcf|mem|addr
//   tcf:  MTE tag checking on (PR_SET_TAGGED_ADDR_CTRL with PR_MTE_TCF_SYNC)
//   mem:  a PROT_MTE mapping with tags set, tag checking off
//   addr: only PR_TAGGED_ADDR_ENABLE (tagged pointers accepted by syscalls)
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace {
constexpr unsigned long kHwcap2Mte = 1ul << 18;
constexpr int kProtMte = 0x20;
}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "tcf";
  const bool mte = getauxval(AT_HWCAP2) & kHwcap2Mte;
  unsigned long ctrl = PR_TAGGED_ADDR_ENABLE;
  if (!strcmp(mode, "tcf")) ctrl |= PR_MTE_TCF_SYNC | (0xfffeul << PR_MTE_TAG_SHIFT);
  if (strcmp(mode, "addr") && !mte) {
    printf("mteuse: no MTE on this CPU\n");
    return 3;
  }
  if (prctl(PR_SET_TAGGED_ADDR_CTRL, ctrl, 0, 0, 0) != 0) {
    perror("PR_SET_TAGGED_ADDR_CTRL");
    return 1;
  }
  if (!strcmp(mode, "mem")) {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE | kProtMte, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap PROT_MTE");
      return 1;
    }
    // Give the first granule tag 3: irg/stg need the MTE instructions.
    auto tagged = reinterpret_cast<uintptr_t>(p) | (3ul << 56);
    asm volatile(".arch armv8.5-a+memtag\n stg %0, [%0]" : : "r"(tagged) : "memory");
  }
  printf("mteuse ready %s\n", mode);
  fflush(stdout);
  for (unsigned long tick = 1;; tick++) {
    if (!strcmp(mode, "addr")) printf("ctrl %d\n", prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0));
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}
