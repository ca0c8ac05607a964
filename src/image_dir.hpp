// The image directory: staging, checksums, the atomic switch to a complete checkpoint, and
// loading with full verification.
//
// Versions. `ckdump -D DIR` keeps the last few checkpoints, so that a damaged or unlucky newest
// one never leaves a user with nothing:
//   DIR                      symlink -> "<name>.d/<version>", relative, so that DIR and DIR.d
//                            can be moved or copied together (cp -a, rsync -a)
//   DIR.d/<version>/         one complete image each (layout below); <version> is
//                            "<seq>-<UTC time>", e.g. "000042-20250301T120000Z". seq grows by
//                            one per checkpoint and alone decides which version is newer; the
//                            time is for people.
//   .<name>.tmp-<pid>-<n>/   beside DIR: the staging directory while a dump runs
//   .<name>.lnk-<pid>-<n>    beside DIR: the new link, for the moment before it replaces DIR
// A commit writes and verifies the staging directory, renames it to DIR.d/<version>, then makes
// a new link and renames it over DIR: readers see the old version or the new one, never a mix
// and never nothing. Only then are versions beyond the newest `keep` removed; the one DIR
// points to at that moment never is. A version that was renamed into DIR.d but never linked (a
// dump killed in between) is complete and verified, so it counts as a version like any other.
// A plain image directory at DIR (made by ck before versions, or by hand) is swapped for the
// link with RENAME_EXCHANGE and then becomes the version just before the new one. Readers
// (load_image) accept DIR as the link, as any symlink to an image, or as a plain image
// directory, and resolve a link once, so one restore reads all its files from one version.
//
// Layout of an image directory:
//   manifest.ck        Manifest: format version, arch, kernel, CPU, and every other file's
//                      size and XXH3-64 checksum.
//   tree.ck            Tree: processes, threads, VMAs, fds, files, pipes, page indexes.
//   pages-<pid>.ck     page data of one process: independent zstd (or raw) frames.
//   file-<id>.ck       content of a deleted-but-open file, zstd frames.
//   vdso.ck            the checkpointed kernel's vDSO as it was mapped (raw bytes, kind
//                      file_content), for a restore on a kernel with another (vdso.hpp).
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

// Checkpoint versions kept at DIR by default (ckdump --keep).
constexpr unsigned kDefaultKeep = 2;

// Writes an image into a private staging directory beside the final one; nothing is visible
// at the final path until commit() has written, fsync'ed and verified everything.
class ImageWriter {
 public:
  // Creates "<parent>/.<name>.tmp-<pid>-<n>" with mode 0700. Fails if the parent is missing.
  // Staging directories and links of earlier ck processes that no longer run (killed mid-dump)
  // are removed first: they could hold gigabytes the new dump needs. `keep` (>= 1): versions
  // left at DIR.d after a commit, the new one included.
  explicit ImageWriter(std::string dir, unsigned keep = kDefaultKeep);
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;
  ~ImageWriter();  // removes the staging directory unless commit() succeeded

  const std::string& final_path() const { return dir_; }
  const std::string& staging_path() const { return staging_; }
  // DIR.d/<version> of the committed image; empty before commit() succeeded.
  const std::string& version_path() const { return version_; }
  // Bytes of every file written so far (headers included; manifest.ck once committed).
  uint64_t bytes_written() const { return bytes_written_; }
  void set_keep(unsigned keep);
  unsigned keep() const { return keep_; }

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
    // Writes out what is buffered and gives its memory back: a stream kept open until the
    // final fdatasyncs holds an fd and a little state, not a buffer per process of the tree.
    void flush();
   private:
    friend class ImageWriter;
    struct Impl;
    explicit Stream(Impl* impl);
    Impl* impl_;
  };
  Stream open_stream(const std::string& name, FileKind kind);

  // Writes manifest.ck listing every file written, fsyncs the directory, verifies the staging
  // directory, renames it to DIR.d/<version>, then makes `dir` name the new checkpoint in
  // one atomic step (a new link renamed over the old one, or exchanged with a plain image
  // directory), fsyncs that, and only then removes versions beyond `keep` (problems there are
  // warnings). A failure before the switch leaves DIR and every version as they were and removes
  // what this writer made. If the fsync after the switch fails, commit() throws although DIR
  // already names the new (complete, verified) image: the caller must treat the dump as failed.
  // "Verifies": manifest.ck is read back, decoded and must list exactly the files written with
  // the sizes and checksums recorded; every listed file must exist with that size and a valid
  // header; files written whole (tree.ck) and streamed files up to 8 MiB are read back and
  // re-hashed. Larger streamed files (pages) are not re-read: their XXH3 is that of the bytes
  // passed to write(2) (all written in full, or the dump fails) and fdatasync succeeded.
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
  void remove_stale_leftovers() noexcept;
  void prune_versions() noexcept;

  std::string dir_;
  std::string name_;      // last component of dir_
  std::string versions_;  // dir_ + ".d"
  std::string version_;   // versions_/<version> once the staging directory was renamed there
  std::string staging_;
  unsigned keep_ = kDefaultKeep;
  bool committed_ = false;
  bool made_versions_dir_ = false;
  uint64_t bytes_written_ = 0;
  std::vector<ManifestEntry> entries_;
  std::string parent_;
  UniqueFd staging_fd_;
  std::vector<std::string> created_;  // names in staging_ we created: all the destructor removes
  friend class Stream;
};

// Removes the versions in DIR.d beyond the newest `keep`, never the one DIR names (what a
// commit does after its switch; ckjob calls it when the program ends). Returns how many went;
// problems are warnings.
unsigned prune_versions(const std::string& dir, unsigned keep) noexcept;

// A loaded, verified image.
struct LoadedImage {
  std::string dir;  // the image directory itself: DIR's link resolved (resolve_image_dir)
  Manifest manifest;
  Tree tree;
};

// DIR with symbolic links resolved (a relative link target counts from the link's directory):
// the image directory a reader must use for every file of one load. DIR itself if it is not a
// link. Throws Error(bad_image) for a missing directory or a dangling or looping link.
std::string resolve_image_dir(const std::string& dir);

// Which files load_image reads in whole to check their XXH3 (manifest.ck and tree.ck always
// are; every listed file is always checked for presence, size and header).
enum class DataCheck {
  all,           // every file
  except_pages,  // all but pages-*.ck, which the caller hashes while it reads them anyway
                 // (restore_pages with a FileCheck) and must not trust before that check
  none,          // only the small files (not streamed): tree.ck
};

// Reads DIR/manifest.ck and tree.ck and checks the format version, the checksum of every file
// the manifest lists (as `check` says), and that no listed file is missing or truncated. Throws
// Error with ExitCode::bad_image naming the file and what is wrong. Does not modify anything.
LoadedImage load_image(const std::string& dir, DataCheck check);
// check_data=false: DataCheck::none.
inline LoadedImage load_image(const std::string& dir, bool check_data = true) {
  return load_image(dir, check_data ? DataCheck::all : DataCheck::none);
}

// Opens DIR/name read-only, checks its header kind; returns the fd positioned after the header.
UniqueFd open_image_file(const std::string& dir, const std::string& name, FileKind kind);

constexpr const char* kVdsoName = "vdso.ck";
bool lists_vdso(const Manifest& m);
// The bytes of DIR/vdso.ck (the caller checks them against the manifest's vdso_size/xxh3).
std::string read_vdso(const std::string& dir);

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

namespace testing {
// Called by ImageWriter::commit() at each step: "verified" (staging complete), "placed" (renamed
// to DIR.d/<version>), "linked" (new link made, DIR unchanged), "switched" (DIR names the new
// version), "pruned". Tests throw or die there to prove every interruption is harmless.
// Null in the ck commands.
extern void (*commit_hook)(const char* step);
}  // namespace testing

}  // namespace ck::img
