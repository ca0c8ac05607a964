#include "error.hpp"

#include <cstring>

namespace ck {

void throw_errno(const std::string& what, int err) {
  ExitCode code = ExitCode::failure;
  if (err == EPERM || err == EACCES) code = ExitCode::permission;
  throw Error(what + ": " + std::strerror(err), code);
}

void throw_error(ExitCode code, const std::string& msg) { throw Error(msg, code); }

}  // namespace ck

