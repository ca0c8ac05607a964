#include "ckjob.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "ckjob_state.hpp"
#include "ckjob_tasks.hpp"
#include "dump.hpp"
#include "error.hpp"
#include "image_dir.hpp"
#include "namespaces.hpp"
#include "restore.hpp"

namespace ck::job {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ckrun of the same installation (beside this executable), else the one on PATH.
std::string ckrun_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto p = self.parent_path() / "ckrun";
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "ckrun";
}

// Descriptors above stderr that no checkpoint could hold (a batch system's pipes and sockets
// leaked into the job) are not passed on: they would make every checkpoint fail. Files and
// directories a job script opened for the program stay.
void close_foreign_fds() {
  std::vector<int> close_these;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = atoi(e.path().filename().c_str());
    struct stat st {};
    if (fd > 2 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) close_these.push_back(fd);
  }
  for (int fd : close_these) close(fd);
}

// fork + exec with the signal mask ckjob had before it blocked its signals.
pid_t spawn(const std::vector<std::string>& argv, const sigset_t& mask, bool program = false) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    if (program) close_foreign_fds();
    execvp(args[0], args.data());
    fprintf(stderr, "ckjob: cannot run %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

int shell_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

class Job {
 public:
  explicit Job(const Options& o) : o_(o), env_(job_env()), dir_(expand_dir(o.dir, env_, env_.rank)) {
    sigemptyset(&handled_);
    sigset_t fwd = ns::forwarded_signals();
    for (int s = 1; s < NSIG; s++)
      if (sigismember(&fwd, s)) sigaddset(&handled_, s);
    sigaddset(&handled_, o_.signal);
    sigaddset(&handled_, SIGCHLD);
    // Signals wait in the queue while a checkpoint or restore runs, and are taken in order.
    sigprocmask(SIG_BLOCK, &handled_, &old_mask_);
  }
  ~Job() { sigprocmask(SIG_SETMASK, &old_mask_, nullptr); }

  int run() {
    const int restarts = env_.restart_count;
    const std::string task = env_.tasks > 1 ? ", task " + std::to_string(env_.rank) + " of " + std::to_string(env_.tasks) : "";
    say("job %s%s, run %d (SLURM_RESTART_COUNT=%d) on %s", env_.job_id.empty() ? "(not under SLURM)" : env_.job_id.c_str(),
        task.c_str(), restarts + 1, restarts, hostname().c_str());
    // "$HOME/ckpt/job-%j": the first run makes the directories (the images themselves are 0700).
    if (auto parent = std::filesystem::path(dir_).parent_path(); !parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) throw Error("create " + parent.string() + ": " + ec.message());
    }
    const std::optional<Record> last = read_record(dir_);
    Decision d = decide(checkpoint_time(dir_), last, restarts, env_.job_id);
    if (d.action == Action::done) {
      say("not running the program again: %s", d.why.c_str());
      return last->status;
    }
    if (d.action == Action::restore) {
      say("restoring from %s: %s", describe_checkpoint().c_str(), d.why.c_str());
      RestoreOptions ro;
      ro.dir = dir_;
      auto t0 = Clock::now();
      RestoreResult r = restore(ro);
      child_ = r.pid;
      say("restored in %.3f s: the program runs again (pid %d)", seconds_since(t0), child_);
    } else {
      say("starting the program: %s", d.why.c_str());
      std::vector<std::string> argv{ckrun_path(), "--"};
      argv.insert(argv.end(), o_.program.begin(), o_.program.end());
      child_ = spawn(argv, old_mask_, true);
      say("started pid %d: %s", child_, join(o_.program).c_str());
    }
    Record rec;
    rec.started_ns = now_ns();
    rec.job = env_.job_id;
    write_record(dir_, rec);
    return loop();
  }

 private:
  int loop() {
    auto next = Clock::now() + std::chrono::seconds(o_.interval);
    for (;;) {
      siginfo_t si{};
      int sig;
      if (o_.interval) {
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now()).count();
        if (left < 0) left = 0;
        timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
        sig = sigtimedwait(&handled_, &si, &ts);
      } else {
        sig = sigwaitinfo(&handled_, &si);
      }
      if (sig < 0) {
        if (errno == EAGAIN) {
          checkpoint(true, "periodic");
          next = Clock::now() + std::chrono::seconds(o_.interval);
        } else if (errno != EINTR) {
          throw_errno("wait for signals");
        }
        continue;
      }
      if (sig == SIGCHLD) {
        int st = 0;
        if (waitpid(child_, &st, WNOHANG) == child_) return ended(shell_status(st));
        continue;
      }
      if (sig == o_.signal) {
        say("got SIG%s: checkpointing, then %s", sigabbrev_np(sig), o_.requeue ? "requeueing the job" : "exiting");
        const bool ok = checkpoint(false, "before the end of the job");
        try {
          Record rec = read_record(dir_).value_or(Record{});
          rec.final_restart = env_.restart_count;
          rec.final_ok = ok;
          write_record(dir_, rec);  // what the task that requeues waits for
        } catch (const Error& e) {
          // The checkpoint stands; only a step's other tasks miss the word (and do not requeue).
          say("cannot record the checkpoint for the step's other tasks: %s", e.message().c_str());
        }
        if (ok) return after_final_checkpoint();
        continue;
      }
      kill(child_, sig);
    }
  }

  // Returns whether the checkpoint was committed; a failure leaves the program running.
  bool checkpoint(bool leave_running, const char* why) {
    DumpOptions d;
    d.pid = child_;
    d.dir = dir_;
    d.leave_running = leave_running;
    d.level = o_.level;
    d.threads = o_.threads;
    d.keep = o_.keep;
    try {
      DumpReport r = dump(d);
      say("checkpoint (%s) written in %.3f s, program frozen %.3f s, %.1f MiB -> %s", why, r.total_seconds,
          r.frozen_seconds, r.image_bytes / 1048576.0, describe_checkpoint().c_str());
      return true;
    } catch (const Error& e) {
      say("checkpoint (%s) FAILED, the program runs on: %s", why, e.message().c_str());
      return false;
    }
  }

  int after_final_checkpoint() {
    if (!o_.requeue || env_.job_id.empty()) {
      say("the program is checkpointed; %s",
          env_.job_id.empty() ? "not in a SLURM job: not requeueing" : "not requeueing (--no-requeue)");
      return 0;
    }
    if (env_.tasks > 1) {
      const int requeuer = step_progress(o_.dir, env_).requeuer;
      if (requeuer != env_.rank) {
        say("task %d is checkpointed; task %d requeues the job once every task is", env_.rank, requeuer);
        wait_for_the_end();
        return 0;
      }
      if (!other_tasks_checkpointed()) return 1;
    }
    // An array task's own job id names the whole array when it is the array's first task.
    const std::string id = !env_.array_job_id.empty() && !env_.array_task_id.empty()
                               ? env_.array_job_id + "_" + env_.array_task_id
                               : env_.job_id;
    auto t0 = Clock::now();
    pid_t p = spawn({"scontrol", "requeue", id}, old_mask_);
    int st = 0;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    if (shell_status(st) != 0) {
      say("scontrol requeue %s failed (status %d): the checkpoint stays at %s; submit the job again to continue",
          id.c_str(), shell_status(st), dir_.c_str());
      return 1;
    }
    say("requeued job %s in %.3f s; waiting for SLURM to end this run", id.c_str(), seconds_since(t0));
    wait_for_the_end();
    return 0;
  }

  // Until every other task of the step has written its checkpoint for this signal (or its
  // program had ended); false, logged, if one failed or they do not come within kTasksWait.
  bool other_tasks_checkpointed() {
    constexpr int kTasksWait = 600, kReportAfter = 5;
    auto t0 = Clock::now();
    bool reported = false;
    for (;;) {
      StepProgress p = step_progress(o_.dir, env_);
      if (p.failed) {
        say("the checkpoint of task %d failed (its program runs on): not requeueing; the other tasks are "
            "checkpointed, a new submission of the job goes on from there",
            *p.failed);
        return false;
      }
      if (p.missing.empty()) {
        if (reported) say("every task is checkpointed after %.1f s", seconds_since(t0));
        return true;
      }
      if (seconds_since(t0) > kTasksWait) {
        say("tasks %s wrote no checkpoint within %d s: not requeueing", p.missing.c_str(), kTasksWait);
        return false;
      }
      if (!reported && seconds_since(t0) > kReportAfter) {
        say("waiting for the checkpoints of tasks %s before requeueing", p.missing.c_str());
        reported = true;
      }
      usleep(100000);
    }
  }

  // SLURM ends the job now (SIGTERM, later SIGKILL). Leaving first would let the batch script
  // go on as if the program had finished.
  void wait_for_the_end() {
    sigset_t end;
    sigemptyset(&end);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&end, s);
    timespec ts{120, 0};
    siginfo_t si{};
    int sig;
    while ((sig = sigtimedwait(&handled_, &si, &ts)) >= 0 && !sigismember(&end, sig)) {
    }
  }

  int ended(int status) {
    Record rec = read_record(dir_).value_or(Record{});
    rec.ended_ns = now_ns();
    rec.status = status;
    rec.job = env_.job_id;
    write_record(dir_, rec);
    unsigned removed = img::prune_versions(dir_, o_.keep);
    say("the program ended with status %d%s", status,
        removed ? (", " + std::to_string(removed) + " old checkpoint(s) removed").c_str() : "");
    return status;
  }

  std::string describe_checkpoint() const {
    std::error_code ec;
    auto t = std::filesystem::read_symlink(dir_, ec);
    return ec ? dir_ : dir_ + " (" + t.string() + ")";
  }

  static std::string hostname() {
    char b[256] = "?";
    gethostname(b, sizeof b - 1);
    return b;
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
    return s;
  }

  const Options& o_;
  const JobEnv env_;
  const std::string dir_;  // o_.dir with its patterns (%t, %j, ...) expanded for this task
  sigset_t handled_{}, old_mask_{};
  pid_t child_ = -1;
};

}  // namespace

void say(const char* fmt, ...) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char when[40];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &t);
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  // One write per line: the job output file is shared with the program and the batch shell.
  char line[2200];
  int n = snprintf(line, sizeof line, "ckjob %s.%03ldZ: %s\n", when, ts.tv_nsec / 1000000, msg);
  if (n > 0) (void)!write(2, line, std::min(static_cast<size_t>(n), sizeof line - 1));
}

int parse_signal(const std::string& s) {
  std::string name = s.rfind("SIG", 0) == 0 ? s.substr(3) : s;
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
    int n = atoi(name.c_str());
    if (n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP && n != SIGCHLD) return n;
  }
  for (int sig = 1; sig < NSIG; sig++) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && name == abbrev && sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) return sig;
  }
  throw Error("--signal: '" + s + "' is not a signal ckjob can wait for (e.g. USR1, URG, 12)", ExitCode::usage);
}

std::string signal_name(int sig) {
  const char* a = sigabbrev_np(sig);
  return a ? a : std::to_string(sig);
}

int run(const Options& o) {
  Job job(o);
  return job.run();
}

}  // namespace ck::job
