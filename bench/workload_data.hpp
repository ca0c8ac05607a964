// The bytes the benchmark workloads hold, shared by bench_target (the real program ckdump
// checkpoints) and bench_pages (the pipeline micro-benchmark), so both measure the same data.
//
// smooth: the state of a diffusion simulation. A 2-D grid of doubles, 8192 columns per row
//   (row-major, 64 KiB a row), holding a density u = 1.0 + sum of Barenblatt-Pattle solutions
//   of the porous-medium equation u_t = Lap(u^2) (the classic closed-form benchmark of nonlinear
//   diffusion codes): from sources released at different times, each profile is
//   t^-1/2 (C - r^2 / (16 t^1/2))_+, a smooth cap with a sharp front; outside every front the
//   field is exactly the background 1.0, as in a real run where the diffusion has not reached
//   the whole domain yet. Sources are placed so that fronts cover about half of the cells (0.51).
//   Inside a front the doubles vary slowly but every bit of them is significant (no added
//   noise), so zstd finds almost nothing there; the constant far field is where it gains.
//   zstd -1 gets about 2.1x on it overall.
// random: splitmix64 of the element index: incompressible.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

namespace ckbench {

constexpr size_t kGridColumns = 8192;
constexpr size_t kRowBytes = kGridColumns * sizeof(double);

inline uint64_t splitmix(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Generates the smooth field row by row and hands each row to `put(row_index, row)`: the
// destination may be split over many mappings, which only the caller knows about.
inline void smooth_rows(size_t rows, const std::function<void(size_t, const double*)>& put) {
  struct Source {
    double x, y, radius, c, amp, inv_sqrt_t;
  };
  // One source per 256 rows (2 M cells), each covering ~0.75 of that area on average before
  // overlaps: half of the cells end up inside some front, at any grid size.
  const size_t n = std::max<size_t>(2, rows / 256);
  std::vector<Source> src(n);
  uint64_t seed = 0x5eed;
  auto uniform = [&] { return static_cast<double>(splitmix(seed++) >> 11) * 0x1p-53; };
  const double area = 0.75 * 256.0 * static_cast<double>(kGridColumns);
  double max_radius = 0;
  for (auto& s : src) {
    s.x = uniform() * static_cast<double>(kGridColumns);
    s.y = uniform() * static_cast<double>(rows);
    const double t = 500.0 + 1500.0 * uniform();  // time since release
    s.radius = std::sqrt(area * (0.5 + uniform()) / M_PI);
    s.inv_sqrt_t = 1.0 / std::sqrt(t);
    s.c = s.radius * s.radius / 16.0 * s.inv_sqrt_t;  // C so that the front sits at `radius`
    s.amp = s.inv_sqrt_t;
    max_radius = std::max(max_radius, s.radius);
  }
  std::sort(src.begin(), src.end(), [](const Source& a, const Source& b) { return a.y < b.y; });
  std::vector<double> row(kGridColumns);
  size_t first = 0;  // sources above row - max_radius can no longer reach any row
  for (size_t j = 0; j < rows; ++j) {
    const double y = static_cast<double>(j);
    std::fill(row.begin(), row.end(), 0.0);
    while (first < n && src[first].y + max_radius < y) ++first;
    for (size_t k = first; k < n && src[k].y - max_radius <= y; ++k) {
      const Source& s = src[k];
      const double dy = y - s.y;
      if (std::fabs(dy) >= s.radius) continue;
      const double half = std::sqrt(s.radius * s.radius - dy * dy);
      const auto lo = static_cast<size_t>(std::max(0.0, std::ceil(s.x - half)));
      const auto hi = static_cast<size_t>(std::clamp(std::floor(s.x + half) + 1, 0.0, double(kGridColumns)));
      for (size_t i = lo; i < hi; ++i) {
        const double dx = static_cast<double>(i) - s.x;
        const double v = s.c - (dx * dx + dy * dy) / 16.0 * s.inv_sqrt_t;
        if (v > 0) row[i] += s.amp * v;
      }
    }
    for (double& v : row) v += 1.0;
    put(j, row.data());
  }
}

// Fills `len` bytes (a multiple of 8) as element indexes [first, first + len/8) of the random
// workload.
inline void random_fill(unsigned char* p, size_t len, uint64_t first) {
  for (size_t i = 0; i < len / 8; ++i) {
    const uint64_t v = splitmix((first + i) * 0x51ed27ull);
    std::memcpy(p + i * 8, &v, 8);
  }
}

// Order-sensitive checksum at memory speed (4 independent lanes); `state` carries it over
// several buffers.
struct Checksum {
  uint64_t lane[4] = {1, 2, 3, 4};
  void update(const unsigned char* p, size_t len) {
    for (size_t i = 0; i + 32 <= len; i += 32)
      for (int l = 0; l < 4; ++l) {
        uint64_t w;
        std::memcpy(&w, p + i + 8 * l, 8);
        lane[l] = (lane[l] ^ w) * 0x100000001b3ull + 0x9e37;
      }
  }
  uint64_t digest() const { return lane[0] ^ (lane[1] << 1) ^ (lane[2] << 2) ^ (lane[3] << 3); }
};

}  // namespace ckbench
