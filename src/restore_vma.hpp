// Rebuilding the address space. ckrestore premaps every VMA of the image, with its content,
// inside one region that no mapping of the image nor of ckrestore uses; then, in the stopped
// child, all of ckrestore's own mappings are removed and each premapped area is moved to its
// final address with mremap (page tables move, no copy), the vDSO with them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "image_dir.hpp"
#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

struct Range {
  uint64_t start = 0, end = 0;
};

// The kernel's special mappings of the current process (ckrestore and its child share them).
struct SpecialMappings {
  Range vvar, vvar_vclock, vdso;
};
SpecialMappings own_special_mappings();

struct PremapPlan {
  uint64_t base = 0, size = 0;
  uint64_t insn_page = 0;   // holds the syscall instruction the parent injects at
  uint64_t data_page = 0;   // arguments of injected syscalls (kDataSize bytes)
  uint64_t park = 0;        // where the vDSO waits while the old layout is torn down
  std::vector<uint64_t> premap;  // per VMA of the process: premap address, 0 for the specials
  // The vDSO proxy (vdso.hpp), when this kernel's vDSO is not the checkpoint's: its code is
  // premapped at `proxy` and goes to the old vDSO's address; this kernel's vDSO and data pages
  // go to `vdso_home` (where the lowest of them starts, the others as in ckrestore). 0: none,
  // the vDSO goes to its old address.
  uint64_t proxy = 0;
  uint64_t vdso_home = 0;
  std::string proxy_code;
  static constexpr uint64_t kDataSize = 3 * 4096;
};

// Picks a region free in the image's layout, ours and `taken` (the regions of the other
// processes of the tree), reserves it (PROT_NONE) in this process so that the processes forked
// afterwards have it too, and adds it to `taken`. With `old_vdso` (the checkpoint's vDSO, to be
// proxied), also a free range for this kernel's vDSO, added to `taken`, and the proxy's code.
PremapPlan plan_premap(const img::Process& p, const SpecialMappings& own, std::vector<Range>& taken,
                       const std::string* old_vdso = nullptr);

// In the child: maps every VMA at its premap address, fills in the pages from the image,
// applies madvise/mlock state and the final protection. The pages file is checked against its
// manifest entry (size, XXH3) as it is read; a mismatch throws Error(bad_image).
// `shared_file_fd`: deleted files mapped shared, already recreated: file id -> fd.
// `shared_anon`: shared anonymous objects inherited from ckrestore (restore_shm.hpp).
void premap_memory(const img::LoadedImage& image, const img::Process& p, const PremapPlan& plan,
                   const std::map<int32_t, int>& shared_file_fd, const std::map<uint64_t, uint64_t>& shared_anon);

// In the parent, on the stopped child: removes everything but the premap region and the
// vDSO, moves the vDSO and every premapped VMA into place.
void move_memory_into_place(RemoteSyscall& rs, const img::Process& p, const PremapPlan& plan,
                            const SpecialMappings& own);

}  // namespace ck
