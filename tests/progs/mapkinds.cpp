// Holds one mapping of every kind ckrestore must recreate and checks them all on SIGUSR1:
// prints "map <name> ok" or "map <name> FAIL", then "mapcheck done". argv[1]: a work directory.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

static volatile sig_atomic_t want_check = 0;
static const size_t kPage = 4096;

static void result(const char* name, bool ok) { printf("map %s %s\n", name, ok ? "ok" : "FAIL"); }

static std::string make_file(const std::string& path, size_t pages, char base) {
  std::string content(pages * kPage, '\0');
  for (size_t i = 0; i < content.size(); i++) content[i] = static_cast<char>(base + (i / kPage) % 26);
  std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
  return content;
}

static char* map_file(const std::string& path, size_t len, int prot, int flags) {
  int fd = open(path.c_str(), (prot & PROT_WRITE) && (flags & MAP_SHARED) ? O_RDWR : O_RDONLY);
  void* p = mmap(nullptr, len, prot, flags, fd, 0);
  close(fd);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

static std::string vmflags_of(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  char want[32];
  snprintf(want, sizeof want, "%lx-", reinterpret_cast<unsigned long>(addr));
  while (std::getline(smaps, line)) {
    if (line.rfind(want, 0) == 0) in = true;
    else if (in && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string dir = argv[1];
  const size_t n = 16;
  // A private file mapping: pages 0-3 written (COW), the rest clean from the file.
  std::string priv_content = make_file(dir + "/private.bin", n, 'a');
  char* priv = map_file(dir + "/private.bin", n * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  for (size_t i = 0; i < 4 * kPage; i++) priv[i] = static_cast<char>('A' + i % 7);
  // A shared file mapping: written through; the file holds the data.
  make_file(dir + "/shared.bin", 4, 'k');
  char* shared = map_file(dir + "/shared.bin", 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED);
  memcpy(shared + kPage, "through-the-mapping", 19);
  // A private mapping of a file that is then deleted: only 2 of 8 pages ever touched.
  std::string del_content = make_file(dir + "/deleted.bin", 8, 'p');
  char* del = map_file(dir + "/deleted.bin", 8 * kPage, PROT_READ, MAP_PRIVATE);
  volatile char touch = del[0] + del[5 * kPage];
  (void)touch;
  unlink((dir + "/deleted.bin").c_str());
  // A region with data, then made inaccessible (a guard the program lifts later).
  char* guarded = static_cast<char*>(mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  memset(guarded + kPage, 0x5a, kPage);
  mprotect(guarded, 4 * kPage, PROT_NONE);
  // Shared anonymous memory.
  char* shanon = static_cast<char*>(mmap(nullptr, 8 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  memcpy(shanon + 3 * kPage, "shared-anon", 11);
  // A large reservation never touched: must cost nothing.
  char* reserve = static_cast<char*>(mmap(nullptr, 1ul << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  // madvise state.
  char* advised = static_cast<char*>(mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  advised[0] = 1;
  madvise(advised, 4 * kPage, MADV_DONTFORK);
  // A stack-like region that grows down.
  char* grows = static_cast<char*>(mmap(nullptr, 8 * kPage, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0));
  grows[7 * kPage] = 42;

  signal(SIGUSR1, [](int) { want_check = 1; });
  printf("mapkinds ready\n");
  fflush(stdout);
  for (;;) {
    pause();
    if (!want_check) continue;
    want_check = 0;
    bool ok = true;
    for (size_t i = 0; i < 4 * kPage; i++) ok = ok && priv[i] == static_cast<char>('A' + i % 7);
    ok = ok && memcmp(priv + 4 * kPage, priv_content.data() + 4 * kPage, (n - 4) * kPage) == 0;
    result("private-file", ok);
    memcpy(shared + 2 * kPage, "after-restore", 13);
    msync(shared, 4 * kPage, MS_SYNC);
    std::ifstream sf(dir + "/shared.bin", std::ios::binary);
    std::stringstream ss;
    ss << sf.rdbuf();
    std::string sfc = ss.str();
    result("shared-file", sfc.size() == 4 * kPage && sfc.compare(kPage, 19, "through-the-mapping") == 0 &&
                              sfc.compare(2 * kPage, 13, "after-restore") == 0);
    result("deleted-file", memcmp(del, del_content.data(), 8 * kPage) == 0);
    mprotect(guarded, 4 * kPage, PROT_READ);
    ok = true;
    for (size_t i = 0; i < kPage; i++) ok = ok && guarded[kPage + i] == 0x5a && guarded[i] == 0;
    mprotect(guarded, 4 * kPage, PROT_NONE);
    result("guarded", ok);
    result("shared-anon", memcmp(shanon + 3 * kPage, "shared-anon", 11) == 0 && shanon[0] == 0);
    result("reserve", vmflags_of(reserve).find("mr") != std::string::npos);
    result("dontfork", vmflags_of(advised).find(" dc") != std::string::npos && advised[0] == 1);
    result("growsdown", vmflags_of(grows).find(" gd") != std::string::npos && grows[7 * kPage] == 42);
    printf("mapcheck done\n");
    fflush(stdout);
  }
}
