#include "dump_ipc.hpp"

#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#include <cerrno>

#include <algorithm>
#include <sstream>
#include <string>

#include "error.hpp"
#include "log.hpp"
#include "proc_parse.hpp"

namespace ck {

namespace {

constexpr int kMsgCopy = 040000;        // MSG_COPY: read the n-th message, leave it queued
constexpr uint64_t kMsgBuf = 1ull << 20;  // room for one message (msgmax is 8 KiB by default)
constexpr uint64_t kScratchSize = 4096;   // what collect_*_state may use of the scratch (dump_task.hpp)

template <typename T>
T read_at(pid_t pid, uint64_t addr) {
  T v{};
  remote_read(pid, addr, &v, sizeof v);
  return v;
}

img::SysvPerm perm_of(int id, const ipc_perm& p) {
  img::SysvPerm out;
  out.id = id;
  out.key = p.__key;
  out.mode = p.mode;
  out.uid = p.uid;
  out.gid = p.gid;
  return out;
}

}  // namespace

void collect_sysv_ipc(RemoteSyscall& rs, uint64_t scratch, img::Tree& tree) {
  const pid_t pid = rs.task().tid();
  // *_INFO returns the highest index in use; *_STAT turns an index into an id (or fails).
  int64_t max = rs.call(SYS_shmctl, 0, SHM_INFO, scratch);
  for (int64_t idx = 0; idx <= max; idx++) {
    int64_t id = rs.call(SYS_shmctl, static_cast<uint64_t>(idx), SHM_STAT, scratch);
    if (id < 0) continue;
    auto ds = read_at<shmid_ds>(pid, scratch);
    img::SysvShm s;
    s.perm = perm_of(static_cast<int>(id), ds.shm_perm);
    s.size = ds.shm_segsz;
    const std::string what = "SysV shared memory segment " + std::to_string(id);
    uint64_t at = rs.check(what + ": shmat", SYS_shmat, static_cast<uint64_t>(id), 0, SHM_RDONLY);
    s.data.resize(s.size);
    try {
      if (s.size) remote_read(pid, at, s.data.data(), s.size);
    } catch (...) {
      rs.call(SYS_shmdt, at);
      throw;
    }
    rs.check(what + ": shmdt", SYS_shmdt, at);
    CK_LOG(1, "%s: %llu bytes", what.c_str(), static_cast<unsigned long long>(s.size));
    tree.sysv_shm.push_back(std::move(s));
  }

  max = rs.call(SYS_semctl, 0, 0, SEM_INFO, scratch);
  for (int64_t idx = 0; idx <= max; idx++) {
    int64_t id = rs.call(SYS_semctl, static_cast<uint64_t>(idx), 0, SEM_STAT, scratch);
    if (id < 0) continue;
    auto ds = read_at<semid_ds>(pid, scratch);
    img::SysvSem s;
    s.perm = perm_of(static_cast<int>(id), ds.sem_perm);
    const std::string what = "SysV semaphore set " + std::to_string(id);
    if (ds.sem_nsems * sizeof(unsigned short) > 4096)
      throw Error(what + ": " + std::to_string(ds.sem_nsems) + " semaphores, more than 2048 are not supported",
                  ExitCode::unsupported);
    rs.check(what + ": GETALL", SYS_semctl, static_cast<uint64_t>(id), 0, GETALL, scratch);
    std::vector<unsigned short> v(ds.sem_nsems);
    if (!v.empty()) remote_read(pid, scratch, v.data(), v.size() * sizeof v[0]);
    s.values.assign(v.begin(), v.end());
    tree.sysv_sem.push_back(std::move(s));
  }

  max = rs.call(SYS_msgctl, 0, MSG_INFO, scratch);
  uint64_t buf = 0;
  for (int64_t idx = 0; idx <= max; idx++) {
    int64_t id = rs.call(SYS_msgctl, static_cast<uint64_t>(idx), MSG_STAT, scratch);
    if (id < 0) continue;
    auto ds = read_at<msqid_ds>(pid, scratch);
    img::SysvMsgQueue q;
    q.perm = perm_of(static_cast<int>(id), ds.msg_perm);
    q.qbytes = ds.msg_qbytes;
    const std::string what = "SysV message queue " + std::to_string(id);
    for (uint64_t n = 0; n < ds.msg_qnum; n++) {
      // Into the scratch page; only a message larger than that needs a buffer mapped for it.
      uint64_t at = buf ? buf : scratch, room = buf ? kMsgBuf : kScratchSize;
      int64_t len = rs.call(SYS_msgrcv, static_cast<uint64_t>(id), at, room - 8, n, IPC_NOWAIT | kMsgCopy);
      if (len == -E2BIG && !buf) {
        buf = rs.check("map a message buffer", SYS_mmap, 0, kMsgBuf, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0);
        at = buf;
        len = rs.call(SYS_msgrcv, static_cast<uint64_t>(id), at, kMsgBuf - 8, n, IPC_NOWAIT | kMsgCopy);
      }
      if (len < 0) {
        if (buf) rs.call(SYS_munmap, buf, kMsgBuf);
        throw_errno(what + ": read message " + std::to_string(n) + " (msgrcv MSG_COPY)", static_cast<int>(-len));
      }
      img::SysvMsg m;
      m.type = read_at<int64_t>(pid, at);
      m.text.resize(static_cast<size_t>(len));
      if (len) remote_read(pid, at + 8, m.text.data(), m.text.size());
      q.messages.push_back(std::move(m));
    }
    tree.sysv_msg.push_back(std::move(q));
  }
  if (buf) rs.call(SYS_munmap, buf, kMsgBuf);
}

void check_foreign_sysv(const std::vector<pid_t>& os_pids) {
  auto ours = [&](long pid) { return pid > 0 && std::find(os_pids.begin(), os_pids.end(), pid) != os_pids.end(); };
  auto refuse = [](const std::string& what, long pid) {
    throw Error("pid " + std::to_string(pid) + " uses " + what +
                    ": only the SysV IPC of a tree's own IPC namespace is supported (start the program under ckrun)",
                ExitCode::unsupported);
  };
  auto lines = [](const char* path) {
    std::vector<std::vector<std::string>> out;
    std::istringstream in(proc::read_file_if_exists(path).value_or(""));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream w(line);
      std::vector<std::string> cols;
      for (std::string c; w >> c;) cols.push_back(c);
      out.push_back(cols);
    }
    return out;
  };
  // key msqid perms cbytes qnum lspid lrpid ...
  for (const auto& c : lines("/proc/sysvipc/msg")) {
    if (c.size() < 7) continue;
    for (int col : {5, 6})
      if (long pid = std::atol(c[col].c_str()); ours(pid)) refuse("SysV message queue " + c[1], pid);
  }
  // key semid perms nsems ...: the last semop of each semaphore (GETPID)
  for (const auto& c : lines("/proc/sysvipc/sem")) {
    if (c.size() < 4) continue;
    int id = std::atoi(c[1].c_str()), n = std::atoi(c[3].c_str());
    for (int i = 0; i < n; i++)
      if (long pid = semctl(id, i, GETPID); ours(pid)) refuse("SysV semaphore set " + c[1], pid);
  }
}

void check_sysv_attachments(const img::Tree& tree, bool own_ipc) {
  for (const auto& p : tree.processes)
    for (const auto& v : p.vmas) {
      if (v.kind != img::VmaKind::sysv_shm) continue;
      const std::string what = "pid " + std::to_string(p.pid) + ": SysV shared memory segment " +
                               std::to_string(v.shm_id) + " (" + v.name + ")";
      if (!own_ipc)
        throw Error(what + ": only the SysV IPC of a tree's own IPC namespace is supported (start the program under ckrun)",
                    ExitCode::unsupported);
      const img::SysvShm* seg = nullptr;
      for (const auto& s : tree.sysv_shm)
        if (static_cast<uint64_t>(s.perm.id) == v.shm_id) seg = &s;
      if (!seg) throw Error(what + ": not found in the tree's IPC namespace");
      if (v.pgoff != 0 || v.end - v.start != ((seg->size + 4095) & ~uint64_t{4095}))
        throw Error(what + ": attached only in part: not supported", ExitCode::unsupported);
    }
}

}  // namespace ck
