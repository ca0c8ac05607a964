// libFuzzer targets of the image decoders (built by run.sh, one binary per target):
//   CK_FUZZ_MANIFEST  decode_manifest on the input as a manifest.ck payload
//   CK_FUZZ_TREE      decode_tree on the input as a tree.ck payload
// Whatever the bytes, a decoder returns or throws ck::Error(bad_image); it never reads out of
// bounds, allocates without bound, or crashes (ASan/UBSan watch). What it accepts re-encodes to
// the very same bytes: the encoding has one form per value, so a decoder that accepted a second
// form would be reading something the writer never wrote.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "error.hpp"
#include "image_dir.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
#if defined(CK_FUZZ_MANIFEST)
    std::string back = ck::img::encode_manifest(ck::img::decode_manifest(in));
#elif defined(CK_FUZZ_TREE)
    std::string back = ck::img::encode_tree(ck::img::decode_tree(in));
#else
#error "define CK_FUZZ_MANIFEST or CK_FUZZ_TREE"
#endif
    if (back != in) {
      std::fprintf(stderr, "accepted input re-encodes differently (%zu -> %zu bytes)\n", in.size(), back.size());
      std::abort();
    }
  } catch (const ck::Error& e) {
    if (e.code() != ck::ExitCode::bad_image) {
      std::fprintf(stderr, "decoder threw a non-bad_image error: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
