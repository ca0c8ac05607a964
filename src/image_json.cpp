// `ckimage show` and `ckimage verify`. The JSON is written by hand: the image is small, the
// format is ours, and a dependency for it would be larger than this file.
//
// Number conventions: counts and sizes are JSON numbers; addresses, masks, capabilities and
// checksums are "0x..." strings (they exceed 2^53 and read better in hex); modes are octal
// strings as ls/stat print them.
#include "image_json.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "arch.hpp"
#include "error.hpp"
#include "hex.hpp"
#include "log.hpp"
#include "socket_addr.hpp"

namespace ck::img {

namespace {

// ---- string escaping -------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b = at(i);
  size_t len;
  uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the first continuation byte
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    if (b == 0xe0) lo = 0xa0;
    if (b == 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    if (b == 0xf0) lo = 0x90;
    if (b == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return len;
}

void append_u00(std::string& out, uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", b);
  out += buf;
}

std::string octal(uint64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0%0*llo", width, static_cast<unsigned long long>(v));
  return buf;
}

// ---- a minimal pretty-printing JSON writer ---------------------------------------------------

class Json {
 public:
  // compact: all members on one line (used for the many small records: VMAs, fds, files).
  void begin_object(bool compact = false) { open('{', compact); }
  void end_object() { close('}'); }
  void begin_array(bool compact = false) { open('[', compact); }
  void end_array() { close(']'); }

  void key(std::string_view k) {
    before_value();
    out_ += json_quote(k);
    out_ += ": ";
    after_key_ = true;
  }
  void str(std::string_view v) { raw(json_quote(v)); }
  void num(uint64_t v) { raw(std::to_string(v)); }
  void num(int64_t v) { raw(std::to_string(v)); }
  void num(uint32_t v) { num(uint64_t{v}); }
  void num(int32_t v) { num(int64_t{v}); }
  void boolean(bool v) { raw(v ? "true" : "false"); }

  template <typename T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }
  void field_hex(std::string_view k, uint64_t v) { field(k, hex(v)); }

  std::string take() {
    out_ += '\n';
    return std::move(out_);
  }

 private:
  struct Level {
    char close;
    bool compact;
    bool first = true;
  };

  void value(const std::string& v) { str(v); }
  void value(const char* v) { str(v); }
  void value(std::string_view v) { str(v); }
  void value(bool v) { boolean(v); }
  void value(uint64_t v) { num(v); }
  void value(int64_t v) { num(v); }
  void value(uint32_t v) { num(v); }
  void value(int32_t v) { num(v); }

  void open(char c, bool compact) {
    before_value();
    out_ += c;
    bool parent_compact = !stack_.empty() && stack_.back().compact;
    stack_.push_back(Level{c == '{' ? '}' : ']', compact || parent_compact});
  }
  void close(char c) {
    Level l = stack_.back();
    stack_.pop_back();
    if (l.close != c) throw Error("json: mismatched close");
    if (!l.compact && !l.first) newline();
    out_ += c;
  }
  void raw(const std::string& text) {
    before_value();
    out_ += text;
  }
  void before_value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (stack_.empty()) return;
    Level& l = stack_.back();
    if (!l.first) out_ += l.compact ? ", " : ",";
    if (!l.compact) newline();
    l.first = false;
  }
  void newline() {
    out_ += '\n';
    out_.append(2 * stack_.size(), ' ');
  }

  std::string out_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// ---- names -------------------------------------------------------------------------------

const char* vma_kind_name(VmaKind k) {
  switch (k) {
    case VmaKind::anon_private: return "anon_private";
    case VmaKind::anon_shared: return "anon_shared";
    case VmaKind::file_private: return "file_private";
    case VmaKind::file_shared: return "file_shared";
    case VmaKind::vdso: return "vdso";
    case VmaKind::vvar: return "vvar";
    case VmaKind::vvar_vclock: return "vvar_vclock";
    case VmaKind::vsyscall: return "vsyscall";
    case VmaKind::sysv_shm: return "sysv_shm";
  }
  return "?";
}

const char* file_type_name(FileType t) {
  switch (t) {
    case FileType::regular: return "regular";
    case FileType::directory: return "directory";
    case FileType::chardev: return "chardev";
    case FileType::fifo: return "fifo";
    case FileType::blockdev: return "blockdev";
  }
  return "?";
}

const char* fd_kind_name(FdKind k) {
  switch (k) {
    case FdKind::file: return "file";
    case FdKind::pipe: return "pipe";
    case FdKind::stdio: return "stdio";
    case FdKind::socket: return "socket";
    case FdKind::eventfd: return "eventfd";
    case FdKind::epoll: return "epoll";
    case FdKind::signalfd: return "signalfd";
    case FdKind::timerfd: return "timerfd";
    case FdKind::inotify: return "inotify";
    case FdKind::pidfd: return "pidfd";
    default: break;
  }
  return "?";
}

std::string prot_string(uint32_t prot) {
  std::string s = "---";
  if (prot & 1) s[0] = 'r';  // PROT_READ
  if (prot & 2) s[1] = 'w';  // PROT_WRITE
  if (prot & 4) s[2] = 'x';  // PROT_EXEC
  return s;
}

std::string advice_string(uint32_t advice) {
  static const std::pair<uint32_t, const char*> names[] = {
      {advice_dontfork, "dontfork"},   {advice_wipeonfork, "wipeonfork"}, {advice_dontdump, "dontdump"},
      {advice_hugepage, "hugepage"},   {advice_nohugepage, "nohugepage"}, {advice_mergeable, "mergeable"},
      {advice_locked, "locked"},       {advice_growsdown, "growsdown"},   {advice_random, "random"},
      {advice_sequential, "sequential"}};
  std::string s;
  for (auto [bit, name] : names) {
    if (!(advice & bit)) continue;
    if (!s.empty()) s += ',';
    s += name;
    advice &= ~bit;
  }
  if (advice) {
    if (!s.empty()) s += ',';
    s += hex(advice);
  }
  return s;
}

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  if (sig >= 32 && sig <= 64) return "SIGRTMIN+" + std::to_string(sig - 32);  // kernel numbering
  return "SIG" + std::to_string(sig);
}

std::string sa_flags_string(uint64_t flags) {
  static const std::pair<uint64_t, const char*> names[] = {
      {SA_NOCLDSTOP, "SA_NOCLDSTOP"}, {SA_NOCLDWAIT, "SA_NOCLDWAIT"}, {SA_SIGINFO, "SA_SIGINFO"},
      {0x04000000, "SA_RESTORER"},    {SA_ONSTACK, "SA_ONSTACK"},     {SA_RESTART, "SA_RESTART"},
      {SA_NODEFER, "SA_NODEFER"},     {SA_RESETHAND, "SA_RESETHAND"}};
  std::string s;
  for (auto [bit, name] : names) {
    if (!(flags & bit)) continue;
    if (!s.empty()) s += '|';
    s += name;
    flags &= ~bit;
  }
  if (flags) {
    if (!s.empty()) s += '|';
    s += hex(flags);
  }
  return s;
}

const char* const kRlimitNames[16] = {"CPU",     "FSIZE",  "DATA",       "STACK",    "CORE", "RSS",
                                      "NPROC",   "NOFILE", "MEMLOCK",    "AS",       "LOCKS", "SIGPENDING",
                                      "MSGQUEUE", "NICE",  "RTPRIO",     "RTTIME"};

std::string utc_time(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  long nsec = static_cast<long>(unix_ns % 1000000000);
  if (nsec < 0) {
    nsec += 1000000000;
    --secs;
  }
  tm t{};
  if (!gmtime_r(&secs, &t)) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, nsec);
  return buf;
}

// ---- sections ------------------------------------------------------------------------------

void manifest_json(Json& j, const Manifest& m) {
  j.key("manifest");
  j.begin_object();
  j.field("format_version", m.format_version);
  j.field("arch", m.arch);
  j.field("page_size", m.page_size);
  j.field("kernel", m.kernel);
  j.field("hostname", m.hostname);
  j.field("created", utc_time(m.created_unix_ns));
  j.field("created_unix_ns", m.created_unix_ns);
  j.field("ck_version", m.ck_version);
  j.field("root_pid", m.root_pid);
  j.key("cpu");
  j.begin_object(true);
  j.field_hex("xfeatures", m.cpu.xfeatures);
  j.field("xsave_size", m.cpu.xsave_size);
  j.field_hex("hwcap", m.cpu.hwcap);
  j.field_hex("hwcap2", m.cpu.hwcap2);
  j.end_object();
  j.key("special_mappings");
  j.begin_object(true);
  j.field("vdso_size", m.vdso_size);
  j.field_hex("vdso_xxh3", m.vdso_xxh3);
  j.field("vvar_size", m.vvar_size);
  j.field("vvar_vclock_size", m.vvar_vclock_size);
  j.end_object();
  j.key("files");
  j.begin_array();
  for (const ManifestEntry& e : m.entries) {
    j.begin_object(true);
    j.field("name", e.name);
    j.field("size", e.size);
    j.field_hex("xxh3", e.xxh3);
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

const File* file_at(const Tree& t, int32_t id) {
  return id >= 0 && static_cast<size_t>(id) < t.files.size() ? &t.files[static_cast<size_t>(id)] : nullptr;
}

void files_json(Json& j, const Tree& t) {
  j.key("files");
  j.begin_array();
  for (const File& f : t.files) {
    j.begin_object(true);
    j.field("id", f.id);
    j.field("type", file_type_name(f.type));
    j.field("path", f.path);
    j.field("mode", octal(f.mode, 6));
    j.field("size", f.size);
    j.field("mtime_ns", f.mtime_ns);
    j.field_hex("dev", f.dev);
    j.field("ino", f.ino);
    if (f.rdev) j.field_hex("rdev", f.rdev);
    j.field("deleted", f.deleted);
    if (!f.content.empty()) j.field("content", f.content);
    if (f.memfd) {
      j.field("memfd", true);
      j.field_hex("seals", f.seals);
    }
    j.end_object();
  }
  j.end_array();
  j.key("pipes");
  j.begin_array();
  for (const Pipe& p : t.pipes) {
    j.begin_object(true);
    j.field("id", p.id);
    j.field("ino", p.ino);
    j.field("capacity", p.capacity);
    j.field("queued_bytes", uint64_t{p.data.size()});
    j.end_object();
  }
  j.end_array();
  j.key("event_files");
  j.begin_array();
  for (const EventFile& e : t.event_files) {
    j.begin_object(true);
    j.field("id", e.id);
    j.field("kind", fd_kind_name(e.kind));
    switch (e.kind) {
      case FdKind::eventfd:
        j.field("count", e.count);
        j.field("semaphore", e.semaphore);
        break;
      case FdKind::signalfd: j.field_hex("sigmask", e.sigmask); break;
      case FdKind::timerfd:
        j.field("clockid", e.clockid);
        j.field("settime_flags", e.settime_flags);
        j.field("value_ns", e.value_ns);
        j.field("interval_ns", e.interval_ns);
        if (e.deadline_ns) j.field("deadline_ns", e.deadline_ns);
        j.field("ticks", e.count);
        break;
      case FdKind::pidfd:
        j.field("pid", e.pid);
        if (e.thread) j.field("thread", true);
        break;
      case FdKind::epoll:
        j.key("targets");
        j.begin_array(true);
        for (const auto& x : e.targets) {
          j.begin_object(true);
          j.field("tfd", x.tfd);
          j.field_hex("events", x.events);
          j.field_hex("data", x.data);
          j.field("ofd", x.target_ofd);
          j.end_object();
        }
        j.end_array();
        break;
      case FdKind::inotify:
        j.key("watches");
        j.begin_array(true);
        for (const auto& w : e.watches) {
          j.begin_object(true);
          j.field("wd", w.wd);
          j.field_hex("mask", w.mask);
          j.field("path", w.path);
          j.end_object();
        }
        j.end_array();
        break;
      default: break;
    }
    j.end_object();
  }
  j.end_array();
}

void sockets_json(Json& j, const Tree& t) {
  j.key("sockets");
  j.begin_array();
  for (const Socket& s : t.sockets) {
    j.begin_object(true);
    j.field("id", s.id);
    j.field("ino", s.ino);
    j.field("kind", socket_kind_name(s.family, s.type, s.protocol));
    j.field("state", s.state == SocketState::listening ? "listening" : s.state == SocketState::connected ? "connected" : "unconnected");
    if (!s.local.empty()) j.field("local", sockaddr_string(s.local));
    if (!s.remote.empty()) j.field("remote", sockaddr_string(s.remote));
    if (s.peer_id >= 0) j.field("peer", s.peer_id);
    if (s.peer_closed) j.field("peer_closed", true);
    if (s.unlinked) j.field("unlinked", true);
    if (s.dropped) j.field("dropped", true);
    if (s.pending_accept) j.field("pending_accept", true);
    if (s.backlog) j.field("backlog", s.backlog);
    if (s.shutdown) j.field("shutdown", uint32_t{s.shutdown});
    uint64_t bytes = 0;
    for (const SockMsg& m : s.queue) bytes += m.data.size();
    j.field("queued_messages", uint64_t{s.queue.size()});
    j.field("queued_bytes", bytes);
    if (s.family != AF_UNIX && s.type == SOCK_STREAM && s.state == SocketState::connected && !s.dropped) {
      j.field("snd_seq", s.tcp.snd_seq);
      j.field("rcv_seq", s.tcp.rcv_seq);
      j.field("send_queue_bytes", uint64_t{s.tcp.send_queue.size()});
      j.field("unsent_bytes", s.tcp.unsent);
    }
    j.end_object();
  }
  j.end_array();
  j.field("own_netns", t.own_netns);
}

void creds_json(Json& j, const Creds& c) {
  j.key("creds");
  j.begin_object();
  j.key("uid");
  j.begin_array(true);
  for (uint32_t v : {c.uid, c.euid, c.suid, c.fsuid}) j.num(v);
  j.end_array();
  j.key("gid");
  j.begin_array(true);
  for (uint32_t v : {c.gid, c.egid, c.sgid, c.fsgid}) j.num(v);
  j.end_array();
  j.key("groups");
  j.begin_array(true);
  for (uint32_t g : c.groups) j.num(g);
  j.end_array();
  j.field_hex("cap_inh", c.cap_inh);
  j.field_hex("cap_prm", c.cap_prm);
  j.field_hex("cap_eff", c.cap_eff);
  j.field_hex("cap_bnd", c.cap_bnd);
  j.field_hex("cap_amb", c.cap_amb);
  j.field_hex("securebits", c.securebits);
  j.field("no_new_privs", c.no_new_privs);
  j.end_object();
}

void limit_value(Json& j, std::string_view k, uint64_t v) {
  if (v == ~uint64_t{0})
    j.field(k, "unlimited");
  else
    j.field(k, v);
}

void rlimits_json(Json& j, const Process& p) {
  j.key("rlimits");
  j.begin_object();
  for (size_t i = 0; i < p.rlimits.size(); ++i) {
    j.key(kRlimitNames[i]);
    j.begin_object(true);
    limit_value(j, "cur", p.rlimits[i].cur);
    limit_value(j, "max", p.rlimits[i].max);
    j.end_object();
  }
  j.end_object();
}

void signals_json(Json& j, const Process& p) {
  j.key("sigactions");
  j.begin_array();
  for (size_t i = 0; i < p.sigactions.size(); ++i) {
    const SigAction& a = p.sigactions[i];
    if (a.handler == 0 && a.flags == 0 && a.mask == 0 && a.restorer == 0) continue;  // SIG_DFL, untouched
    int sig = static_cast<int>(i) + 1;
    j.begin_object(true);
    j.field("signal", int32_t{sig});
    j.field("name", signal_name(sig));
    j.field("handler", a.handler == 0 ? std::string("SIG_DFL") : a.handler == 1 ? std::string("SIG_IGN") : hex(a.handler));
    j.field("flags", sa_flags_string(a.flags));
    j.field_hex("mask", a.mask);
    j.field_hex("restorer", a.restorer);
    j.end_object();
  }
  j.end_array();
  j.field("shared_pending_signals", uint64_t{p.shared_pending.size()});
  static const char* const timer_names[3] = {"real", "virtual", "prof"};
  j.key("itimers");
  j.begin_object();
  for (size_t i = 0; i < p.itimers.size(); ++i) {
    j.key(timer_names[i]);
    j.begin_object(true);
    j.field("interval_us", p.itimers[i].interval_us);
    j.field("value_us", p.itimers[i].value_us);
    j.end_object();
  }
  j.end_object();
}

void mm_json(Json& j, const Tree& t, const MmInfo& m) {
  j.key("mm");
  j.begin_object();
  const std::pair<const char*, uint64_t> fields[] = {
      {"start_code", m.start_code}, {"end_code", m.end_code},   {"start_data", m.start_data},
      {"end_data", m.end_data},     {"start_brk", m.start_brk}, {"brk", m.brk},
      {"start_stack", m.start_stack}, {"arg_start", m.arg_start}, {"arg_end", m.arg_end},
      {"env_start", m.env_start},   {"env_end", m.env_end}};
  for (auto [name, v] : fields) j.field_hex(name, v);
  j.field("auxv_entries", uint64_t{m.auxv.size() / 2});
  if (const File* f = file_at(t, m.exe_file_id)) j.field("exe", f->path);
  j.end_object();
}

void vmas_json(Json& j, const Tree& t, const std::vector<Vma>& vmas) {
  j.key("vmas");
  j.begin_array();
  for (const Vma& v : vmas) {
    j.begin_object(true);
    j.field_hex("start", v.start);
    j.field_hex("end", v.end);
    j.field("prot", prot_string(v.prot));
    j.field("kind", vma_kind_name(v.kind));
    if (v.advice) j.field("advice", advice_string(v.advice));
    if (!v.name.empty()) j.field("name", v.name);
    if (v.kind == VmaKind::file_private || v.kind == VmaKind::file_shared || v.pgoff) j.field_hex("pgoff", v.pgoff);
    if (const File* f = file_at(t, v.file_id)) j.field("file", f->path);
    if (v.shm_id) j.field("shm_id", v.shm_id);
    j.end_object();
  }
  j.end_array();
}

std::string fd_path(const Tree& t, const Fd& fd) {
  if (const File* f = file_at(t, fd.file_id)) return f->path;
  if (fd.kind == FdKind::pipe && fd.pipe_id >= 0 && static_cast<size_t>(fd.pipe_id) < t.pipes.size())
    return "pipe:[" + std::to_string(t.pipes[static_cast<size_t>(fd.pipe_id)].ino) + "]";
  return fd.link;
}

void fds_json(Json& j, const Tree& t, const std::vector<Fd>& fds) {
  j.key("fds");
  j.begin_array();
  for (const Fd& fd : fds) {
    j.begin_object(true);
    j.field("fd", fd.fd);
    j.field("kind", fd_kind_name(fd.kind));
    j.field("flags", octal(fd.flags, 0));
    j.field("cloexec", fd.cloexec);
    j.field("pos", fd.pos);
    j.field("path", fd_path(t, fd));
    j.field("ofd", fd.ofd_id);
    if (fd.socket_id >= 0) j.field("socket", fd.socket_id);
    if (fd.event_id >= 0) j.field("event", fd.event_id);
    j.end_object();
  }
  j.end_array();
}

void registers_json(Json& j, const Thread& th) {
  if (th.gpregs.empty()) return;
  std::vector<std::pair<std::string, uint64_t>> regs;
  try {
    regs = arch::regs_summary(th.gpregs);
  } catch (const Error& e) {
    // `show` is for looking at damaged or foreign images too: report, don't stop.
    j.field("registers_error", e.message());
    return;
  }
  if (regs.empty()) return;
  j.key("registers");
  j.begin_object(true);
  for (const auto& [name, v] : regs) j.field_hex(name, v);
  j.end_object();
}

void threads_json(Json& j, const std::vector<Thread>& threads) {
  j.key("threads");
  j.begin_array();
  for (const Thread& th : threads) {
    j.begin_object();
    j.field("tid", th.tid);
    j.field("comm", th.comm);
    j.field_hex("sigmask", th.sigmask);
    j.field("pending_signals", uint64_t{th.pending.size()});
    if (th.altstack.sp || th.altstack.size) {
      j.key("altstack");
      j.begin_object(true);
      j.field_hex("sp", th.altstack.sp);
      j.field("size", th.altstack.size);
      j.field("flags", th.altstack.flags);
      j.end_object();
    }
    if (th.rseq.ptr) {
      j.key("rseq");
      j.begin_object(true);
      j.field_hex("ptr", th.rseq.ptr);
      j.field("len", th.rseq.len);
      j.field_hex("sig", th.rseq.sig);
      j.end_object();
    }
    j.field_hex("clear_child_tid", th.clear_child_tid);
    if (!th.seccomp_filters.empty()) {
      j.key("seccomp_filters");  // instructions per filter, newest first
      j.begin_array(true);
      for (const auto& f : th.seccomp_filters) j.num(uint64_t{f.size() / 8});
      j.end_array();
    }
    j.field("fpregs_bytes", uint64_t{th.fpregs.size()});
    registers_json(j, th);
    j.end_object();
  }
  j.end_array();
}

void pages_json(Json& j, const Process& p) {
  uint64_t pages = 0, compressed = 0;
  for (const PageFrame& f : p.pages) {
    compressed += f.comp_len;
    for (const PageFrame::Run& r : f.runs) pages += r.npages;
  }
  j.key("pages");
  j.begin_object(true);
  j.field("frames", uint64_t{p.pages.size()});
  j.field("pages", pages);
  j.field("raw_bytes", p.pages_raw_bytes);
  j.field("compressed_bytes", compressed);
  j.field("zero_pages_skipped", p.zero_pages_skipped);
  j.end_object();
}

void ipc_json(Json& j, const Process& p) {
  j.key("posix_timers");
  j.begin_array();
  for (const PosixTimer& t : p.posix_timers) {
    j.begin_object(true);
    j.field("id", t.id);
    j.field("clock", t.clock);
    j.field("notify", t.notify);
    j.field("signal", t.signo);
    if (t.notify_tid) j.field("tid", t.notify_tid);
    j.field_hex("sigval", t.sigval);
    j.field("value_ns", t.value_ns);
    j.field("interval_ns", t.interval_ns);
    j.field("overrun", t.overrun);
    j.end_object();
  }
  j.end_array();
  j.key("locks");
  j.begin_array();
  for (const FileLock& l : p.locks) {
    static const char* const kinds[] = {"flock", "posix", "ofd"};
    j.begin_object(true);
    j.field("kind", std::string(kinds[static_cast<int>(l.kind)]));
    j.field("type", std::string(l.write ? "write" : "read"));
    j.field("fd", l.fd);
    j.field("start", l.start);
    if (l.len) j.field("len", l.len); else j.field("len", std::string("EOF"));
    j.end_object();
  }
  j.end_array();
  j.field("cgroup", p.cgroup);
}

void sysv_perm(Json& j, const SysvPerm& p) {
  j.field("id", p.id);
  j.field_hex("key", static_cast<uint32_t>(p.key));
  j.field("mode", octal(p.mode, 4));
  j.field("uid", p.uid);
  j.field("gid", p.gid);
}

void sysv_json(Json& j, const Tree& t) {
  if (t.sysv_shm.empty() && t.sysv_sem.empty() && t.sysv_msg.empty()) return;
  j.key("sysv_ipc");
  j.begin_object();
  j.key("shm");
  j.begin_array();
  for (const SysvShm& s : t.sysv_shm) {
    j.begin_object(true);
    sysv_perm(j, s.perm);
    j.field("size", s.size);
    j.end_object();
  }
  j.end_array();
  j.key("sem");
  j.begin_array();
  for (const SysvSem& s : t.sysv_sem) {
    j.begin_object(true);
    sysv_perm(j, s.perm);
    j.key("values");
    j.begin_array(true);
    for (uint32_t v : s.values) j.num(v);
    j.end_array();
    j.end_object();
  }
  j.end_array();
  j.key("msg");
  j.begin_array();
  for (const SysvMsgQueue& q : t.sysv_msg) {
    j.begin_object(true);
    sysv_perm(j, q.perm);
    j.field("qbytes", q.qbytes);
    j.field("messages", uint64_t{q.messages.size()});
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

void process_json(Json& j, const Tree& t, const Process& p) {
  j.begin_object();
  j.field("pid", p.pid);
  j.field("ppid", p.ppid);
  j.field("pgid", p.pgid);
  j.field("sid", p.sid);
  j.field("comm", p.comm);
  j.field("cwd", p.cwd);
  j.field("umask", octal(p.umask, 3));
  j.field_hex("personality", p.personality);
  creds_json(j, p.creds);
  rlimits_json(j, p);
  j.field("pdeathsig", p.pdeathsig);
  j.field("child_subreaper", p.child_subreaper);
  j.field("dumpable", p.dumpable);
  j.field("timerslack_ns", p.timerslack_ns);
  j.field("thp_disable", p.thp_disable);
  signals_json(j, p);
  mm_json(j, t, p.mm);
  vmas_json(j, t, p.vmas);
  fds_json(j, t, p.fds);
  threads_json(j, p.threads);
  pages_json(j, p);
  ipc_json(j, p);
  j.end_object();
}

// ---- CLI -----------------------------------------------------------------------------------

constexpr const char* kUsage =
    "usage: ckimage show DIR      print the image in DIR as JSON\n"
    "       ckimage verify DIR    check every checksum, page index and frame of the image\n"
    "       ckimage --help\n";

int usage_error(const std::string& msg) {
  log::error(msg + " (see ckimage --help)");
  return static_cast<int>(ExitCode::usage);
}

int run_show(const std::string& dir) {
  // Page data is only size-checked: `show` must be quick on big images; `verify` hashes it.
  LoadedImage img = load_image(dir, false);
  std::string json = image_to_json(img);
  std::fwrite(json.data(), 1, json.size(), stdout);
  if (std::fflush(stdout) != 0) throw_errno("write standard output");
  return 0;
}

int run_verify(const std::string& dir) {
  VerifySummary s = verify_image(dir);
  std::printf("%s: OK (%zu files, %llu bytes)\n", dir.c_str(), s.files, static_cast<unsigned long long>(s.bytes));
  if (std::fflush(stdout) != 0) throw_errno("write standard output");
  return 0;
}

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (b < 0x20 || b == 0x7f)
            append_u00(out, b);
          else
            out += static_cast<char>(b);
      }
      ++i;
      continue;
    }
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      append_u00(out, b);  // not UTF-8: the byte value, so nothing is silently lost
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out += '"';
  return out;
}

std::string image_to_json(const LoadedImage& img) {
  Json j;
  j.begin_object();
  j.field("dir", img.dir);
  manifest_json(j, img.manifest);
  j.field("root_pid", img.tree.root_pid);
  if (img.tree.time_ns) {
    j.key("time_namespace");
    j.begin_object(true);
    j.field("monotonic_ns", img.tree.monotonic_ns);
    j.field("boottime_ns", img.tree.boottime_ns);
    j.end_object();
  }
  files_json(j, img.tree);
  sockets_json(j, img.tree);
  sysv_json(j, img.tree);
  j.key("processes");
  j.begin_array();
  for (const Process& p : img.tree.processes) process_json(j, img.tree, p);
  j.end_array();
  j.end_object();
  return j.take();
}

int ckimage_main(int argc, char** argv) {
  log::set_program("ckimage");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; })) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.empty()) return usage_error("missing command");
  if (args[0] != "show" && args[0] != "verify") return usage_error("unknown command \"" + args[0] + "\"");
  if (args.size() != 2) return usage_error(args[0] + " takes exactly one image directory");
  try {
    return args[0] == "show" ? run_show(args[1]) : run_verify(args[1]);
  } catch (const Error& e) {
    log::error(e.message());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    log::error(e.what());
    return static_cast<int>(ExitCode::failure);
  }
}

}  // namespace ck::img
