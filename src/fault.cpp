#include "fault.hpp"

#include <signal.h>

#include <cstdlib>
#include <string>

#include "error.hpp"

namespace ck {

bool fault_enabled(const char* name) {
  static const char* const spec = getenv("CK_FAULT");
  if (!spec) return false;
  const std::string list = std::string(",") + spec + ",";
  return list.find(std::string(",") + name + ",") != std::string::npos;
}

void fault_point(const char* name) {
  if (fault_enabled(name)) raise(SIGKILL);
  if (fault_enabled(("error@" + std::string(name)).c_str())) throw Error(std::string("fault injected at ") + name);
}

}  // namespace ck
