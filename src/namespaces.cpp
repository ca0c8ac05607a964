#include "namespaces.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "error.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"

namespace ck::ns {

namespace {

volatile pid_t g_forward_to = -1;

}  // namespace

pid_t clone_into_new_namespaces(bool net) {
  clone_args ca{};
  // Its own IPC namespace too: the tree's SysV objects are then all its own, and can be saved
  // and recreated with their ids.
  ca.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | (net ? CLONE_NEWNET : 0);
  ca.exit_signal = SIGCHLD;
  long r = syscall(SYS_clone3, &ca, sizeof ca);
  if (r < 0) {
    int err = errno;
    throw_errno("create user/PID/mount/IPC namespaces (is kernel.unprivileged_userns_clone or "
                "user.max_user_namespaces disabled?)",
                err);
  }
  return static_cast<pid_t>(r);
}

std::string own_id_map(unsigned id) { return std::to_string(id) + " " + std::to_string(id) + " 1\n"; }

std::string normalize_id_map(const std::string& text) {
  std::string out, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string w, norm;
    while (words >> w) norm += (norm.empty() ? "" : " ") + w;
    if (!norm.empty()) out += norm + "\n";
  }
  return out;
}

void write_id_maps(pid_t pid, const std::string& uid_map, const std::string& gid_map) {
  const std::string base = "/proc/" + std::to_string(pid);
  if (getuid() != 0) proc::write_file(base + "/setgroups", "deny");
  proc::write_file(base + "/uid_map", uid_map);
  proc::write_file(base + "/gid_map", gid_map);
}

void bring_up_loopback() {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) throw_errno("get flags of lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) throw_errno("bring lo up");
}

void mount_own_proc() {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) throw_errno("make mounts private");
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) throw_errno("mount /proc");
}

sigset_t forwarded_signals() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT}) sigaddset(&s, sig);
  return s;
}

void init_loop(pid_t prog, const sigset_t& set) {
  int prog_status = 0;
  bool prog_alive = true;
  for (;;) {
    siginfo_t si{};
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      if (prog_alive) kill(prog, sig);
      continue;
    }
    int st = 0;
    pid_t r;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
      if (r == prog) prog_alive = false, prog_status = st;
    if (!prog_alive) {
      if (WIFSIGNALED(prog_status)) _exit(128 + WTERMSIG(prog_status));
      _exit(WEXITSTATUS(prog_status));
    }
  }
}

int forward_and_wait(pid_t child) {
  g_forward_to = child;
  sigset_t set = forwarded_signals();
  struct sigaction sa {};
  sa.sa_handler = [](int sig) {
    if (g_forward_to > 0) kill(g_forward_to, sig);
  };
  sa.sa_flags = SA_RESTART;
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember(&set, sig)) sigaction(sig, &sa, nullptr);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(child, &status, 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) throw_errno("waitpid " + std::to_string(child));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

pid_t inner_pid(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  auto st = proc::parse_status(proc::read_file(path), path);
  return st.nspid.empty() ? pid : st.nspid.back();
}

bool other_ns(pid_t pid, const char* kind) {
  struct stat theirs {}, ours {};
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  if (stat(path.c_str(), &theirs) != 0) throw_errno("stat " + path);
  if (stat((std::string("/proc/self/ns/") + kind).c_str(), &ours) != 0) throw_errno(std::string("stat /proc/self/ns/") + kind);
  return theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev;
}

}  // namespace ck::ns
