#include "cli_common.hpp"

#include <charconv>

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

}  // namespace ck
