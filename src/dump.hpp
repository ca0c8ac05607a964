// ckdump: checkpoint one process into an image directory.
#pragma once

#include <sys/types.h>

#include <string>

namespace ck {

// zstd levels of --compress (0 = frames stored raw). See README "Performance" for the figures
// behind both choices.
constexpr int kFastLevel = -1;     // --compress=fast
constexpr int kDefaultLevel = -1;  // the fastest to a durable image on the reference machine
constexpr int kMinLevel = -100, kMaxLevel = 19;

struct DumpOptions {
  pid_t pid = -1;
  std::string dir;
  bool leave_running = false;
  int level = kDefaultLevel;  // zstd level (negative: zstd's fast levels), 0 = raw
  unsigned threads = 0;   // 0 = all CPUs
  bool progress = false;
  unsigned keep = 2;      // checkpoint versions kept in DIR.d (--keep)
  bool drop_external_tcp = false;  // --drop-external-tcp
};

struct DumpReport {
  double total_seconds = 0, frozen_seconds = 0;
  uint64_t pages = 0, zero_pages = 0, raw_bytes = 0;
  uint64_t pages_bytes = 0;  // of the pages files
  uint64_t image_bytes = 0;  // every file of the image: what was written
  // Wall time of each phase (seconds): seizing the tree; registers, mappings, fds and other
  // kernel state; the page pipeline (and deleted files' content); the final fdatasync of those
  // streams; tree.ck, manifest, verification and the switch of DIR; ending the target.
  // (seize_seconds includes guardian_seconds: starting the guardian process, src/guardian.hpp.)
  double guardian_seconds = 0;
  double seize_seconds = 0, state_seconds = 0, pages_seconds = 0, sync_seconds = 0, commit_seconds = 0,
         end_seconds = 0;
  // Inside the page pipeline: thread time of the workers reading and compressing, and how long
  // the writer waited for frames or spent writing (PageDumpStats).
  double read_seconds = 0, compress_seconds = 0, write_seconds = 0, writer_wait_seconds = 0;
  uint64_t frames = 0, raw_frames = 0;
};

// Any failure throws Error and leaves the target running as it was; the previous checkpoint
// at `dir`, if any, stays until the new one is complete and verified.
DumpReport dump(const DumpOptions& opts);

}  // namespace ck
