// Moving page contents between a process and the image, in parallel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "image_dir.hpp"
#include "image_records.hpp"

namespace ck {

// A range of target memory to dump. Pages in [start, end) must be readable with
// process_vm_readv (the dump code only lists present pages).
struct PageSpan {
  uint64_t start = 0, end = 0;
  bool keep_zero = false;  // false: all-zero pages are dropped (anonymous memory reads back as 0)
};

struct PageDumpOptions {
  int level = 1;            // zstd level; 0 = store raw frames
  unsigned threads = 0;     // 0 = number of CPUs
  size_t frame_bytes = 4u << 20;
  bool progress = false;    // progress line on stderr
};

struct PageDumpStats {
  uint64_t pages_dumped = 0;
  uint64_t zero_pages = 0;
  uint64_t raw_bytes = 0;
  uint64_t written_bytes = 0;
  double seconds = 0;
};

// Reads the spans of `pid` (process_vm_readv), drops zero pages where allowed, compresses
// independent frames on all cores and appends them in order to `out`. Appends one PageFrame
// per frame to `index`. Throws Error naming the address on a read failure.
PageDumpStats dump_pages(pid_t pid, const std::vector<PageSpan>& spans, img::ImageWriter::Stream& out,
                         const PageDumpOptions& opts, std::vector<img::PageFrame>& index);

// Maps a target address range to where its bytes must be written in this process.
using Translate = std::function<unsigned char*(uint64_t vaddr, uint64_t len)>;

struct PageRestoreStats {
  uint64_t raw_bytes = 0;
  double seconds = 0;
};

// Decompresses every frame listed in `index` from `fd` (the pages file) straight into the
// memory `translate` returns, on all cores. Throws Error(bad_image) on a damaged frame.
PageRestoreStats restore_pages(int fd, const std::vector<img::PageFrame>& index, const Translate& translate,
                               unsigned threads = 0);

// Whole-file content (deleted files): compress `len` bytes from src_fd into a stream, and back.
void write_file_content(int src_fd, uint64_t len, img::ImageWriter::Stream& out);
void read_file_content(int image_fd, int dst_fd);

}  // namespace ck
