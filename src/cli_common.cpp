#include "cli_common.hpp"

#include <charconv>

#include "dump.hpp"

namespace ck {

long parse_number(const char* opt, const char* value, long min, long max) {
  long v = 0;
  std::string_view s(value);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
    throw Error(std::string(opt) + ": '" + value + "' is not a number from " + std::to_string(min) + " to " +
                    std::to_string(max),
                ExitCode::usage);
  return v;
}

int parse_compress(const char* value) {
  const std::string m = value;
  if (m == "none") return 0;
  if (m == "fast") return kFastLevel;
  int level = static_cast<int>(parse_number("--compress", value, kMinLevel, kMaxLevel));
  if (level == 0) throw Error("--compress: level 0 is written none (see --help)", ExitCode::usage);
  return level;
}

}  // namespace ck
