// Binary encoding of the image records: little-endian fixed-width integers, bools as one byte
// (0/1), enums as one byte, strings/blobs/vectors as a u32 count followed by the elements,
// std::arrays as their elements without a count (their size is part of the format version).
// Fields are written in declaration order of image_records.hpp; any change there that alters
// this layout needs a kFormatVersion bump.
//
// Decoding trusts nothing: every read is bounds-checked, every count is checked against the
// bytes left before anything is allocated, enums/bools must be in range, and the payload must be
// consumed exactly. Errors carry the file offset (payload offset + kFileHeaderSize) so that a
// hex dump of the file can be matched against the message.
#include <xxhash.h>

#include <cstring>
#include <limits>
#include <string>

#include "error.hpp"
#include "image_dir.hpp"

namespace ck::img {

uint64_t checksum(const void* data, size_t len) { return XXH3_64bits(data, len); }

namespace {

// ---- primitive writer/reader -----------------------------------------------------------

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void count(size_t n, const char* what) {
    if (n > std::numeric_limits<uint32_t>::max())
      throw Error(std::string("encode: too many ") + what + ": " + std::to_string(n));
    u32(static_cast<uint32_t>(n));
  }
  void bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void str(const std::string& s) {
    count(s.size(), "string bytes");
    bytes(s.data(), s.size());
  }
  void blob(const std::vector<uint8_t>& b) {
    count(b.size(), "blob bytes");
    bytes(b.data(), b.size());
  }
  std::string take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view data, const char* what) : data_(data), what_(what) {}

  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }

  bool boolean() {
    size_t at = pos_;
    uint8_t v = u8();
    if (v > 1) fail(at, "bool value " + std::to_string(v) + " out of range");
    return v == 1;
  }

  // An enum stored as one byte whose valid values are 0..max.
  template <typename E>
  E enumeration(const char* name, uint8_t max) {
    size_t at = pos_;
    uint8_t v = u8();
    if (v > max) fail(at, std::string(name) + " value " + std::to_string(v) + " out of range");
    return static_cast<E>(v);
  }

  // A count of elements each taking at least min_size bytes: checked before any allocation so
  // a damaged count cannot make us reserve gigabytes.
  size_t count(size_t min_size, const char* what) {
    size_t at = pos_;
    uint32_t n = u32();
    if (min_size == 0) min_size = 1;
    if (n > remaining() / min_size)
      fail(at, std::string(what) + " count " + std::to_string(n) + " past end (" + std::to_string(remaining()) +
                   " bytes left)");
    return n;
  }

  std::string str() {
    size_t at = pos_;
    uint32_t n = u32();
    if (n > remaining()) fail(at, "string length " + std::to_string(n) + " past end");
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  std::vector<uint8_t> blob() {
    size_t at = pos_;
    uint32_t n = u32();
    if (n > remaining()) fail(at, "blob length " + std::to_string(n) + " past end");
    std::vector<uint8_t> b(n);
    if (n) std::memcpy(b.data(), data_.data() + pos_, n);
    pos_ += n;
    return b;
  }

  void bytes(void* dst, size_t n) {
    need(n);
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
  }

  void expect_end() {
    if (pos_ != data_.size()) fail(pos_, std::to_string(remaining()) + " bytes of trailing garbage");
  }

  size_t pos() const { return pos_; }
  [[noreturn]] void fail(size_t at, const std::string& msg) const {
    throw Error(std::string(what_) + " offset " + std::to_string(at + kFileHeaderSize) + ": " + msg,
                ExitCode::bad_image);
  }

 private:
  size_t remaining() const { return data_.size() - pos_; }
  void need(size_t n) {
    if (n > remaining())
      fail(pos_, "truncated: need " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
  }
  uint64_t le(int n) {
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }

  std::string_view data_;
  const char* what_;
  size_t pos_ = 0;
};

// ---- per-record encoders/decoders, in the order of image_records.hpp -------------------
// Each record has enc(Writer&, const T&) and dec(Reader&, T&); the generic vector/array helpers
// below build on them.

void enc(Writer& w, uint32_t v) { w.u32(v); }
void dec(Reader& r, uint32_t& v) { v = r.u32(); }
void enc(Writer& w, uint64_t v) { w.u64(v); }
void dec(Reader& r, uint64_t& v) { v = r.u64(); }

// The smallest encoding of a T is that of a default T (all its vectors/strings empty), which is
// what bounds a vector count before allocating.
template <typename T>
size_t min_encoded_size();

template <typename T>
void enc_vec(Writer& w, const std::vector<T>& v, const char* what) {
  w.count(v.size(), what);
  for (const T& x : v) enc(w, x);
}

template <typename T>
void dec_vec(Reader& r, std::vector<T>& v, const char* what) {
  size_t n = r.count(min_encoded_size<T>(), what);
  v.clear();
  v.resize(n);
  for (T& x : v) dec(r, x);
}

template <typename T, size_t N>
void enc_arr(Writer& w, const std::array<T, N>& a) {
  for (const T& x : a) enc(w, x);
}

template <typename T, size_t N>
void dec_arr(Reader& r, std::array<T, N>& a) {
  for (T& x : a) dec(r, x);
}

// memory

void enc(Writer& w, const Vma& v) {
  w.u64(v.start);
  w.u64(v.end);
  w.u32(v.prot);
  w.u8(static_cast<uint8_t>(v.kind));
  w.u32(v.advice);
  w.u64(v.pgoff);
  w.i32(v.file_id);
  w.str(v.name);
}
void dec(Reader& r, Vma& v) {
  v.start = r.u64();
  v.end = r.u64();
  v.prot = r.u32();
  v.kind = r.enumeration<VmaKind>("VmaKind", static_cast<uint8_t>(VmaKind::vsyscall));
  v.advice = r.u32();
  v.pgoff = r.u64();
  v.file_id = r.i32();
  v.name = r.str();
}

// files, fds, pipes

void enc(Writer& w, const File& f) {
  w.i32(f.id);
  w.u8(static_cast<uint8_t>(f.type));
  w.str(f.path);
  w.u32(f.mode);
  w.u64(f.size);
  w.i64(f.mtime_ns);
  w.u64(f.dev);
  w.u64(f.ino);
  w.u64(f.rdev);
  w.boolean(f.deleted);
  w.str(f.content);
  w.boolean(f.memfd);
  w.u32(f.seals);
}
void dec(Reader& r, File& f) {
  f.id = r.i32();
  f.type = r.enumeration<FileType>("FileType", static_cast<uint8_t>(FileType::blockdev));
  f.path = r.str();
  f.mode = r.u32();
  f.size = r.u64();
  f.mtime_ns = r.i64();
  f.dev = r.u64();
  f.ino = r.u64();
  f.rdev = r.u64();
  f.deleted = r.boolean();
  f.content = r.str();
  f.memfd = r.boolean();
  f.seals = r.u32();
}

void enc(Writer& w, const Fd& f) {
  w.i32(f.fd);
  w.u8(static_cast<uint8_t>(f.kind));
  w.u32(f.flags);
  w.boolean(f.cloexec);
  w.u64(f.pos);
  w.i32(f.file_id);
  w.i32(f.pipe_id);
  w.i32(f.ofd_id);
  w.str(f.link);
  w.i32(f.socket_id);
  w.i32(f.event_id);
}
void dec(Reader& r, Fd& f) {
  f.fd = r.i32();
  f.kind = r.enumeration<FdKind>("FdKind", kMaxFdKind);
  f.flags = r.u32();
  f.cloexec = r.boolean();
  f.pos = r.u64();
  f.file_id = r.i32();
  f.pipe_id = r.i32();
  f.ofd_id = r.i32();
  f.link = r.str();
  f.socket_id = r.i32();
  f.event_id = r.i32();
}

void enc(Writer& w, const Pipe& p) {
  w.i32(p.id);
  w.u64(p.ino);
  w.u32(p.capacity);
  w.str(p.data);
}
void dec(Reader& r, Pipe& p) {
  p.id = r.i32();
  p.ino = r.u64();
  p.capacity = r.u32();
  p.data = r.str();
}

// sockets

void enc(Writer& w, const SockOpt& o) {
  w.i32(o.level);
  w.i32(o.name);
  w.i32(o.value);
}
void dec(Reader& r, SockOpt& o) {
  o.level = r.i32();
  o.name = r.i32();
  o.value = r.i32();
}

void enc(Writer& w, const SockMsg& m) {
  w.str(m.data);
  w.str(m.from);
}
void dec(Reader& r, SockMsg& m) {
  m.data = r.str();
  m.from = r.str();
}

void enc(Writer& w, const TcpState& t) {
  for (uint32_t v : {t.snd_seq, t.rcv_seq, t.unsent, t.mss, t.options, t.snd_wscale, t.rcv_wscale, t.timestamp,
                     t.snd_wl1, t.snd_wnd, t.max_window, t.rcv_wnd, t.rcv_wup})
    w.u32(v);
  w.str(t.send_queue);
}
void dec(Reader& r, TcpState& t) {
  for (uint32_t* v : {&t.snd_seq, &t.rcv_seq, &t.unsent, &t.mss, &t.options, &t.snd_wscale, &t.rcv_wscale,
                      &t.timestamp, &t.snd_wl1, &t.snd_wnd, &t.max_window, &t.rcv_wnd, &t.rcv_wup})
    *v = r.u32();
  t.send_queue = r.str();
}

void enc(Writer& w, const Socket& s) {
  w.i32(s.id);
  w.u64(s.ino);
  w.i32(s.family);
  w.i32(s.type);
  w.i32(s.protocol);
  w.u8(static_cast<uint8_t>(s.state));
  w.str(s.local);
  w.str(s.remote);
  w.i32(s.peer_id);
  w.boolean(s.peer_closed);
  w.boolean(s.unlinked);
  w.boolean(s.dropped);
  w.boolean(s.pending_accept);
  w.u32(s.backlog);
  w.u8(s.shutdown);
  enc_vec(w, s.options, "socket option");
  enc_vec(w, s.queue, "queued message");
  enc(w, s.tcp);
}
void dec(Reader& r, Socket& s) {
  s.id = r.i32();
  s.ino = r.u64();
  s.family = r.i32();
  s.type = r.i32();
  s.protocol = r.i32();
  s.state = r.enumeration<SocketState>("SocketState", static_cast<uint8_t>(SocketState::connected));
  s.local = r.str();
  s.remote = r.str();
  s.peer_id = r.i32();
  s.peer_closed = r.boolean();
  s.unlinked = r.boolean();
  s.dropped = r.boolean();
  s.pending_accept = r.boolean();
  s.backlog = r.u32();
  size_t at = r.pos();
  s.shutdown = r.u8();
  if (s.shutdown > 3) r.fail(at, "socket shutdown bits " + std::to_string(s.shutdown) + " out of range");
  dec_vec(r, s.options, "socket option");
  dec_vec(r, s.queue, "queued message");
  dec(r, s.tcp);
}

// event fds

void enc(Writer& w, const EpollTarget& t) {
  w.i32(t.tfd);
  w.u32(t.events);
  w.u64(t.data);
  w.i32(t.target_ofd);
}
void dec(Reader& r, EpollTarget& t) {
  t.tfd = r.i32();
  t.events = r.u32();
  t.data = r.u64();
  t.target_ofd = r.i32();
}

void enc(Writer& w, const InotifyWatch& i) {
  w.i32(i.wd);
  w.u32(i.mask);
  w.u64(i.dev);
  w.u64(i.ino);
  w.str(i.path);
}
void dec(Reader& r, InotifyWatch& i) {
  i.wd = r.i32();
  i.mask = r.u32();
  i.dev = r.u64();
  i.ino = r.u64();
  i.path = r.str();
}

void enc(Writer& w, const EventFile& e) {
  w.i32(e.id);
  w.u8(static_cast<uint8_t>(e.kind));
  w.u64(e.count);
  w.boolean(e.semaphore);
  w.u64(e.sigmask);
  w.i32(e.clockid);
  w.u32(e.settime_flags);
  w.i64(e.value_ns);
  w.i64(e.interval_ns);
  w.i64(e.deadline_ns);
  w.i32(e.pid);
  w.boolean(e.thread);
  enc_vec(w, e.targets, "epoll target");
  enc_vec(w, e.watches, "inotify watch");
}
void dec(Reader& r, EventFile& e) {
  e.id = r.i32();
  e.kind = r.enumeration<FdKind>("FdKind", kMaxFdKind);
  e.count = r.u64();
  e.semaphore = r.boolean();
  e.sigmask = r.u64();
  e.clockid = r.i32();
  e.settime_flags = r.u32();
  e.value_ns = r.i64();
  e.interval_ns = r.i64();
  e.deadline_ns = r.i64();
  e.pid = r.i32();
  e.thread = r.boolean();
  dec_vec(r, e.targets, "epoll target");
  dec_vec(r, e.watches, "inotify watch");
}

// signals, threads

void enc(Writer& w, const SigAction& s) {
  w.u64(s.handler);
  w.u64(s.flags);
  w.u64(s.restorer);
  w.u64(s.mask);
}
void dec(Reader& r, SigAction& s) {
  s.handler = r.u64();
  s.flags = r.u64();
  s.restorer = r.u64();
  s.mask = r.u64();
}

void enc(Writer& w, const SigInfo& s) { w.bytes(s.raw.data(), s.raw.size()); }
void dec(Reader& r, SigInfo& s) { r.bytes(s.raw.data(), s.raw.size()); }

void enc(Writer& w, const SigAltStack& s) {
  w.u64(s.sp);
  w.u64(s.size);
  w.i32(s.flags);
}
void dec(Reader& r, SigAltStack& s) {
  s.sp = r.u64();
  s.size = r.u64();
  s.flags = r.i32();
}

void enc(Writer& w, const Rseq& s) {
  w.u64(s.ptr);
  w.u32(s.len);
  w.u32(s.sig);
  w.u32(s.flags);
}
void dec(Reader& r, Rseq& s) {
  s.ptr = r.u64();
  s.len = r.u32();
  s.sig = r.u32();
  s.flags = r.u32();
}

void enc(Writer& w, const Thread& t) {
  w.i32(t.tid);
  w.str(t.comm);
  w.blob(t.gpregs);
  w.blob(t.fpregs);
  w.u64(t.sigmask);
  enc_vec(w, t.pending, "pending signal");
  enc(w, t.altstack);
  w.u64(t.clear_child_tid);
  w.u64(t.robust_list);
  w.u64(t.robust_list_len);
  enc(w, t.rseq);
}
void dec(Reader& r, Thread& t) {
  t.tid = r.i32();
  t.comm = r.str();
  t.gpregs = r.blob();
  t.fpregs = r.blob();
  t.sigmask = r.u64();
  dec_vec(r, t.pending, "pending signal");
  dec(r, t.altstack);
  t.clear_child_tid = r.u64();
  t.robust_list = r.u64();
  t.robust_list_len = r.u64();
  dec(r, t.rseq);
}

// process

void enc(Writer& w, const Rlimit& l) {
  w.u64(l.cur);
  w.u64(l.max);
}
void dec(Reader& r, Rlimit& l) {
  l.cur = r.u64();
  l.max = r.u64();
}

void enc(Writer& w, const ITimer& t) {
  w.i64(t.interval_us);
  w.i64(t.value_us);
}
void dec(Reader& r, ITimer& t) {
  t.interval_us = r.i64();
  t.value_us = r.i64();
}

void enc(Writer& w, const Creds& c) {
  for (uint32_t v : {c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid}) w.u32(v);
  enc_vec(w, c.groups, "group");
  for (uint64_t v : {c.cap_inh, c.cap_prm, c.cap_eff, c.cap_bnd, c.cap_amb}) w.u64(v);
  w.u32(c.securebits);
  w.boolean(c.no_new_privs);
}
void dec(Reader& r, Creds& c) {
  for (uint32_t* v : {&c.uid, &c.euid, &c.suid, &c.fsuid, &c.gid, &c.egid, &c.sgid, &c.fsgid}) *v = r.u32();
  dec_vec(r, c.groups, "group");
  for (uint64_t* v : {&c.cap_inh, &c.cap_prm, &c.cap_eff, &c.cap_bnd, &c.cap_amb}) *v = r.u64();
  c.securebits = r.u32();
  c.no_new_privs = r.boolean();
}

void enc(Writer& w, const MmInfo& m) {
  for (uint64_t v : {m.start_code, m.end_code, m.start_data, m.end_data, m.start_brk, m.brk, m.start_stack,
                     m.arg_start, m.arg_end, m.env_start, m.env_end})
    w.u64(v);
  enc_vec(w, m.auxv, "auxv word");
  w.i32(m.exe_file_id);
}
void dec(Reader& r, MmInfo& m) {
  for (uint64_t* v : {&m.start_code, &m.end_code, &m.start_data, &m.end_data, &m.start_brk, &m.brk, &m.start_stack,
                      &m.arg_start, &m.arg_end, &m.env_start, &m.env_end})
    *v = r.u64();
  dec_vec(r, m.auxv, "auxv word");
  m.exe_file_id = r.i32();
}

void enc(Writer& w, const PageFrame::Run& run) {
  w.u64(run.vaddr);
  w.u32(run.npages);
}
void dec(Reader& r, PageFrame::Run& run) {
  run.vaddr = r.u64();
  run.npages = r.u32();
}

void enc(Writer& w, const PageFrame& f) {
  w.u64(f.offset);
  w.u8(static_cast<uint8_t>(f.codec));
  w.u32(f.comp_len);
  w.u32(f.raw_len);
  enc_vec(w, f.runs, "page run");
}
void dec(Reader& r, PageFrame& f) {
  f.offset = r.u64();
  f.codec = r.enumeration<Codec>("Codec", static_cast<uint8_t>(Codec::zstd));
  f.comp_len = r.u32();
  f.raw_len = r.u32();
  dec_vec(r, f.runs, "page run");
}

void enc(Writer& w, const Process& p) {
  for (int32_t v : {p.pid, p.ppid, p.pgid, p.sid}) w.i32(v);
  w.boolean(p.zombie);
  w.i32(p.exit_status);
  w.i32(p.exit_signal);
  w.str(p.comm);
  w.str(p.cwd);
  w.u32(p.umask);
  w.u32(p.personality);
  enc(w, p.creds);
  enc_arr(w, p.rlimits);
  w.i32(p.pdeathsig);
  w.boolean(p.child_subreaper);
  w.i32(p.dumpable);
  w.u64(p.timerslack_ns);
  w.boolean(p.thp_disable);
  enc(w, p.mm);
  enc_arr(w, p.sigactions);
  enc_vec(w, p.shared_pending, "shared pending signal");
  enc_arr(w, p.itimers);
  enc_vec(w, p.vmas, "VMA");
  enc_vec(w, p.fds, "fd");
  enc_vec(w, p.threads, "thread");
  enc_vec(w, p.pages, "page frame");
  w.u64(p.pages_raw_bytes);
  w.u64(p.zero_pages_skipped);
}
void dec(Reader& r, Process& p) {
  for (int32_t* v : {&p.pid, &p.ppid, &p.pgid, &p.sid}) *v = r.i32();
  p.zombie = r.boolean();
  p.exit_status = r.i32();
  p.exit_signal = r.i32();
  p.comm = r.str();
  p.cwd = r.str();
  p.umask = r.u32();
  p.personality = r.u32();
  dec(r, p.creds);
  dec_arr(r, p.rlimits);
  p.pdeathsig = r.i32();
  p.child_subreaper = r.boolean();
  p.dumpable = r.i32();
  p.timerslack_ns = r.u64();
  p.thp_disable = r.boolean();
  dec(r, p.mm);
  dec_arr(r, p.sigactions);
  dec_vec(r, p.shared_pending, "shared pending signal");
  dec_arr(r, p.itimers);
  dec_vec(r, p.vmas, "VMA");
  dec_vec(r, p.fds, "fd");
  dec_vec(r, p.threads, "thread");
  dec_vec(r, p.pages, "page frame");
  p.pages_raw_bytes = r.u64();
  p.zero_pages_skipped = r.u64();
}

// whole image

void enc(Writer& w, const CpuInfo& c) {
  w.u64(c.xfeatures);
  w.u32(c.xsave_size);
  w.u64(c.hwcap);
  w.u64(c.hwcap2);
}
void dec(Reader& r, CpuInfo& c) {
  c.xfeatures = r.u64();
  c.xsave_size = r.u32();
  c.hwcap = r.u64();
  c.hwcap2 = r.u64();
}

void enc(Writer& w, const ManifestEntry& e) {
  w.str(e.name);
  w.u64(e.size);
  w.u64(e.xxh3);
}
void dec(Reader& r, ManifestEntry& e) {
  e.name = r.str();
  e.size = r.u64();
  e.xxh3 = r.u64();
}

template <typename T>
size_t min_encoded_size() {
  static const size_t size = [] {
    Writer w;
    enc(w, T{});
    return w.size();
  }();
  return size;
}

// ---- semantic checks: references a consumer will index with --------------------------

[[noreturn]] void bad_ref(const std::string& where, const char* field, int32_t value, size_t n, const char* what) {
  throw Error("tree.ck: " + where + ": " + field + " " + std::to_string(value) + " out of range (" +
                  std::to_string(n) + " " + what + ")",
              ExitCode::bad_image);
}

void check_ref(const std::string& where, const char* field, int32_t value, size_t n, const char* what) {
  if (value < -1 || (value >= 0 && static_cast<size_t>(value) >= n)) bad_ref(where, field, value, n, what);
}

void check_refs(const Tree& t) {
  for (const Process& p : t.processes) {
    std::string proc = "process " + std::to_string(p.pid);
    check_ref(proc + " mm", "exe_file_id", p.mm.exe_file_id, t.files.size(), "files");
    for (size_t i = 0; i < p.vmas.size(); ++i)
      check_ref(proc + " vma " + std::to_string(i), "file_id", p.vmas[i].file_id, t.files.size(), "files");
    for (const Fd& fd : p.fds) {
      std::string where = proc + " fd " + std::to_string(fd.fd);
      check_ref(where, "file_id", fd.file_id, t.files.size(), "files");
      check_ref(where, "pipe_id", fd.pipe_id, t.pipes.size(), "pipes");
      check_ref(where, "socket_id", fd.socket_id, t.sockets.size(), "sockets");
      if (fd.kind == FdKind::socket && fd.socket_id < 0) bad_ref(where, "socket_id", fd.socket_id, t.sockets.size(), "sockets");
      check_ref(where, "event_id", fd.event_id, t.event_files.size(), "event files");
      bool event_kind = fd.kind >= FdKind::eventfd && fd.kind <= FdKind::pidfd;
      if (event_kind && (fd.event_id < 0 || t.event_files[static_cast<size_t>(fd.event_id)].kind != fd.kind))
        throw Error("tree.ck: " + where + ": no event file of its kind", ExitCode::bad_image);
    }
  }
  for (size_t i = 0; i < t.sockets.size(); ++i) {
    const Socket& s = t.sockets[i];
    std::string where = "socket " + std::to_string(i);
    check_ref(where, "peer_id", s.peer_id, t.sockets.size(), "sockets");
    if (s.id != static_cast<int32_t>(i)) bad_ref(where, "id", s.id, t.sockets.size(), "sockets");
  }
}

}  // namespace

std::string encode_manifest(const Manifest& m) {
  Writer w;
  // The version comes first so that a reader can refuse another version before parsing the rest.
  w.u32(m.format_version);
  w.str(m.arch);
  w.u32(m.page_size);
  w.str(m.kernel);
  w.str(m.hostname);
  w.str(m.ck_version);
  w.i64(m.created_unix_ns);
  w.i32(m.root_pid);
  enc(w, m.cpu);
  w.u64(m.vdso_size);
  w.u64(m.vdso_xxh3);
  w.u64(m.vvar_size);
  w.u64(m.vvar_vclock_size);
  enc_vec(w, m.entries, "manifest entry");
  return w.take();
}

Manifest decode_manifest(std::string_view payload) {
  Reader r(payload, "manifest.ck");
  Manifest m;
  m.format_version = r.u32();
  if (m.format_version != kFormatVersion)
    throw Error("manifest.ck: format version " + std::to_string(m.format_version) + ", this ck reads " +
                    std::to_string(kFormatVersion),
                ExitCode::bad_image);
  m.arch = r.str();
  size_t page_size_at = r.pos();
  m.page_size = r.u32();
  // Consumers divide by it and align with it.
  if (m.page_size < 1024 || (m.page_size & (m.page_size - 1)) != 0)
    r.fail(page_size_at, "page size " + std::to_string(m.page_size) + " is not a power of two >= 1024");
  m.kernel = r.str();
  m.hostname = r.str();
  m.ck_version = r.str();
  m.created_unix_ns = r.i64();
  m.root_pid = r.i32();
  dec(r, m.cpu);
  m.vdso_size = r.u64();
  m.vdso_xxh3 = r.u64();
  m.vvar_size = r.u64();
  m.vvar_vclock_size = r.u64();
  dec_vec(r, m.entries, "manifest entry");
  r.expect_end();
  return m;
}

std::string encode_tree(const Tree& t) {
  Writer w;
  w.i32(t.root_pid);
  w.boolean(t.own_namespaces);
  w.str(t.uid_map);
  w.str(t.gid_map);
  enc_vec(w, t.files, "file");
  enc_vec(w, t.pipes, "pipe");
  enc_vec(w, t.processes, "process");
  enc_vec(w, t.sockets, "socket");
  w.boolean(t.own_netns);
  enc_vec(w, t.event_files, "event file");
  return w.take();
}

Tree decode_tree(std::string_view payload) {
  Reader r(payload, "tree.ck");
  Tree t;
  t.root_pid = r.i32();
  t.own_namespaces = r.boolean();
  t.uid_map = r.str();
  t.gid_map = r.str();
  dec_vec(r, t.files, "file");
  dec_vec(r, t.pipes, "pipe");
  dec_vec(r, t.processes, "process");
  dec_vec(r, t.sockets, "socket");
  t.own_netns = r.boolean();
  dec_vec(r, t.event_files, "event file");
  r.expect_end();
  check_refs(t);
  return t;
}

}  // namespace ck::img
