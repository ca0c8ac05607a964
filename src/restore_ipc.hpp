// SysV IPC at restore, in the tree's new IPC namespace: the restored init creates every
// segment, semaphore set and message queue of the image with its id (by writing the id to
// /proc/sys/kernel/{shm,sem,msg}_next_id first), key, permissions and content before it forks
// the tree; each process attaches its segments where the image has them; a segment that was
// removed (IPC_RMID) while attached is removed again once all have attached it.
#pragma once

#include <cstdint>

#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

// In the restored init, in the new IPC namespace, before it forks.
void create_sysv_objects(const img::Tree& tree);

// In a restored process: attaches segment v.shm_id at `at` with the VMA's protection.
void map_sysv_shm(const img::Vma& v, uint64_t at);

// By ckrestore in the stopped init once every process of the tree has attached its segments.
void finish_sysv_objects(RemoteSyscall& rs, const img::Tree& tree);

}  // namespace ck
