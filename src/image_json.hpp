// Human- and script-readable views of an image: `ckimage show` (JSON) and `ckimage verify`.
#pragma once

#include <string>
#include <string_view>

#include "image_dir.hpp"

namespace ck::img {

// Pretty-printed JSON of the manifest and every process (see image_json.cpp for the fields).
// Strings are escaped so that any byte sequence yields valid JSON: control characters and bytes
// that are not valid UTF-8 become \u00XX.
std::string image_to_json(const LoadedImage& img);

// A JSON string literal (quotes included) for arbitrary bytes, as above.
std::string json_quote(std::string_view s);

// The ckimage command line; main() only calls this, so that tests can run the real CLI.
// Returns the exit code: 0, 2 for bad usage, int(ExitCode) of an Error.
int ckimage_main(int argc, char** argv);

}  // namespace ck::img
