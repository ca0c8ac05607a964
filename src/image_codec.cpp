// Binary encoding of the image records: little-endian fixed-width integers, bools as one byte
// (0/1), enums as one byte, strings/blobs/vectors as a u32 count followed by the elements,
// std::arrays as their elements without a count (their size is part of the format version).
// Fields are written in declaration order of image_records.hpp; any change there that alters
// this layout needs a kFormatVersion bump (tests/fixtures/image_codec holds the bytes of the
// current version, and unit_image fails on any difference).
//
// Each record's layout is written once, as a `fields(io, record)` function that names every
// field with its width in order. The Writer and the Reader run the same list, so the encoder
// and the decoder cannot drift apart. The width is named at each field (io.u32, io.i64, ...)
// rather than taken from the C++ type, and both sides refuse a field whose type is not exactly
// that width: changing a field's type breaks the build instead of silently changing the format.
//
// Decoding trusts nothing: every read is bounds-checked, every count is checked against the
// bytes left before anything is allocated, enums/bools must be in range, and the payload must be
// consumed exactly. Errors carry the file offset (payload offset + kFileHeaderSize) so that a
// hex dump of the file can be matched against the message.
#include <xxhash.h>

#include <concepts>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "error.hpp"
#include "image_dir.hpp"

namespace ck::img {

uint64_t checksum(const void* data, size_t len) { return XXH3_64bits(data, len); }

namespace {

// V is T or const T: the Writer sees const records, the Reader mutable ones.
template <typename V, typename T>
concept Is = std::same_as<std::remove_const_t<V>, T>;

// The smallest encoding of a T is that of a default T (all its vectors/strings empty), which is
// what bounds a vector count before allocating.
template <typename T>
size_t min_encoded_size();

// ---- the two walkers of a field list ---------------------------------------------------
// Both offer the same operations; each takes one or more fields (io.u64(a.x, a.y)).

class Writer {
 public:
  static constexpr bool decoding = false;

  template <Is<uint8_t>... V>
  void u8(V&... v) {
    (out_.push_back(static_cast<char>(v)), ...);
  }
  template <Is<uint32_t>... V>
  void u32(V&... v) {
    (le(v, 4), ...);
  }
  template <Is<uint64_t>... V>
  void u64(V&... v) {
    (le(v, 8), ...);
  }
  template <Is<int32_t>... V>
  void i32(V&... v) {
    (le(static_cast<uint32_t>(v), 4), ...);
  }
  template <Is<int64_t>... V>
  void i64(V&... v) {
    (le(static_cast<uint64_t>(v), 8), ...);
  }
  template <Is<bool>... V>
  void boolean(V&... v) {
    (out_.push_back(static_cast<char>(v ? 1 : 0)), ...);
  }
  template <typename E>
  void enumeration(const E& e, const char*, E) {
    static_assert(std::is_enum_v<E> && sizeof(E) == 1, "enums are stored as one byte");
    out_.push_back(static_cast<char>(e));
  }
  void str(const std::string& s) {
    count(s.size(), "string bytes");
    out_.append(s);
  }
  void blob(const std::vector<uint8_t>& b) {
    count(b.size(), "blob bytes");
    out_.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  // Fixed-size bytes, no count.
  template <size_t N>
  void raw(const std::array<uint8_t, N>& a) {
    out_.append(reinterpret_cast<const char*>(a.data()), N);
  }
  template <typename T>
  void vec(const std::vector<T>& v, const char* what) {
    count(v.size(), what);
    for (const T& x : v) fields(*this, x);
  }
  // A check of the value just read: only the Reader acts on it.
  template <typename Msg>
  void require(bool, Msg&&) {}

  std::string take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  void count(size_t n, const char* what) {
    if (n > std::numeric_limits<uint32_t>::max())
      throw Error(std::string("encode: too many ") + what + ": " + std::to_string(n));
    le(n, 4);
  }
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

class Reader {
 public:
  static constexpr bool decoding = true;

  Reader(std::string_view data, const char* what) : data_(data), what_(what) {}

  template <Is<uint8_t>... V>
  void u8(V&... v) {
    ((v = static_cast<uint8_t>(le(1))), ...);
  }
  template <Is<uint32_t>... V>
  void u32(V&... v) {
    ((v = static_cast<uint32_t>(le(4))), ...);
  }
  template <Is<uint64_t>... V>
  void u64(V&... v) {
    ((v = le(8)), ...);
  }
  template <Is<int32_t>... V>
  void i32(V&... v) {
    ((v = static_cast<int32_t>(static_cast<uint32_t>(le(4)))), ...);
  }
  template <Is<int64_t>... V>
  void i64(V&... v) {
    ((v = static_cast<int64_t>(le(8))), ...);
  }
  template <Is<bool>... V>
  void boolean(V&... v) {
    ((v = small(1, "bool value") == 1), ...);
  }
  // An enum stored as one byte whose valid values are 0..max.
  template <typename E>
  void enumeration(E& e, const char* name, E max) {
    static_assert(std::is_enum_v<E> && sizeof(E) == 1, "enums are stored as one byte");
    e = static_cast<E>(small(static_cast<uint8_t>(max), name, " value"));
  }
  void str(std::string& s) {
    size_t n = length("string");
    s.assign(data_.substr(pos_, n));
    pos_ += n;
  }
  void blob(std::vector<uint8_t>& b) {
    size_t n = length("blob");
    b.resize(n);
    if (n) std::memcpy(b.data(), data_.data() + pos_, n);
    pos_ += n;
  }
  template <size_t N>
  void raw(std::array<uint8_t, N>& a) {
    need(N);
    std::memcpy(a.data(), data_.data() + pos_, N);
    pos_ += N;
  }
  template <typename T>
  void vec(std::vector<T>& v, const char* what) {
    size_t n = count(min_encoded_size<T>(), what);
    v.clear();
    v.resize(n);
    for (T& x : v) fields(*this, x);
  }
  // Refuses the value just read, naming its offset, when a consumer could not use it.
  template <typename Msg>
  void require(bool ok, Msg&& msg) {
    if (!ok) fail(last_, msg());
  }

  void expect_end() {
    if (pos_ != data_.size()) fail(pos_, std::to_string(remaining()) + " bytes of trailing garbage");
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& msg) const {
    throw Error(std::string(what_) + " offset " + std::to_string(at + kFileHeaderSize) + ": " + msg,
                ExitCode::bad_image);
  }
  size_t remaining() const { return data_.size() - pos_; }
  void need(size_t n) {
    if (n > remaining())
      fail(pos_, "truncated: need " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
  }
  uint64_t le(int n) {
    last_ = pos_;
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  // A byte whose valid values are 0..max ("<name><noun> 7 out of range").
  uint8_t small(uint8_t max, const char* name, const char* noun = "") {
    auto v = static_cast<uint8_t>(le(1));
    if (v > max) fail(last_, std::string(name) + noun + " " + std::to_string(v) + " out of range");
    return v;
  }
  // A count of elements each taking at least min_size bytes: checked before any allocation so
  // a damaged count cannot make us reserve gigabytes.
  size_t count(size_t min_size, const char* what) {
    uint32_t n = static_cast<uint32_t>(le(4));
    if (min_size == 0) min_size = 1;
    if (n > remaining() / min_size)
      fail(last_, std::string(what) + " count " + std::to_string(n) + " past end (" + std::to_string(remaining()) +
                      " bytes left)");
    return n;
  }
  // The length of a string or blob, checked against the bytes left.
  size_t length(const char* what) {
    uint32_t n = static_cast<uint32_t>(le(4));
    if (n > remaining()) fail(last_, std::string(what) + " length " + std::to_string(n) + " past end");
    return n;
  }

  std::string_view data_;
  const char* what_;
  size_t pos_ = 0;
  size_t last_ = 0;  // where the value read last starts, for require()
};

// Fixed-size arrays (std::array, const or not): their elements in order, no count.
template <typename IO, typename A>
void each(IO& io, A& a) {
  for (auto& x : a) fields(io, x);
}

// ---- the field lists, in the order of image_records.hpp ---------------------------------
// fields(io, x) for a record type X is declared as template <IO, Is<X> V>: V is X for the
// Reader and const X for the Writer.

// Elements of plain vectors.
template <typename IO, Is<uint32_t> V>
void fields(IO& io, V& v) {
  io.u32(v);
}
template <typename IO, Is<uint64_t> V>
void fields(IO& io, V& v) {
  io.u64(v);
}
template <typename IO, Is<std::vector<uint8_t>> V>
void fields(IO& io, V& v) {
  io.blob(v);
}

// memory

template <typename IO, Is<Vma> V>
void fields(IO& io, V& v) {
  io.u64(v.start, v.end);
  io.u32(v.prot);
  io.enumeration(v.kind, "VmaKind", VmaKind::sysv_shm);
  io.u32(v.advice);
  io.u64(v.pgoff);
  io.i32(v.file_id);
  io.str(v.name);
  io.u64(v.shm_id);
}

// files, fds, pipes

template <typename IO, Is<File> V>
void fields(IO& io, V& f) {
  io.i32(f.id);
  io.enumeration(f.type, "FileType", FileType::blockdev);
  io.str(f.path);
  io.u32(f.mode);
  io.u64(f.size);
  io.i64(f.mtime_ns);
  io.u64(f.dev, f.ino, f.rdev);
  io.boolean(f.deleted);
  io.str(f.content);
  io.boolean(f.memfd);
  io.u32(f.seals);
}

template <typename IO, Is<Fd> V>
void fields(IO& io, V& f) {
  io.i32(f.fd);
  io.enumeration(f.kind, "FdKind", static_cast<FdKind>(kMaxFdKind));
  io.u32(f.flags);
  io.boolean(f.cloexec);
  io.u64(f.pos);
  io.i32(f.file_id, f.pipe_id, f.ofd_id);
  io.str(f.link);
  io.i32(f.socket_id, f.event_id);
}

template <typename IO, Is<Pipe> V>
void fields(IO& io, V& p) {
  io.i32(p.id);
  io.u64(p.ino);
  io.u32(p.capacity);
  io.str(p.data);
}

// sockets

template <typename IO, Is<SockOpt> V>
void fields(IO& io, V& o) {
  io.i32(o.level, o.name, o.value);
}

template <typename IO, Is<SockMsg> V>
void fields(IO& io, V& m) {
  io.str(m.data);
  io.str(m.from);
}

template <typename IO, Is<TcpState> V>
void fields(IO& io, V& t) {
  io.u32(t.snd_seq, t.rcv_seq, t.unsent, t.mss, t.options, t.snd_wscale, t.rcv_wscale, t.timestamp, t.snd_wl1,
         t.snd_wnd, t.max_window, t.rcv_wnd, t.rcv_wup);
  io.str(t.send_queue);
}

template <typename IO, Is<Socket> V>
void fields(IO& io, V& s) {
  io.i32(s.id);
  io.u64(s.ino);
  io.i32(s.family, s.type, s.protocol);
  io.enumeration(s.state, "SocketState", SocketState::connected);
  io.str(s.local);
  io.str(s.remote);
  io.i32(s.peer_id);
  io.boolean(s.peer_closed, s.unlinked, s.dropped, s.pending_accept);
  io.u32(s.backlog);
  io.u8(s.shutdown);
  io.require(s.shutdown <= 3, [&] { return "socket shutdown bits " + std::to_string(s.shutdown) + " out of range"; });
  io.vec(s.options, "socket option");
  io.vec(s.queue, "queued message");
  fields(io, s.tcp);
}

// event fds

template <typename IO, Is<EpollTarget> V>
void fields(IO& io, V& t) {
  io.i32(t.tfd);
  io.u32(t.events);
  io.u64(t.data);
  io.i32(t.target_ofd);
}

template <typename IO, Is<InotifyWatch> V>
void fields(IO& io, V& i) {
  io.i32(i.wd);
  io.u32(i.mask);
  io.u64(i.dev, i.ino);
  io.str(i.path);
}

template <typename IO, Is<EventFile> V>
void fields(IO& io, V& e) {
  io.i32(e.id);
  io.enumeration(e.kind, "FdKind", static_cast<FdKind>(kMaxFdKind));
  io.u64(e.count);
  io.boolean(e.semaphore);
  io.u64(e.sigmask);
  io.i32(e.clockid);
  io.u32(e.settime_flags);
  io.i64(e.value_ns, e.interval_ns, e.deadline_ns);
  io.i32(e.pid);
  io.boolean(e.thread);
  io.vec(e.targets, "epoll target");
  io.vec(e.watches, "inotify watch");
}

// signals, threads

template <typename IO, Is<SigAction> V>
void fields(IO& io, V& s) {
  io.u64(s.handler, s.flags, s.restorer, s.mask);
}

template <typename IO, Is<SigInfo> V>
void fields(IO& io, V& s) {
  io.raw(s.raw);
}

template <typename IO, Is<SigAltStack> V>
void fields(IO& io, V& s) {
  io.u64(s.sp, s.size);
  io.i32(s.flags);
}

template <typename IO, Is<Rseq> V>
void fields(IO& io, V& s) {
  io.u64(s.ptr);
  io.u32(s.len, s.sig, s.flags);
}

template <typename IO, Is<Thread> V>
void fields(IO& io, V& t) {
  io.i32(t.tid);
  io.str(t.comm);
  io.blob(t.gpregs);
  io.blob(t.fpregs);
  io.u64(t.sigmask);
  io.vec(t.pending, "pending signal");
  fields(io, t.altstack);
  io.u64(t.clear_child_tid, t.robust_list, t.robust_list_len);
  fields(io, t.rseq);
  io.vec(t.seccomp_filters, "seccomp filter");
}

// process

template <typename IO, Is<Rlimit> V>
void fields(IO& io, V& l) {
  io.u64(l.cur, l.max);
}

template <typename IO, Is<ITimer> V>
void fields(IO& io, V& t) {
  io.i64(t.interval_us, t.value_us);
}

template <typename IO, Is<PosixTimer> V>
void fields(IO& io, V& t) {
  io.i32(t.id, t.clock, t.notify, t.signo, t.notify_tid);
  io.u64(t.sigval);
  io.i64(t.value_ns, t.interval_ns);
  io.i32(t.overrun);
}

template <typename IO, Is<FileLock> V>
void fields(IO& io, V& l) {
  io.enumeration(l.kind, "LockKind", LockKind::ofd);
  io.boolean(l.write);
  io.i32(l.fd);
  io.u64(l.start, l.len);
}

template <typename IO, Is<Creds> V>
void fields(IO& io, V& c) {
  io.u32(c.uid, c.euid, c.suid, c.fsuid, c.gid, c.egid, c.sgid, c.fsgid);
  io.vec(c.groups, "group");
  io.u64(c.cap_inh, c.cap_prm, c.cap_eff, c.cap_bnd, c.cap_amb);
  io.u32(c.securebits);
  io.boolean(c.no_new_privs);
}

template <typename IO, Is<MmInfo> V>
void fields(IO& io, V& m) {
  io.u64(m.start_code, m.end_code, m.start_data, m.end_data, m.start_brk, m.brk, m.start_stack, m.arg_start,
         m.arg_end, m.env_start, m.env_end);
  io.vec(m.auxv, "auxv word");
  io.i32(m.exe_file_id);
}

template <typename IO, Is<PageFrame::Run> V>
void fields(IO& io, V& run) {
  io.u64(run.vaddr);
  io.u32(run.npages);
}

template <typename IO, Is<PageFrame> V>
void fields(IO& io, V& f) {
  io.u64(f.offset);
  io.enumeration(f.codec, "Codec", Codec::zstd);
  io.u32(f.comp_len, f.raw_len);
  io.vec(f.runs, "page run");
}

template <typename IO, Is<Process> V>
void fields(IO& io, V& p) {
  io.i32(p.pid, p.ppid, p.pgid, p.sid);
  io.boolean(p.zombie);
  io.i32(p.exit_status, p.exit_signal);
  io.str(p.comm);
  io.str(p.cwd);
  io.u32(p.umask, p.personality);
  fields(io, p.creds);
  each(io, p.rlimits);
  io.i32(p.pdeathsig);
  io.boolean(p.child_subreaper);
  io.i32(p.dumpable);
  io.u64(p.timerslack_ns);
  io.boolean(p.thp_disable);
  fields(io, p.mm);
  each(io, p.sigactions);
  io.vec(p.shared_pending, "shared pending signal");
  each(io, p.itimers);
  io.vec(p.vmas, "VMA");
  io.vec(p.fds, "fd");
  io.vec(p.threads, "thread");
  io.vec(p.pages, "page frame");
  io.u64(p.pages_raw_bytes, p.zero_pages_skipped);
  io.vec(p.posix_timers, "POSIX timer");
  io.vec(p.locks, "file lock");
  io.str(p.cgroup);
}

// SysV IPC

template <typename IO, Is<SysvPerm> V>
void fields(IO& io, V& p) {
  io.i32(p.id, p.key);
  io.u32(p.mode, p.uid, p.gid);
}

template <typename IO, Is<SysvShm> V>
void fields(IO& io, V& s) {
  fields(io, s.perm);
  io.u64(s.size);
  io.str(s.data);
}

template <typename IO, Is<SysvSem> V>
void fields(IO& io, V& s) {
  fields(io, s.perm);
  io.vec(s.values, "semaphore");
}

template <typename IO, Is<SysvMsg> V>
void fields(IO& io, V& m) {
  io.i64(m.type);
  io.str(m.text);
}

template <typename IO, Is<SysvMsgQueue> V>
void fields(IO& io, V& q) {
  fields(io, q.perm);
  io.u64(q.qbytes);
  io.vec(q.messages, "message");
}

// whole image

template <typename IO, Is<Tree> V>
void fields(IO& io, V& t) {
  io.i32(t.root_pid);
  io.boolean(t.own_namespaces);
  io.str(t.uid_map);
  io.str(t.gid_map);
  io.vec(t.files, "file");
  io.vec(t.pipes, "pipe");
  io.vec(t.processes, "process");
  io.vec(t.sockets, "socket");
  io.boolean(t.own_netns);
  io.vec(t.event_files, "event file");
  io.boolean(t.time_ns);
  io.i64(t.monotonic_ns, t.boottime_ns);
  io.vec(t.sysv_shm, "SysV segment");
  io.vec(t.sysv_sem, "SysV semaphore set");
  io.vec(t.sysv_msg, "SysV message queue");
}

template <typename IO, Is<CpuInfo> V>
void fields(IO& io, V& c) {
  io.u64(c.xfeatures);
  io.u32(c.xsave_size);
  io.u64(c.hwcap, c.hwcap2);
}

template <typename IO, Is<ManifestEntry> V>
void fields(IO& io, V& e) {
  io.str(e.name);
  io.u64(e.size, e.xxh3);
}

template <typename IO, Is<Manifest> V>
void fields(IO& io, V& m) {
  // The version comes first so that a reader can refuse another version before parsing the rest.
  io.u32(m.format_version);
  if constexpr (IO::decoding)
    if (m.format_version != kFormatVersion)
      throw Error("manifest.ck: format version " + std::to_string(m.format_version) + ", this ck reads " +
                      std::to_string(kFormatVersion),
                  ExitCode::bad_image);
  io.str(m.arch);
  io.u32(m.page_size);
  // Consumers divide by it and align with it.
  io.require(m.page_size >= 1024 && (m.page_size & (m.page_size - 1)) == 0, [&] {
    return "page size " + std::to_string(m.page_size) + " is not a power of two >= 1024";
  });
  io.str(m.kernel);
  io.str(m.hostname);
  io.str(m.ck_version);
  io.i64(m.created_unix_ns);
  io.i32(m.root_pid);
  fields(io, m.cpu);
  io.u64(m.vdso_size, m.vdso_xxh3, m.vvar_size, m.vvar_vclock_size);
  io.vec(m.entries, "manifest entry");
}

template <typename T>
size_t min_encoded_size() {
  static const size_t size = [] {
    Writer w;
    const T x{};
    fields(w, x);
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
  fields(w, m);
  return w.take();
}

Manifest decode_manifest(std::string_view payload) {
  Reader r(payload, "manifest.ck");
  Manifest m;
  fields(r, m);
  r.expect_end();
  return m;
}

std::string encode_tree(const Tree& t) {
  Writer w;
  fields(w, t);
  return w.take();
}

Tree decode_tree(std::string_view payload) {
  Reader r(payload, "tree.ck");
  Tree t;
  fields(r, t);
  r.expect_end();
  check_refs(t);
  return t;
}

}  // namespace ck::img
