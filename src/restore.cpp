#include "restore.hpp"

#include <fcntl.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "arch.hpp"
#include "error.hpp"
#include "hex.hpp"
#include "file_locks.hpp"
#include "kernel_abi.hpp"
#include "image_dir.hpp"
#include "log.hpp"
#include "posix_timers.hpp"
#include "seccomp_state.hpp"
#include "namespaces.hpp"
#include "proc_parse.hpp"
#include "ptrace_seize.hpp"
#include "restore_socket.hpp"
#include "remote_syscall.hpp"
#include "restore_event_fd.hpp"
#include "restore_vma.hpp"
#include "restore_shm.hpp"
#include "restore_ipc.hpp"
#include "time_ns.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

using Clock = std::chrono::steady_clock;


// ---- checks before anything is created ----------------------------------------------

void check_machine(const img::LoadedImage& image) {
  const auto& m = image.manifest;
  if (m.arch != arch::kName)
    throw Error(image.dir + ": image of a " + m.arch + " machine, this is " + arch::kName, ExitCode::bad_image);
  if (m.page_size != static_cast<uint32_t>(sysconf(_SC_PAGESIZE)))
    throw Error(image.dir + ": image with " + std::to_string(m.page_size) + "-byte pages, this machine uses " +
                    std::to_string(sysconf(_SC_PAGESIZE)),
                ExitCode::unsupported);
  auto host = arch::host_cpu_features();
  if (auto miss = arch::missing_hwcaps({m.cpu.hwcap, m.cpu.hwcap2}); !miss.empty())
    throw Error("this CPU lacks " + miss + ", which the checkpointed program may use", ExitCode::unsupported);
  if (uint64_t missing = m.cpu.xfeatures & ~host.xfeatures)
    throw Error("this CPU lacks " + arch::feature_names(missing) + ", which the checkpointed program uses",
                ExitCode::unsupported);
  for (auto& p : image.tree.processes)
    for (auto& t : p.threads)
      if (!t.fpregs.empty() && t.fpregs.size() != host.xsave_size)
        throw Error("FPU state of " + std::to_string(t.fpregs.size()) + " bytes in the image, this CPU's is " +
                        std::to_string(host.xsave_size) + ": restore on the same kind of CPU",
                    ExitCode::unsupported);
}

// The checkpoint's vDSO when this kernel's differs (or CK_TEST_VDSO_PROXY=1 asks for the proxy
// anyway, to test it on one kernel): the restored program gets a proxy at the old address
// (vdso.hpp). Empty: the vDSO goes where it was.
std::optional<std::string> vdso_to_proxy(const img::LoadedImage& image) {
  const auto& m = image.manifest;
  if (!m.vdso_size) return std::nullopt;
  SpecialMappings own = own_special_mappings();
  const uint64_t vdso_len = own.vdso.end - own.vdso.start;
  const uint64_t sum = vdso_len ? img::checksum(reinterpret_cast<const void*>(own.vdso.start), vdso_len) : 0;
  const char* hook = getenv("CK_TEST_VDSO_PROXY");
  const bool forced = hook && std::string(hook) == "1";
  if (m.vdso_size == vdso_len && m.vdso_xxh3 == sum && !forced) return std::nullopt;
  const std::string kernel = proc::read_file("/proc/sys/kernel/osrelease").substr(0, 60);
  if (!vdso_len)
    throw Error("this kernel (" + kernel + ") gives processes no vDSO, the checkpointed program uses one",
                ExitCode::unsupported);
  if (!img::lists_vdso(m))
    throw Error("the vDSO of this kernel (" + kernel + ") differs from the one of the checkpoint's kernel " + m.kernel +
                    " and the image holds no copy of the old one (made by an older ckdump): restore on the kernel "
                    "the checkpoint was made on",
                ExitCode::unsupported);
  std::string old = img::read_vdso(image.dir);
  if (old.size() != m.vdso_size || img::checksum(old.data(), old.size()) != m.vdso_xxh3)
    throw Error(image.dir + "/" + img::kVdsoName + ": not the vDSO the manifest describes", ExitCode::bad_image);
  if (m.vdso_size == vdso_len && m.vdso_xxh3 == sum)
    CK_LOG(1, "CK_TEST_VDSO_PROXY=1: restoring through a vDSO proxy although this kernel's vDSO is the checkpoint's");
  else
    CK_LOG(1, "this kernel's vDSO differs from the checkpoint's: restoring through a vDSO proxy");
  return old;
}

std::string proc_comm(pid_t pid) {
  auto c = proc::read_file_if_exists("/proc/" + std::to_string(pid) + "/comm");
  return c ? c->substr(0, c->find('\n')) : "?";
}

bool pid_in_use(pid_t pid) { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

bool is_zombie(pid_t pid) {
  auto s = proc::read_file_if_exists("/proc/" + std::to_string(pid) + "/stat");
  return s && s->find(") Z ") != std::string::npos;
}

void check_pid_free(pid_t pid) {
  // A just-killed process may still be a zombie waiting for its parent: give it a moment.
  for (int i = 0; i < 300 && is_zombie(pid); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (pid_in_use(pid))
    throw Error("PID " + std::to_string(pid) + " is in use by '" + proc_comm(pid) +
                    "': the restored process needs its old PID (stop that process, or restore elsewhere)",
                ExitCode::conflict);
}

void check_files(const img::Tree& tree, const img::Process& p) {
  std::vector<bool> mapped(tree.files.size(), false);
  for (auto& v : p.vmas)
    if (v.file_id >= 0 && static_cast<size_t>(v.file_id) < mapped.size()) mapped[v.file_id] = true;
  if (p.mm.exe_file_id >= 0 && static_cast<size_t>(p.mm.exe_file_id) < mapped.size()) mapped[p.mm.exe_file_id] = true;
  for (const auto& f : tree.files) {
    if (f.deleted) continue;
    struct stat st {};
    if (stat(f.path.c_str(), &st) != 0 && errno == ENOENT && !f.content.empty()) continue;  // recreated from the image
    if (stat(f.path.c_str(), &st) != 0)
      throw Error(f.path + ": " + strerror(errno) + " (the checkpointed program uses it)", ExitCode::conflict);
    if ((st.st_mode & S_IFMT) != (f.mode & S_IFMT))
      throw Error(f.path + ": no longer the same kind of file as at the checkpoint", ExitCode::conflict);
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (mapped[f.id] && S_ISREG(st.st_mode) && (static_cast<uint64_t>(st.st_size) != f.size || mtime != f.mtime_ns))
      throw Error(f.path + ": changed since the checkpoint (size " + std::to_string(f.size) + " -> " +
                      std::to_string(st.st_size) + "); the program has it mapped and would break",
                  ExitCode::conflict);
  }
  for (const auto& fd : p.fds) {
    if (fd.kind != img::FdKind::file || fd.file_id < 0 || static_cast<size_t>(fd.file_id) >= tree.files.size()) continue;
    const auto& f = tree.files[fd.file_id];
    if (f.deleted || f.type != img::FileType::regular) continue;
    struct stat st {};
    if (stat(f.path.c_str(), &st) != 0) continue;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    // A log or a job's output (SLURM --open-mode=append) grows while the program is away; the
    // program goes on writing at its end. Shorter means truncated or replaced: refused.
    if (fd.flags & O_APPEND) {
      if (size < f.size)
        throw Error(f.path + ": shorter (" + std::to_string(size) + " bytes) than at the checkpoint (" +
                        std::to_string(f.size) + "), and fd " + std::to_string(fd.fd) +
                        " appends to it: it was truncated or replaced since",
                    ExitCode::conflict);
      continue;
    }
    if (size < fd.pos && (fd.flags & O_ACCMODE) != O_WRONLY)
      throw Error(f.path + ": shorter (" + std::to_string(size) + " bytes) than the offset " +
                      std::to_string(fd.pos) + " fd " + std::to_string(fd.fd) + " was reading at",
                  ExitCode::conflict);
    // Writing on at the old offset would leave a hole of zeros where the lost text was (a job
    // output file truncated by a requeue without --open-mode=append).
    if (size < fd.pos)
      throw Error(f.path + ": shorter (" + std::to_string(size) + " bytes) than the offset " +
                      std::to_string(fd.pos) + " fd " + std::to_string(fd.fd) +
                      " was writing at: truncated since (open it with O_APPEND, or for a SLURM job "
                      "output use --open-mode=append)",
                  ExitCode::conflict);
  }
}

void check_creds(const img::Process& p, const std::string& dir, bool own_ns) {
  const auto& c = p.creds;
  if (geteuid() == 0) {
    // An image is only as trustworthy as its owner: a user's image may not claim another
    // identity and have root restore it as that.
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) throw_errno("stat " + dir);
    if (st.st_uid != 0 && (c.uid != st.st_uid || c.euid != st.st_uid || c.suid != st.st_uid || c.fsuid != st.st_uid))
      throw Error(dir + " belongs to uid " + std::to_string(st.st_uid) + " but its process runs as uid " +
                      std::to_string(c.euid) + ": refusing to restore it with those credentials",
                  ExitCode::permission);
    return;
  }
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  if (c.uid != r || c.euid != r || c.suid != r || c.gid != gr || c.egid != gr || c.sgid != gr)
    throw Error("the image runs as uid " + std::to_string(c.uid) + " gid " + std::to_string(c.gid) +
                    "; you are uid " + std::to_string(r) + ": only root may restore another user's process",
                ExitCode::permission);
  // Under ckrun, capabilities are those of the user's own namespace, which they may have.
  if (!own_ns && (c.cap_prm || c.cap_eff || c.cap_amb))
    throw Error("the image's process had capabilities; only root may restore it", ExitCode::permission);
}

// ---- the child: everything that can be done in normal code ---------------------------

// Everything a restored process needs to know, computed by ckrestore before the first fork
// (every process of the tree is a fork of ckrestore and sees it).
struct RestoreContext {
  const img::LoadedImage* image;
  const RestoreOptions* opts;
  std::vector<PremapPlan> plans;  // per process index
  OfdPlan ofds;
  SharedAnonObjects shared_anon;  // made before the first fork; every process inherits them
  std::map<int32_t, size_t> index_of;  // pid -> process index
  // The tree lives in new user/PID/mount namespaces (an image of a program under ckrun): its
  // PIDs are those inside, and ckrestore knows each process by its PID outside.
  bool own_ns = false;
  std::map<int32_t, pid_t> outer_of;
  // ckrestore's own fds, at fixed numbers above every staging fd so no process has to move them.
  int err_fd() const { return ofds.internal_base; }      // write "code message" on failure
  int go_fd() const { return ofds.internal_base + 1; }   // root only: the tracer is ready
  int stdio_fd(int i) const { return ofds.internal_base + 2 + i; }
  int exe_fd() const { return ofds.internal_base + 5; }  // the exe file, for PR_SET_MM_MAP
  // The tree-wide barrier before any process prepares its memory: each writes one byte to
  // created_fd once its children exist, and waits on all_created_fd until all have. Preparing
  // memory starts threads (page workers), and in a new PID namespace a thread takes the next
  // free PID, which a process of the tree not yet created may need.
  int created_fd() const { return ofds.internal_base + 6; }
  int all_created_fd() const { return ofds.internal_base + 7; }
  // ckrestore's own ends of those pipes, out of the way of the staging numbers: every new
  // process closes them first (a copy left at a low number could sit where a staged fd goes).
  int tracer_fd(int i) const { return ofds.internal_base + 8 + i; }  // go_w, err_r, created_r, all_w
};

void set_signal_state(const img::Process& p) {
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    const auto& a = p.sigactions[sig - 1];
    KernelSigaction ka{a.handler, a.flags, a.restorer, a.mask};
    if (syscall(SYS_rt_sigaction, sig, &ka, nullptr, 8) != 0 && a.handler != 0)
      throw_errno("rt_sigaction " + std::to_string(sig));
  }
  for (int which = 0; which < 3; which++) {
    const auto& t = p.itimers[which];
    // A periodic timer that expired while the process was held shows value 0: the kernel
    // re-arms it only when the signal is dequeued. It still runs; 0 would switch it off.
    int64_t value = t.value_us == 0 ? t.interval_us : t.value_us;
    itimerval it{};
    it.it_interval = {t.interval_us / 1000000, t.interval_us % 1000000};
    it.it_value = {value / 1000000, value % 1000000};
    if (setitimer(which, &it, nullptr) != 0) throw_errno("setitimer " + std::to_string(which));
  }
}

void set_process_attributes(const img::Process& p) {
  if (chdir(p.cwd.c_str()) != 0) throw_errno("chdir " + p.cwd);
  umask(p.umask);
  if (personality(p.personality) < 0) throw_errno("personality");
  prctl(PR_SET_NAME, p.comm.c_str());
  if (p.child_subreaper) prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (p.timerslack_ns) prctl(PR_SET_TIMERSLACK, p.timerslack_ns);
  if (p.thp_disable) prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
  for (int res = 0; res < 16; res++) {
    rlimit want{p.rlimits[res].cur, p.rlimits[res].max};
    if (setrlimit(res, &want) == 0) continue;
    rlimit have{};
    getrlimit(res, &have);
    // Raising a hard limit needs privileges the user may not have: keep what we may.
    rlimit fit{std::min(want.rlim_cur, have.rlim_max), std::min(want.rlim_max, have.rlim_max)};
    if (setrlimit(res, &fit) != 0) throw_errno("setrlimit " + std::to_string(res));
    log::warn("resource limit " + std::to_string(res) + " could not be raised to the checkpoint's value");
  }
}

void set_session(const img::Process& p) {
  if (p.sid == p.pid) {
    if (setsid() < 0) throw_errno("setsid");
  } else if (p.pgid == p.pid) {
    if (setpgid(0, 0) != 0) throw_errno("setpgid");
  }
}

pid_t clone_with_pid(pid_t pid, int exit_signal) {
  clone_args ca{};
  ca.exit_signal = static_cast<uint64_t>(exit_signal);
  ca.set_tid = reinterpret_cast<uint64_t>(&pid);
  ca.set_tid_size = 1;
  long r = syscall(SYS_clone3, &ca, sizeof ca);
  if (r < 0) {
    int err = errno;
    if (err == EPERM)
      throw Error("restoring PID " + std::to_string(pid) +
                      " needs CAP_CHECKPOINT_RESTORE (run ckrestore as root, or start the program under ckrun)",
                  ExitCode::permission);
    if (err == EEXIST)
      throw Error("PID " + std::to_string(pid) + " is in use by '" + proc_comm(pid) + "'", ExitCode::conflict);
    throw_errno("clone3 with PID " + std::to_string(pid), err);
  }
  return static_cast<pid_t>(r);
}

[[noreturn]] void exit_like(int status) {
  if (WIFSIGNALED(status)) {
    signal(WTERMSIG(status), SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, WTERMSIG(status));
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), WTERMSIG(status));
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// Runs in the new process `index`: creates what it must pass on, forks its children (each
// continues here with its own index), prepares its own memory, fds and attributes, and stops.
[[noreturn]] void child_main(const RestoreContext& ctx, size_t index) {
  const img::Tree& tree = ctx.image->tree;
  const img::Process& p = tree.processes[index];
  int code = 1;
  std::string msg;
  try {
    for (int i = 0; i < 4; i++) close(ctx.tracer_fd(i));
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    if (index == 0) {
      char go = 0;
      if (read(ctx.go_fd(), &go, 1) != 1) _exit(1);  // ckrestore is gone
      close(ctx.go_fd());
      if (ctx.own_ns) ns::mount_own_proc();
      if (ctx.own_ns && ctx.image->tree.own_netns) ns::bring_up_loopback();
      if (ctx.own_ns && tree.time_ns) ns::enter_time_ns(tree);  // before the tree is forked into it
      create_sysv_objects(tree);  // in the tree's new IPC namespace, before anyone attaches
    }
    if (p.zombie) exit_like(p.exit_status);
    if (geteuid() == 0 && (p.creds.fsuid != 0 || p.creds.fsgid != 0)) {
      std::vector<gid_t> groups(p.creds.groups.begin(), p.creds.groups.end());
      if (setgroups(groups.size(), groups.data()) != 0) throw_errno("setgroups");
      set_file_access_creds({true, p.creds.fsuid, p.creds.fsgid});
    }
    set_session(p);
    int stdio_copy[3] = {ctx.stdio_fd(0), ctx.stdio_fd(1), ctx.stdio_fd(2)};
    for (int& c : stdio_copy)
      if (fcntl(c, F_GETFD) < 0) c = -1;
    create_staged_ofds(tree, index, ctx.ofds, ctx.image->dir, ctx.opts->stdio, stdio_copy);
    for (size_t j = index + 1; j < tree.processes.size(); j++) {
      const img::Process& c = tree.processes[j];
      auto parent = ctx.index_of.find(c.ppid);
      if (parent == ctx.index_of.end() || parent->second != index) continue;
      create_pending_pidfds(false);  // those of children forked so far, for this one to inherit
      if (clone_with_pid(c.pid, c.exit_signal) == 0) child_main(ctx, j);
    }
    create_pending_pidfds(true);
    char one = 1;
    if (write(ctx.created_fd(), &one, 1) != 1 || read(ctx.all_created_fd(), &one, 1) != 1)
      throw Error("the tree was not created");
    close(ctx.created_fd());
    close(ctx.all_created_fd());
    std::map<int32_t, int> shared_file_fd;
    for (const auto& [file_id, id] : ctx.ofds.shared_files) shared_file_fd[file_id] = ctx.ofds.staging_base + id;
    premap_memory(*ctx.image, p, ctx.plans[index], shared_file_fd, ctx.shared_anon.addr);
    std::vector<int> internal = {ctx.err_fd()};
    if (p.mm.exe_file_id >= 0) {
      int exe = open_image_file_object(tree.files.at(static_cast<size_t>(p.mm.exe_file_id)), ctx.image->dir, O_RDONLY);
      if (dup2(exe, ctx.exe_fd()) < 0) throw_errno("dup2 exe fd");
      close(exe);
      internal.push_back(ctx.exe_fd());
    }
    place_fds(p, ctx.ofds, internal);
    take_locks(p);
    fill_epolls(tree, index, ctx.ofds.internal_base + 16);
    set_process_attributes(p);
    set_signal_state(p);
    close(ctx.err_fd());
    // Our glibc believes it is the parent thread (clone3 is not fork): ask the kernel who we are.
    syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGSTOP);
    _exit(126);  // not reached: ckrestore takes over at the stop
  } catch (const Error& e) {
    code = static_cast<int>(e.code());
    msg = e.message();
  } catch (const std::exception& e) {
    msg = e.what();
  }
  std::string out = std::to_string(code) + " pid " + std::to_string(p.pid) + ": " + msg + "\n";
  if (write(ctx.err_fd(), out.data(), out.size()) < 0) {
  }
  _exit(1);
}

// ---- ckrestore: the last steps, in each stopped process -------------------------------

struct KernelCloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

void set_thread_state(RemoteSyscall& rs, uint64_t data, const img::Thread& t) {
  const pid_t tid = rs.task().tid();
  KernelStack ks{t.altstack.sp, t.altstack.flags & ~SS_ONSTACK, 0, t.altstack.size};
  if (!(t.altstack.flags & SS_DISABLE)) {
    remote_write(tid, data, &ks, sizeof ks);
    rs.check("sigaltstack", SYS_sigaltstack, data, 0);
  }
  rs.check("set_tid_address", SYS_set_tid_address, t.clear_child_tid);
  rs.check("set_robust_list", SYS_set_robust_list, t.robust_list, t.robust_list_len ? t.robust_list_len : 24);
  if (t.rseq.ptr) rs.check("rseq", SYS_rseq, t.rseq.ptr, t.rseq.len, 0, t.rseq.sig);
  // Only a thread may rename itself (/proc/PID/task/TID/comm refuses other processes).
  char name[16] = {};
  t.comm.copy(name, sizeof name - 1);
  remote_write(tid, data, name, sizeof name);
  rs.check("prctl(PR_SET_NAME)", SYS_prctl, PR_SET_NAME, data);
}

// Everything but the registers; the tasks stay stopped. Returns the seizures of the process's
// threads (leader first) so that all can be handed their registers at the very end.
std::vector<Seized> finish_process(const RestoreContext& ctx, size_t index, Seized leader) {
  const img::Process& p = ctx.image->tree.processes[index];
  const PremapPlan& plan = ctx.plans[index];
  const pid_t pid = leader.tid();  // as ckrestore sees it; p.pid is what the process itself sees
  const uint64_t data = plan.data_page;
  std::vector<Seized> threads;
  threads.reserve(p.threads.size());  // rs below holds a reference to threads[0]
  threads.push_back(std::move(leader));
  RemoteSyscall rs(threads[0], plan.insn_page);

  // ckrestore's rseq area is about to vanish: the kernel must stop writing to it first.
  __ptrace_rseq_configuration rc{};
  if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof rc, &rc) > 0 && rc.rseq_abi_pointer)
    rs.check("unregister rseq", SYS_rseq, rc.rseq_abi_pointer, rc.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */,
             rc.signature);

  move_memory_into_place(rs, p, plan, own_special_mappings());

  prctl_mm_map mm{};
  mm.start_code = p.mm.start_code, mm.end_code = p.mm.end_code;
  mm.start_data = p.mm.start_data, mm.end_data = p.mm.end_data;
  mm.start_brk = p.mm.start_brk, mm.brk = p.mm.brk, mm.start_stack = p.mm.start_stack;
  mm.arg_start = p.mm.arg_start, mm.arg_end = p.mm.arg_end, mm.env_start = p.mm.env_start, mm.env_end = p.mm.env_end;
  std::vector<uint64_t> auxv = p.mm.auxv;
  if (auxv.size() * 8 + sizeof mm > PremapPlan::kDataSize) auxv.resize((PremapPlan::kDataSize - sizeof mm) / 8 & ~1ul);
  remote_write(pid, data + sizeof mm, auxv.data(), auxv.size() * 8);
  mm.auxv = reinterpret_cast<__u64*>(data + sizeof mm);
  mm.auxv_size = static_cast<uint32_t>(auxv.size() * 8);
  const bool has_exe = p.mm.exe_file_id >= 0;
  mm.exe_fd = has_exe ? static_cast<uint32_t>(ctx.exe_fd()) : static_cast<uint32_t>(-1);
  remote_write(pid, data, &mm, sizeof mm);
  int64_t r = rs.call(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, data, sizeof mm);
  if (r == -EPERM && has_exe) {
    log::warn("pid " + std::to_string(pid) + ": no privilege to set /proc/PID/exe; it names ckrestore");
    mm.exe_fd = static_cast<uint32_t>(-1);
    remote_write(pid, data, &mm, sizeof mm);
    r = rs.call(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, data, sizeof mm);
  }
  if (r < 0) throw_errno("prctl(PR_SET_MM_MAP)", static_cast<int>(-r));
  if (has_exe) rs.call(SYS_close, static_cast<uint64_t>(ctx.exe_fd()));

  // The other threads, with their TIDs: clone3 run by the leader; each new thread is
  // auto-attached (PTRACE_O_TRACECLONE) and stops before its first instruction.
  if (p.threads.size() > 1 &&
      ptrace(PTRACE_SETOPTIONS, pid, nullptr,
             PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK | PTRACE_O_TRACECLONE) != 0)
    throw_errno("ptrace setoptions");
  for (size_t i = 1; i < p.threads.size(); i++) {
    pid_t tid = p.threads[i].tid;
    KernelCloneArgs ca{};
    ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    ca.set_tid = data + sizeof ca;
    ca.set_tid_size = 1;
    remote_write(pid, data, &ca, sizeof ca);
    remote_write(pid, data + sizeof ca, &tid, sizeof tid);
    uint64_t got = rs.check("clone3 thread " + std::to_string(tid), SYS_clone3, data, sizeof ca);
    if (static_cast<pid_t>(got) != tid) throw Error("thread created as " + std::to_string(got) + ", not " + std::to_string(tid));
    threads.push_back(Seized::adopt_new_task(threads[0].last_new_task()));
  }
  for (size_t i = 0; i < p.threads.size(); i++) {
    RemoteSyscall trs(threads[i], plan.insn_page);
    set_thread_state(trs, data, p.threads[i]);
  }

  // Signals that came up during the restore (SIGCHLD of recreated zombies) are not the
  // program's: drain them, then queue the ones it had.
  {
    uint64_t mask = ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    struct timespec zero {};
    remote_write(pid, data, &mask, sizeof mask);
    remote_write(pid, data + 8, &zero, sizeof zero);
    while (rs.call(SYS_rt_sigtimedwait, data, data + 64, data + 8, 8) > 0) {
    }
  }
  for (const auto& si : p.shared_pending) {
    int sig = 0;
    std::memcpy(&sig, si.raw.data(), sizeof sig);
    remote_write(pid, data, si.raw.data(), si.raw.size());
    rs.check("rt_sigqueueinfo " + std::to_string(sig), SYS_rt_sigqueueinfo, p.pid, sig, data);
  }
  for (const auto& t : p.threads)
    for (const auto& si : t.pending) {
      int sig = 0;
      std::memcpy(&sig, si.raw.data(), sizeof sig);
      remote_write(pid, data, si.raw.data(), si.raw.size());
      rs.check("rt_tgsigqueueinfo " + std::to_string(sig), SYS_rt_tgsigqueueinfo, p.pid, t.tid, sig, data);
    }

  // After the queued signals (a timer's signal pending at dump is among them) and once every
  // thread a timer may signal exists.
  restore_posix_timers(rs, data, p);

  // Every process has attached its segments by now (all are prepared before the first finish).
  if (index == 0) finish_sysv_objects(rs, ctx.image->tree);

  // Process groups: a group led by a process of the tree is joined now that all exist.
  if (p.pgid != p.pid && ctx.index_of.count(p.pgid)) rs.check("setpgid", SYS_setpgid, 0, p.pgid);

  // Credentials last but one: after them the process may no longer do privileged things.
  const auto& c = p.creds;
  if (geteuid() == 0 && (c.uid != 0 || c.gid != 0 || c.euid != 0)) {
    std::vector<uint32_t> groups = c.groups;
    if (groups.size() * 4 > PremapPlan::kDataSize) groups.resize(PremapPlan::kDataSize / 4);
    if (!groups.empty()) remote_write(pid, data, groups.data(), groups.size() * 4);
    rs.check("setgroups", SYS_setgroups, groups.size(), data);
    rs.check("setresgid", SYS_setresgid, c.gid, c.egid, c.sgid);
    rs.check("setresuid", SYS_setresuid, c.uid, c.euid, c.suid);
  }
  if (p.dumpable == 0 || p.dumpable == 1) rs.check("prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, p.dumpable);
  rs.check("prctl(PR_SET_PDEATHSIG)", SYS_prctl, PR_SET_PDEATHSIG, p.pdeathsig);
  if (c.no_new_privs) rs.check("prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (ctx.own_ns) {
    // Processes forked inside the new user namespace hold every capability in it; the program
    // had what the image says (usually none).
    struct {
      uint32_t version;
      int pid;
    } hdr{0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    uint32_t caps[6] = {static_cast<uint32_t>(c.cap_eff), static_cast<uint32_t>(c.cap_prm),
                        static_cast<uint32_t>(c.cap_inh), static_cast<uint32_t>(c.cap_eff >> 32),
                        static_cast<uint32_t>(c.cap_prm >> 32), static_cast<uint32_t>(c.cap_inh >> 32)};
    remote_write(pid, data, &hdr, sizeof hdr);
    remote_write(pid, data + 16, caps, sizeof caps);
    rs.check("capset", SYS_capset, data, data + 16);
  }

  // Seccomp filters last, so that none of ours runs under them; the leader's final munmap does.
  for (size_t i = threads.size(); i-- > 0;) {
    const auto& t = p.threads[i];
    if (t.seccomp_filters.empty()) continue;
    RemoteSyscall trs(threads[i], plan.insn_page);
    restore_seccomp(trs, data, PremapPlan::kDataSize, t, c.no_new_privs);
  }

  // The last syscall removes the page it runs from: the leader is stopped at its exit and gets
  // its registers before it fetches another instruction; the other threads never run there.
  rs.check("munmap premap region", SYS_munmap, plan.base, plan.size);
  return threads;
}

void hand_over(const img::Process& p, std::vector<Seized>& threads) {
  for (size_t i = 0; i < threads.size(); i++)
    threads[i].hand_over({p.threads[i].gpregs, p.threads[i].fpregs}, p.threads[i].sigmask);
}

std::string read_child_error(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

}  // namespace

namespace {

void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Until every process of the tree has stopped itself, ready to be finished. Processes and
// threads created meanwhile are auto-attached (PTRACE_O_TRACEFORK/CLONE) and let run.
void wait_all_prepared(RestoreContext& ctx) {
  std::set<pid_t> waiting, zombies;
  // A recreated zombie must be seen exiting here: it is traced with PTRACE_O_EXITKILL like the
  // rest, and one still held in its first stop when ckrestore detaches would die of SIGKILL and
  // hand its parent the wrong status.
  for (const auto& p : ctx.image->tree.processes) (p.zombie ? zombies : waiting).insert(p.pid);
  std::map<pid_t, pid_t> inner_of;  // outer -> inner, for the tasks seen so far
  auto inner = [&](pid_t t) {
    if (!ctx.own_ns) return t;
    auto it = inner_of.find(t);
    if (it != inner_of.end()) return it->second;
    pid_t in = ns::inner_pid(t);
    inner_of[t] = in;
    return in;
  };
  while (!waiting.empty() || !zombies.empty()) {
    int status = 0;
    pid_t t = waitpid(-1, &status, __WALL);
    if (t < 0) {
      if (errno == EINTR) continue;
      throw_errno("waitpid");
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      auto it = inner_of.find(t);
      pid_t id = ctx.own_ns ? (it == inner_of.end() ? -1 : it->second) : t;
      if (waiting.count(id)) throw Error("pid " + std::to_string(id) + " failed while being prepared");
      zombies.erase(id);
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int event = status >> 16, sig = WSTOPSIG(status);
    if (event == 0 && sig == SIGSTOP && waiting.count(inner(t))) {
      waiting.erase(inner(t));  // stays stopped
      ctx.outer_of[inner(t)] = t;
      continue;
    }
    if (ctx.own_ns) inner(t);  // remember it while /proc still shows it
    int deliver = (event == 0 && sig != SIGSTOP && sig != SIGTRAP) ? sig : 0;
    ptrace(PTRACE_CONT, t, nullptr, deliver);
  }
}

void kill_tree(const RestoreContext& ctx, pid_t root) {
  if (root > 0) ::kill(root, SIGKILL);  // with own namespaces, that ends them all
  if (ctx.own_ns) return;
  for (const auto& p : ctx.image->tree.processes) ::kill(p.pid, SIGKILL);
}

}  // namespace

RestoreResult restore(const RestoreOptions& opts) {
  auto t0 = Clock::now();
  CK_LOG(1, "loading and verifying image %s", opts.dir.c_str());
  // Everything but the pages files is verified before anything is created; those are hashed
  // while they are decompressed, which fails the restore before the process runs.
  img::LoadedImage image = img::load_image(opts.dir, img::DataCheck::except_pages);
  const img::Tree& tree = image.tree;
  if (tree.processes.empty()) throw Error(opts.dir + ": image without processes", ExitCode::bad_image);
  return with_context("restore pid " + std::to_string(tree.processes[0].pid), [&]() -> RestoreResult {
    check_machine(image);
    const std::optional<std::string> old_vdso = vdso_to_proxy(image);
    RestoreContext ctx;
    ctx.image = &image;
    ctx.opts = &opts;
    ctx.own_ns = tree.own_namespaces;
    if (ctx.own_ns && getuid() != 0 &&
        (tree.uid_map != ns::own_id_map(getuid()) || tree.gid_map != ns::own_id_map(getgid())))
      throw Error(opts.dir + ": the program ran under ckrun as uid map '" + tree.uid_map.substr(0, tree.uid_map.find('\n')) +
                      "'; only that user (or root) may restore it",
                  ExitCode::permission);
    for (size_t i = 0; i < tree.processes.size(); i++) {
      const auto& p = tree.processes[i];
      ctx.index_of[p.pid] = i;
      if (p.zombie) continue;
      check_creds(p, opts.dir, ctx.own_ns);
      check_files(tree, p);
    }
    // ckdump records SysV objects only of a tree's own IPC namespace: elsewhere they would be
    // made in the machine's, with the image's owners and limits.
    if (!ctx.own_ns && !(tree.sysv_shm.empty() && tree.sysv_sem.empty() && tree.sysv_msg.empty()))
      throw Error(opts.dir + ": SysV IPC objects in an image without its own namespaces", ExitCode::bad_image);
    for (const auto& p : tree.processes) {
      if (ctx.own_ns) break;  // new namespaces: every PID is free
      check_pid_free(p.pid);
      for (size_t i = 1; i < p.threads.size(); i++) check_pid_free(p.threads[i].tid);
    }
    if (tree.own_netns && !tree.own_namespaces)
      throw Error(opts.dir + ": tree.ck: a network namespace of its own outside ckrun's namespaces", ExitCode::bad_image);
    {
      struct stat st {};
      bool for_user = geteuid() == 0 && stat(opts.dir.c_str(), &st) == 0 && st.st_uid != 0;
      check_sockets_restorable(tree, geteuid() == 0, for_user);
    }
    raise_fd_limit();
    ctx.ofds = plan_ofds(tree);
    auto phase = Clock::now();
    RestoreResult res;
    res.load_seconds = std::chrono::duration<double>(phase - t0).count();

    SpecialMappings own = own_special_mappings();
    std::vector<Range> taken;
    for (const auto& p : tree.processes) {
      if (p.zombie) {
        ctx.plans.emplace_back();
        continue;
      }
      ctx.plans.push_back(plan_premap(p, own, taken, old_vdso ? &*old_vdso : nullptr));
      CK_LOG(1, "pid %d: premap region %s, %llu MiB", p.pid, hex(ctx.plans.back().base).c_str(),
             static_cast<unsigned long long>(ctx.plans.back().size >> 20));
    }
    ctx.shared_anon = create_shared_anon(tree);
    // Every pipe end goes to a fixed number (see RestoreContext) and the original is closed
    // at once, so that no process of the tree inherits one at a number it needs.
    auto moved = [](int fd, int at) {
      UniqueFd orig(fd);
      if (dup3(orig.get(), at, O_CLOEXEC) < 0) throw_errno("dup3 to " + std::to_string(at));
      return UniqueFd(at);
    };
    auto new_pipe = [&](int r_at, int w_at) {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe");
      UniqueFd w_orig(fds[1]);
      UniqueFd r = moved(fds[0], r_at);
      return std::make_pair(std::move(r), moved(w_orig.release(), w_at));
    };
    auto [go_r, go_w] = new_pipe(ctx.go_fd(), ctx.tracer_fd(0));
    auto [err_r, err_w] = new_pipe(ctx.tracer_fd(1), ctx.err_fd());
    auto [created_r, created_w] = new_pipe(ctx.tracer_fd(2), ctx.created_fd());
    auto [all_r, all_w] = new_pipe(ctx.all_created_fd(), ctx.tracer_fd(3));
    std::vector<UniqueFd> fixed;
    auto fix = [&](int fd, int at) {
      if (fd >= 0 && dup2(fd, at) < 0) throw_errno("dup2 to " + std::to_string(at));
      if (fd >= 0) fixed.emplace_back(at);
    };
    for (int i = 0; i < 3; i++) fix(fcntl(i, F_GETFD) >= 0 ? i : -1, ctx.stdio_fd(i));
    for (const UniqueFd* f : {&go_r, &err_w, &created_w, &all_r}) fcntl(f->get(), F_SETFD, 0);
    for (auto& f : fixed) fcntl(f.get(), F_SETFD, 0);

    fflush(nullptr);
    pid_t root = ctx.own_ns ? ns::clone_into_new_namespaces(tree.own_netns) : clone_with_pid(tree.processes[0].pid, SIGCHLD);
    if (root == 0) child_main(ctx, 0);
    fixed.clear();
    ctx.shared_anon.maps.clear();  // the tree has its own
    go_r.reset();
    err_w.reset();
    created_w.reset();
    all_r.reset();
    {
      // Lets the tree on once every process has reported; if one fails first, the others stay
      // blocked until the failure path kills them, and their end of the pipe closes with them.
      size_t n = 0;
      for (const auto& p : tree.processes) n += p.zombie ? 0 : 1;
      std::thread([n, r = std::move(created_r), w = std::move(all_w)] {
        sigset_t pipe_sig;
        sigemptyset(&pipe_sig);
        sigaddset(&pipe_sig, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_sig, nullptr);
        std::vector<char> buf(n ? n : 1, 1);
        size_t got = 0;
        while (got < n) {
          ssize_t k = read(r.get(), buf.data(), n - got);
          if (k < 0 && errno == EINTR) continue;
          if (k <= 0) return;
          got += static_cast<size_t>(k);
        }
        size_t put = 0;
        while (put < n) {
          ssize_t k = write(w.get(), buf.data(), n - put);
          if (k < 0 && errno == EINTR) continue;
          if (k <= 0) return;
          put += static_cast<size_t>(k);
        }
      }).detach();
    }
    CK_LOG(1, "created pid %d", root);
    try {
      std::vector<std::vector<Seized>> finished;
      try {
        // Forks are followed so that every process of the tree is ours; threads are not: the
        // preparing processes run helper threads whose exits we would have to reap.
        if (ptrace(PTRACE_SEIZE, root, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK) != 0)
          throw_errno("ptrace seize pid " + std::to_string(root));
        if (ctx.own_ns)
          ns::write_id_maps(root, getuid() == 0 ? tree.uid_map : ns::own_id_map(getuid()),
                            getuid() == 0 ? tree.gid_map : ns::own_id_map(getgid()));
        char g = 1;
        if (write(go_w.get(), &g, 1) != 1) throw_errno("start pid " + std::to_string(root));
        go_w.reset();
        wait_all_prepared(ctx);
        res.prepare_seconds = std::chrono::duration<double>(Clock::now() - phase).count();
        phase = Clock::now();
        CK_LOG(1, "all %zu processes prepared; putting their memory in place", tree.processes.size());
        for (size_t i = 0; i < tree.processes.size(); i++) {
          if (tree.processes[i].zombie) continue;
          with_context("pid " + std::to_string(tree.processes[i].pid), [&] {
            finished.push_back(finish_process(ctx, i, Seized::attached_stopped(ctx.outer_of.at(tree.processes[i].pid))));
          });
        }
      } catch (const Error& e) {
        // Whatever a process had to say is in the pipe; none may outlive the failure.
        kill_tree(ctx, root);
        std::string m = read_child_error(err_r.get());
        if (!m.empty()) {
          m = m.substr(0, m.find('\n'));
          size_t sp = m.find(' ');
          int code = std::atoi(m.substr(0, sp).c_str());
          throw Error(m.substr(sp + 1), static_cast<ExitCode>(code ? code : 1));
        }
        throw;
      }
      res.place_seconds = std::chrono::duration<double>(Clock::now() - phase).count();
      phase = Clock::now();
      size_t k = 0;
      for (size_t i = 0; i < tree.processes.size(); i++)
        if (!tree.processes[i].zombie) hand_over(tree.processes[i], finished[k++]);
      res.handover_seconds = std::chrono::duration<double>(Clock::now() - phase).count();
    } catch (...) {
      kill_tree(ctx, root);
      // Traced threads stay zombies until we reap them, and the root only after them.
      for (;;) {
        pid_t r = waitpid(-1, nullptr, __WALL);
        if (r == root || (r < 0 && errno != EINTR)) break;
      }
      throw;
    }
    for (const auto& plan : ctx.plans)
      if (plan.size) munmap(reinterpret_cast<void*>(plan.base), plan.size);
    res.pid = root;
    res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    for (const auto& e : image.manifest.entries) res.image_bytes += e.size;
    for (const auto& p : tree.processes) res.raw_bytes += p.pages_raw_bytes;
    return res;
  });
}

}  // namespace ck
