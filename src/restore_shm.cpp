#include "restore_shm.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "error.hpp"

namespace ck {

SharedAnonObjects create_shared_anon(const img::Tree& tree) {
  std::map<uint64_t, uint64_t> size;
  for (const auto& p : tree.processes)
    for (const auto& v : p.vmas)
      if (v.kind == img::VmaKind::anon_shared && v.shm_id) {
        if (v.end < v.start || v.pgoff > (1ull << 47)) throw Error("bad shared anonymous mapping", ExitCode::bad_image);
        size[v.shm_id] = std::max(size[v.shm_id], v.pgoff + (v.end - v.start));
      }
  SharedAnonObjects out;
  for (auto [id, len] : size) {
    void* at = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (at == MAP_FAILED) throw_errno("shared anonymous memory of " + std::to_string(len) + " bytes");
    out.maps.emplace_back(at, len);
    out.addr[id] = reinterpret_cast<uint64_t>(at);
  }
  return out;
}

bool map_shared_anon(const std::map<uint64_t, uint64_t>& objects, const img::Vma& v, uint64_t at) {
  auto it = objects.find(v.shm_id);
  if (!v.shm_id || it == objects.end()) return false;
  // Old size 0 on a shared mapping: a second mapping of the same pages, the original stays.
  long r = syscall(SYS_mremap, it->second + v.pgoff, 0, v.end - v.start, MREMAP_MAYMOVE | MREMAP_FIXED, at);
  if (r == -1) throw_errno("map shared anonymous memory");
  if (static_cast<uint64_t>(r) != at) throw Error("shared anonymous memory mapped at the wrong address");
  return true;
}

}  // namespace ck
