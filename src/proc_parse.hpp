// Parsers for /proc/PID files. Pure functions over text so that they are unit-tested on real
// samples (tests/fixtures/proc). Each throws Error("<file> line N: ...") on malformed input.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ck::proc {

// One line of /proc/PID/maps, or one entry of /proc/PID/smaps (then vmflags is filled).
struct MapsEntry {
  uint64_t start = 0, end = 0;
  bool read = false, write = false, exec = false, shared = false;
  uint64_t offset = 0;
  uint32_t dev_major = 0, dev_minor = 0;
  uint64_t inode = 0;
  std::string path;       // as shown, minus a trailing " (deleted)"; may contain spaces
  bool deleted = false;   // path had " (deleted)"
  std::vector<std::string> vmflags;  // smaps "VmFlags:" two-letter codes, in order
  uint64_t rss_kb = 0, anonymous_kb = 0, swap_kb = 0;  // smaps only
};

std::vector<MapsEntry> parse_maps(std::string_view text, std::string_view file = "maps");
std::vector<MapsEntry> parse_smaps(std::string_view text, std::string_view file = "smaps");

// /proc/PID/status: the fields ck uses.
struct Status {
  std::string name;
  char state = '?';
  pid_t tgid = -1, pid = -1, ppid = -1, tracer_pid = 0;
  uint32_t uid[4] = {};   // real, effective, saved, fs
  uint32_t gid[4] = {};
  std::vector<uint32_t> groups;
  std::vector<pid_t> nstgid, nspid, nspgid, nssid;  // outermost first
  int threads = 0;
  uint64_t sig_pnd = 0, shd_pnd = 0, sig_blk = 0, sig_ign = 0, sig_cgt = 0;
  uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
  bool no_new_privs = false;
  int seccomp = 0;          // 0 none, 1 strict, 2 filter
  int seccomp_filters = 0;
  uint32_t umask = 022;     // "Umask:" (octal)
};
Status parse_status(std::string_view text, std::string_view file = "status");

// /proc/PID/stat: fields by their man proc(5) names. comm may contain spaces and parentheses.
struct Stat {
  pid_t pid = -1;
  std::string comm;
  char state = '?';
  pid_t ppid = -1, pgrp = -1, session = -1;
  int tty_nr = 0;
  uint64_t flags = 0;
  int64_t num_threads = 0;
  uint64_t starttime = 0;
  uint64_t startcode = 0, endcode = 0, startstack = 0;
  int exit_signal = 0;
  uint64_t start_data = 0, end_data = 0, start_brk = 0;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  int exit_code = 0;
};
Stat parse_stat(std::string_view text, std::string_view file = "stat");

// /proc/PID/fdinfo/N.
struct FdInfo {
  uint64_t pos = 0;
  uint32_t flags = 0;   // octal in the file; includes O_CLOEXEC
  int mnt_id = -1;
  uint64_t ino = 0;
  std::map<std::string, std::string> extra;  // every other "key: value" line (eventfd-count, tfd, ...)
  std::vector<std::string> extra_lines;       // lines without a single "key:" shape (epoll tfd lines, inotify wd lines, lock lines)
};
FdInfo parse_fdinfo(std::string_view text, std::string_view file = "fdinfo");

// The fdinfo lines of anonymous-inode files (fs/eventfd.c, fs/timerfd.c, fs/signalfd.c,
// fs/eventpoll.c, fs/notify/fdinfo.c, kernel/pid.c). Each parses the whole fdinfo text.
struct EventfdInfo {
  uint64_t count = 0;
  bool semaphore = false;
  bool semaphore_known = false;  // older kernels (6.1) have no "eventfd-semaphore:" line
};
EventfdInfo parse_eventfd_fdinfo(std::string_view text, std::string_view file = "fdinfo");

struct TimerfdInfo {
  int clockid = 0;
  uint64_t ticks = 0;            // expirations not yet read
  uint32_t settime_flags = 0;    // TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
  int64_t value_ns = 0;          // remaining (0: disarmed, or expired and not yet re-armed)
  int64_t interval_ns = 0;
};
TimerfdInfo parse_timerfd_fdinfo(std::string_view text, std::string_view file = "fdinfo");

uint64_t parse_signalfd_fdinfo(std::string_view text, std::string_view file = "fdinfo");  // sigmask

struct EpollTfd {
  int tfd = -1;
  uint32_t events = 0;
  uint64_t data = 0;
  uint64_t pos = 0;
  uint64_t ino = 0;
  uint32_t sdev = 0;  // the kernel's dev_t encoding (major << 20 | minor)
};
std::vector<EpollTfd> parse_epoll_fdinfo(std::string_view text, std::string_view file = "fdinfo");

struct InotifyMark {
  int wd = -1;
  uint64_t ino = 0;
  uint32_t sdev = 0;  // kernel dev_t encoding
  uint32_t mask = 0, ignored_mask = 0;
  int fhandle_type = 0;
  std::vector<uint8_t> fhandle;
};
std::vector<InotifyMark> parse_inotify_fdinfo(std::string_view text, std::string_view file = "fdinfo");

struct PidfdInfo {
  pid_t pid = -1;                 // in the PID namespace of this /proc; -1: the process is gone
  std::vector<pid_t> nspid;       // outermost first (empty when gone)
};
PidfdInfo parse_pidfd_fdinfo(std::string_view text, std::string_view file = "fdinfo");

// /proc/PID/limits: soft and hard value per RLIMIT_* index (0..15), RLIM_INFINITY for "unlimited".
struct Limit {
  uint64_t soft = 0, hard = 0;
};
std::vector<Limit> parse_limits(std::string_view text, std::string_view file = "limits");

// /proc/PID/auxv (binary): key/value pairs up to and including AT_NULL.
std::vector<uint64_t> parse_auxv(std::string_view bytes, std::string_view file = "auxv");

// /proc/PID/mountinfo. root, mount_point, fstype and source are unescaped ("\040" -> ' ');
// the two option lists stay escaped as shown, so that splitting them at ',' stays right.
struct MountInfo {
  int mnt_id = -1, parent_id = -1;
  uint32_t dev_major = 0, dev_minor = 0;
  std::string root, mount_point, fstype, source;
  std::string options;                       // per-mount options, e.g. "rw,nosuid,relatime"
  std::string super_options;                 // per-superblock options after " - ", e.g. "rw,size=1024k"
  std::vector<std::string> optional_fields;  // propagation tags, e.g. "shared:1", "master:2"
};
std::vector<MountInfo> parse_mountinfo(std::string_view text, std::string_view file = "mountinfo");

// /proc/PID/task/TID/children: space separated pids.
std::vector<pid_t> parse_children(std::string_view text, std::string_view file = "children");

// Reading helpers (hosted): whole file into a string; throw Error naming the path.
std::string read_file(const std::string& path);
std::optional<std::string> read_file_if_exists(const std::string& path);
std::string read_link(const std::string& path);

// Writes text to a /proc or /proc/sys file with one write(): such files take a value whole or
// not at all, and a short write means the kernel refused part of it. Throws Error naming the path.
void write_file(const std::string& path, std::string_view text);

}  // namespace ck::proc
