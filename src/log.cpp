#include "log.hpp"

#include <cstdarg>
#include <ctime>

namespace ck::log {

int verbosity = 0;
namespace {
const char* g_program = "ck";
double start_time() {
  static const double t0 = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  }();
  return t0;
}
}  // namespace

void set_program(const char* name) {
  g_program = name;
  start_time();
}

const char* program() { return g_program; }

void vmsg(int, const char* fmt, ...) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double t = ts.tv_sec + ts.tv_nsec / 1e9 - start_time();
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s [%8.3f] %s\n", g_program, t, buf);
}

void error(const std::string& msg) { fprintf(stderr, "%s: error: %s\n", g_program, msg.c_str()); }
void warn(const std::string& msg) { fprintf(stderr, "%s: warning: %s\n", g_program, msg.c_str()); }

}  // namespace ck::log
