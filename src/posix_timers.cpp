#include "posix_timers.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "error.hpp"
#include "log.hpp"
#include "namespaces.hpp"
#include "proc_parse.hpp"

namespace ck {

namespace {

constexpr int kRestoreIds = 77;  // PR_TIMER_CREATE_RESTORE_IDS
constexpr int kSigevThreadId = 4;

// struct sigevent as the kernel reads it (64 bytes on every 64-bit ABI).
struct KernelSigevent {
  uint64_t value;
  int32_t signo;
  int32_t notify;
  int32_t tid;
  int32_t pad[11];
};
static_assert(sizeof(KernelSigevent) == 64);

struct KernelItimerspec {
  int64_t interval_sec, interval_nsec, value_sec, value_nsec;
};

int64_t to_ns(int64_t sec, int64_t nsec) { return sec * 1000000000 + nsec; }

}  // namespace

std::vector<img::PosixTimer> parse_proc_timers(const std::string& text, const std::string& what) {
  std::vector<img::PosixTimer> out;
  std::istringstream in(text);
  std::string line;
  auto bad = [&](const std::string& l) { return Error(what + ": cannot parse '" + l + "'"); };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("ID: ", 0) == 0) {
      out.emplace_back();
      out.back().id = std::stoi(line.substr(4));
      continue;
    }
    if (out.empty()) throw bad(line);
    img::PosixTimer& t = out.back();
    if (line.rfind("signal: ", 0) == 0) {
      // "signal: 34/0000000000001234": signal number / sigev_value
      size_t slash = line.find('/');
      if (slash == std::string::npos) throw bad(line);
      t.signo = std::stoi(line.substr(8, slash - 8));
      t.sigval = std::stoull(line.substr(slash + 1), nullptr, 16);
    } else if (line.rfind("notify: ", 0) == 0) {
      // "notify: signal/tid.27497": how / pid or tid . number
      std::string v = line.substr(8);
      size_t slash = v.find('/'), dot = v.find('.');
      if (slash == std::string::npos || dot == std::string::npos || dot < slash) throw bad(line);
      std::string how = v.substr(0, slash), whom = v.substr(slash + 1, dot - slash - 1);
      if (how == "signal")
        t.notify = SIGEV_SIGNAL;
      else if (how == "none")
        t.notify = SIGEV_NONE;
      else if (how == "thread")
        t.notify = SIGEV_THREAD;
      else
        throw bad(line);
      if (whom == "tid") t.notify |= kSigevThreadId;
      else if (whom != "pid") throw bad(line);
      t.notify_tid = std::stoi(v.substr(dot + 1));
    } else if (line.rfind("ClockID: ", 0) == 0) {
      t.clock = std::stoi(line.substr(9));
    }
  }
  return out;
}

void collect_posix_timers(RemoteSyscall& rs, uint64_t scratch, img::Process& p) {
  const pid_t pid = rs.task().tid();
  const std::string path = "/proc/" + std::to_string(pid) + "/timers";
  auto text = proc::read_file_if_exists(path);
  if (!text) return;
  try {
    p.posix_timers = parse_proc_timers(*text, path);
  } catch (const std::invalid_argument&) {
    throw Error(path + ": cannot parse");
  } catch (const std::out_of_range&) {
    throw Error(path + ": cannot parse");
  }
  std::sort(p.posix_timers.begin(), p.posix_timers.end(),
            [](const img::PosixTimer& a, const img::PosixTimer& b) { return a.id < b.id; });
  for (auto& t : p.posix_timers) {
    const std::string what = "POSIX timer " + std::to_string(t.id);
    if (t.notify & kSigevThreadId) t.notify_tid = ns::inner_pid(t.notify_tid);
    else t.notify_tid = 0;
    rs.check(what + ": timer_gettime", SYS_timer_gettime, static_cast<uint64_t>(t.id), scratch);
    KernelItimerspec its{};
    remote_read(pid, scratch, &its, sizeof its);
    t.value_ns = to_ns(its.value_sec, its.value_nsec);
    t.interval_ns = to_ns(its.interval_sec, its.interval_nsec);
    t.overrun = static_cast<int32_t>(rs.check(what + ": timer_getoverrun", SYS_timer_getoverrun, static_cast<uint64_t>(t.id)));
  }
}

void restore_posix_timers(RemoteSyscall& rs, uint64_t data, const img::Process& p) {
  if (p.posix_timers.empty()) return;
  const pid_t pid = rs.task().tid();
  const bool by_id = rs.call(SYS_prctl, kRestoreIds, 1 /* _ON */) == 0;
  std::vector<int32_t> gaps;
  auto create = [&](const img::PosixTimer* t, int32_t id) {
    KernelSigevent ev{};
    int32_t clock = CLOCK_MONOTONIC;
    if (t) {
      ev.value = t->sigval;
      ev.signo = t->signo;
      ev.notify = t->notify;
      ev.tid = t->notify_tid;
      clock = t->clock;
    } else {
      ev.notify = SIGEV_NONE;
    }
    remote_write(pid, data, &ev, sizeof ev);
    remote_write(pid, data + sizeof ev, &id, sizeof id);
    const std::string what = "POSIX timer " + std::to_string(id);
    rs.check(what + ": timer_create", SYS_timer_create, static_cast<uint64_t>(static_cast<int64_t>(clock)), data,
             data + sizeof ev);
    int32_t got = -1;
    remote_read(pid, data + sizeof ev, &got, sizeof got);
    if (got != id)
      throw Error(what + ": the kernel gave id " + std::to_string(got) +
                  " (it needs prctl PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15, to choose ids)");
  };
  int32_t next = 0;
  for (const auto& t : p.posix_timers) {
    if (!by_id)
      for (; next < t.id; next++) {  // ids come in order: fill the gaps, delete them below
        create(nullptr, next);
        gaps.push_back(next);
      }
    create(&t, t.id);
    next = t.id + 1;
    // A periodic timer whose signal was pending when the process stopped shows no remaining
    // time (the kernel re-arms it when the signal is taken); 0 would disarm it.
    int64_t value = t.value_ns > 0 ? t.value_ns : t.interval_ns;
    if (value == 0) continue;
    KernelItimerspec its{t.interval_ns / 1000000000, t.interval_ns % 1000000000, value / 1000000000,
                         value % 1000000000};
    remote_write(pid, data, &its, sizeof its);
    rs.check("POSIX timer " + std::to_string(t.id) + ": timer_settime", SYS_timer_settime,
             static_cast<uint64_t>(t.id), 0, data, 0);
  }
  for (int32_t id : gaps) rs.check("delete POSIX timer " + std::to_string(id), SYS_timer_delete, static_cast<uint64_t>(id));
  if (by_id) rs.check("prctl(PR_TIMER_CREATE_RESTORE_IDS, OFF)", SYS_prctl, kRestoreIds, 0);
}

}  // namespace ck
