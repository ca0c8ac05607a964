#include "run_stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "error.hpp"
#include "log.hpp"
#include "proc_parse.hpp"
#include "unique_fd.hpp"

namespace ck {

namespace {

// Flat keys, each name used once, `"key": value` with one space: scripts pick a figure with a
// regular expression (tests/e2e/lib.sh json_field) and nested objects only group them.
class JsonLine {
 public:
  JsonLine& num(const char* key, double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6f", v);
    return raw(key, b);
  }
  JsonLine& num(const char* key, uint64_t v) { return raw(key, std::to_string(v)); }
  JsonLine& num(const char* key, int64_t v) { return raw(key, std::to_string(v)); }
  JsonLine& open(const char* key) {
    sep();
    s_ += std::string("\"") + key + "\": {";
    first_ = true;
    return *this;
  }
  JsonLine& close() {
    s_ += '}';
    first_ = false;
    return *this;
  }
  std::string done() { return s_ + "}"; }

 private:
  void sep() {
    if (!first_) s_ += ", ";
    first_ = false;
  }
  JsonLine& raw(const char* key, const std::string& v) {
    sep();
    s_ += std::string("\"") + key + "\": " + v;
    return *this;
  }
  std::string s_ = "{";
  bool first_ = true;
};

double rate_mb(uint64_t bytes, double secs) { return secs > 0 ? static_cast<double>(bytes) / 1e6 / secs : 0; }

}  // namespace

uint64_t peak_rss_bytes() {
  auto text = proc::read_file_if_exists("/proc/self/status");
  if (!text) return 0;
  auto at = text->find("\nVmHWM:");
  if (at == std::string::npos) return 0;
  return std::strtoull(text->c_str() + at + 7, nullptr, 10) * 1024;
}

std::string dump_stats_json(const DumpOptions& opts, const DumpReport& r) {
  JsonLine j;
  j.num("pid", int64_t{opts.pid})
      .num("compress_level", int64_t{opts.level})
      .num("wall_seconds", r.total_seconds)
      .num("dump_seconds", r.total_seconds)
      .num("frozen_seconds", r.frozen_seconds)
      .num("pages", r.pages)
      .num("zero_pages", r.zero_pages)
      .num("raw_bytes", r.raw_bytes)
      .num("pages_bytes", r.pages_bytes)
      .num("image_bytes", r.image_bytes)
      .num("bytes_written", r.image_bytes)
      .num("raw_mb_per_second", rate_mb(r.raw_bytes, r.total_seconds))
      .num("peak_rss_bytes", peak_rss_bytes());
  j.open("phases")
      .num("guardian_seconds", r.guardian_seconds)
      .num("seize_seconds", r.seize_seconds)
      .num("state_seconds", r.state_seconds)
      .num("pages_seconds", r.pages_seconds)
      .num("sync_seconds", r.sync_seconds)
      .num("commit_seconds", r.commit_seconds)
      .num("end_seconds", r.end_seconds)
      .close();
  j.open("page_pipeline")
      .num("frames", r.frames)
      .num("raw_frames", r.raw_frames)
      .num("read_thread_seconds", r.read_seconds)
      .num("compress_thread_seconds", r.compress_seconds)
      .num("write_seconds", r.write_seconds)
      .num("writer_wait_seconds", r.writer_wait_seconds)
      .close();
  return j.done();
}

std::string restore_stats_json(const RestoreResult& r) {
  JsonLine j;
  j.num("pid", int64_t{r.pid})
      .num("wall_seconds", r.seconds)
      .num("restore_seconds", r.seconds)
      .num("image_bytes", r.image_bytes)
      .num("bytes_read", r.image_bytes)
      .num("raw_bytes", r.raw_bytes)
      .num("raw_mb_per_second", rate_mb(r.raw_bytes, r.seconds))
      .num("peak_rss_bytes", peak_rss_bytes());
  j.open("phases")
      .num("load_seconds", r.load_seconds)
      .num("prepare_seconds", r.prepare_seconds)
      .num("place_seconds", r.place_seconds)
      .num("handover_seconds", r.handover_seconds)
      .close();
  return j.done();
}

StatsOutput::StatsOutput(const std::string& path, int fallback_fd) : path_(path), fd_(fallback_fd) {
  if (path.empty()) return;
  file_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!file_) throw_errno("--stats " + path);
  fd_ = file_.get();
}

void StatsOutput::write(const std::string& json) const {
  const std::string line = json + "\n";
  std::fflush(nullptr);  // after whatever stdio printed before
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log::warn("cannot write the --stats report" + (path_.empty() ? std::string() : " to " + path_) + ": " +
                std::strerror(errno));
      return;
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace ck
