// The image directory: file headers, the staging directory and its atomic switch into place,
// and verified loading. See image_dir.hpp for the layout and what the checksums cover.
#include "image_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "error.hpp"
#include "log.hpp"

namespace ck::img {

namespace {

constexpr char kMagic[8] = {'C', 'K', 'I', 'M', 'G', '\0', '\0', '\0'};
constexpr const char* kManifestName = "manifest.ck";
constexpr const char* kTreeName = "tree.ck";
constexpr size_t kStreamBufferSize = 1u << 20;
// Writes at least this large skip the buffer: page frames are already big and copying them
// again would only cost memory bandwidth.
constexpr size_t kDirectWriteSize = 256u << 10;
constexpr size_t kReadChunk = 1u << 20;
// Write-behind of streamed files: each time this much more was written, its writeback starts
// (sync_file_range) and the chunk before is waited for and dropped from the page cache. The
// final fdatasync then has at most two chunks left, the disk writes while we compress, and a
// multi-GiB dump neither evicts the job's own page cache nor makes the kernel's dirty-page
// throttling stall the writer. 8 MiB: large sequential I/O, little in flight.
constexpr uint64_t kWriteBehindChunk = 8u << 20;
// commit() reads streamed files back to re-hash them only up to this size (see commit()).
constexpr uint64_t kReverifyStreamedMax = kWriteBehindChunk;
// A manifest lists a few files per process; anything this big is not one of ours.
constexpr uint64_t kMaxManifestSize = 64u << 20;
// PageFrame::raw_len is a u32; a frame is a few MiB in practice. Bounds what verify allocates.
constexpr uint32_t kMaxFrameBytes = 1u << 30;

[[noreturn]] void bad_image(const std::string& path, const std::string& msg) {
  throw Error(path + ": " + msg, ExitCode::bad_image);
}

// ---- header ----------------------------------------------------------------------------

struct FileHeader {
  uint32_t version = 0;
  uint32_t kind = 0;
  uint64_t length = 0;
  uint64_t xxh3 = 0;
};

void put_le(char* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

std::array<char, kFileHeaderSize> encode_header(FileKind kind, uint64_t length, uint64_t xxh3) {
  std::array<char, kFileHeaderSize> h{};
  std::memcpy(h.data(), kMagic, sizeof kMagic);
  put_le(h.data() + 8, kFormatVersion, 4);
  put_le(h.data() + 12, static_cast<uint32_t>(kind), 4);
  put_le(h.data() + 16, length, 8);
  put_le(h.data() + 24, xxh3, 8);
  return h;
}

bool valid_kind(uint32_t k) { return k >= 1 && k <= static_cast<uint32_t>(FileKind::file_content); }
bool is_stream_kind(FileKind k) { return k == FileKind::pages || k == FileKind::file_content; }

// Checks magic, version and (if given) kind of the first `n` bytes of `path`. The version is
// checked before anything that a future version could lay out differently.
FileHeader parse_header(const char* buf, size_t n, const std::string& path, std::optional<FileKind> expected) {
  if (n < sizeof kMagic || std::memcmp(buf, kMagic, sizeof kMagic) != 0) bad_image(path, "not a ck image");
  if (n < 12) bad_image(path, "truncated: " + std::to_string(n) + " bytes, shorter than the file header");
  FileHeader h;
  h.version = static_cast<uint32_t>(get_le(buf + 8, 4));
  if (h.version != kFormatVersion)
    bad_image(path, "format version " + std::to_string(h.version) + ", this ck reads " + std::to_string(kFormatVersion));
  if (n < kFileHeaderSize)
    bad_image(path, "truncated: " + std::to_string(n) + " bytes, shorter than the file header");
  h.kind = static_cast<uint32_t>(get_le(buf + 12, 4));
  h.length = get_le(buf + 16, 8);
  h.xxh3 = get_le(buf + 24, 8);
  if (!valid_kind(h.kind)) bad_image(path, "unknown file kind " + std::to_string(h.kind));
  if (expected && h.kind != static_cast<uint32_t>(*expected))
    bad_image(path, "file kind " + std::to_string(h.kind) + ", expected " +
                        std::to_string(static_cast<uint32_t>(*expected)));
  if (is_stream_kind(static_cast<FileKind>(h.kind)) && (h.length != 0 || h.xxh3 != 0))
    bad_image(path, "damaged header (length/checksum set in a streamed file)");
  return h;
}

// ---- names -----------------------------------------------------------------------------

// Image file names come from the manifest and the tree: never let one leave the directory.
bool valid_name(const std::string& name) {
  return !name.empty() && name.size() < 256 && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

// The kind a file must have, from the naming scheme in image_dir.hpp; nullopt: any kind.
std::optional<FileKind> kind_for_name(const std::string& name) {
  if (name == kTreeName) return FileKind::tree;
  if (name.rfind("pages-", 0) == 0) return FileKind::pages;
  if (name.rfind("file-", 0) == 0) return FileKind::file_content;
  return std::nullopt;
}

std::string pages_name(int32_t pid) { return "pages-" + std::to_string(pid) + ".ck"; }

// "ckpt/" and "ckpt" name the same image; messages should show "ckpt/tree.ck" for both.
std::string without_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// ---- fd helpers --------------------------------------------------------------------------

void write_all(int fd, const void* data, size_t len, const std::string& name) {
  auto* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + name);
    }
    // A zero-length write of a non-zero request only happens when the device is full.
    if (n == 0) throw_errno("write " + name, ENOSPC);
    p += n;
    len -= static_cast<size_t>(n);
  }
}

// Reads up to len bytes at off; returns fewer only at end of file.
size_t pread_full(int fd, void* buf, size_t len, uint64_t off, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, p + done, len - done, static_cast<off_t>(off + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

void sync_fd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) throw_errno("fsync " + what);
}

UniqueFd open_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open " + path);
  return UniqueFd(fd);
}

// Opens an existing image file for reading; a missing file is a damaged image, not an I/O error.
UniqueFd open_for_check(const std::string& path, const char* missing_msg) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) bad_image(path, missing_msg);
    if (errno == ELOOP) bad_image(path, "is a symbolic link, not an image file");
    throw_errno("open " + path);
  }
  return UniqueFd(fd);
}

uint64_t regular_file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno("stat " + path);
  if (!S_ISREG(st.st_mode)) bad_image(path, "not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

std::string read_all(int fd, uint64_t size, const std::string& path) {
  std::string buf(size, '\0');
  size_t n = pread_full(fd, buf.data(), buf.size(), 0, path);
  if (n != size) bad_image(path, "changed while being read (" + std::to_string(n) + " of " + std::to_string(size) + " bytes)");
  return buf;
}

uint64_t hash_file(int fd, uint64_t size, const std::string& path) {
  XXH3_state_t* state = XXH3_createState();
  if (!state) throw Error("out of memory hashing " + path);
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> guard(state, XXH3_freeState);
  XXH3_64bits_reset(state);
  std::vector<char> buf(static_cast<size_t>(std::min<uint64_t>(size, kReadChunk)));
  uint64_t off = 0;
  while (off < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
    size_t n = pread_full(fd, buf.data(), want, off, path);
    if (n != want) bad_image(path, "changed while being read");
    XXH3_64bits_update(state, buf.data(), n);
    off += n;
  }
  return XXH3_64bits_digest(state);
}

// ---- reading and checking ------------------------------------------------------------

Manifest read_manifest(const std::string& dir) {
  std::string path = dir + "/" + kManifestName;
  UniqueFd fd = open_for_check(path, "missing");
  uint64_t size = regular_file_size(fd.get(), path);
  if (size > kMaxManifestSize) bad_image(path, std::to_string(size) + " bytes, too large for a manifest");
  std::string data = read_all(fd.get(), size, path);
  FileHeader h = parse_header(data.data(), data.size(), path, FileKind::manifest);
  uint64_t payload_len = size - kFileHeaderSize;
  if (payload_len < h.length)
    bad_image(path, "truncated: " + std::to_string(size) + " bytes, header says " +
                        std::to_string(h.length + kFileHeaderSize));
  if (payload_len > h.length)
    bad_image(path, std::to_string(size) + " bytes, header says " + std::to_string(h.length + kFileHeaderSize));
  std::string_view payload(data.data() + kFileHeaderSize, payload_len);
  if (checksum(payload.data(), payload.size()) != h.xxh3) bad_image(path, "checksum mismatch (file damaged)");
  try {
    return decode_manifest(payload);
  } catch (const Error& e) {
    throw Error(dir + "/" + e.message(), e.code());
  }
}

// Checks one listed file against its manifest entry. With `keep`, the whole file is read into
// it and the checksum computed over that very buffer, so what the caller decodes is what was
// verified.
void check_entry(const std::string& dir, const ManifestEntry& e, bool check_data, std::string* keep) {
  std::string path = dir + "/" + e.name;
  UniqueFd fd = open_for_check(path, "missing (listed in the manifest)");
  uint64_t size = regular_file_size(fd.get(), path);
  if (size < e.size)
    bad_image(path, "truncated: " + std::to_string(size) + " bytes, manifest says " + std::to_string(e.size));
  if (size > e.size)
    bad_image(path, std::to_string(size) + " bytes, manifest says " + std::to_string(e.size) + " (file grew)");
  char hbuf[kFileHeaderSize];
  size_t got = pread_full(fd.get(), hbuf, sizeof hbuf, 0, path);
  FileHeader h = parse_header(hbuf, got, path, kind_for_name(e.name));
  if (h.kind == static_cast<uint32_t>(FileKind::manifest)) bad_image(path, "a second manifest listed in the manifest");
  auto kind = static_cast<FileKind>(h.kind);
  if (!is_stream_kind(kind) && h.length != size - kFileHeaderSize)
    bad_image(path, std::to_string(size) + " bytes, header says " + std::to_string(h.length + kFileHeaderSize));
  if (!check_data && is_stream_kind(kind) && !keep) return;
  uint64_t sum;
  if (keep) {
    *keep = read_all(fd.get(), size, path);
    sum = checksum(keep->data(), keep->size());
  } else {
    sum = hash_file(fd.get(), size, path);
  }
  if (sum != e.xxh3) bad_image(path, "checksum mismatch (file damaged)");
}

void check_entry_names(const std::string& dir, const Manifest& m) {
  std::set<std::string> seen;
  for (const ManifestEntry& e : m.entries) {
    std::string mpath = dir + "/" + kManifestName;
    if (!valid_name(e.name)) bad_image(mpath, "invalid file name \"" + e.name + "\"");
    if (e.name == kManifestName) bad_image(mpath, "lists itself");
    if (!seen.insert(e.name).second) bad_image(mpath, "lists " + e.name + " twice");
    if (e.size < kFileHeaderSize)
      bad_image(mpath, "size " + std::to_string(e.size) + " of " + e.name + " is shorter than a file header");
  }
}

const ManifestEntry* find_entry(const Manifest& m, const std::string& name) {
  for (const ManifestEntry& e : m.entries)
    if (e.name == name) return &e;
  return nullptr;
}

// ---- removing directories ------------------------------------------------------------------

// Removes the regular files named *.ck in `path`, then the directory. Used for the previous
// checkpoint after it was swapped out: anything else a user put there stays, with a warning.
void remove_checkpoint_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    log::warn("cannot open old checkpoint " + path + " to remove it: " + std::strerror(errno));
    return;
  }
  int dfd = ::dirfd(d);
  // The manifest first: a removal cut short (ck killed) leaves files without one, which nothing
  // takes for a checkpoint, rather than a manifest whose files are gone.
  ::unlinkat(dfd, kManifestName, 0);
  while (dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name.size() < 4 || name.compare(name.size() - 3, 3, ".ck") != 0) continue;
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    ::unlinkat(dfd, name.c_str(), 0);
  }
  ::closedir(d);
  if (::rmdir(path.c_str()) != 0)
    log::warn("old checkpoint left at " + path + ": " + std::strerror(errno) + " (files ck did not write?)");
}

// A previous ck checkpoint is a directory whose manifest.ck starts with our magic.
bool is_checkpoint_dir(const std::string& dir) {
  int fd = ::open((dir + "/" + kManifestName).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  UniqueFd guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  char magic[sizeof kMagic];
  return ::pread(fd, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
         std::memcmp(magic, kMagic, sizeof kMagic) == 0;
}

bool is_empty_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

std::atomic<unsigned> g_staging_counter{0};

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

void step(const char* name) {
  if (testing::commit_hook) testing::commit_hook(name);
}

// readlink(2) of any length; nullopt if `path` is not a symbolic link (or gone).
std::optional<std::string> read_link(const std::string& path) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) return std::nullopt;
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

// ---- versions ----------------------------------------------------------------------------

// "<seq>-..." -> seq. Anything else in DIR.d (dot names, what a user put there) is no version:
// never counted, never removed.
std::optional<uint64_t> version_seq(const std::string& name) {
  size_t i = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  if (i == 0 || i > 18 || i >= name.size() || name[i] != '-') return std::nullopt;
  return std::stoull(name.substr(0, i));
}

std::string version_name(uint64_t seq, time_t when) {
  struct tm tm {};
  ::gmtime_r(&when, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%06llu-%04d%02d%02dT%02d%02d%02dZ", static_cast<unsigned long long>(seq),
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

struct Version {
  uint64_t seq;
  std::string name;
};

// The version directories in `versions`, newest (highest seq) first; empty if it is missing.
std::vector<Version> list_versions(const std::string& versions) {
  std::vector<Version> out;
  DIR* d = ::opendir(versions.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    throw_errno("open " + versions);
  }
  UniqueDir guard(d);
  while (dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    auto seq = version_seq(name);
    struct stat st {};
    if (!seq || ::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
    out.push_back(Version{*seq, name});
  }
  std::sort(out.begin(), out.end(), [](const Version& a, const Version& b) { return a.seq > b.seq; });
  return out;
}

// ".<name>.tmp-<pid>-..." / ".<name>.lnk-<pid>-..." -> pid, for leftovers of a killed ck.
std::optional<pid_t> leftover_pid(const std::string& entry, const std::string& prefix) {
  if (entry.rfind(prefix, 0) != 0) return std::nullopt;
  size_t i = prefix.size(), j = i;
  while (j < entry.size() && entry[j] >= '0' && entry[j] <= '9') ++j;
  if (j == i || j - i > 9 || j >= entry.size() || entry[j] != '-') return std::nullopt;
  return static_cast<pid_t>(std::stol(entry.substr(i, j - i)));
}

// Only a process that is certainly gone (ESRCH) leaves leftovers; EPERM means it runs.
bool process_gone(pid_t pid) { return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH; }


}  // namespace

// ---- ImageWriter ---------------------------------------------------------------------------

ImageWriter::ImageWriter(std::string dir, unsigned keep) {
  set_keep(keep);
  dir = without_trailing_slashes(std::move(dir));
  if (dir.empty() || dir == "/") throw Error("invalid checkpoint directory \"" + dir + "\"", ExitCode::usage);
  dir_ = dir;
  size_t slash = dir_.rfind('/');
  std::string name = slash == std::string::npos ? dir_ : dir_.substr(slash + 1);
  parent_ = slash == std::string::npos ? "." : slash == 0 ? "/" : dir_.substr(0, slash);
  if (name == "." || name == "..")
    throw Error("invalid checkpoint directory \"" + dir_ + "\": name it, not . or ..", ExitCode::usage);
  name_ = name;
  versions_ = dir_ + ".d";

  struct stat st {};
  if (::stat(parent_.c_str(), &st) != 0) {
    if (errno == ENOENT) throw Error(parent_ + ": parent directory of " + dir_ + " does not exist");
    throw_errno("stat " + parent_);
  }
  if (!S_ISDIR(st.st_mode)) throw Error(parent_ + ": parent of " + dir_ + " is not a directory");
  remove_stale_leftovers();

  std::string base = (parent_ == "/" ? "" : parent_) + "/." + name + ".tmp-" + std::to_string(::getpid()) + "-";
  for (;;) {
    std::string candidate = base + std::to_string(g_staging_counter++);
    if (::mkdir(candidate.c_str(), 0700) == 0) {
      staging_ = candidate;
      break;
    }
    // Left over by an earlier process with our pid: pick another name, never reuse it.
    if (errno != EEXIST) throw_errno("create staging directory " + candidate);
  }
  try {
    staging_fd_ = open_dir(staging_);
    // The umask can only narrow the mode; this also fixes a umask that removed our own bits.
    if (::fchmod(staging_fd_.get(), 0700) != 0) throw_errno("chmod " + staging_);
  } catch (...) {
    remove_staging();
    throw;
  }
}

ImageWriter::~ImageWriter() {
  if (!committed_) remove_staging();
}

void ImageWriter::set_keep(unsigned keep) {
  if (keep == 0) throw Error("--keep: at least the new checkpoint must be kept (1 or more)", ExitCode::usage);
  keep_ = keep;
}

// Removes what this writer made: its files, then the directory that holds them, wherever commit
// got it to (staging name or DIR.d/<version>); staging_fd_ follows the directory across the rename.
void ImageWriter::remove_staging() noexcept {
  const std::string& path = !version_.empty() ? version_ : staging_;
  if (path.empty()) return;
  if (staging_fd_) {
    for (const std::string& name : created_) ::unlinkat(staging_fd_.get(), name.c_str(), 0);
    staging_fd_.reset();
  }
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    log::warn("cannot remove staging directory " + path + ": " + std::strerror(errno));
  created_.clear();
}

// A ck killed mid-dump (SLURM's SIGKILL at the wall time) cannot clean up; the next dump to the
// same DIR does it for processes that are certainly gone. Only *.ck files, staging directories
// and our temporary links are touched (remove_checkpoint_dir), so a mistake costs at most an
// unfinished image, never a version or anything of the user's.
void ImageWriter::remove_stale_leftovers() noexcept {
  DIR* d = ::opendir(parent_.c_str());
  if (!d) return;
  UniqueDir guard(d);
  const std::string tmp_prefix = "." + name_ + ".tmp-", lnk_prefix = "." + name_ + ".lnk-";
  std::vector<std::string> dirs, links;
  while (dirent* ent = ::readdir(d)) {
    std::string entry = ent->d_name;
    auto tmp_pid = leftover_pid(entry, tmp_prefix);
    auto lnk_pid = leftover_pid(entry, lnk_prefix);
    pid_t pid = tmp_pid ? *tmp_pid : lnk_pid ? *lnk_pid : 0;
    if (pid == 0 || pid == ::getpid() || !process_gone(pid)) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    // A directory under a .lnk- name is a previous checkpoint swapped out of DIR whose move into
    // DIR.d did not happen: it is kept.
    if (tmp_pid && S_ISDIR(st.st_mode)) dirs.push_back(entry);
    if (lnk_pid && S_ISLNK(st.st_mode)) links.push_back(entry);
  }
  for (const std::string& e : dirs) {
    log::warn("removing " + parent_ + "/" + e + ", left by a ck process that ended during a dump");
    remove_checkpoint_dir(parent_ + "/" + e);
  }
  for (const std::string& e : links) ::unlinkat(::dirfd(d), e.c_str(), 0);
}

UniqueFd ImageWriter::create_file(const std::string& name) {
  if (committed_) throw Error("create " + name + ": image already committed");
  if (staging_.empty()) throw Error("create " + name + ": the image writer failed earlier");
  if (!valid_name(name)) throw Error("invalid image file name \"" + name + "\"");
  int fd = ::openat(staging_fd_.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("create " + staging_ + "/" + name);
  created_.push_back(name);
  UniqueFd guard(fd);
  if (::fchmod(fd, 0600) != 0) throw_errno("chmod " + name);
  return guard;
}

// Header + payload, fdatasync'ed. Returns the XXH3 of the whole file for its manifest entry;
// the caller decides whether the file is listed (everything but the manifest is).
uint64_t ImageWriter::write_whole(const std::string& name, FileKind kind, std::string_view payload) {
  UniqueFd fd = create_file(name);
  auto header = encode_header(kind, payload.size(), checksum(payload.data(), payload.size()));
  write_all(fd.get(), header.data(), header.size(), name);
  write_all(fd.get(), payload.data(), payload.size(), name);
  if (::fdatasync(fd.get()) != 0) throw_errno("fdatasync " + name);
  bytes_written_ += header.size() + payload.size();
  XXH3_state_t* state = XXH3_createState();
  if (!state) throw Error("out of memory");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> guard(state, XXH3_freeState);
  XXH3_64bits_reset(state);
  XXH3_64bits_update(state, header.data(), header.size());
  XXH3_64bits_update(state, payload.data(), payload.size());
  return XXH3_64bits_digest(state);
}

void ImageWriter::write_file(const std::string& name, FileKind kind, std::string_view payload) {
  if (name == kManifestName) throw Error("write_file: " + name + " is written by commit()");
  if (is_stream_kind(kind)) throw Error("write_file " + name + ": pages and file contents are streamed (open_stream)");
  uint64_t sum = write_whole(name, kind, payload);
  entries_.push_back(ManifestEntry{name, kFileHeaderSize + payload.size(), sum});
}

// ---- Stream --------------------------------------------------------------------------------

struct ImageWriter::Stream::Impl {
  ImageWriter* owner = nullptr;
  std::string name;
  UniqueFd fd;
  XXH3_state_t* state = nullptr;
  uint64_t offset = 0;
  std::string buf;
  bool finished = false;
  bool broken = false;

  ~Impl() {
    if (state) XXH3_freeState(state);
  }
  // Write-behind state (kWriteBehindChunk): bytes handed to write(), the end of the range whose
  // writeback was started, and the end of what was written back and dropped from the cache.
  uint64_t written = 0, kicked = 0, settled = 0;
  bool write_behind = true;

  void flush() {
    put(buf.data(), buf.size());
    buf.clear();
  }
  void put(const void* p, size_t len) {
    write_all(fd.get(), p, len, name);
    written += len;
    while (write_behind && written - kicked >= kWriteBehindChunk) {
      // Errors are not lost by giving up here: a failed writeback is recorded on the file and
      // the final fdatasync reports it. A file system without sync_file_range (EINVAL, ESPIPE)
      // just gets the plain page-cache path.
      if (::sync_file_range(fd.get(), static_cast<off_t>(kicked), kWriteBehindChunk, SYNC_FILE_RANGE_WRITE) != 0) {
        write_behind = false;
        break;
      }
      if (kicked > settled) {
        const auto from = static_cast<off_t>(settled), len = static_cast<off_t>(kicked - settled);
        if (::sync_file_range(fd.get(), from, len,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
          write_behind = false;
          break;
        }
        ::posix_fadvise(fd.get(), from, len, POSIX_FADV_DONTNEED);
        settled = kicked;
      }
      kicked += kWriteBehindChunk;
    }
  }
};

ImageWriter::Stream::Stream(Impl* impl) : impl_(impl) {}
ImageWriter::Stream::Stream(Stream&& o) noexcept : impl_(std::exchange(o.impl_, nullptr)) {}
ImageWriter::Stream& ImageWriter::Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    delete impl_;
    impl_ = std::exchange(o.impl_, nullptr);
  }
  return *this;
}
ImageWriter::Stream::~Stream() { delete impl_; }

void ImageWriter::Stream::write(const void* data, size_t len) {
  if (!impl_ || impl_->finished) throw Error("write to a finished image stream");
  if (impl_->broken) throw Error("write " + impl_->name + ": an earlier write failed");
  Impl& s = *impl_;
  XXH3_64bits_update(s.state, data, len);
  s.offset += len;
  // After a failed write the hash and the file disagree: the stream must never be finished.
  s.broken = true;
  if (len >= kDirectWriteSize) {
    if (!s.buf.empty()) s.flush();
    s.put(data, len);
  } else {
    if (s.buf.size() + len > kStreamBufferSize) s.flush();
    if (s.buf.capacity() < kStreamBufferSize) s.buf.reserve(kStreamBufferSize);
    s.buf.append(static_cast<const char*>(data), len);
  }
  s.broken = false;
}

uint64_t ImageWriter::Stream::offset() const { return impl_ ? impl_->offset : 0; }

void ImageWriter::Stream::flush() {
  if (!impl_ || impl_->finished) throw Error("flush of a finished image stream");
  if (impl_->broken) throw Error("flush " + impl_->name + ": an earlier write failed");
  impl_->broken = true;
  impl_->flush();
  impl_->buf = std::string();
  impl_->broken = false;
}

void ImageWriter::Stream::finish() {
  if (!impl_ || impl_->finished) throw Error("image stream finished twice");
  if (impl_->broken) throw Error("finish " + impl_->name + ": an earlier write failed");
  Impl& s = *impl_;
  s.flush();
  if (::fdatasync(s.fd.get()) != 0) throw_errno("fdatasync " + s.name);
  struct stat st {};
  if (::fstat(s.fd.get(), &st) != 0) throw_errno("stat " + s.name);
  if (static_cast<uint64_t>(st.st_size) != s.offset)
    throw Error(s.name + ": wrote " + std::to_string(s.offset) + " bytes but the file has " +
                std::to_string(st.st_size));
  s.owner->entries_.push_back(ManifestEntry{s.name, s.offset, XXH3_64bits_digest(s.state)});
  s.owner->bytes_written_ += s.offset;
  s.fd.reset();
  s.buf = std::string();
  s.finished = true;
}

ImageWriter::Stream ImageWriter::open_stream(const std::string& name, FileKind kind) {
  if (name == kManifestName) throw Error("open_stream: " + name + " is written by commit()");
  if (!is_stream_kind(kind)) throw Error("open_stream " + name + ": kind " + std::to_string(uint32_t(kind)) + " is not streamed");
  auto impl = std::make_unique<Stream::Impl>();
  impl->owner = this;
  impl->name = name;
  impl->fd = create_file(name);
  impl->state = XXH3_createState();
  if (!impl->state) throw Error("out of memory");
  XXH3_64bits_reset(impl->state);
  Stream stream(impl.release());
  // Size and checksum are unknown until finish(): they go in the manifest, the header says 0.
  auto header = encode_header(kind, 0, 0);
  stream.write(header.data(), header.size());
  return stream;
}

// ---- commit --------------------------------------------------------------------------------

void ImageWriter::commit(Manifest manifest) {
  if (committed_) throw Error("commit " + dir_ + ": already committed");
  if (staging_.empty()) throw Error("commit " + dir_ + ": an earlier commit failed");
  try {
    stage_and_switch(std::move(manifest));
  } catch (...) {
    // Nothing of a failed commit stays behind, whatever the caller does with the writer next.
    if (!committed_) {
      remove_staging();
      staging_.clear();
      version_.clear();
      // Only if it is empty: the DIR.d made by this commit, when nothing else went there.
      if (made_versions_dir_) ::rmdir(versions_.c_str());
    }
    throw;
  }
  // The switch must be on disk before any older version goes: after a crash the link could
  // otherwise come back pointing at a version pruned meanwhile. If this fails the caller
  // treats the dump as failed (the target runs on) although DIR already names the new image.
  UniqueFd parent = open_dir(parent_);
  sync_fd(parent.get(), parent_);
  prune_versions();
  step("pruned");
}

void ImageWriter::stage_and_switch(Manifest manifest) {
  for (const std::string& name : created_) {
    bool recorded = std::any_of(entries_.begin(), entries_.end(), [&](const ManifestEntry& e) { return e.name == name; });
    if (!recorded) throw Error("commit " + dir_ + ": " + name + " was opened but never finished");
  }
  manifest.format_version = kFormatVersion;
  manifest.entries = entries_;
  write_whole(kManifestName, FileKind::manifest, encode_manifest(manifest));
  sync_fd(staging_fd_.get(), staging_);

  // Read back what is on disk through the same checks load_image uses, while the previous
  // checkpoint is still intact: the manifest and every file it lists, its size and header, and
  // the checksum of the small files (tree, short streams). A large streamed file is not read
  // back: its checksum was computed over exactly the bytes handed to write(2) (a short or failed
  // write throws), which fdatasync then made durable; re-reading it would hash the page cache,
  // not the disk, at the cost of a second pass over gigabytes while the job waits.
  with_context("commit " + dir_ + ": verification of the written image failed", [&] {
    Manifest back = read_manifest(staging_);
    check_entry_names(staging_, back);
    if (back.entries.size() != entries_.size()) throw Error("manifest lists a different number of files");
    for (size_t i = 0; i < back.entries.size(); i++) {
      const ManifestEntry& e = back.entries[i];
      if (e.name != entries_[i].name || e.size != entries_[i].size || e.xxh3 != entries_[i].xxh3)
        throw Error("manifest entry " + std::to_string(i) + " (" + e.name + ") reads back different");
      check_entry(staging_, e, e.size <= kReverifyStreamedMax, nullptr);
    }
  });
  step("verified");
  switch_into_place();
}

namespace {

// What is at DIR when a commit is about to replace it.
enum class AtDir { nothing, our_link, plain_checkpoint, empty_dir };

// Refuses, before anything moves, to replace what is not ours: a user's file or directory, or
// a link somewhere else (ck never writes through a link it did not make).
AtDir classify(const std::string& dir, const std::string& name) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return AtDir::nothing;
    throw_errno("stat " + dir);
  }
  if (S_ISLNK(st.st_mode)) {
    auto target = read_link(dir);
    std::string prefix = name + ".d/";
    if (target && target->rfind(prefix, 0) == 0 && valid_name(target->substr(prefix.size())))
      return AtDir::our_link;
    throw Error(dir + ": exists and is a symbolic link to " + (target ? *target : "?") +
                ", not one ck made; refusing to replace it");
  }
  if (!S_ISDIR(st.st_mode))
    throw Error(dir + ": exists and is not a ck checkpoint (not a directory); refusing to replace it");
  if (is_checkpoint_dir(dir)) return AtDir::plain_checkpoint;
  if (is_empty_dir(dir)) return AtDir::empty_dir;
  throw Error(dir + ": exists and is not a ck checkpoint (no " + kManifestName + "); refusing to replace it");
}

// The time a plain (pre-versions) checkpoint was made, for its version name.
time_t checkpoint_time(const std::string& dir) {
  struct stat st {};
  if (::stat((dir + "/" + kManifestName).c_str(), &st) != 0) return ::time(nullptr);
  return st.st_mtime;
}

}  // namespace

// DIR.d/<version> gets the verified image, then a new link replaces DIR in one rename(2).
// committed_ is set the moment DIR names the new version; before that every failure undoes
// what this function did (commit() removes the version), so DIR and DIR.d are as they were.
void ImageWriter::switch_into_place() {
  const AtDir at = classify(dir_, name_);

  if (::mkdir(versions_.c_str(), 0700) == 0) {
    made_versions_dir_ = true;
    UniqueFd parent = open_dir(parent_);
    sync_fd(parent.get(), parent_);
  } else if (errno != EEXIST) {
    throw_errno("create " + versions_);
  }
  struct stat st {};
  if (::lstat(versions_.c_str(), &st) != 0) throw_errno("stat " + versions_);
  if (!S_ISDIR(st.st_mode)) throw Error(versions_ + ": exists and is not a directory; refusing to use it");

  const std::vector<Version> existing = list_versions(versions_);
  uint64_t seq = existing.empty() ? 1 : existing.front().seq + 1;
  // The plain checkpoint now at DIR becomes the version just before the new one.
  std::string legacy;
  if (at == AtDir::plain_checkpoint) legacy = version_name(seq++, checkpoint_time(dir_));
  const time_t now = ::time(nullptr);
  std::string vname;
  for (;;) {
    vname = version_name(seq, now);
    std::string path = versions_ + "/" + vname;
    // NOREPLACE: another ck writing to the same DIR may have taken this seq meanwhile.
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
      version_ = path;
      break;
    }
    if (errno != EEXIST && errno != ENOTEMPTY) throw_errno("rename " + staging_ + " to " + path);
    ++seq;
  }
  {
    UniqueFd versions = open_dir(versions_);
    sync_fd(versions.get(), versions_);
  }
  step("placed");

  const std::string target = name_ + ".d/" + vname;
  const std::string link_base = (parent_ == "/" ? "" : parent_) + "/." + name_ + ".lnk-" + std::to_string(::getpid()) + "-";
  std::string link;
  for (;;) {
    link = link_base + std::to_string(g_staging_counter++);
    if (::symlink(target.c_str(), link.c_str()) == 0) break;
    if (errno != EEXIST) throw_errno("create link " + link);
  }
  struct LinkGuard {
    const std::string& path;
    bool armed = true;
    ~LinkGuard() {
      if (armed) ::unlink(path.c_str());
    }
  } link_guard{link};
  step("linked");

  switch (at) {
    case AtDir::nothing:
      // NOREPLACE: something that appeared at DIR meanwhile is never overwritten.
      if (::renameat2(AT_FDCWD, link.c_str(), AT_FDCWD, dir_.c_str(), RENAME_NOREPLACE) != 0)
        throw_errno("rename " + link + " to " + dir_);
      break;
    case AtDir::our_link:
      // A link over a link; should DIR have become a directory meanwhile, rename fails (EISDIR).
      // (A regular file put there since classify() would be replaced: a window of microseconds
      // that only a user racing their own dump can hit.)
      if (::rename(link.c_str(), dir_.c_str()) != 0) throw_errno("rename " + link + " to " + dir_);
      break;
    case AtDir::plain_checkpoint:
    case AtDir::empty_dir: {
      // rename(2) cannot put a link over a directory; RENAME_EXCHANGE swaps them in one step,
      // and the old directory lands at the link's temporary name.
      const std::string old_dir = at == AtDir::plain_checkpoint ? versions_ + "/" + legacy : std::string();
      if (::renameat2(AT_FDCWD, link.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) == 0) {
        committed_ = true;
        link_guard.armed = false;
        if (at == AtDir::empty_dir) {
          if (::rmdir(link.c_str()) != 0) log::warn("cannot remove " + link + ": " + std::strerror(errno));
        } else if (::renameat2(AT_FDCWD, link.c_str(), AT_FDCWD, old_dir.c_str(), RENAME_NOREPLACE) != 0) {
          log::warn("previous checkpoint left at " + link + ": cannot move it to " + old_dir + ": " + std::strerror(errno));
        }
        break;
      }
      if (errno != EINVAL && errno != ENOSYS) throw_errno("exchange " + link + " with " + dir_);
      // File systems without RENAME_EXCHANGE: the old directory goes first, so for a moment
      // DIR is missing (never wrong); a failure puts it back.
      if (at == AtDir::empty_dir) {
        if (::rmdir(dir_.c_str()) != 0) throw_errno("remove empty directory " + dir_);
      } else if (::rename(dir_.c_str(), old_dir.c_str()) != 0) {
        throw_errno("rename " + dir_ + " to " + old_dir);
      }
      if (::renameat2(AT_FDCWD, link.c_str(), AT_FDCWD, dir_.c_str(), RENAME_NOREPLACE) != 0) {
        int err = errno;
        if (at == AtDir::plain_checkpoint) ::rename(old_dir.c_str(), dir_.c_str());
        else ::mkdir(dir_.c_str(), 0700);
        throw_errno("rename " + link + " to " + dir_, err);
      }
      break;
    }
  }
  committed_ = true;
  link_guard.armed = false;
  step("switched");
}

void ImageWriter::prune_versions() noexcept { img::prune_versions(dir_, keep_); }

// Keeps the newest `keep` versions and, whatever its age, the one DIR names now (read again:
// another ck may have switched it meanwhile). Failures only warn: the checkpoint is committed.
unsigned prune_versions(const std::string& dir_arg, unsigned keep) noexcept {
  unsigned removed = 0;
  try {
    const std::string dir = without_trailing_slashes(dir_arg);
    const size_t slash = dir.rfind('/');
    const std::string name = slash == std::string::npos ? dir : dir.substr(slash + 1);
    const std::string versions_dir = dir + ".d";
    std::string current;
    if (auto target = read_link(dir); target && target->rfind(name + ".d/", 0) == 0)
      current = target->substr(name.size() + 3);
    std::vector<Version> versions = list_versions(versions_dir);
    for (size_t i = keep; i < versions.size(); ++i) {
      if (versions[i].name == current) continue;
      CK_LOG(1, "removing old checkpoint version %s/%s", versions_dir.c_str(), versions[i].name.c_str());
      remove_checkpoint_dir(versions_dir + "/" + versions[i].name);
      removed++;
    }
  } catch (const std::exception& e) {
    log::warn(std::string("cannot remove old checkpoint versions: ") + e.what());
  }
  return removed;
}

// ---- loading -------------------------------------------------------------------------------

std::string resolve_image_dir(const std::string& dir_arg) {
  const std::string dir = without_trailing_slashes(dir_arg);
  std::string path = dir;
  // Only the last component is followed here: it is the one ckdump switches. A link further
  // up the path is the user's and does not change under a restore.
  for (int depth = 0;; ++depth) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR) throw_errno("stat " + path);
      if (depth == 0) bad_image(dir, "no such checkpoint directory");
      bad_image(dir, "link to " + path + ", which does not exist");
    }
    if (!S_ISLNK(st.st_mode)) {
      if (!S_ISDIR(st.st_mode)) bad_image(path, "not a directory");
      return path;
    }
    if (depth == 40) bad_image(dir, "too many levels of symbolic links");
    auto target = read_link(path);
    if (!target || target->empty()) bad_image(path, "cannot read the link");
    size_t slash = path.rfind('/');
    if ((*target)[0] == '/' || slash == std::string::npos)
      path = *target;
    else
      path = path.substr(0, slash + 1) + *target;
    path = without_trailing_slashes(path);
  }
}

LoadedImage load_image(const std::string& dir_arg, DataCheck check) {
  // Resolved once: everything of this load, and of a restore from img.dir, comes from one
  // version even if a ckdump switches the link meanwhile.
  const std::string dir = resolve_image_dir(dir_arg);
  LoadedImage img;
  img.dir = dir;
  img.manifest = read_manifest(dir);
  check_entry_names(dir, img.manifest);
  if (!find_entry(img.manifest, kTreeName))
    bad_image(dir + "/" + kManifestName, std::string("does not list ") + kTreeName);
  std::string tree_file;
  for (const ManifestEntry& e : img.manifest.entries) {
    const bool hash = check == DataCheck::all || (check == DataCheck::except_pages && kind_for_name(e.name) != FileKind::pages);
    check_entry(dir, e, hash, e.name == kTreeName ? &tree_file : nullptr);
  }
  try {
    img.tree = decode_tree(std::string_view(tree_file).substr(kFileHeaderSize));
  } catch (const Error& e) {
    throw Error(dir + "/" + e.message(), e.code());
  }
  return img;
}

UniqueFd open_image_file(const std::string& dir, const std::string& name, FileKind kind) {
  std::string path = without_trailing_slashes(dir) + "/" + name;
  if (!valid_name(name)) bad_image(path, "invalid image file name");
  UniqueFd fd = open_for_check(path, "missing");
  char hbuf[kFileHeaderSize];
  size_t got = pread_full(fd.get(), hbuf, sizeof hbuf, 0, path);
  parse_header(hbuf, got, path, kind);
  if (::lseek(fd.get(), kFileHeaderSize, SEEK_SET) < 0) throw_errno("seek " + path);
  return fd;
}

bool lists_vdso(const Manifest& m) { return find_entry(m, kVdsoName) != nullptr; }

std::string read_vdso(const std::string& dir) {
  const std::string path = without_trailing_slashes(dir) + "/" + kVdsoName;
  UniqueFd fd = open_image_file(dir, kVdsoName, FileKind::file_content);
  const uint64_t size = regular_file_size(fd.get(), path);
  constexpr uint64_t kMax = 1 << 20;  // a vDSO is a few pages
  if (size > kFileHeaderSize + kMax) bad_image(path, std::to_string(size) + " bytes, too large for a vDSO");
  std::string bytes(size - kFileHeaderSize, '\0');
  if (pread_full(fd.get(), bytes.data(), bytes.size(), kFileHeaderSize, path) != bytes.size()) bad_image(path, "short read");
  return bytes;
}

// ---- verify ----------------------------------------------------------------------------------

namespace {

struct FrameChecker {
  std::string path;
  int fd;
  uint64_t file_size;
  uint32_t page_size;
  const std::vector<Vma>& vmas;  // sorted by start, as in /proc/PID/maps
  ZSTD_DCtx* dctx;

  [[noreturn]] void fail(size_t i, const std::string& msg) const {
    bad_image(path, "frame " + std::to_string(i) + ": " + msg);
  }

  bool inside_vma(uint64_t start, uint64_t end) const {
    auto it = std::upper_bound(vmas.begin(), vmas.end(), start, [](uint64_t a, const Vma& v) { return a < v.start; });
    if (it == vmas.begin()) return false;
    --it;
    return start >= it->start && end <= it->end;
  }

  void check_layout(size_t i, const PageFrame& f) const {
    if (f.offset < kFileHeaderSize) fail(i, "offset " + std::to_string(f.offset) + " inside the file header");
    if (f.offset > file_size || f.comp_len > file_size - f.offset)
      fail(i, "bytes " + std::to_string(f.offset) + "+" + std::to_string(f.comp_len) + " past the end of the file (" +
                  std::to_string(file_size) + " bytes)");
    if (f.raw_len == 0 || f.raw_len % page_size != 0)
      fail(i, "raw length " + std::to_string(f.raw_len) + " is not a positive multiple of the page size");
    if (f.raw_len > kMaxFrameBytes) fail(i, "raw length " + std::to_string(f.raw_len) + " too large");
    if (f.codec == Codec::raw && f.comp_len != f.raw_len)
      fail(i, "raw frame with stored length " + std::to_string(f.comp_len) + " != raw length " + std::to_string(f.raw_len));
    uint64_t pages = 0;
    for (const PageFrame::Run& run : f.runs) {
      if (run.vaddr % page_size != 0 || run.npages == 0) fail(i, "bad run at " + std::to_string(run.vaddr));
      uint64_t end = run.vaddr + uint64_t(run.npages) * page_size;
      if (end < run.vaddr || !inside_vma(run.vaddr, end))
        fail(i, "run of " + std::to_string(run.npages) + " pages at 0x" + to_hex(run.vaddr) + " is outside every VMA");
      pages += run.npages;
    }
    if (pages * page_size != f.raw_len)
      fail(i, "runs hold " + std::to_string(pages) + " pages, raw length says " + std::to_string(f.raw_len / page_size));
  }

  void check_content(size_t i, const PageFrame& f, std::vector<char>& in, std::vector<char>& out) const {
    if (f.codec != Codec::zstd) return;
    in.resize(f.comp_len);
    if (pread_full(fd, in.data(), in.size(), f.offset, path) != in.size()) fail(i, "short read");
    out.resize(f.raw_len);
    size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n)) fail(i, std::string("zstd: ") + ZSTD_getErrorName(n));
    if (n != f.raw_len) fail(i, "decompresses to " + std::to_string(n) + " bytes, raw length says " + std::to_string(f.raw_len));
  }

  static std::string to_hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
    return b;
  }
};

void verify_pages(const LoadedImage& img, const Process& p, ZSTD_DCtx* dctx) {
  std::string name = pages_name(p.pid);
  const ManifestEntry* e = find_entry(img.manifest, name);
  if (!e) {
    if (p.pages.empty()) return;
    bad_image(img.dir + "/" + name, "missing (process " + std::to_string(p.pid) + " has " +
                                        std::to_string(p.pages.size()) + " page frames)");
  }
  UniqueFd fd = open_image_file(img.dir, name, FileKind::pages);
  std::vector<Vma> vmas = p.vmas;
  std::sort(vmas.begin(), vmas.end(), [](const Vma& a, const Vma& b) { return a.start < b.start; });
  FrameChecker fc{img.dir + "/" + name, fd.get(), e->size, img.manifest.page_size, vmas, dctx};

  uint64_t raw_total = 0;
  std::vector<std::pair<uint64_t, uint64_t>> extents;
  for (size_t i = 0; i < p.pages.size(); ++i) {
    fc.check_layout(i, p.pages[i]);
    raw_total += p.pages[i].raw_len;
    extents.emplace_back(p.pages[i].offset, p.pages[i].offset + p.pages[i].comp_len);
  }
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i)
    if (extents[i].first < extents[i - 1].second)
      bad_image(fc.path, "frames overlap at offset " + std::to_string(extents[i].first));
  if (raw_total != p.pages_raw_bytes)
    bad_image(fc.path, "frames hold " + std::to_string(raw_total) + " raw bytes, tree.ck says " +
                           std::to_string(p.pages_raw_bytes));
  std::vector<char> in, out;
  for (size_t i = 0; i < p.pages.size(); ++i) fc.check_content(i, p.pages[i], in, out);
}

}  // namespace

VerifySummary verify_image(const std::string& dir_arg) {
  LoadedImage img = load_image(dir_arg, true);
  const std::string& dir = img.dir;
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) throw Error("out of memory");

  std::set<std::string> page_files;
  for (const Process& p : img.tree.processes) {
    verify_pages(img, p, dctx.get());
    page_files.insert(pages_name(p.pid));
  }
  for (const ManifestEntry& e : img.manifest.entries)
    if (kind_for_name(e.name) == FileKind::pages && !page_files.count(e.name))
      bad_image(dir + "/" + e.name, "belongs to no process of the image");
  for (const File& f : img.tree.files) {
    if (f.content.empty()) continue;
    if (!find_entry(img.manifest, f.content))
      bad_image(dir + "/" + f.content, "missing (content of " + f.path + ", not in the manifest)");
    open_image_file(dir, f.content, FileKind::file_content);
  }

  VerifySummary sum;
  struct stat st {};
  if (::stat((dir + "/" + kManifestName).c_str(), &st) != 0) throw_errno("stat " + dir + "/" + kManifestName);
  sum.files = img.manifest.entries.size() + 1;
  sum.bytes = static_cast<uint64_t>(st.st_size);
  for (const ManifestEntry& e : img.manifest.entries) sum.bytes += e.size;
  return sum;
}

namespace testing {
void (*commit_hook)(const char* step) = nullptr;
}  // namespace testing

}  // namespace ck::img
