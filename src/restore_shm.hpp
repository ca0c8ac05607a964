// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS) at restore. The kernel backs each such
// mapping by one shmem object that every VMA made from it shares (fork, mprotect/mremap splits).
// ckrestore creates each object once, before the first process of the tree is forked, so that
// every process inherits it; each VMA of the image then becomes one more mapping of the same
// pages (mremap with an old size of 0), and the inherited mapping goes away with the rest of
// ckrestore's address space.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "image_records.hpp"
#include "unique_mapping.hpp"

namespace ck {

struct SharedAnonObjects {
  std::map<uint64_t, uint64_t> addr;  // shm_id -> address of the object in ckrestore (and its forks)
  std::vector<UniqueMapping> maps;
};

// Maps one object per shm_id of the tree, as large as the highest offset any VMA maps.
SharedAnonObjects create_shared_anon(const img::Tree& tree);

// In a restored process: maps VMA `v` at `at` as a view of its object. False if the VMA has no
// object (an image without shm ids): the caller maps fresh memory.
bool map_shared_anon(const std::map<uint64_t, uint64_t>& objects, const img::Vma& v, uint64_t at);

}  // namespace ck
