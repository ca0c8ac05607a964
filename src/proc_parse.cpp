#include "proc_parse.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "error.hpp"
#include "unique_fd.hpp"

namespace ck::proc {
namespace {

// ---------------------------------------------------------------------------------------------
// Text scanning helpers. Everything works on string_views into the caller's text: a 10 000-entry
// smaps must not allocate per line.

// Renders untrusted input for an error message: bounded, and without control bytes that would
// garble a terminal or a log line.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  out += '\'';
  return out;
}

// Where a parser is, so that every error names the file and the line.
struct Where {
  std::string_view file;
  size_t line = 0;

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(std::string(file) + " line " + std::to_string(line) + ": " + msg, ExitCode::failure);
  }
};

[[noreturn]] void fail_file(std::string_view file, const std::string& msg) {
  throw Error(std::string(file) + ": " + msg, ExitCode::failure);
}

// Iterates over the lines of a text; a final line without '\n' still counts, a final '\n' does
// not start an empty line.
class Lines {
 public:
  Lines(std::string_view text, std::string_view file) : rest_(text), where_{file, 0} {}

  bool next(std::string_view& line) {
    if (rest_.empty()) return false;
    size_t nl = rest_.find('\n');
    if (nl == std::string_view::npos) {
      line = rest_;
      rest_ = {};
    } else {
      line = rest_.substr(0, nl);
      rest_.remove_prefix(nl + 1);
    }
    ++where_.line;
    return true;
  }

  const Where& where() const { return where_; }

 private:
  std::string_view rest_;
  Where where_;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view skip_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// Whitespace-separated tokens of a string, without allocating.
class Tokens {
 public:
  explicit Tokens(std::string_view s) : rest_(s) {}

  bool next(std::string_view& tok) {
    while (!rest_.empty() && is_space(rest_.front())) rest_.remove_prefix(1);
    if (rest_.empty()) return false;
    size_t n = 0;
    while (n < rest_.size() && !is_space(rest_[n])) ++n;
    tok = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view rest_;
};

// Takes the text up to the next `sep` off the front of `rest` (the separator is consumed too);
// the whole of `rest` when there is no separator.
std::string_view take_until(std::string_view& rest, char sep) {
  size_t at = rest.find(sep);
  std::string_view tok = rest.substr(0, at);
  rest.remove_prefix(at == std::string_view::npos ? rest.size() : at + 1);
  return tok;
}

// Splits "a<sep>b" at the first separator; false when there is none.
bool split_at(std::string_view s, char sep, std::string_view& a, std::string_view& b) {
  size_t at = s.find(sep);
  if (at == std::string_view::npos) return false;
  a = s.substr(0, at);
  b = s.substr(at + 1);
  return true;
}

// The whole token as a number, or nullopt: from_chars rejects signs on unsigned types, "0x"
// prefixes and overflow, which is what a strict /proc parser wants.
template <typename T>
std::optional<T> to_number(std::string_view s, int base = 10) {
  static_assert(std::is_integral_v<T>);
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') return std::nullopt;
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

template <typename T>
T number(std::string_view s, const Where& w, const char* what, int base = 10) {
  auto v = to_number<T>(s, base);
  if (!v) w.fail(std::string("bad ") + what + " " + quote(s));
  return *v;
}

// A decimal field that ck does not keep but that must still look like one (stat has signed and
// unsigned 64-bit fields side by side).
void check_integer(std::string_view s, const Where& w, size_t proc5_number) {
  bool ok = !s.empty() && s.front() == '-' ? to_number<int64_t>(s).has_value() : to_number<uint64_t>(s).has_value();
  if (!ok) w.fail("bad field " + std::to_string(proc5_number) + " " + quote(s));
}

// ---------------------------------------------------------------------------------------------
// maps / smaps

constexpr std::string_view kDeleted = " (deleted)";

void parse_perms(std::string_view p, MapsEntry& e, const Where& w) {
  if (p.size() != 4 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
      (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's'))
    w.fail("bad permissions " + quote(p));
  e.read = p[0] == 'r';
  e.write = p[1] == 'w';
  e.exec = p[2] == 'x';
  e.shared = p[3] == 's';
}

// "start-end perms offset major:minor inode[   path]" (show_map_vma in fs/proc/task_mmu.c).
// Header fields are separated by exactly one space; the path comes after padding to a fixed
// column, so it starts at the first non-space after the inode. Paths are absolute or "[name]",
// never starting with a space, but may contain and end with spaces, which are kept. The kernel
// escapes only '\n' (as "\012") in the path and not the backslash, so the escape cannot be
// undone reliably: the path is kept as shown.
MapsEntry parse_maps_line(std::string_view line, const Where& w) {
  MapsEntry e;
  std::string_view rest = line;

  std::string_view range = take_until(rest, ' ');
  std::string_view lo, hi;
  auto start = split_at(range, '-', lo, hi) ? to_number<uint64_t>(lo, 16) : std::nullopt;
  auto end = start ? to_number<uint64_t>(hi, 16) : std::nullopt;
  if (!start || !end || *end <= *start) w.fail("bad address range " + quote(range));
  e.start = *start;
  e.end = *end;

  if (rest.empty()) w.fail("missing permissions");
  parse_perms(take_until(rest, ' '), e, w);

  if (rest.empty()) w.fail("missing offset");
  e.offset = number<uint64_t>(take_until(rest, ' '), w, "offset", 16);

  if (rest.empty()) w.fail("missing device");
  std::string_view dev = take_until(rest, ' '), major, minor;
  if (!split_at(dev, ':', major, minor)) w.fail("bad device " + quote(dev));
  e.dev_major = number<uint32_t>(major, w, "device", 16);
  e.dev_minor = number<uint32_t>(minor, w, "device", 16);

  if (rest.empty()) w.fail("missing inode");
  e.inode = number<uint64_t>(take_until(rest, ' '), w, "inode");

  std::string_view path = skip_spaces(rest);
  if (path.size() >= kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
    path.remove_suffix(kDeleted.size());
    e.deleted = true;
  }
  e.path.assign(path);
  return e;
}

// smaps detail lines look like "Rss:   8 kB": their first word ends in ':', which a maps header's
// "start-end" never does.
bool is_smaps_detail(std::string_view line) {
  std::string_view first = line.substr(0, line.find(' '));
  return !first.empty() && first.back() == ':';
}

uint64_t parse_kb(std::string_view value, const Where& w, std::string_view key) {
  Tokens t(value);
  std::string_view num, unit, more;
  if (!t.next(num) || !t.next(unit) || unit != "kB" || t.next(more))
    w.fail("bad " + std::string(key) + " value " + quote(value));
  return number<uint64_t>(num, w, "size");
}

void parse_smaps_detail(std::string_view line, MapsEntry& e, const Where& w) {
  std::string_view key, value;
  split_at(line, ':', key, value);
  if (key == "Rss") {
    e.rss_kb = parse_kb(value, w, key);
  } else if (key == "Anonymous") {
    e.anonymous_kb = parse_kb(value, w, key);
  } else if (key == "Swap") {
    e.swap_kb = parse_kb(value, w, key);
  } else if (key == "VmFlags") {
    e.vmflags.clear();
    Tokens t(value);
    for (std::string_view flag; t.next(flag);) e.vmflags.emplace_back(flag);
  }
  // Other keys (Size, Pss, KSM, THPeligible, ProtectionKey, ...) are not used by ck, and new
  // ones appear with kernels: ignored.
}

// ---------------------------------------------------------------------------------------------
// status

// Name is escaped by string_escape_str(ESCAPE_SPACE | ESCAPE_SPECIAL); current kernels restrict
// that to '\n' and '\\', older ones escaped the whole class.
std::string unescape_task_name(std::string_view v, const Where& w) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (i + 1 == v.size()) w.fail("bad escape at end of Name " + quote(v));
    char c = v[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'f': out += '\f'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'e': out += '\x1b'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      default: w.fail("bad escape in Name " + quote(v));
    }
  }
  return out;
}

template <typename T>
std::vector<T> number_list(std::string_view value, const Where& w, const char* what) {
  std::vector<T> out;
  Tokens t(value);
  for (std::string_view tok; t.next(tok);) out.push_back(number<T>(tok, w, what));
  return out;
}

void fixed_ids(std::string_view value, uint32_t (&ids)[4], const Where& w, const char* what) {
  Tokens t(value);
  std::string_view tok;
  for (auto& id : ids) {
    if (!t.next(tok)) w.fail(std::string(what) + " needs 4 values, got " + quote(value));
    id = number<uint32_t>(tok, w, what);
  }
  if (t.next(tok)) w.fail(std::string(what) + " needs 4 values, got " + quote(value));
}

// Fields without which a status is not one: present for every task, zombies and kernel threads
// included (Umask, for one, is missing for zombies).
enum StatusSeen : unsigned {
  kSeenName = 1, kSeenState = 2, kSeenTgid = 4, kSeenPid = 8, kSeenPPid = 16, kSeenUid = 32, kSeenGid = 64,
  kSeenAll = 127,
};

// One "Key:\tvalue" line. Returns the bit of a mandatory field it set, 0 otherwise.
unsigned apply_status_field(Status& s, std::string_view key, std::string_view raw, const Where& w) {
  if (key == "Name") {
    // The name is everything after "Name:\t": it may start or end with blanks.
    if (!raw.empty() && raw.front() == '\t') raw.remove_prefix(1);
    s.name = unescape_task_name(raw, w);
    return kSeenName;
  }
  std::string_view v = trim(raw);
  auto hex = [&](const char* what) { return number<uint64_t>(v, w, what, 16); };
  if (key == "State") {
    if (v.empty() || !std::isalpha(static_cast<unsigned char>(v.front()))) w.fail("bad State " + quote(v));
    s.state = v.front();
    return kSeenState;
  }
  if (key == "Tgid") {
    s.tgid = number<pid_t>(v, w, "Tgid");
    return kSeenTgid;
  }
  if (key == "Pid") {
    s.pid = number<pid_t>(v, w, "Pid");
    return kSeenPid;
  }
  if (key == "PPid") {
    s.ppid = number<pid_t>(v, w, "PPid");
    return kSeenPPid;
  }
  if (key == "Uid") {
    fixed_ids(v, s.uid, w, "Uid");
    return kSeenUid;
  }
  if (key == "Gid") {
    fixed_ids(v, s.gid, w, "Gid");
    return kSeenGid;
  }
  if (key == "TracerPid") s.tracer_pid = number<pid_t>(v, w, "TracerPid");
  else if (key == "Groups") s.groups = number_list<uint32_t>(v, w, "group");
  else if (key == "NStgid") s.nstgid = number_list<pid_t>(v, w, "NStgid");
  else if (key == "NSpid") s.nspid = number_list<pid_t>(v, w, "NSpid");
  else if (key == "NSpgid") s.nspgid = number_list<pid_t>(v, w, "NSpgid");
  else if (key == "NSsid") s.nssid = number_list<pid_t>(v, w, "NSsid");
  else if (key == "Threads") s.threads = number<int>(v, w, "Threads");
  else if (key == "SigPnd") s.sig_pnd = hex("SigPnd");
  else if (key == "ShdPnd") s.shd_pnd = hex("ShdPnd");
  else if (key == "SigBlk") s.sig_blk = hex("SigBlk");
  else if (key == "SigIgn") s.sig_ign = hex("SigIgn");
  else if (key == "SigCgt") s.sig_cgt = hex("SigCgt");
  else if (key == "CapInh") s.cap_inh = hex("CapInh");
  else if (key == "CapPrm") s.cap_prm = hex("CapPrm");
  else if (key == "CapEff") s.cap_eff = hex("CapEff");
  else if (key == "CapBnd") s.cap_bnd = hex("CapBnd");
  else if (key == "CapAmb") s.cap_amb = hex("CapAmb");
  else if (key == "NoNewPrivs") {
    int n = number<int>(v, w, "NoNewPrivs");
    if (n != 0 && n != 1) w.fail("bad NoNewPrivs " + quote(v));
    s.no_new_privs = n == 1;
  } else if (key == "Seccomp") {
    s.seccomp = number<int>(v, w, "Seccomp");
    if (s.seccomp < 0 || s.seccomp > 2) w.fail("bad Seccomp " + quote(v));
  } else if (key == "Seccomp_filters") {
    s.seccomp_filters = number<int>(v, w, "Seccomp_filters");
  } else if (key == "Umask") {
    s.umask = number<uint32_t>(v, w, "Umask", 8);
    if (s.umask > 0777) w.fail("bad Umask " + quote(v));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// stat

// stat fields 3..52 of proc(5), counted from the state.
constexpr size_t kStatFirst = 3, kStatLast = 52;
constexpr size_t kStatFields = kStatLast - kStatFirst + 1;

struct StatFields {
  std::array<std::string_view, kStatFields> f;
  std::string_view operator[](size_t proc5_number) const { return f[proc5_number - kStatFirst]; }
};

// ---------------------------------------------------------------------------------------------
// fdinfo

// True for a "key: value" line with one key: the key has no blanks and the value holds no other
// "word:" label (epoll "tfd: 5 events: 19 ...", lock "lock:\t1: POSIX ..."). Colons not followed
// by a blank ("pos:0", "fe:00:123", a PCI address) are part of a value.
bool single_key_value(std::string_view line, std::string_view& key, std::string_view& value) {
  if (!split_at(line, ':', key, value)) return false;
  if (key.empty() || std::any_of(key.begin(), key.end(), is_space)) return false;
  value = trim(value);
  for (size_t at = value.find(':'); at != std::string_view::npos; at = value.find(':', at + 1))
    if (at + 1 == value.size() || is_space(value[at + 1])) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// limits

// Row names of /proc/PID/limits in RLIMIT_* order (lnames[] in fs/proc/base.c).
constexpr std::array<std::string_view, 16> kLimitNames = {
    "Max cpu time",        "Max file size",       "Max data size",         "Max stack size",
    "Max core file size",  "Max resident set",    "Max processes",         "Max open files",
    "Max locked memory",   "Max address space",   "Max file locks",        "Max pending signals",
    "Max msgqueue size",   "Max nice priority",   "Max realtime priority", "Max realtime timeout",
};
static_assert(RLIMIT_CPU == 0 && RLIMIT_RTTIME == 15 && RLIMIT_NOFILE == 7 && RLIMIT_AS == 9);

// The RLIMIT_* index of a row, or -1. The name must be followed by a blank, so that no name
// matches as a prefix of a longer one.
int limit_index(std::string_view line) {
  for (size_t i = 0; i < kLimitNames.size(); ++i) {
    auto n = kLimitNames[i];
    if (line.size() > n.size() && line.substr(0, n.size()) == n && line[n.size()] == ' ') return static_cast<int>(i);
  }
  return -1;
}

uint64_t limit_value(std::string_view tok, const Where& w) {
  if (tok == "unlimited") return RLIM_INFINITY;
  return number<uint64_t>(tok, w, "limit");
}

// ---------------------------------------------------------------------------------------------
// mountinfo

// Undoes mangle()/seq_escape(): the kernel writes space, tab, newline and backslash as "\ooo",
// so a backslash is always the start of exactly three octal digits.
std::string unescape_octal(std::string_view s, const Where& w) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    auto v = i + 3 < s.size() ? to_number<unsigned>(s.substr(i + 1, 3), 8) : std::nullopt;
    if (!v || *v > 0377) w.fail("bad escape in " + quote(s));
    out += static_cast<char>(*v);
    i += 3;
  }
  return out;
}

// Splits at every separator: n separators give n + 1 fields, empty ones included.
void split_fields(std::string_view s, char sep, std::vector<std::string_view>& out) {
  out.clear();
  for (;;) {
    size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return;
    s.remove_prefix(at + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// reading

// Reads until EOF: /proc files report st_size 0 and seq_file hands out a page or so per read.
// Returns nullopt when `missing_ok` and the file or its process is gone.
std::optional<std::string> read_all(const std::string& path, bool missing_ok) {
  auto gone = [&](int err) { return missing_ok && (err == ENOENT || err == ESRCH); };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    if (gone(errno)) return std::nullopt;
    throw_errno("read " + path);
  }
  std::string out(16384, '\0');
  size_t len = 0;
  for (;;) {
    if (len == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::read(fd.get(), out.data() + len, out.size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (gone(errno)) return std::nullopt;
      throw_errno("read " + path);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  out.resize(len);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<MapsEntry> parse_maps(std::string_view text, std::string_view file) {
  std::vector<MapsEntry> out;
  out.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) out.push_back(parse_maps_line(line, lines.where()));
  return out;
}

std::vector<MapsEntry> parse_smaps(std::string_view text, std::string_view file) {
  std::vector<MapsEntry> out;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    if (!is_smaps_detail(line)) {
      out.push_back(parse_maps_line(line, lines.where()));
      continue;
    }
    if (out.empty()) lines.where().fail("detail line before any mapping: " + quote(line));
    parse_smaps_detail(line, out.back(), lines.where());
  }
  return out;
}

Status parse_status(std::string_view text, std::string_view file) {
  Status s;
  unsigned seen = 0;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    std::string_view key, value;
    if (!split_at(line, ':', key, value)) lines.where().fail("not a 'Key: value' line: " + quote(line));
    seen |= apply_status_field(s, key, value, lines.where());
  }
  if (seen != kSeenAll) {
    static constexpr std::pair<unsigned, const char*> kNames[] = {
        {kSeenName, "Name"}, {kSeenState, "State"}, {kSeenTgid, "Tgid"}, {kSeenPid, "Pid"},
        {kSeenPPid, "PPid"}, {kSeenUid, "Uid"},     {kSeenGid, "Gid"}};
    for (auto [bit, name] : kNames)
      if (!(seen & bit)) fail_file(file, std::string("no '") + name + ":' line");
  }
  return s;
}

Stat parse_stat(std::string_view text, std::string_view file) {
  const Where w{file, 1};
  // comm is printed raw (spaces, parentheses, even newlines): it spans from the first '(' to
  // the last ')', and every field around it is a plain number.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    w.fail("no '(comm)' in " + quote(text));
  std::string_view pid = text.substr(0, open);
  if (pid.empty() || pid.back() != ' ') w.fail("bad pid " + quote(pid));
  pid.remove_suffix(1);

  Stat st;
  st.pid = number<pid_t>(pid, w, "pid");
  st.comm.assign(text.substr(open + 1, close - open - 1));

  std::string_view rest = text.substr(close + 1);
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  if (rest.empty() || rest.front() != ' ') w.fail("bad text after comm " + quote(rest));
  rest.remove_prefix(1);

  StatFields f;
  for (auto& field : f.f) {
    if (rest.empty()) w.fail("truncated: fewer than " + std::to_string(kStatLast) + " fields");
    field = take_until(rest, ' ');
  }
  // Fields past 52 would be new kernel additions: ignored.

  if (f[3].size() != 1) w.fail("bad state " + quote(f[3]));
  st.state = f[3].front();
  st.ppid = number<pid_t>(f[4], w, "ppid");
  st.pgrp = number<pid_t>(f[5], w, "pgrp");
  st.session = number<pid_t>(f[6], w, "session");
  st.tty_nr = number<int>(f[7], w, "tty_nr");
  st.flags = number<uint64_t>(f[9], w, "flags");
  st.num_threads = number<int64_t>(f[20], w, "num_threads");
  st.starttime = number<uint64_t>(f[22], w, "starttime");
  st.startcode = number<uint64_t>(f[26], w, "startcode");
  st.endcode = number<uint64_t>(f[27], w, "endcode");
  st.startstack = number<uint64_t>(f[28], w, "startstack");
  st.exit_signal = number<int>(f[38], w, "exit_signal");
  st.start_data = number<uint64_t>(f[45], w, "start_data");
  st.end_data = number<uint64_t>(f[46], w, "end_data");
  st.start_brk = number<uint64_t>(f[47], w, "start_brk");
  st.arg_start = number<uint64_t>(f[48], w, "arg_start");
  st.arg_end = number<uint64_t>(f[49], w, "arg_end");
  st.env_start = number<uint64_t>(f[50], w, "env_start");
  st.env_end = number<uint64_t>(f[51], w, "env_end");
  st.exit_code = number<int>(f[52], w, "exit_code");
  for (size_t n = kStatFirst + 1; n <= kStatLast; ++n) check_integer(f[n], w, n);
  return st;
}

FdInfo parse_fdinfo(std::string_view text, std::string_view file) {
  FdInfo info;
  bool have_pos = false, have_flags = false;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    const Where& w = lines.where();
    std::string_view key, value;
    if (!single_key_value(line, key, value)) {
      if (!trim(line).empty()) info.extra_lines.emplace_back(line);
      continue;
    }
    if (key == "pos") {
      info.pos = number<uint64_t>(value, w, "pos");
      have_pos = true;
    } else if (key == "flags") {
      info.flags = number<uint32_t>(value, w, "flags", 8);
      have_flags = true;
    } else if (key == "mnt_id") {
      info.mnt_id = number<int>(value, w, "mnt_id");
    } else if (key == "ino") {
      info.ino = number<uint64_t>(value, w, "ino");
    } else {
      info.extra.insert_or_assign(std::string(key), std::string(value));
    }
  }
  if (!have_pos) fail_file(file, "no 'pos:' line");
  if (!have_flags) fail_file(file, "no 'flags:' line");
  return info;
}

namespace {

// "key: value" pairs of a line like "tfd:        6 events:       1d data: 1234  pos:0 ino:1a" or
// "inotify wd:1 ino:3c51a sdev:fe00000 mask:300": a label ends in ':' and its value follows,
// in the same token or the next.
std::vector<std::pair<std::string_view, std::string_view>> labeled_values(std::string_view line, const Where& w) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  Tokens t(line);
  for (std::string_view tok; t.next(tok);) {
    size_t colon = tok.find(':');
    if (colon == std::string_view::npos) continue;  // a leading word ("inotify")
    std::string_view key = tok.substr(0, colon), value = tok.substr(colon + 1);
    if (value.empty() && !t.next(value)) w.fail("no value after " + quote(key));
    out.emplace_back(key, value);
  }
  return out;
}

// Every value of a line's labels must be present once: returns them in the order of `keys`.
template <size_t N>
std::array<std::string_view, N> need_labels(std::string_view line, const Where& w, const std::array<const char*, N>& keys) {
  std::array<std::string_view, N> out{};
  std::array<bool, N> seen{};
  for (auto& [k, v] : labeled_values(line, w))
    for (size_t i = 0; i < N; i++)
      if (k == keys[i]) {
        out[i] = v;
        seen[i] = true;
      }
  for (size_t i = 0; i < N; i++)
    if (!seen[i]) w.fail(std::string("no '") + keys[i] + ":' in " + quote(line));
  return out;
}

// "(sec, nsec)" as timerfd shows it_value and it_interval.
int64_t timespec_ns(std::string_view v, const Where& w, const char* what) {
  v = trim(v);
  if (v.size() < 5 || v.front() != '(' || v.back() != ')') w.fail(std::string("bad ") + what + " " + quote(v));
  v = v.substr(1, v.size() - 2);
  size_t comma = v.find(',');
  if (comma == std::string_view::npos) w.fail(std::string("bad ") + what + " " + quote(v));
  auto sec = number<int64_t>(trim(v.substr(0, comma)), w, what);
  auto nsec = number<int64_t>(trim(v.substr(comma + 1)), w, what);
  if (sec < 0 || nsec < 0 || nsec >= 1000000000 || sec > INT64_MAX / 1000000000 - 1)
    w.fail(std::string(what) + " out of range " + quote(v));
  return sec * 1000000000 + nsec;
}

}  // namespace

EventfdInfo parse_eventfd_fdinfo(std::string_view text, std::string_view file) {
  EventfdInfo out;
  bool have_count = false;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    std::string_view key, value;
    if (!single_key_value(line, key, value)) continue;
    if (key == "eventfd-count") {
      out.count = number<uint64_t>(value, lines.where(), "eventfd-count", 16);
      have_count = true;
    } else if (key == "eventfd-semaphore") {
      out.semaphore = number<int>(value, lines.where(), "eventfd-semaphore") != 0;
      out.semaphore_known = true;
    }
  }
  if (!have_count) fail_file(file, "no 'eventfd-count:' line");
  return out;
}

TimerfdInfo parse_timerfd_fdinfo(std::string_view text, std::string_view file) {
  TimerfdInfo out;
  unsigned seen = 0;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    const Where& w = lines.where();
    if (line.substr(0, 14) == "settime flags:") {
      out.settime_flags = number<uint32_t>(trim(line.substr(14)), w, "settime flags", 8);
      seen |= 1;
      continue;
    }
    std::string_view key, value;
    if (!single_key_value(line, key, value)) continue;
    if (key == "clockid") out.clockid = number<int>(value, w, "clockid"), seen |= 2;
    else if (key == "ticks") out.ticks = number<uint64_t>(value, w, "ticks"), seen |= 4;
    else if (key == "it_value") out.value_ns = timespec_ns(value, w, "it_value"), seen |= 8;
    else if (key == "it_interval") out.interval_ns = timespec_ns(value, w, "it_interval"), seen |= 16;
  }
  if (seen != 31) fail_file(file, "not a timerfd (clockid, ticks, settime flags, it_value, it_interval expected)");
  return out;
}

uint64_t parse_signalfd_fdinfo(std::string_view text, std::string_view file) {
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    std::string_view key, value;
    if (single_key_value(line, key, value) && key == "sigmask") return number<uint64_t>(value, lines.where(), "sigmask", 16);
  }
  fail_file(file, "no 'sigmask:' line");
}

std::vector<EpollTfd> parse_epoll_fdinfo(std::string_view text, std::string_view file) {
  std::vector<EpollTfd> out;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    if (line.substr(0, 4) != "tfd:") continue;
    const Where& w = lines.where();
    auto v = need_labels<6>(line, w, {"tfd", "events", "data", "pos", "ino", "sdev"});
    EpollTfd e;
    e.tfd = number<int>(v[0], w, "tfd");
    e.events = number<uint32_t>(v[1], w, "events", 16);
    e.data = number<uint64_t>(v[2], w, "data", 16);
    e.pos = number<uint64_t>(v[3], w, "pos");
    e.ino = number<uint64_t>(v[4], w, "ino", 16);
    e.sdev = number<uint32_t>(v[5], w, "sdev", 16);
    if (e.tfd < 0) w.fail("negative tfd");
    out.push_back(e);
  }
  return out;
}

std::vector<InotifyMark> parse_inotify_fdinfo(std::string_view text, std::string_view file) {
  std::vector<InotifyMark> out;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    if (line.substr(0, 8) != "inotify ") continue;
    const Where& w = lines.where();
    auto v = need_labels<5>(line, w, {"wd", "ino", "sdev", "mask", "ignored_mask"});
    InotifyMark m;
    m.wd = number<int>(v[0], w, "wd", 16);  // "wd:%x"
    m.ino = number<uint64_t>(v[1], w, "ino", 16);
    m.sdev = number<uint32_t>(v[2], w, "sdev", 16);
    m.mask = number<uint32_t>(v[3], w, "mask", 16);
    m.ignored_mask = number<uint32_t>(v[4], w, "ignored_mask", 16);
    // The handle is missing when the file system cannot encode one.
    for (auto& [k, val] : labeled_values(line, w)) {
      if (k == "fhandle-type") m.fhandle_type = number<int>(val, w, "fhandle-type", 16);
      if (k == "f_handle") {
        if (val.size() % 2) w.fail("odd f_handle " + quote(val));
        for (size_t i = 0; i < val.size(); i += 2) m.fhandle.push_back(number<uint8_t>(val.substr(i, 2), w, "f_handle", 16));
      }
    }
    if (m.wd <= 0) w.fail("bad wd " + quote(v[0]));
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const InotifyMark& a, const InotifyMark& b) { return a.wd < b.wd; });
  return out;
}

PidfdInfo parse_pidfd_fdinfo(std::string_view text, std::string_view file) {
  PidfdInfo out;
  bool have_pid = false;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    std::string_view key, value;
    if (!single_key_value(line, key, value)) continue;
    if (key == "Pid") {
      out.pid = number<pid_t>(value, lines.where(), "Pid");
      have_pid = true;
    } else if (key == "NSpid") {
      out.nspid = number_list<pid_t>(value, lines.where(), "NSpid");
    }
  }
  if (!have_pid) fail_file(file, "no 'Pid:' line");
  return out;
}

std::vector<Limit> parse_limits(std::string_view text, std::string_view file) {
  std::vector<Limit> out(kLimitNames.size());
  std::array<bool, kLimitNames.size()> seen{};
  Lines lines(text, file);
  std::string_view line;
  if (!lines.next(line)) fail_file(file, "empty");
  if (line.substr(0, 6) != "Limit ") lines.where().fail("bad header " + quote(line));
  while (lines.next(line)) {
    const Where& w = lines.where();
    int idx = limit_index(line);
    if (idx < 0) {
      // A limit added by a newer kernel has no RLIMIT_* slot here; anything else is garbage.
      if (line.substr(0, 4) == "Max ") continue;
      w.fail("bad limit row " + quote(line));
    }
    if (seen[idx]) w.fail("duplicate row " + quote(kLimitNames[idx]));
    seen[idx] = true;
    Tokens t(line.substr(kLimitNames[idx].size()));
    std::string_view soft, hard, unit, more;
    if (!t.next(soft) || !t.next(hard)) w.fail("missing values in " + quote(line));
    if (t.next(unit) && t.next(more)) w.fail("trailing text in " + quote(line));
    out[idx] = {limit_value(soft, w), limit_value(hard, w)};
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) fail_file(file, "no '" + std::string(kLimitNames[i]) + "' row");
  return out;
}

std::vector<uint64_t> parse_auxv(std::string_view bytes, std::string_view file) {
  constexpr size_t kPair = 2 * sizeof(uint64_t);
  if (bytes.size() % kPair != 0)
    fail_file(file, "size " + std::to_string(bytes.size()) + " is not a multiple of " + std::to_string(kPair));
  std::vector<uint64_t> out;
  for (size_t at = 0; at < bytes.size(); at += kPair) {
    uint64_t kv[2];
    std::memcpy(kv, bytes.data() + at, kPair);  // the text need not be 8-byte aligned
    out.push_back(kv[0]);
    out.push_back(kv[1]);
    if (kv[0] == 0) return out;  // AT_NULL
  }
  fail_file(file, "no AT_NULL entry");
}

std::vector<MountInfo> parse_mountinfo(std::string_view text, std::string_view file) {
  std::vector<MountInfo> out;
  std::vector<std::string_view> f;
  Lines lines(text, file);
  for (std::string_view line; lines.next(line);) {
    const Where& w = lines.where();
    // Fields are separated by exactly one space; an empty source shows as two spaces.
    split_fields(line, ' ', f);
    auto sep = std::find(f.begin() + std::min<size_t>(f.size(), 6), f.end(), "-");
    if (f.size() < 10 || sep == f.end()) w.fail("truncated line " + quote(line));
    if (f.end() - sep != 4) w.fail("expected fstype, source and options after ' - ' in " + quote(line));

    MountInfo m;
    m.mnt_id = number<int>(f[0], w, "mount id");
    m.parent_id = number<int>(f[1], w, "parent id");
    std::string_view major, minor;
    if (!split_at(f[2], ':', major, minor)) w.fail("bad device " + quote(f[2]));
    m.dev_major = number<uint32_t>(major, w, "device");
    m.dev_minor = number<uint32_t>(minor, w, "device");
    m.root = unescape_octal(f[3], w);
    m.mount_point = unescape_octal(f[4], w);
    m.options.assign(f[5]);
    for (auto it = f.begin() + 6; it != sep; ++it) m.optional_fields.emplace_back(*it);
    m.fstype = unescape_octal(sep[1], w);
    m.source = unescape_octal(sep[2], w);
    m.super_options.assign(sep[3]);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<pid_t> parse_children(std::string_view text, std::string_view file) {
  const Where w{file, 1};
  std::vector<pid_t> out;
  Tokens t(text);
  for (std::string_view tok; t.next(tok);) {
    pid_t pid = number<pid_t>(tok, w, "pid");
    if (pid <= 0) w.fail("bad pid " + quote(tok));
    out.push_back(pid);
  }
  return out;
}

std::string read_file(const std::string& path) { return *read_all(path, false); }

std::optional<std::string> read_file_if_exists(const std::string& path) { return read_all(path, true); }

void write_file(const std::string& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) throw_errno("open " + path);
  ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) throw_errno("write '" + std::string(text.substr(0, text.find('\n'))) + "' to " + path);
  if (static_cast<size_t>(n) != text.size())
    throw Error("write '" + std::string(text.substr(0, text.find('\n'))) + "' to " + path + ": only " +
                std::to_string(n) + " of " + std::to_string(text.size()) + " bytes taken");
}

std::string read_link(const std::string& path) {
  // readlink truncates silently: retry with a larger buffer until the result fits.
  for (size_t size = 256; size <= (size_t{1} << 20); size *= 2) {
    std::string buf(size, '\0');
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) throw_errno("readlink " + path);
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
  }
  throw Error("readlink " + path + ": target longer than 1 MiB", ExitCode::failure);
}

}  // namespace ck::proc
