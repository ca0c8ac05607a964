#include "time_ns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "error.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"

namespace ck::ns {

namespace {

int64_t now_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string ns_link(pid_t pid) { return proc::read_link("/proc/" + std::to_string(pid) + "/ns/time"); }

// /proc/PID/timens_offsets: "monotonic   S   NS\nboottime   S   NS\n".
void parse_offsets(const std::string& text, int64_t& mono, int64_t& boot) {
  std::istringstream in(text);
  std::string name;
  int64_t s = 0, n = 0;
  while (in >> name >> s >> n) {
    if (name == "monotonic") mono = s * 1000000000 + n;
    if (name == "boottime") boot = s * 1000000000 + n;
  }
}

}  // namespace

void unshare_time_ns() {
  if (unshare(CLONE_NEWTIME) != 0) throw_errno("create a time namespace (CLONE_NEWTIME)");
}

void collect_time_ns(img::Tree& tree, const std::vector<pid_t>& os_pids) {
  if (os_pids.size() < 2) return;
  const std::string root_ns = ns_link(os_pids[0]);
  std::string tree_ns;
  pid_t in_ns = -1;
  for (size_t i = 1; i < os_pids.size(); i++) {
    std::string l;
    try {
      l = ns_link(os_pids[i]);
    } catch (const Error&) {
      continue;  // a zombie has no namespaces left
    }
    if (l == root_ns) continue;
    if (!tree_ns.empty() && l != tree_ns)
      throw Error("pid " + std::to_string(os_pids[i]) + " is in another time namespace than the rest of the tree: not supported",
                  ExitCode::unsupported);
    tree_ns = l;
    in_ns = os_pids[i];
  }
  if (tree_ns.empty()) return;
  int64_t mono = 0, boot = 0;
  parse_offsets(proc::read_file("/proc/" + std::to_string(in_ns) + "/timens_offsets"), mono, boot);
  tree.time_ns = true;
  tree.monotonic_ns = now_ns(CLOCK_MONOTONIC) + mono;
  tree.boottime_ns = now_ns(CLOCK_BOOTTIME) + boot;
}

void enter_time_ns(const img::Tree& tree) {
  unshare_time_ns();
  int64_t mono = tree.monotonic_ns - now_ns(CLOCK_MONOTONIC);
  int64_t boot = tree.boottime_ns - now_ns(CLOCK_BOOTTIME);
  auto line = [](int clock, int64_t off) {
    // seconds and a non-negative nanosecond part, as the kernel wants them
    int64_t s = off / 1000000000, n = off % 1000000000;
    if (n < 0) s -= 1, n += 1000000000;
    return std::to_string(clock) + " " + std::to_string(s) + " " + std::to_string(n) + "\n";
  };
  std::string text = line(CLOCK_MONOTONIC, mono) + line(CLOCK_BOOTTIME, boot);
  with_context("set the time namespace's offsets (monotonic " + std::to_string(mono / 1000000) + " ms)",
               [&] { proc::write_file("/proc/self/timens_offsets", text); });
}

}  // namespace ck::ns
