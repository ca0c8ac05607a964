// libFuzzer target of load_image and verify_image on a whole image directory.
// The input describes an image: a flags byte, then three parts, each a u32 little-endian length
// (clamped to what is left) and its bytes: the manifest payload, the tree payload, the content
// of the pages file after its header. Random bytes never match an XXH3 checksum, so the harness
// seals what the flags say (headers with the right length and checksum, manifest entries that
// list the files as written); the fuzzer then reaches everything behind the checksums: the tree
// decoder, page index checks against the pages file, zstd frames, file names from the manifest.
//   flag 1: tree.ck header sealed          flag 4: manifest.ck header sealed
//   flag 2: manifest entries made to match the files (if the manifest payload decodes)
//   flag 8: also run verify_image (frames decompressed)
// Any outcome but success or ck::Error(bad_image) aborts.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "error.hpp"
#include "image_dir.hpp"

namespace {

using namespace ck::img;

std::string header(FileKind kind, uint64_t len, uint64_t sum) {
  std::string h("CKIMG\0\0\0", 8);
  auto le = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) h.push_back(static_cast<char>(v >> (8 * i)));
  };
  le(kFormatVersion, 4);
  le(static_cast<uint32_t>(kind), 4);
  le(len, 8);
  le(sum, 8);
  return h;
}

std::string_view part(std::string_view& in) {
  if (in.size() < 4) {
    std::string_view all = in;
    in = {};
    return all;
  }
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  in.remove_prefix(4);
  if (n > in.size()) n = static_cast<uint32_t>(in.size());
  std::string_view p = in.substr(0, n);
  in.remove_prefix(n);
  return p;
}

void put(const std::string& dir, const std::string& name, const std::string& data) {
  std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
  ::close(fd);
}

void clear(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) std::abort();
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ::unlinkat(::dirfd(d), e->d_name, 0);
  ::closedir(d);
}

// One directory per fuzzing process (libFuzzer -jobs runs several), removed at exit. The name
// is never freed: the atexit handler runs after static destructors registered before it.
const std::string& workdir() {
  static const std::string* dir = [] {
    std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    auto* d = new std::string(base + "/ck-fuzz-load-" + std::to_string(::getpid()));
    if (::mkdir(d->c_str(), 0700) != 0) std::abort();
    std::atexit([] {
      clear(workdir());
      ::rmdir(workdir().c_str());
    });
    return d;
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view man_payload = part(in), tree_payload = part(in), pages_data = part(in);
  const std::string& dir = workdir();
  clear(dir);

  // The pages file is named after the first process, as ckdump names it.
  std::string pages_name = "pages-1.ck";
  try {
    Tree t = decode_tree(tree_payload);
    if (!t.processes.empty()) pages_name = "pages-" + std::to_string(t.processes[0].pid) + ".ck";
  } catch (const ck::Error&) {
  }
  std::string tree = header(FileKind::tree, tree_payload.size(), (flags & 1) ? checksum(tree_payload.data(), tree_payload.size()) : 0) +
                     std::string(tree_payload);
  std::string pages = header(FileKind::pages, 0, 0) + std::string(pages_data);
  put(dir, "tree.ck", tree);
  put(dir, pages_name, pages);

  std::string man(man_payload);
  if (flags & 2) {
    try {
      Manifest m = decode_manifest(man_payload);
      m.entries = {ManifestEntry{pages_name, pages.size(), checksum(pages.data(), pages.size())},
                   ManifestEntry{"tree.ck", tree.size(), checksum(tree.data(), tree.size())}};
      man = encode_manifest(m);
    } catch (const ck::Error&) {
    }
  }
  put(dir, "manifest.ck",
      header(FileKind::manifest, man.size(), (flags & 4) ? checksum(man.data(), man.size()) : 0) + man);

  // CK_FUZZ_DEBUG=1: say how each input ended, to check that the seeds get all the way through.
  static const bool debug = std::getenv("CK_FUZZ_DEBUG") != nullptr;
  try {
    LoadedImage img = load_image(dir, true);
    if (flags & 8) verify_image(dir);
    if (debug) std::fprintf(stderr, "loaded%s\n", (flags & 8) ? " and verified" : "");
  } catch (const ck::Error& e) {
    if (debug) std::fprintf(stderr, "refused: %s\n", e.what());
    if (e.code() != ck::ExitCode::bad_image) {
      std::fprintf(stderr, "load/verify threw a non-bad_image error: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
