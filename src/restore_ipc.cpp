#include "restore_ipc.hpp"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "error.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

void set_next_id(const char* kind, int id) {
  proc::write_file(std::string("/proc/sys/kernel/") + kind + "_next_id", std::to_string(id));
}

void check_id(const std::string& what, int got, int want) {
  if (got < 0) throw_errno("create " + what);
  if (got != want) throw Error("create " + what + ": got id " + std::to_string(got));
}

}  // namespace

void create_sysv_objects(const img::Tree& tree) {
  for (const auto& s : tree.sysv_shm) {
    const std::string what = "SysV shared memory segment " + std::to_string(s.perm.id);
    set_next_id("shm", s.perm.id);
    key_t key = (s.perm.mode & SHM_DEST) ? IPC_PRIVATE : s.perm.key;
    int id = shmget(key, s.size, IPC_CREAT | IPC_EXCL | static_cast<int>(s.perm.mode & 0777));
    check_id(what, id, s.perm.id);
    if (!s.data.empty()) {
      void* at = shmat(id, nullptr, 0);
      if (at == reinterpret_cast<void*>(-1)) throw_errno(what + ": shmat");
      std::memcpy(at, s.data.data(), std::min<size_t>(s.data.size(), s.size));
      shmdt(at);
    }
    shmid_ds ds{};
    if (shmctl(id, IPC_STAT, &ds) != 0) throw_errno(what + ": IPC_STAT");
    ds.shm_perm.uid = s.perm.uid;
    ds.shm_perm.gid = s.perm.gid;
    if (shmctl(id, IPC_SET, &ds) != 0) throw_errno(what + ": IPC_SET");
  }
  for (const auto& s : tree.sysv_sem) {
    const std::string what = "SysV semaphore set " + std::to_string(s.perm.id);
    set_next_id("sem", s.perm.id);
    int id = semget(s.perm.key, static_cast<int>(s.values.size()), IPC_CREAT | IPC_EXCL | static_cast<int>(s.perm.mode & 0777));
    check_id(what, id, s.perm.id);
    std::vector<unsigned short> v(s.values.begin(), s.values.end());
    if (!v.empty() && semctl(id, 0, SETALL, v.data()) != 0) throw_errno(what + ": SETALL");
    semid_ds ds{};
    if (semctl(id, 0, IPC_STAT, &ds) != 0) throw_errno(what + ": IPC_STAT");
    ds.sem_perm.uid = s.perm.uid;
    ds.sem_perm.gid = s.perm.gid;
    if (semctl(id, 0, IPC_SET, &ds) != 0) throw_errno(what + ": IPC_SET");
  }
  for (const auto& q : tree.sysv_msg) {
    const std::string what = "SysV message queue " + std::to_string(q.perm.id);
    set_next_id("msg", q.perm.id);
    int id = msgget(q.perm.key, IPC_CREAT | IPC_EXCL | static_cast<int>(q.perm.mode & 0777));
    check_id(what, id, q.perm.id);
    msqid_ds ds{};
    if (msgctl(id, IPC_STAT, &ds) != 0) throw_errno(what + ": IPC_STAT");
    ds.msg_perm.uid = q.perm.uid;
    ds.msg_perm.gid = q.perm.gid;
    ds.msg_qbytes = q.qbytes;
    if (msgctl(id, IPC_SET, &ds) != 0) throw_errno(what + ": IPC_SET");
    for (const auto& m : q.messages) {
      std::vector<char> buf(8 + m.text.size());
      std::memcpy(buf.data(), &m.type, 8);
      std::memcpy(buf.data() + 8, m.text.data(), m.text.size());
      if (msgsnd(id, buf.data(), m.text.size(), IPC_NOWAIT) != 0) throw_errno(what + ": queue a message again");
    }
  }
}

void map_sysv_shm(const img::Vma& v, uint64_t at) {
  int flags = ((v.prot & PROT_WRITE) ? 0 : SHM_RDONLY) | ((v.prot & PROT_EXEC) ? SHM_EXEC : 0);
  void* got = shmat(static_cast<int>(v.shm_id), reinterpret_cast<void*>(at), flags | SHM_REMAP);
  if (got == reinterpret_cast<void*>(-1)) throw_errno("attach SysV segment " + std::to_string(v.shm_id));
  if (reinterpret_cast<uint64_t>(got) != at) throw Error("SysV segment attached at the wrong address");
}

void finish_sysv_objects(RemoteSyscall& rs, const img::Tree& tree) {
  for (const auto& s : tree.sysv_shm)
    if (s.perm.mode & SHM_DEST)
      rs.check("remove SysV segment " + std::to_string(s.perm.id) + " again", SYS_shmctl,
               static_cast<uint64_t>(s.perm.id), IPC_RMID, 0);
}

}  // namespace ck
