// What every ck command does the same way: running main() so that an Error ends as one line
// on stderr and an exit code a script can act on.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include "error.hpp"
#include "log.hpp"

namespace ck {

template <typename F>
int run_main(const char* program, F&& body) {
  log::set_program(program);
  try {
    return body();
  } catch (const Error& e) {
    log::error(e.message());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    log::error(std::string("internal error: ") + e.what());
    return static_cast<int>(ExitCode::failure);
  }
}

[[noreturn]] inline void usage_error(const std::string& msg) { throw Error(msg + " (see --help)", ExitCode::usage); }

// Parses an integer option value from min to max; throws a usage error naming the option.
long parse_number(const char* opt, const char* value, long min, long max);

// --compress=none|fast|N of ckdump and ckjob: the zstd level (0 = pages stored raw).
int parse_compress(const char* value);

}  // namespace ck
