#include "ckjob_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>

#include "error.hpp"
#include "image_dir.hpp"
#include "log.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"

namespace ck::job {

namespace {

std::string record_path(const std::string& dir) { return dir + ".ckjob"; }

std::string fmt_time(int64_t ns) {
  time_t s = static_cast<time_t>(ns / 1000000000);
  tm t{};
  gmtime_r(&s, &t);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &t);
  return b;
}

}  // namespace

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::optional<Record> read_record(const std::string& dir) {
  auto text = proc::read_file_if_exists(record_path(dir));
  if (!text) return std::nullopt;
  Record r;
  bool started = false;
  std::istringstream in(*text);
  std::string key;
  while (in >> key) {
    if (key == "started") started = static_cast<bool>(in >> r.started_ns);
    else if (key == "ended") in >> r.ended_ns >> r.status;
    else if (key == "job") in >> r.job;
    else if (key == "final") in >> r.final_restart >> r.final_ok;
    else in.ignore(1 << 20, '\n');
  }
  if (!started) return std::nullopt;
  return r;
}

void write_record(const std::string& dir, const Record& r) {
  const std::string path = record_path(dir), tmp = path + ".tmp-" + std::to_string(getpid());
  std::ostringstream out;
  out << "started " << r.started_ns << "\n";
  if (r.ended_ns) out << "ended " << r.ended_ns << " " << r.status << "\n";
  if (!r.job.empty()) out << "job " << r.job << "\n";
  if (r.final_restart >= 0) out << "final " << r.final_restart << " " << r.final_ok << "\n";
  const std::string text = out.str();
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw_errno("create " + tmp);
    if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) throw_errno("write " + tmp);
    // The record decides start or restore after a node crash: it must not come back empty.
    if (fsync(fd.get()) != 0) throw_errno("fsync " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    throw_errno("rename " + tmp + " to " + path, err);
  }
}

std::optional<int64_t> checkpoint_time(const std::string& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("stat " + dir);
  }
  const std::string manifest = img::resolve_image_dir(dir) + "/manifest.ck";
  if (stat(manifest.c_str(), &st) != 0)
    throw Error(dir + ": exists but holds no checkpoint (" + manifest + ": " + strerror(errno) + ")", ExitCode::bad_image);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

Decision decide(std::optional<int64_t> ckpt, const std::optional<Record>& last, int restart_count,
                const std::string& job) {
  if (restart_count > 0 && last && last->ended_ns && !job.empty() && last->job == job)
    return {Action::done, "the program ended (status " + std::to_string(last->status) + ") at " +
                              fmt_time(last->ended_ns) + ", in an earlier run of this job"};
  if (!ckpt) return {Action::start, "no checkpoint yet"};
  if (last && last->ended_ns && *ckpt <= last->ended_ns)
    return {Action::start, "the program finished (status " + std::to_string(last->status) + ") at " +
                               fmt_time(last->ended_ns) + ", after its last checkpoint"};
  if (restart_count > 0)
    return {Action::restore, "the job was requeued (SLURM_RESTART_COUNT=" + std::to_string(restart_count) + ")"};
  if (!last) return {Action::restore, "a checkpoint exists and no earlier run is recorded"};
  if (*ckpt > last->started_ns)
    return {Action::restore, "the checkpoint (" + fmt_time(*ckpt) + ") is newer than the last start (" +
                                 fmt_time(last->started_ns) + ")"};
  return {Action::start, "the checkpoint (" + fmt_time(*ckpt) + ") is older than the last start (" +
                             fmt_time(last->started_ns) + ")"};
}

}  // namespace ck::job
