// The one error type of ck: a message that collects context on its way up to the CLI,
// e.g. "dump pid 412: /proc/412/maps line 7: bad address range".
#pragma once

#include <cerrno>
#include <exception>
#include <string>
#include <utility>

namespace ck {

// Exit codes a job script can act on.
enum class ExitCode : int {
  ok = 0,
  failure = 1,         // anything not below
  usage = 2,           // bad command line
  bad_image = 3,       // image missing, corrupt, truncated, foreign or from another version
  unsupported = 4,     // the target holds a resource ck cannot checkpoint (named in the message)
  permission = 5,      // missing privilege (ptrace, set_tid, credentials)
  conflict = 6,        // a PID or a file needed by the restore is taken or changed
};

class Error : public std::exception {
 public:
  explicit Error(std::string msg, ExitCode code = ExitCode::failure)
      : msg_(std::move(msg)), code_(code) {}

  const char* what() const noexcept override { return msg_.c_str(); }
  const std::string& message() const { return msg_; }
  ExitCode code() const { return code_; }

  // Prepends "ctx: " to the message.
  Error& prefix(const std::string& ctx) {
    msg_ = ctx + ": " + msg_;
    return *this;
  }

 private:
  std::string msg_;
  ExitCode code_;
};

// "what: strerror(errno)", with an exit code derived from errno where it says something.
[[noreturn]] void throw_errno(const std::string& what, int err = errno);
[[noreturn]] void throw_error(ExitCode code, const std::string& msg);

// Runs f(); an Error escaping it gets "ctx: " in front.
template <typename F>
decltype(auto) with_context(const std::string& ctx, F&& f) {
  try {
    return f();
  } catch (Error& e) {
    e.prefix(ctx);
    throw;
  }
}

}  // namespace ck
