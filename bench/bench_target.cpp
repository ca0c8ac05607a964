// The program the benchmark checkpoints: holds MiB of smooth or random data (workload_data.hpp)
// in one mapping or split over many, optionally with idle extra threads.
//   bench_target MIB smooth|random [VMAS [THREADS]]
// Prints "ready <checksum>" once its data is in place, "tick N" every 100 ms, "sum <checksum>"
// on SIGUSR1 (so the benchmark can check the restored memory), exits 7 on SIGTERM.
// With VMAS > 1 the data is split over that many anonymous mappings separated by unmapped
// pages, so the kernel cannot merge them.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "workload_data.hpp"

namespace {

volatile sig_atomic_t want_sum = 0, want_exit = 0;

struct Region {
  unsigned char* p;
  size_t len;
};

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

std::vector<Region> map_regions(size_t bytes, size_t count) {
  const size_t page = 4096;
  const size_t per = (bytes / count + page - 1) / page * page;
  std::vector<Region> out;
  if (count == 1) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    out.push_back({static_cast<unsigned char*>(p), bytes});
    return out;
  }
  // Reserve the whole stretch, then leave one unmapped page after every region.
  const size_t stride = per + page;
  void* base = mmap(nullptr, stride * count, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) die("mmap reserve");
  size_t left = bytes;
  for (size_t i = 0; i < count; ++i) {
    auto* at = static_cast<unsigned char*>(base) + i * stride;
    const size_t len = std::min(per, left);
    if (mmap(at, per, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
      die("mmap region");
    if (munmap(at + per, page) != 0) die("munmap gap");
    if (len != 0) out.push_back({at, len});
    left -= len;
  }
  return out;
}

// Writes the logical byte stream [off, off+len) from src into the regions.
void scatter(const std::vector<Region>& rs, size_t off, const unsigned char* src, size_t len) {
  size_t base = 0;
  for (const Region& r : rs) {
    if (len == 0) return;
    if (off < base + r.len) {
      const size_t in = off - base, n = std::min(len, r.len - in);
      std::memcpy(r.p + in, src, n);
      src += n, off += n, len -= n;
    }
    base += r.len;
  }
}

uint64_t checksum(const std::vector<Region>& rs) {
  ckbench::Checksum c;
  for (const Region& r : rs) c.update(r.p, r.len);
  return c.digest();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_target MIB smooth|random [VMAS [THREADS]]\n");
    return 2;
  }
  const size_t bytes = std::strtoull(argv[1], nullptr, 10) << 20;
  const std::string kind = argv[2];
  const size_t vmas = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
  const unsigned threads = argc > 4 ? static_cast<unsigned>(std::strtoul(argv[4], nullptr, 10)) : 1;
  if (bytes == 0 || bytes % ckbench::kRowBytes != 0 || vmas == 0 || (kind != "smooth" && kind != "random")) {
    std::fprintf(stderr, "bench_target: bad arguments\n");
    return 2;
  }
  std::vector<Region> regions = map_regions(bytes, vmas);
  if (kind == "smooth") {
    ckbench::smooth_rows(bytes / ckbench::kRowBytes, [&](size_t j, const double* row) {
      scatter(regions, j * ckbench::kRowBytes, reinterpret_cast<const unsigned char*>(row), ckbench::kRowBytes);
    });
  } else {
    std::vector<unsigned char> chunk(1 << 20);
    for (size_t off = 0; off < bytes; off += chunk.size()) {
      const size_t n = std::min(chunk.size(), bytes - off);
      ckbench::random_fill(chunk.data(), n, off / 8);
      scatter(regions, off, chunk.data(), n);
    }
  }
  // Idle threads, as a threaded program has while it is stopped.
  std::vector<std::thread> idle;
  for (unsigned t = 1; t < threads; ++t)
    idle.emplace_back([] {
      for (;;) pause();
    });
  for (auto& t : idle) t.detach();

  signal(SIGUSR1, [](int) { want_sum = 1; });
  signal(SIGTERM, [](int) { want_exit = 1; });
  std::printf("ready %016" PRIx64 "\n", checksum(regions));
  std::fflush(stdout);
  for (uint64_t tick = 1;; ++tick) {
    if (want_exit) std::_Exit(7);
    if (want_sum) {
      want_sum = 0;
      std::printf("sum %016" PRIx64 "\n", checksum(regions));
    }
    std::printf("tick %" PRIu64 "\n", tick);
    std::fflush(stdout);
    usleep(100000);
  }
}
