// Step-by-step messages for -v, on stderr with a timestamp relative to start.
#pragma once

#include <cstdio>
#include <string>

namespace ck::log {

extern int verbosity;  // 0: errors only, 1: -v, 2: -vv

void set_program(const char* name);
const char* program();
void vmsg(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// "ckdump: message" on stderr (always shown).
void error(const std::string& msg);
void warn(const std::string& msg);

}  // namespace ck::log

#define CK_LOG(level, ...)                                             \
  do {                                                                 \
    if (::ck::log::verbosity >= (level)) ::ck::log::vmsg((level), __VA_ARGS__); \
  } while (0)
