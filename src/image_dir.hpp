// The image directory: staging, checksums, the atomic switch to a complete checkpoint, and
// loading with full verification.
//
// Layout of DIR:
//   manifest.ck        Manifest: format version, arch, kernel, CPU, and every other file's
//                      size and XXH3-64 checksum.
//   tree.ck            Tree: processes, threads, VMAs, fds, files, pipes, page indexes.
//   pages-<pid>.ck     page data of one process: independent zstd (or raw) frames.
//   file-<id>.ck       content of a deleted-but-open file, zstd frames.
// Every file starts with a FileHeader; small files carry their payload checksum in it.
//
// FileHeader (kFileHeaderSize = 32 bytes, little-endian):
//   0  u8[8] magic "CKIMG\0\0\0"
//   8  u32   format version (kFormatVersion)   magic and version keep these offsets forever,
//  12  u32   FileKind                          so any future ck can tell what it is looking at
//  16  u64   payload length (bytes after the header); 0 in streamed files (pages, file content)
//  24  u64   XXH3-64 of the payload;                   0 in streamed files
// Checksums: each ManifestEntry holds the size of the whole file and the XXH3-64 of the whole
// file, header included, so the manifest covers every byte of every other file. manifest.ck
// itself is covered by its header's payload checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "image_records.hpp"
#include "unique_fd.hpp"

namespace ck::img {

enum class FileKind : uint32_t { manifest = 1, tree = 2, pages = 3, file_content = 4 };

// Where the data of every image file starts (PageFrame::offset counts from the file start).
constexpr size_t kFileHeaderSize = 32;

// Writes an image into a private staging directory beside the final one; nothing is visible
// at the final path until commit() has written, fsync'ed and verified everything.
class ImageWriter {
 public:
  // Creates "<parent>/.<name>.tmp-<pid>-<n>" with mode 0700. Fails if the parent is missing.
  explicit ImageWriter(std::string dir);
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;
  ~ImageWriter();  // removes the staging directory unless commit() succeeded

  const std::string& final_path() const { return dir_; }
  const std::string& staging_path() const { return staging_; }

  // A whole small file (mode 0600): header + payload.
  void write_file(const std::string& name, FileKind kind, std::string_view payload);

  // A large file written sequentially (pages, file contents); checksummed as it is written.
  class Stream {
   public:
    Stream(Stream&&) noexcept;
    Stream& operator=(Stream&&) noexcept;
    ~Stream();
    void write(const void* data, size_t len);  // large writes go straight to the fd
    uint64_t offset() const;                   // bytes written so far, header included
    void finish();                             // flush, fdatasync, record size+checksum
   private:
    friend class ImageWriter;
    struct Impl;
    explicit Stream(Impl* impl);
    Impl* impl_;
  };
  Stream open_stream(const std::string& name, FileKind kind);

  // Writes manifest.ck listing every file written, fsyncs the directory, re-reads and verifies
  // every checksum, then makes `dir` name the new checkpoint in one atomic step
  // (rename, or renameat2(RENAME_EXCHANGE) over a previous checkpoint, which is removed only
  // after the switch).
  // manifest.format_version and manifest.entries are set here; the caller fills the rest.
  // Not thread-safe: one thread drives a writer and its streams; a Stream must be finished (or
  // destroyed) before the writer is destroyed.
  void commit(Manifest manifest);

 private:
  UniqueFd create_file(const std::string& name);
  uint64_t write_whole(const std::string& name, FileKind kind, std::string_view payload);
  void stage_and_switch(Manifest manifest);
  void switch_into_place();
  void remove_staging() noexcept;

  std::string dir_;
  std::string staging_;
  bool committed_ = false;
  std::vector<ManifestEntry> entries_;
  std::string parent_;
  UniqueFd staging_fd_;
  std::vector<std::string> created_;  // names in staging_ we created: all the destructor removes
  friend class Stream;
};

// A loaded, verified image.
struct LoadedImage {
  std::string dir;
  Manifest manifest;
  Tree tree;
};

// Reads DIR/manifest.ck and tree.ck and checks the format version, the checksum of every file
// the manifest lists, and that no listed file is missing or truncated. Throws Error with
// ExitCode::bad_image naming the file and what is wrong. Does not modify anything.
// With check_data=false the (large) page files are only size-checked, not hashed.
LoadedImage load_image(const std::string& dir, bool check_data = true);

// Opens DIR/name read-only, checks its header kind; returns the fd positioned after the header.
UniqueFd open_image_file(const std::string& dir, const std::string& name, FileKind kind);

// Everything load_image(dir, true) checks, plus the consistency of every page index with its
// pages file (frames inside the file and not overlapping, run sizes == raw_len, runs inside a
// VMA, zstd frames decompress to exactly raw_len) and that every referenced image file exists.
// Throws Error(bad_image) naming the file and frame. Used by `ckimage verify`.
struct VerifySummary {
  size_t files = 0;     // manifest.ck included
  uint64_t bytes = 0;   // all files, headers included
};
VerifySummary verify_image(const std::string& dir);

// Serialization of the records (image_codec.cpp). decode_* throw Error(bad_image) with
// "<what> offset N: ..." on anything malformed; they never read out of bounds. N is the offset
// in the file (payload offset + kFileHeaderSize). decode_tree also refuses file/pipe ids that
// do not index Tree::files/pipes (-1 = none).
std::string encode_manifest(const Manifest& m);
Manifest decode_manifest(std::string_view payload);
std::string encode_tree(const Tree& t);
Tree decode_tree(std::string_view payload);

// XXH3-64 of a buffer.
uint64_t checksum(const void* data, size_t len);

}  // namespace ck::img
