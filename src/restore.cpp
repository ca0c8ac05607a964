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
#include <optional>
#include <thread>

#include "arch.hpp"
#include "error.hpp"
#include "image_dir.hpp"
#include "log.hpp"
#include "proc_parse.hpp"
#include "ptrace_seize.hpp"
#include "remote_syscall.hpp"
#include "restore_vma.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

using Clock = std::chrono::steady_clock;

struct KernelSigaction {
  uint64_t handler, flags, restorer, mask;
};
struct KernelStack {
  uint64_t sp;
  int32_t flags;
  int32_t pad;
  uint64_t size;
};

std::string hex(uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

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
  if (uint64_t missing = m.cpu.xfeatures & ~host.xfeatures)
    throw Error("this CPU lacks " + arch::feature_names(missing) + ", which the checkpointed program uses",
                ExitCode::unsupported);
  for (auto& p : image.tree.processes)
    for (auto& t : p.threads)
      if (!t.fpregs.empty() && t.fpregs.size() != host.xsave_size)
        throw Error("FPU state of " + std::to_string(t.fpregs.size()) + " bytes in the image, this CPU's is " +
                        std::to_string(host.xsave_size) + ": restore on the same kind of CPU",
                    ExitCode::unsupported);
  SpecialMappings own = own_special_mappings();
  uint64_t vdso_len = own.vdso.end - own.vdso.start;
  if (m.vdso_size) {
    uint64_t sum = vdso_len ? img::checksum(reinterpret_cast<const void*>(own.vdso.start), vdso_len) : 0;
    if (m.vdso_size != vdso_len || m.vdso_xxh3 != sum)
      throw Error("the vDSO of this kernel (" + proc::read_file("/proc/sys/kernel/osrelease").substr(0, 60) +
                      ") differs from the one of the checkpoint's kernel " + m.kernel +
                      ": restore on the kernel the checkpoint was made on",
                  ExitCode::unsupported);
  }
}

std::string proc_comm(pid_t pid) {
  auto c = proc::read_file_if_exists("/proc/" + std::to_string(pid) + "/comm");
  return c ? c->substr(0, c->find('\n')) : "?";
}

bool pid_in_use(pid_t pid) { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

void check_pid_free(pid_t pid) {
  // A just-killed process may still be a zombie waiting for its parent: give it a moment.
  for (int i = 0; i < 300 && pid_in_use(pid); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
    if (f.deleted || f.type != img::FileType::regular || (fd.flags & O_APPEND)) continue;
    struct stat st {};
    if (stat(f.path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) < fd.pos && (fd.flags & O_ACCMODE) != O_WRONLY)
      throw Error(f.path + ": shorter (" + std::to_string(st.st_size) + " bytes) than the offset " +
                      std::to_string(fd.pos) + " fd " + std::to_string(fd.fd) + " was reading at",
                  ExitCode::conflict);
  }
}

void check_creds(const img::Process& p, const std::string& dir) {
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
  if (c.cap_prm || c.cap_eff || c.cap_amb)
    throw Error("the image's process had capabilities; only root may restore it", ExitCode::permission);
}

// ---- the child: everything that can be done in normal code ---------------------------

struct ChildArgs {
  const img::LoadedImage* image;
  const img::Process* proc;
  const PremapPlan* plan;
  const RestoreOptions* opts;
  int go_fd;      // read: the parent has seized us
  int err_fd;     // write: "code message" on failure
  int exe_fd_num; // where the exe file is left open for PR_SET_MM_MAP
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
    itimerval it{};
    it.it_interval = {t.interval_us / 1000000, t.interval_us % 1000000};
    it.it_value = {t.value_us / 1000000, t.value_us % 1000000};
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

[[noreturn]] void child_main(const ChildArgs& a) {
  int code = 1;
  std::string msg;
  // ckrestore's fds that must survive; restore_fds moves them above the process's own fds
  // and updates this list in place, so internal[0] is always where the error pipe is.
  std::vector<int> internal = {a.err_fd};
  try {
    const img::Process& p = *a.proc;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    char go = 0;
    if (read(a.go_fd, &go, 1) != 1) _exit(1);  // the parent is gone
    close(a.go_fd);
    if (geteuid() == 0 && (p.creds.fsuid != 0 || p.creds.fsgid != 0)) {
      std::vector<gid_t> groups(p.creds.groups.begin(), p.creds.groups.end());
      if (setgroups(groups.size(), groups.data()) != 0) throw_errno("setgroups");
      set_file_access_creds({true, p.creds.fsuid, p.creds.fsgid});
    }
    premap_memory(a.image->tree, p, *a.plan, a.image->dir);
    set_session(p);
    int exe = -1;
    if (p.mm.exe_file_id >= 0 && static_cast<size_t>(p.mm.exe_file_id) < a.image->tree.files.size())
      exe = open_image_file_object(a.image->tree.files[p.mm.exe_file_id], a.image->dir, O_RDONLY);
    if (exe >= 0) internal.push_back(exe);
    restore_fds(a.image->tree, p, a.image->dir, a.opts->stdio, internal);
    int err_fd = internal[0];
    if (exe >= 0) {
      if (dup2(internal[1], a.exe_fd_num) < 0) throw_errno("dup2 exe fd");
      close(internal[1]);
    }
    set_process_attributes(p);
    set_signal_state(p);
    close(err_fd);
    // Our glibc believes it is the parent thread (clone3 is not fork): ask the kernel who we are.
    syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), SIGSTOP);
    _exit(126);  // not reached: the parent takes over at the stop
  } catch (const Error& e) {
    code = static_cast<int>(e.code());
    msg = e.message();
  } catch (const std::exception& e) {
    msg = e.what();
  }
  std::string out = std::to_string(code) + " " + msg;
  if (write(internal[0], out.data(), out.size()) < 0) {
  }
  _exit(1);
}

pid_t clone_with_pid(pid_t pid) {
  clone_args ca{};
  ca.exit_signal = SIGCHLD;
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

// ---- the parent: the last steps, in the stopped child -------------------------------

void finish_in_child(Seized& task, const img::Process& p, const PremapPlan& plan, const SpecialMappings& own,
                     int exe_fd_num) {
  const pid_t pid = task.tid();
  const img::Thread& t = p.threads.at(0);
  RemoteSyscall rs(task, plan.insn_page);
  const uint64_t data = plan.data_page;

  // ckrestore's rseq area is about to vanish: the kernel must stop writing to it first.
  __ptrace_rseq_configuration rc{};
  if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof rc, &rc) > 0 &&
      rc.rseq_abi_pointer)
    rs.check("unregister rseq", SYS_rseq, rc.rseq_abi_pointer, rc.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */,
             rc.signature);

  move_memory_into_place(rs, p, plan, own);

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
  mm.exe_fd = exe_fd_num >= 0 ? static_cast<uint32_t>(exe_fd_num) : static_cast<uint32_t>(-1);
  remote_write(pid, data, &mm, sizeof mm);
  int64_t r = rs.call(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, data, sizeof mm);
  if (r == -EPERM && exe_fd_num >= 0) {
    log::warn("no privilege to set /proc/" + std::to_string(pid) + "/exe; it names ckrestore");
    mm.exe_fd = static_cast<uint32_t>(-1);
    remote_write(pid, data, &mm, sizeof mm);
    r = rs.call(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, data, sizeof mm);
  }
  if (r < 0) throw_errno("prctl(PR_SET_MM_MAP)", static_cast<int>(-r));
  if (exe_fd_num >= 0) rs.call(SYS_close, exe_fd_num);

  KernelStack ks{t.altstack.sp, t.altstack.flags, 0, t.altstack.size};
  if (!(t.altstack.flags & SS_DISABLE)) {
    ks.flags &= ~SS_ONSTACK;
    remote_write(pid, data, &ks, sizeof ks);
    rs.check("sigaltstack", SYS_sigaltstack, data, 0);
  }
  rs.check("set_tid_address", SYS_set_tid_address, t.clear_child_tid);
  rs.check("set_robust_list", SYS_set_robust_list, t.robust_list, t.robust_list_len ? t.robust_list_len : 24);
  if (t.rseq.ptr) rs.check("rseq", SYS_rseq, t.rseq.ptr, t.rseq.len, 0, t.rseq.sig);

  for (const auto& si : p.shared_pending) {
    int sig = 0;
    std::memcpy(&sig, si.raw.data(), sizeof sig);
    remote_write(pid, data, si.raw.data(), si.raw.size());
    rs.check("rt_sigqueueinfo " + std::to_string(sig), SYS_rt_sigqueueinfo, pid, sig, data);
  }
  for (const auto& si : t.pending) {
    int sig = 0;
    std::memcpy(&sig, si.raw.data(), sizeof sig);
    remote_write(pid, data, si.raw.data(), si.raw.size());
    rs.check("rt_tgsigqueueinfo " + std::to_string(sig), SYS_rt_tgsigqueueinfo, pid, pid, sig, data);
  }

  // Credentials last but one: after them we may no longer do privileged things.
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

  // The last syscall removes the page it runs from: we are stopped at its exit and hand the
  // task its registers before it fetches another instruction.
  rs.check("munmap premap region", SYS_munmap, plan.base, plan.size);
  arch::set_regs(pid, {t.gpregs, t.fpregs});
  task.set_sigmask(t.sigmask);
  task.release();
}

std::string read_child_error(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

}  // namespace

RestoreResult restore(const RestoreOptions& opts) {
  auto t0 = Clock::now();
  CK_LOG(1, "loading and verifying image %s", opts.dir.c_str());
  img::LoadedImage image = img::load_image(opts.dir, true);
  if (image.tree.processes.size() != 1 || image.tree.processes[0].threads.size() != 1)
    throw Error(opts.dir + ": images of several processes or threads need a newer ckrestore", ExitCode::unsupported);
  const img::Process& p = image.tree.processes[0];
  return with_context("restore pid " + std::to_string(p.pid), [&]() -> RestoreResult {
    check_machine(image);
    check_creds(p, opts.dir);
    check_files(image.tree, p);
    check_pid_free(p.pid);

    SpecialMappings own = own_special_mappings();
    PremapPlan plan = plan_premap(p, own);
    CK_LOG(1, "premap region %s, %llu MiB", hex(plan.base).c_str(), static_cast<unsigned long long>(plan.size >> 20));
    int go[2], err[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe");
    UniqueFd go_r(go[0]), go_w(go[1]), err_r(err[0]), err_w(err[1]);
    const int exe_fd_num = p.mm.exe_file_id >= 0 ? max_fd(p) + 1 : -1;
    ChildArgs args{&image, &p, &plan, &opts, go_r.get(), err_w.get(), exe_fd_num};

    fflush(nullptr);
    pid_t child = clone_with_pid(p.pid);
    if (child == 0) child_main(args);
    go_r.reset();
    err_w.reset();
    CK_LOG(1, "created pid %d", child);
    try {
      std::optional<Seized> task;
      try {
        task.emplace(Seized::seize_child_stopped(child, [&] {
          char g = 1;
          if (write(go_w.get(), &g, 1) != 1) throw_errno("start child");
          go_w.reset();
        }));
      } catch (const Error& e) {
        // Whatever the child had to say is in the pipe; it must not outlive the failure.
        kill(child, SIGKILL);
        waitpid(child, nullptr, __WALL);
        std::string m = read_child_error(err_r.get());
        if (!m.empty()) {
          size_t sp = m.find(' ');
          int code = std::atoi(m.substr(0, sp).c_str());
          throw Error(m.substr(sp + 1), static_cast<ExitCode>(code ? code : 1));
        }
        throw;
      }
      CK_LOG(1, "child prepared; moving memory into place");
      finish_in_child(*task, p, plan, own, exe_fd_num);
    } catch (...) {
      kill(child, SIGKILL);
      waitpid(child, nullptr, __WALL);
      throw;
    }
    munmap(reinterpret_cast<void*>(plan.base), plan.size);
    RestoreResult res;
    res.pid = child;
    res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return res;
  });
}

int wait_restored(pid_t pid) {
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) break;
    if (r < 0 && errno == EINTR) continue;
    throw_errno("waitpid " + std::to_string(pid));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace ck
