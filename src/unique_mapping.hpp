// RAII owner of an mmap()ed range.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace ck {

class UniqueMapping {
 public:
  UniqueMapping() = default;
  UniqueMapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  UniqueMapping(const UniqueMapping&) = delete;
  UniqueMapping& operator=(const UniqueMapping&) = delete;
  UniqueMapping(UniqueMapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  UniqueMapping& operator=(UniqueMapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  ~UniqueMapping() { reset(); }

  void* get() const { return addr_; }
  unsigned char* bytes() const { return static_cast<unsigned char*>(addr_); }
  size_t size() const { return len_; }
  explicit operator bool() const { return addr_ != nullptr; }
  // Gives up ownership (the range stays mapped).
  void* release() {
    len_ = 0;
    return std::exchange(addr_, nullptr);
  }
  void reset() {
    if (addr_ != nullptr && len_ != 0) ::munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

}  // namespace ck
