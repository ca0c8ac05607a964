// SysV IPC at dump time. A tree under ckrun has its own IPC namespace: every shared memory
// segment, semaphore set and message queue in it is the tree's, and is saved (segment content,
// semaphore values, queued messages read with MSG_COPY) by syscalls injected into the tree's
// init. A tree in the machine's IPC namespace shares it with everyone: attaching a SysV segment
// there is refused by name.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "image_records.hpp"
#include "remote_syscall.hpp"

namespace ck {

// Every SysV object of the IPC namespace `rs`'s process runs in, into `tree`. Each segment is
// attached (read-only) for the moment its content is read, and a message larger than the
// scratch page is read through a buffer mapped for it: the only things ckdump maps into the
// target, unmapped again at once.
void collect_sysv_ipc(RemoteSyscall& rs, uint64_t scratch, img::Tree& tree);

// Refuses attached segments the image cannot restore: any when the tree has no IPC namespace
// of its own (`own_ipc`), else one attached only in part.
void check_sysv_attachments(const img::Tree& tree, bool own_ipc);

// For a tree in the machine's IPC namespace (`os_pids`: its processes): refuses a message
// queue or semaphore set a process of the tree was the last to use (/proc/sysvipc lspid/lrpid,
// semctl GETPID), naming it.
void check_foreign_sysv(const std::vector<pid_t>& os_pids);

}  // namespace ck
