// Moving page contents between a process and the image, in parallel.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "image_dir.hpp"
#include "image_records.hpp"

namespace ck {

// A range of target memory to dump (page aligned). Pages are read with process_vm_readv, and
// through /proc/PID/mem where that refuses (PROT_NONE, write-only mappings); every page in
// [start, end) must exist (the dump code lists present pages only).
struct PageSpan {
  uint64_t start = 0, end = 0;
  bool keep_zero = false;  // false: all-zero pages are dropped (anonymous memory reads back as 0)
};

struct PageDumpOptions {
  int level = 1;            // zstd level (negative: zstd fast levels); 0 = store raw frames
  unsigned threads = 0;     // 0 = number of CPUs
  size_t frame_bytes = 4u << 20;  // at most 32 MiB
  bool progress = false;    // progress line on stderr
};

struct PageDumpStats {
  uint64_t pages_dumped = 0;
  uint64_t zero_pages = 0;
  uint64_t raw_bytes = 0;
  uint64_t written_bytes = 0;
  uint64_t frames = 0;          // frames appended to the index
  uint64_t raw_frames = 0;      // of those, stored uncompressed (incompressible or level 0)
  double seconds = 0;
  // Where the time went, summed over the workers (seconds of thread time), and how long the
  // writer waited for the next frame (the workers are the bottleneck) or spent writing (the
  // stream is).
  double read_seconds = 0, compress_seconds = 0, write_seconds = 0, writer_wait_seconds = 0;
};

// Reads the spans of `pid` (process_vm_readv), drops zero pages where allowed, compresses
// independent frames on all cores and appends them in order to `out`. Appends one PageFrame
// per frame to `index` (offsets from out.offset(); runs never cross spans; frames that hold
// only zero pages are left out). Frames that zstd cannot shrink are stored raw.
// Throws Error naming pid and address on a read failure ("read pid 412 memory at 0x7f..: ...").
PageDumpStats dump_pages(pid_t pid, const std::vector<PageSpan>& spans, img::ImageWriter::Stream& out,
                         const PageDumpOptions& opts, std::vector<img::PageFrame>& index);

// Maps a target address range to where its bytes must be written in this process; nullptr
// if the range is not one being restored. Called from several threads at once.
using Translate = std::function<unsigned char*(uint64_t vaddr, uint64_t len)>;

struct PageRestoreStats {
  uint64_t raw_bytes = 0;
  double seconds = 0;
};

// What a whole image file must be (its manifest entry): size and XXH3-64 of every byte,
// header included. Lets the readers below check a file while they use it, instead of the
// caller reading it once more beforehand (load_image(dir, true)).
struct FileCheck {
  std::string path;  // for messages
  uint64_t size = 0;
  uint64_t xxh3 = 0;
  // restore_pages hashes a file up to this size before it decompresses anything, a larger one
  // on a thread of its own meanwhile (see there).
  uint64_t hash_first_max = 32u << 20;
};

// Decompresses every frame listed in `index` from `fd` (the pages file) straight into the
// memory `translate` returns, on all cores. Throws Error(bad_image) on a damaged frame:
// "pages frame N at offset X: <zstd error or what is inconsistent>".
// With `check`, the whole file is hashed: up to check->hash_first_max bytes first, on the
// calling thread; a larger
// one by one more thread, sequentially, meanwhile (which also reads ahead for the workers when
// the image is not in the page cache). A size or checksum mismatch throws Error(bad_image)
// "<path>: checksum mismatch (file damaged)", for a large file once the frames are in: the
// caller must then discard the memory it restored.
PageRestoreStats restore_pages(int fd, const std::vector<img::PageFrame>& index, const Translate& translate,
                               unsigned threads = 0, const FileCheck* check = nullptr);

// Whole-file content (deleted files): compress `len` bytes from src_fd (read with pread from
// offset 0) into a stream, and back: read_file_content reads image_fd from its current position
// (after the file header) to EOF and writes the content to dst_fd. Chunks of
// [u32 raw_len][u32 comp_len][comp_len bytes], little endian; comp_len == raw_len means raw.
// With `check`, read_file_content also hashes the whole image file (header included) and
// throws Error(bad_image) on a mismatch after the last chunk.
void write_file_content(int src_fd, uint64_t len, img::ImageWriter::Stream& out);
void read_file_content(int image_fd, int dst_fd, const FileCheck* check = nullptr);

}  // namespace ck
