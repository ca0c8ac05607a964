// The checkpoint image format: codec, directory (staging, commit, verification), JSON and the
// ckimage command line.
#define BOOST_TEST_MODULE test_image
#define BOOST_BIND_GLOBAL_PLACEHOLDERS  // property_tree still includes the deprecated boost/bind.hpp
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <tuple>

#include "arch.hpp"
#include "error.hpp"
#include "image_dir.hpp"
#include "image_json.hpp"

namespace fs = std::filesystem;
using namespace ck::img;  // test file: keeps the many record names short

namespace {

// ---- fully populated records -------------------------------------------------------------

// Every field gets a distinct non-default value, so a field the codec forgets cannot round-trip.
struct Filler {
  uint64_t n = 0x1000;
  uint64_t u64() { return n++ * 0x0101010101ull; }
  uint32_t u32() { return static_cast<uint32_t>(n++ * 7 + 3); }
  int32_t i32() { return -static_cast<int32_t>(n++ % 100000) - 2; }
  int64_t i64() { return -static_cast<int64_t>(n++) * 1000003; }
  std::string str(const std::string& base) { return base + "-" + std::to_string(n++); }
  std::vector<uint8_t> blob(size_t len) {
    std::vector<uint8_t> b(len);
    for (auto& x : b) x = static_cast<uint8_t>(n++);
    return b;
  }
  SigInfo siginfo() {
    SigInfo s;
    for (auto& x : s.raw) x = static_cast<uint8_t>(n++ | 1);
    return s;
  }
};

Thread make_thread(Filler& f) {
  Thread t;
  t.tid = static_cast<int32_t>(f.u32() & 0xffff);
  t.comm = f.str("thr");
  t.gpregs = f.blob(ck::arch::blank_gp_regs().size());
  t.fpregs = f.blob(832);
  t.sigmask = f.u64();
  t.pending = {f.siginfo(), f.siginfo()};
  t.altstack = {f.u64(), f.u64(), 1};
  t.clear_child_tid = f.u64();
  t.robust_list = f.u64();
  t.robust_list_len = f.u64();
  t.rseq = {f.u64(), f.u32(), f.u32(), f.u32()};
  return t;
}

Process make_process(Filler& f, int32_t pid) {
  Process p;
  p.pid = pid;
  p.ppid = f.i32();
  p.pgid = f.i32();
  p.sid = f.i32();
  p.comm = f.str("comm\n\x01\xff");
  p.cwd = f.str("/home/\xc3\xa9t\xc3\xa9");
  p.umask = 077;
  p.personality = f.u32();
  p.creds = Creds{f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(),
                  {f.u32(), f.u32(), f.u32()}, f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u32(), true};
  for (auto& l : p.rlimits) l = {f.u64(), f.u64()};
  p.pdeathsig = 9;
  p.child_subreaper = true;
  p.dumpable = 2;
  p.timerslack_ns = f.u64();
  p.thp_disable = true;
  p.mm.start_code = f.u64();
  p.mm.end_code = f.u64();
  p.mm.start_data = f.u64();
  p.mm.end_data = f.u64();
  p.mm.start_brk = f.u64();
  p.mm.brk = f.u64();
  p.mm.start_stack = f.u64();
  p.mm.arg_start = f.u64();
  p.mm.arg_end = f.u64();
  p.mm.env_start = f.u64();
  p.mm.env_end = f.u64();
  p.mm.auxv = {6, 4096, 25, f.u64(), 0, 0};
  p.mm.exe_file_id = 1;
  for (auto& a : p.sigactions) a = {f.u64(), f.u64(), f.u64(), f.u64()};
  p.shared_pending = {f.siginfo()};
  for (auto& t : p.itimers) t = {f.i64(), f.i64()};
  p.vmas = {Vma{0x400000, 0x401000, 5, VmaKind::file_private, advice_locked | advice_dontdump, 0x3000, 1, "/bin/x"},
            Vma{0x10000000, 0x10004000, 3, VmaKind::anon_shared, advice_wipeonfork, 0, -1, "/dev/zero (deleted)",
                f.u64()},
            Vma{0x7fff0000, 0x7fff2000, 1, VmaKind::vvar_vclock, 0, f.u64(), -1, "[vvar_vclock]"}};
  p.fds = {Fd{0, FdKind::stdio, 2, true, f.u64(), -1, -1, -1, "/dev/pts/3"},
           Fd{3, FdKind::file, 02002, false, f.u64(), 0, -1, -1, "/tmp/data"},
           Fd{5, FdKind::pipe, 1, true, 0, -1, 0, 3, "pipe:[77]"}};
  p.threads = {make_thread(f), make_thread(f)};
  p.pages = {PageFrame{4096, Codec::raw, 8192, 8192, {{0x10000000, 1}, {0x10002000, 1}}},
             PageFrame{f.u64(), Codec::zstd, f.u32(), f.u32(), {{f.u64(), f.u32()}}}};
  p.pages_raw_bytes = f.u64();
  p.zero_pages_skipped = f.u64();
  p.posix_timers = {PosixTimer{f.i32(), -6, 4 | 0, 34, f.i32(), f.u64(), f.i64(), f.i64(), f.i32()}};
  p.locks = {FileLock{LockKind::ofd, true, 3, f.u64(), f.u64()}, FileLock{LockKind::flock, false, 3, 0, 0}};
  p.cgroup = f.str("0::/user.slice");
  return p;
}

Tree make_full_tree() {
  Filler f;
  Tree t;
  t.root_pid = 412;
  t.files = {File{0, FileType::chardev, "/tmp/data", 0100644, f.u64(), f.i64(), f.u64(), f.u64(), f.u64(), true,
                  "file-0.ck"},
             File{1, FileType::blockdev, f.str("/bin/x"), 0100755, f.u64(), f.i64(), f.u64(), f.u64(), f.u64(), false,
                  ""}};
  t.pipes = {Pipe{0, f.u64(), 65536, std::string("queued\0bytes", 12)}};
  t.processes = {make_process(f, 412), make_process(f, 413)};
  t.files[0].memfd = true;
  t.files[0].seals = 0x1f;
  EventFile ep;
  ep.id = 0;
  ep.kind = FdKind::epoll;
  ep.targets = {EpollTarget{4, 0x80000019, f.u64(), 1}};
  EventFile tf;
  tf.id = 1;
  tf.kind = FdKind::timerfd;
  tf.clockid = 7;
  tf.settime_flags = 1;
  tf.value_ns = f.i64();
  tf.interval_ns = f.i64();
  tf.deadline_ns = f.i64();
  tf.count = f.u64();
  EventFile in;
  in.id = 2;
  in.kind = FdKind::inotify;
  in.watches = {InotifyWatch{3, 0x4000002, f.u64(), f.u64(), f.str("/etc/watched")}};
  t.event_files = {ep, tf, in};
  Fd efd{7, FdKind::epoll, 2, true, 0, -1, -1, 4, "anon_inode:[eventpoll]"};
  efd.event_id = 0;
  t.processes[1].fds.push_back(efd);
  t.time_ns = true;
  t.monotonic_ns = f.i64();
  t.boottime_ns = f.i64();
  t.sysv_shm = {SysvShm{{1, f.i32(), 01600, f.u32(), f.u32()}, 4096, f.str("segment")}};
  t.sysv_sem = {SysvSem{{2, 0, 0600, 1, 2}, {5, 0, 7}}};
  t.sysv_msg = {SysvMsgQueue{{3, 0x4321, 0640, 1, 2}, 16384, {SysvMsg{1, f.str("hello")}, SysvMsg{2, ""}}}};
  return t;
}

Manifest make_full_manifest() {
  Manifest m;
  m.arch = "x86_64";
  m.page_size = 16384;
  m.kernel = "6.18.0-test";
  m.hostname = "host\x7f";
  m.ck_version = "0.1.0";
  m.created_unix_ns = 1700000000123456789;
  m.root_pid = 412;
  m.cpu = {0x2e7, 2696, 0xbfebfbff, 0x2};
  m.vdso_size = 8192;
  m.vdso_xxh3 = 0xdeadbeefcafef00d;
  m.vvar_size = 16384;
  m.vvar_vclock_size = 8192;
  m.entries = {{"tree.ck", 1234, 0x1111}, {"pages-412.ck", 99999999999, 0x2222}};
  return m;
}

// ---- the golden image: every record type, every field, every enum value --------------------
// Encoded with the codec of format version 2 into tests/fixtures/image_codec/*-v2.bin, so that
// any change of the bytes on disk (a field's width, order, a forgotten field) fails the test
// instead of misreading old images. The values are full-width and distinct so that a field
// written with the wrong width or in the wrong place changes the bytes. Arch-independent on
// purpose: the fixture must be the same on every machine.

struct GoldenFiller {
  uint64_t n = 1;
  uint64_t u64() { return 0x8877665544332211ull + (n++ << 8); }
  uint32_t u32() { return 0xa1b2c300u + static_cast<uint32_t>(n++); }
  int32_t i32() { return -0x10203000 - static_cast<int32_t>(n++); }
  int64_t i64() { return -0x0102030405060000ll - static_cast<int64_t>(n++); }
  std::string str(const std::string& base) { return base + "\x01\xff-" + std::to_string(n++); }
  std::vector<uint8_t> blob(size_t len) {
    std::vector<uint8_t> b(len);
    for (auto& x : b) x = static_cast<uint8_t>(0x80 | n++);
    return b;
  }
  SigInfo siginfo() {
    SigInfo s;
    for (auto& x : s.raw) x = static_cast<uint8_t>(n++ | 1);
    return s;
  }
};

constexpr size_t kGoldenFiles = 5, kGoldenPipes = 2, kGoldenSockets = 3, kGoldenEventFiles = 6;

Thread make_golden_thread(GoldenFiller& f) {
  Thread t;
  t.tid = static_cast<int32_t>(0x7000 + f.u32() % 0x1000);
  t.comm = f.str("thread");
  t.gpregs = f.blob(27 * 8);
  t.fpregs = f.blob(512);
  t.sigmask = f.u64();
  t.pending = {f.siginfo(), f.siginfo()};
  t.altstack = {f.u64(), f.u64(), f.i32()};
  t.clear_child_tid = f.u64();
  t.robust_list = f.u64();
  t.robust_list_len = f.u64();
  t.rseq = {f.u64(), f.u32(), f.u32(), f.u32()};
  t.seccomp_filters = {f.blob(8), f.blob(24)};
  return t;
}

Process make_golden_process(GoldenFiller& f, int32_t pid, bool zombie) {
  Process p;
  p.pid = pid;
  p.ppid = f.i32();
  p.pgid = f.i32();
  p.sid = f.i32();
  p.zombie = zombie;
  p.exit_status = f.i32();
  p.exit_signal = f.i32();
  p.comm = f.str("comm");
  p.cwd = f.str("/home/\xc3\xa9t\xc3\xa9");
  p.umask = f.u32();
  p.personality = f.u32();
  p.creds = Creds{f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(),
                  {f.u32(), f.u32(), f.u32()}, f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u32(), true};
  for (auto& l : p.rlimits) l = {f.u64(), f.u64()};
  p.pdeathsig = f.i32();
  p.child_subreaper = true;
  p.dumpable = f.i32();
  p.timerslack_ns = f.u64();
  p.thp_disable = true;
  p.mm = MmInfo{f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u64(), f.u64(),
                {f.u64(), f.u64(), f.u64(), f.u64()}, static_cast<int32_t>(kGoldenFiles - 1)};
  for (auto& a : p.sigactions) a = {f.u64(), f.u64(), f.u64(), f.u64()};
  p.shared_pending = {f.siginfo(), f.siginfo()};
  for (auto& t : p.itimers) t = {f.i64(), f.i64()};
  for (uint8_t k = 0; k <= static_cast<uint8_t>(VmaKind::sysv_shm); ++k)
    p.vmas.push_back(Vma{f.u64(), f.u64(), f.u32(), static_cast<VmaKind>(k), f.u32(), f.u64(),
                         static_cast<int32_t>(k % kGoldenFiles), f.str("vma"), f.u64()});
  // One fd of every kind, each pointing at a record of its kind (decode_tree checks that).
  for (uint8_t k = 0; k <= kMaxFdKind; ++k) {
    Fd fd{static_cast<int32_t>(3 + k), static_cast<FdKind>(k), f.u32(), k % 2 == 0, f.u64(),
          static_cast<int32_t>(k % kGoldenFiles), static_cast<int32_t>(k % kGoldenPipes), f.i32(), f.str("link"),
          static_cast<int32_t>(k % kGoldenSockets), -1};
    if (fd.kind >= FdKind::eventfd) fd.event_id = k - static_cast<uint8_t>(FdKind::eventfd);
    p.fds.push_back(fd);
  }
  p.threads = {make_golden_thread(f), make_golden_thread(f)};
  p.pages = {PageFrame{f.u64(), Codec::raw, f.u32(), f.u32(), {{f.u64(), f.u32()}, {f.u64(), f.u32()}}},
             PageFrame{f.u64(), Codec::zstd, f.u32(), f.u32(), {{f.u64(), f.u32()}}}};
  p.pages_raw_bytes = f.u64();
  p.zero_pages_skipped = f.u64();
  p.posix_timers = {PosixTimer{f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.u64(), f.i64(), f.i64(), f.i32()},
                    PosixTimer{f.i32(), f.i32(), f.i32(), f.i32(), f.i32(), f.u64(), f.i64(), f.i64(), f.i32()}};
  for (uint8_t k = 0; k <= static_cast<uint8_t>(LockKind::ofd); ++k)
    p.locks.push_back(FileLock{static_cast<LockKind>(k), k != 1, f.i32(), f.u64(), f.u64()});
  p.cgroup = f.str("0::/user.slice");
  return p;
}

Tree make_golden_tree() {
  Tree t;
  t.root_pid = 0x1234;
  t.own_namespaces = true;
  GoldenFiller f;
  t.uid_map = f.str("0 1000 1\n");
  t.gid_map = f.str("0 1000 1\n");
  for (uint8_t k = 0; k < kGoldenFiles; ++k)
    t.files.push_back(File{k, static_cast<FileType>(k), f.str("/path"), f.u32(), f.u64(), f.i64(), f.u64(), f.u64(),
                           f.u64(), k % 2 == 0, f.str("file.ck"), k % 2 == 1, f.u32()});
  for (int32_t k = 0; k < static_cast<int32_t>(kGoldenPipes); ++k)
    t.pipes.push_back(Pipe{k, f.u64(), f.u32(), f.str(std::string("pipe\0data", 9))});
  t.processes = {make_golden_process(f, 0x1234, false), make_golden_process(f, 0x1235, true)};
  for (uint8_t k = 0; k < kGoldenSockets; ++k) {
    Socket s;
    s.id = k;
    s.ino = f.u64();
    s.family = f.i32();
    s.type = f.i32();
    s.protocol = f.i32();
    s.state = static_cast<SocketState>(k);
    s.local = f.str(std::string("\1\0local", 7));
    s.remote = f.str("remote");
    s.peer_id = static_cast<int32_t>((k + 1) % kGoldenSockets);
    s.peer_closed = k != 0;
    s.unlinked = k != 1;
    s.dropped = k != 2;
    s.pending_accept = true;
    s.backlog = f.u32();
    s.shutdown = static_cast<uint8_t>(k + 1);
    s.options = {SockOpt{f.i32(), f.i32(), f.i32()}, SockOpt{f.i32(), f.i32(), f.i32()}};
    s.queue = {SockMsg{f.str("msg"), f.str("from")}, SockMsg{f.str("msg"), ""}};
    s.tcp = TcpState{f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(),
                     f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.u32(), f.str("send")};
    t.sockets.push_back(s);
  }
  t.own_netns = true;
  for (uint8_t k = 0; k < kGoldenEventFiles; ++k)
    t.event_files.push_back(EventFile{k, static_cast<FdKind>(static_cast<uint8_t>(FdKind::eventfd) + k), f.u64(),
                                      k % 2 == 0, f.u64(), f.i32(), f.u32(), f.i64(), f.i64(), f.i64(), f.i32(),
                                      k % 2 == 1, {EpollTarget{f.i32(), f.u32(), f.u64(), f.i32()}},
                                      {InotifyWatch{f.i32(), f.u32(), f.u64(), f.u64(), f.str("/watched")}}});
  t.time_ns = true;
  t.monotonic_ns = f.i64();
  t.boottime_ns = f.i64();
  for (int k = 0; k < 2; ++k) {
    t.sysv_shm.push_back(SysvShm{{f.i32(), f.i32(), f.u32(), f.u32(), f.u32()}, f.u64(), f.str("segment")});
    t.sysv_sem.push_back(SysvSem{{f.i32(), f.i32(), f.u32(), f.u32(), f.u32()}, {f.u32(), f.u32(), f.u32()}});
    t.sysv_msg.push_back(SysvMsgQueue{{f.i32(), f.i32(), f.u32(), f.u32(), f.u32()}, f.u64(),
                                      {SysvMsg{f.i64(), f.str("text")}, SysvMsg{f.i64(), f.str("more")}}});
  }
  return t;
}

Manifest make_golden_manifest() {
  GoldenFiller f;
  Manifest m;
  m.arch = f.str("arch");
  m.page_size = 65536;  // decode_manifest wants a power of two
  m.kernel = f.str("6.18.0");
  m.hostname = f.str("host");
  m.ck_version = f.str("ck");
  m.created_unix_ns = f.i64();
  m.root_pid = f.i32();
  m.cpu = {f.u64(), f.u32(), f.u64(), f.u64()};
  m.vdso_size = f.u64();
  m.vdso_xxh3 = f.u64();
  m.vvar_size = f.u64();
  m.vvar_vclock_size = f.u64();
  m.entries = {{f.str("tree.ck"), f.u64(), f.u64()}, {f.str("pages.ck"), f.u64(), f.u64()}};
  return m;
}

// ---- field-by-field comparison -------------------------------------------------------------
// Each returns "" when equal, else the path of the first differing field, so a failure names it.

#define CK_CMP(a, b, path, field) \
  if (!((a).field == (b).field)) return (path) + "." #field

// Declared up front: diff_list finds them by ordinary lookup (ADL would not look in here).
std::string diff(const SigInfo&, const SigInfo&, const std::string&);
std::string diff(const Vma&, const Vma&, const std::string&);
std::string diff(const File&, const File&, const std::string&);
std::string diff(const Fd&, const Fd&, const std::string&);
std::string diff(const Pipe&, const Pipe&, const std::string&);
std::string diff(const Socket&, const Socket&, const std::string&);
std::string diff(const EpollTarget&, const EpollTarget&, const std::string&);
std::string diff(const InotifyWatch&, const InotifyWatch&, const std::string&);
std::string diff(const EventFile&, const EventFile&, const std::string&);
std::string diff(const SigAction&, const SigAction&, const std::string&);
std::string diff(const Thread&, const Thread&, const std::string&);
std::string diff(const Rlimit&, const Rlimit&, const std::string&);
std::string diff(const ITimer&, const ITimer&, const std::string&);
std::string diff(const PageFrame::Run&, const PageFrame::Run&, const std::string&);
std::string diff(const PageFrame&, const PageFrame&, const std::string&);
std::string diff(const Process&, const Process&, const std::string&);
std::string diff(const ManifestEntry&, const ManifestEntry&, const std::string&);

std::string diff(const SigInfo& a, const SigInfo& b, const std::string& p) {
  CK_CMP(a, b, p, raw);
  return "";
}

template <typename T>
std::string diff_list(const T& a, const T& b, const std::string& p) {
  if (a.size() != b.size()) return p + ".size";
  for (size_t i = 0; i < a.size(); ++i)
    if (auto d = diff(a[i], b[i], p + "[" + std::to_string(i) + "]"); !d.empty()) return d;
  return "";
}

std::string diff(const Vma& a, const Vma& b, const std::string& p) {
  CK_CMP(a, b, p, start);
  CK_CMP(a, b, p, end);
  CK_CMP(a, b, p, prot);
  CK_CMP(a, b, p, kind);
  CK_CMP(a, b, p, advice);
  CK_CMP(a, b, p, pgoff);
  CK_CMP(a, b, p, file_id);
  CK_CMP(a, b, p, name);
  CK_CMP(a, b, p, shm_id);
  return "";
}

std::string diff(const File& a, const File& b, const std::string& p) {
  CK_CMP(a, b, p, id);
  CK_CMP(a, b, p, type);
  CK_CMP(a, b, p, path);
  CK_CMP(a, b, p, mode);
  CK_CMP(a, b, p, size);
  CK_CMP(a, b, p, mtime_ns);
  CK_CMP(a, b, p, dev);
  CK_CMP(a, b, p, ino);
  CK_CMP(a, b, p, rdev);
  CK_CMP(a, b, p, deleted);
  CK_CMP(a, b, p, content);
  CK_CMP(a, b, p, memfd);
  CK_CMP(a, b, p, seals);
  return "";
}

std::string diff(const Fd& a, const Fd& b, const std::string& p) {
  CK_CMP(a, b, p, fd);
  CK_CMP(a, b, p, kind);
  CK_CMP(a, b, p, flags);
  CK_CMP(a, b, p, cloexec);
  CK_CMP(a, b, p, pos);
  CK_CMP(a, b, p, file_id);
  CK_CMP(a, b, p, pipe_id);
  CK_CMP(a, b, p, ofd_id);
  CK_CMP(a, b, p, link);
  CK_CMP(a, b, p, socket_id);
  CK_CMP(a, b, p, event_id);
  return "";
}

std::string diff(const EpollTarget& a, const EpollTarget& b, const std::string& p) {
  CK_CMP(a, b, p, tfd);
  CK_CMP(a, b, p, events);
  CK_CMP(a, b, p, data);
  CK_CMP(a, b, p, target_ofd);
  return "";
}

std::string diff(const InotifyWatch& a, const InotifyWatch& b, const std::string& p) {
  CK_CMP(a, b, p, wd);
  CK_CMP(a, b, p, mask);
  CK_CMP(a, b, p, dev);
  CK_CMP(a, b, p, ino);
  CK_CMP(a, b, p, path);
  return "";
}

std::string diff(const EventFile& a, const EventFile& b, const std::string& p) {
  CK_CMP(a, b, p, id);
  CK_CMP(a, b, p, kind);
  CK_CMP(a, b, p, count);
  CK_CMP(a, b, p, semaphore);
  CK_CMP(a, b, p, sigmask);
  CK_CMP(a, b, p, clockid);
  CK_CMP(a, b, p, settime_flags);
  CK_CMP(a, b, p, value_ns);
  CK_CMP(a, b, p, interval_ns);
  CK_CMP(a, b, p, deadline_ns);
  CK_CMP(a, b, p, pid);
  CK_CMP(a, b, p, thread);
  if (auto d = diff_list(a.targets, b.targets, p + ".targets"); !d.empty()) return d;
  return diff_list(a.watches, b.watches, p + ".watches");
}

std::string diff(const Pipe& a, const Pipe& b, const std::string& p) {
  CK_CMP(a, b, p, id);
  CK_CMP(a, b, p, ino);
  CK_CMP(a, b, p, capacity);
  CK_CMP(a, b, p, data);
  return "";
}

// Sockets compared as a few tuples: a difference names the socket's part (".tcp", ".options").
std::string diff(const Socket& a, const Socket& b, const std::string& p) {
  auto own = [](const Socket& s) {
    return std::tie(s.id, s.ino, s.family, s.type, s.protocol, s.state, s.local, s.remote, s.peer_id, s.peer_closed,
                    s.unlinked, s.dropped, s.pending_accept, s.backlog, s.shutdown);
  };
  auto opt = [](const SockOpt& o) { return std::tie(o.level, o.name, o.value); };
  auto msg = [](const SockMsg& m) { return std::tie(m.data, m.from); };
  auto tcp = [](const TcpState& t) {
    return std::tie(t.snd_seq, t.rcv_seq, t.unsent, t.mss, t.options, t.snd_wscale, t.rcv_wscale, t.timestamp,
                    t.snd_wl1, t.snd_wnd, t.max_window, t.rcv_wnd, t.rcv_wup, t.send_queue);
  };
  if (own(a) != own(b)) return p;
  if (!std::ranges::equal(a.options, b.options, {}, opt, opt)) return p + ".options";
  if (!std::ranges::equal(a.queue, b.queue, {}, msg, msg)) return p + ".queue";
  if (tcp(a.tcp) != tcp(b.tcp)) return p + ".tcp";
  return "";
}

std::string diff(const SigAction& a, const SigAction& b, const std::string& p) {
  CK_CMP(a, b, p, handler);
  CK_CMP(a, b, p, flags);
  CK_CMP(a, b, p, restorer);
  CK_CMP(a, b, p, mask);
  return "";
}

std::string diff(const Thread& a, const Thread& b, const std::string& p) {
  CK_CMP(a, b, p, tid);
  CK_CMP(a, b, p, comm);
  CK_CMP(a, b, p, gpregs);
  CK_CMP(a, b, p, fpregs);
  CK_CMP(a, b, p, sigmask);
  if (auto d = diff_list(a.pending, b.pending, p + ".pending"); !d.empty()) return d;
  CK_CMP(a, b, p, altstack.sp);
  CK_CMP(a, b, p, altstack.size);
  CK_CMP(a, b, p, altstack.flags);
  CK_CMP(a, b, p, clear_child_tid);
  CK_CMP(a, b, p, robust_list);
  CK_CMP(a, b, p, robust_list_len);
  CK_CMP(a, b, p, rseq.ptr);
  CK_CMP(a, b, p, rseq.len);
  CK_CMP(a, b, p, rseq.sig);
  CK_CMP(a, b, p, rseq.flags);
  CK_CMP(a, b, p, seccomp_filters);
  return "";
}

std::string diff(const Rlimit& a, const Rlimit& b, const std::string& p) {
  CK_CMP(a, b, p, cur);
  CK_CMP(a, b, p, max);
  return "";
}

std::string diff(const ITimer& a, const ITimer& b, const std::string& p) {
  CK_CMP(a, b, p, interval_us);
  CK_CMP(a, b, p, value_us);
  return "";
}

std::string diff(const PageFrame::Run& a, const PageFrame::Run& b, const std::string& p) {
  CK_CMP(a, b, p, vaddr);
  CK_CMP(a, b, p, npages);
  return "";
}

std::string diff(const PageFrame& a, const PageFrame& b, const std::string& p) {
  CK_CMP(a, b, p, offset);
  CK_CMP(a, b, p, codec);
  CK_CMP(a, b, p, comp_len);
  CK_CMP(a, b, p, raw_len);
  return diff_list(a.runs, b.runs, p + ".runs");
}

std::string diff(const Creds& a, const Creds& b, const std::string& p) {
  CK_CMP(a, b, p, uid);
  CK_CMP(a, b, p, euid);
  CK_CMP(a, b, p, suid);
  CK_CMP(a, b, p, fsuid);
  CK_CMP(a, b, p, gid);
  CK_CMP(a, b, p, egid);
  CK_CMP(a, b, p, sgid);
  CK_CMP(a, b, p, fsgid);
  CK_CMP(a, b, p, groups);
  CK_CMP(a, b, p, cap_inh);
  CK_CMP(a, b, p, cap_prm);
  CK_CMP(a, b, p, cap_eff);
  CK_CMP(a, b, p, cap_bnd);
  CK_CMP(a, b, p, cap_amb);
  CK_CMP(a, b, p, securebits);
  CK_CMP(a, b, p, no_new_privs);
  return "";
}

std::string diff(const MmInfo& a, const MmInfo& b, const std::string& p) {
  CK_CMP(a, b, p, start_code);
  CK_CMP(a, b, p, end_code);
  CK_CMP(a, b, p, start_data);
  CK_CMP(a, b, p, end_data);
  CK_CMP(a, b, p, start_brk);
  CK_CMP(a, b, p, brk);
  CK_CMP(a, b, p, start_stack);
  CK_CMP(a, b, p, arg_start);
  CK_CMP(a, b, p, arg_end);
  CK_CMP(a, b, p, env_start);
  CK_CMP(a, b, p, env_end);
  CK_CMP(a, b, p, auxv);
  CK_CMP(a, b, p, exe_file_id);
  return "";
}

std::string diff(const Process& a, const Process& b, const std::string& p) {
  CK_CMP(a, b, p, pid);
  CK_CMP(a, b, p, ppid);
  CK_CMP(a, b, p, pgid);
  CK_CMP(a, b, p, sid);
  CK_CMP(a, b, p, zombie);
  CK_CMP(a, b, p, exit_status);
  CK_CMP(a, b, p, exit_signal);
  CK_CMP(a, b, p, comm);
  CK_CMP(a, b, p, cwd);
  CK_CMP(a, b, p, umask);
  CK_CMP(a, b, p, personality);
  if (auto d = diff(a.creds, b.creds, p + ".creds"); !d.empty()) return d;
  if (auto d = diff_list(a.rlimits, b.rlimits, p + ".rlimits"); !d.empty()) return d;
  CK_CMP(a, b, p, pdeathsig);
  CK_CMP(a, b, p, child_subreaper);
  CK_CMP(a, b, p, dumpable);
  CK_CMP(a, b, p, timerslack_ns);
  CK_CMP(a, b, p, thp_disable);
  if (auto d = diff(a.mm, b.mm, p + ".mm"); !d.empty()) return d;
  if (auto d = diff_list(a.sigactions, b.sigactions, p + ".sigactions"); !d.empty()) return d;
  if (auto d = diff_list(a.shared_pending, b.shared_pending, p + ".shared_pending"); !d.empty()) return d;
  if (auto d = diff_list(a.itimers, b.itimers, p + ".itimers"); !d.empty()) return d;
  if (auto d = diff_list(a.vmas, b.vmas, p + ".vmas"); !d.empty()) return d;
  if (auto d = diff_list(a.fds, b.fds, p + ".fds"); !d.empty()) return d;
  if (auto d = diff_list(a.threads, b.threads, p + ".threads"); !d.empty()) return d;
  if (auto d = diff_list(a.pages, b.pages, p + ".pages"); !d.empty()) return d;
  CK_CMP(a, b, p, pages_raw_bytes);
  CK_CMP(a, b, p, zero_pages_skipped);
  CK_CMP(a, b, p, posix_timers);
  CK_CMP(a, b, p, locks);
  CK_CMP(a, b, p, cgroup);
  return "";
}

std::string diff(const Tree& a, const Tree& b) {
  std::string p = "tree";
  CK_CMP(a, b, p, root_pid);
  CK_CMP(a, b, p, own_namespaces);
  CK_CMP(a, b, p, uid_map);
  CK_CMP(a, b, p, gid_map);
  if (auto d = diff_list(a.files, b.files, p + ".files"); !d.empty()) return d;
  if (auto d = diff_list(a.pipes, b.pipes, p + ".pipes"); !d.empty()) return d;
  if (auto d = diff_list(a.sockets, b.sockets, p + ".sockets"); !d.empty()) return d;
  CK_CMP(a, b, p, own_netns);
  if (auto d = diff_list(a.event_files, b.event_files, p + ".event_files"); !d.empty()) return d;
  CK_CMP(a, b, p, time_ns);
  CK_CMP(a, b, p, monotonic_ns);
  CK_CMP(a, b, p, boottime_ns);
  CK_CMP(a, b, p, sysv_shm);
  CK_CMP(a, b, p, sysv_sem);
  CK_CMP(a, b, p, sysv_msg);
  return diff_list(a.processes, b.processes, p + ".processes");
}

std::string diff(const ManifestEntry& a, const ManifestEntry& b, const std::string& p) {
  CK_CMP(a, b, p, name);
  CK_CMP(a, b, p, size);
  CK_CMP(a, b, p, xxh3);
  return "";
}

std::string diff(const Manifest& a, const Manifest& b) {
  std::string p = "manifest";
  CK_CMP(a, b, p, format_version);
  CK_CMP(a, b, p, arch);
  CK_CMP(a, b, p, page_size);
  CK_CMP(a, b, p, kernel);
  CK_CMP(a, b, p, hostname);
  CK_CMP(a, b, p, ck_version);
  CK_CMP(a, b, p, created_unix_ns);
  CK_CMP(a, b, p, root_pid);
  CK_CMP(a, b, p, cpu.xfeatures);
  CK_CMP(a, b, p, cpu.xsave_size);
  CK_CMP(a, b, p, cpu.hwcap);
  CK_CMP(a, b, p, cpu.hwcap2);
  CK_CMP(a, b, p, vdso_size);
  CK_CMP(a, b, p, vdso_xxh3);
  CK_CMP(a, b, p, vvar_size);
  CK_CMP(a, b, p, vvar_vclock_size);
  return diff_list(a.entries, b.entries, p + ".entries");
}

// ---- helpers -----------------------------------------------------------------------------

// The message of the ck::Error f() throws; fails the test if it throws nothing or something else.
std::string error_of(const std::function<void()>& f, ck::ExitCode code = ck::ExitCode::bad_image) {
  try {
    f();
  } catch (const ck::Error& e) {
    BOOST_TEST(static_cast<int>(e.code()) == static_cast<int>(code), "exit code of: " << e.message());
    return e.message();
  }
  BOOST_FAIL("no ck::Error thrown");
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ck-unit-image-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  // Everything in the directory but the given names (staging leftovers show up here).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

void flip_byte(const std::string& path, size_t off) {
  std::string d = read_file(path);
  BOOST_REQUIRE(off < d.size());
  d[off] = static_cast<char>(d[off] ^ 0x40);
  write_bytes(path, d);
}

uint32_t get_u32(const std::string& d, size_t off) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(d[off + i])) << (8 * i);
  return v;
}
uint64_t get_u64(const std::string& d, size_t off) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(d[off + i])) << (8 * i);
  return v;
}
void put_u32(std::string& d, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) d[off + i] = static_cast<char>(v >> (8 * i));
}
void put_u64(std::string& d, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) d[off + i] = static_cast<char>(v >> (8 * i));
}

constexpr uint32_t kPage = 4096;
constexpr uint64_t kHeapStart = 0x10000000;

// A small but complete image: one process whose pages file holds one zstd and one raw frame
// that really decode to what the index says. `mutate` may damage the tree before it is written.
struct ImageSpec {
  int32_t pid = 412;
  char fill = 'A';
  std::function<void(Tree&)> mutate;
};

Tree write_image(const std::string& dir, const ImageSpec& spec = {}) {
  ImageWriter w(dir);
  Tree t;
  t.root_pid = spec.pid;
  Process p;
  p.pid = spec.pid;
  p.comm = "sleeper";
  p.vmas = {Vma{kHeapStart, kHeapStart + 16 * kPage, 3, VmaKind::anon_private, 0, 0, -1, "[heap]"}};
  Thread th;
  th.tid = spec.pid;
  th.comm = "sleeper";
  p.threads = {th};

  auto stream = w.open_stream("pages-" + std::to_string(spec.pid) + ".ck", FileKind::pages);
  BOOST_TEST(stream.offset() == kFileHeaderSize);
  std::string raw(3 * kPage, spec.fill);
  raw[5] = 'x';
  std::string comp(ZSTD_compressBound(raw.size()), '\0');
  size_t clen = ZSTD_compress(comp.data(), comp.size(), raw.data(), raw.size(), 1);
  BOOST_REQUIRE(!ZSTD_isError(clen));
  p.pages.push_back(PageFrame{stream.offset(), Codec::zstd, static_cast<uint32_t>(clen), 3 * kPage,
                              {{kHeapStart, 2}, {kHeapStart + 4 * kPage, 1}}});
  stream.write(comp.data(), clen);
  std::string raw2(kPage, 'r');
  p.pages.push_back(PageFrame{stream.offset(), Codec::raw, kPage, kPage, {{kHeapStart + 8 * kPage, 1}}});
  // Byte by byte, then one big write: both the buffered and the direct path.
  for (size_t i = 0; i < 100; ++i) stream.write(&raw2[i], 1);
  stream.write(raw2.data() + 100, raw2.size() - 100);
  p.pages_raw_bytes = 4 * kPage;
  p.zero_pages_skipped = 7;
  stream.finish();
  t.processes = {p};
  if (spec.mutate) spec.mutate(t);
  w.write_file("tree.ck", FileKind::tree, encode_tree(t));
  Manifest m;
  m.arch = "x86_64";
  m.kernel = "6.18.0";
  m.hostname = "testhost";
  m.ck_version = "0.1.0";
  m.root_pid = spec.pid;
  m.created_unix_ns = 1700000000000000000;
  w.commit(m);
  return t;
}

// Runs the ckimage CLI in-process and captures what it prints.
struct CliResult {
  int code;
  std::string out, err;
};

CliResult run_ckimage(std::vector<std::string> args) {
  args.insert(args.begin(), "ckimage");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  TempDir tmp;
  std::string out_path = tmp.path + "/out", err_path = tmp.path + "/err";
  std::fflush(stdout);
  std::fflush(stderr);
  int saved_out = dup(1), saved_err = dup(2);
  int fo = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int fe = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fo, 1);
  dup2(fe, 2);
  int code = ckimage_main(static_cast<int>(argv.size() - 1), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  for (int fd : {fo, fe, saved_out, saved_err}) close(fd);
  return {code, read_file(out_path), read_file(err_path)};
}

}  // namespace

// ==== codec ====================================================================================

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(tree_round_trip_keeps_every_field) {
  Tree t = make_full_tree();
  std::string enc = encode_tree(t);
  Tree back = decode_tree(enc);
  BOOST_TEST(diff(t, back) == "");
  BOOST_TEST(encode_tree(back) == enc);
  // Spot checks with concrete values, independent of the diff helper.
  BOOST_TEST(back.processes[1].pid == 413);
  BOOST_TEST(back.processes[0].vmas[0].advice == (advice_locked | advice_dontdump));
  BOOST_TEST(back.pipes[0].data == std::string("queued\0bytes", 12));
  BOOST_TEST(back.processes[0].comm.substr(0, 8) == "comm\n\x01\xff-");
}

BOOST_AUTO_TEST_CASE(manifest_round_trip_keeps_every_field) {
  Manifest m = make_full_manifest();
  Manifest back = decode_manifest(encode_manifest(m));
  BOOST_TEST(diff(m, back) == "");
  BOOST_TEST(back.entries[1].size == 99999999999ull);
  BOOST_TEST(back.cpu.xsave_size == 2696u);
}

BOOST_AUTO_TEST_CASE(diff_helper_names_the_differing_field) {
  Tree t = make_full_tree();
  Tree u = t;
  u.processes[1].threads[1].rseq.sig ^= 1;
  BOOST_TEST(diff(t, u) == "tree.processes[1].threads[1].rseq.sig");
  u = t;
  u.processes[0].pages[1].runs[0].npages += 1;
  BOOST_TEST(diff(t, u) == "tree.processes[0].pages[1].runs[0].npages");
  u = t;
  u.processes[0].sigactions[63].restorer += 1;
  BOOST_TEST(diff(t, u) == "tree.processes[0].sigactions[63].restorer");
  Tree g = make_golden_tree(), h = g;
  h.sockets[2].tcp.rcv_wup ^= 1;
  BOOST_TEST(diff(g, h) == "tree.sockets[2].tcp");
  h = g;
  h.processes[1].threads[0].seccomp_filters[1][3] ^= 1;
  BOOST_TEST(diff(g, h) == "tree.processes[1].threads[0].seccomp_filters");
  Manifest m = make_full_manifest(), n = m;
  n.cpu.hwcap2 = 0;
  BOOST_TEST(diff(m, n) == "manifest.cpu.hwcap2");
}

BOOST_AUTO_TEST_CASE(encoding_is_little_endian_and_compact) {
  Tree t;
  t.root_pid = 0x01020304;
  std::string enc = encode_tree(t);
  // root_pid, own_namespaces, uid_map, gid_map, then the files, pipes, processes and sockets
  // counts, own_netns, the event files count, then time_ns, monotonic_ns, boottime_ns and the
  // SysV shm, sem and msg counts.
  BOOST_TEST(enc == std::string("\x04\x03\x02\x01" "\0" "\0\0\0\0" "\0\0\0\0"
                                "\0\0\0\0" "\0\0\0\0" "\0\0\0\0" "\0\0\0\0" "\0" "\0\0\0\0"
                                "\0" "\0\0\0\0\0\0\0\0" "\0\0\0\0\0\0\0\0" "\0\0\0\0" "\0\0\0\0" "\0\0\0\0", 63));
}

// Payload offset of the files count: an empty tree ends with the files, pipes, processes and
// sockets counts, own_netns and the event files count (21 bytes), then the time namespace (17)
// and the SysV counts (12), whatever the fields before them.
size_t files_count_offset() { return encode_tree(Tree{}).size() - 21 - 17 - 12; }

BOOST_AUTO_TEST_CASE(every_truncation_throws) {
  std::string tree = encode_tree(make_full_tree());
  for (size_t len = 0; len < tree.size(); ++len) {
    try {
      decode_tree(std::string_view(tree).substr(0, len));
      BOOST_FAIL("tree truncated to " << len << " bytes decoded");
    } catch (const ck::Error& e) {
      BOOST_REQUIRE(e.code() == ck::ExitCode::bad_image);
      BOOST_REQUIRE(e.message().rfind("tree.ck offset ", 0) == 0);
    }
  }
  std::string man = encode_manifest(make_full_manifest());
  for (size_t len = 0; len < man.size(); ++len) {
    try {
      decode_manifest(std::string_view(man).substr(0, len));
      BOOST_FAIL("manifest truncated to " << len << " bytes decoded");
    } catch (const ck::Error& e) {
      BOOST_REQUIRE(e.code() == ck::ExitCode::bad_image);
      BOOST_REQUIRE(e.message().rfind("manifest.ck offset ", 0) == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(trailing_garbage_throws) {
  std::string tree = encode_tree(make_full_tree()) + "zz";
  size_t end = tree.size() - 2 + kFileHeaderSize;
  BOOST_TEST(error_of([&] { decode_tree(tree); }) ==
             "tree.ck offset " + std::to_string(end) + ": 2 bytes of trailing garbage");
  std::string man = encode_manifest(make_full_manifest()) + "z";
  BOOST_TEST(contains(error_of([&] { decode_manifest(man); }), "1 bytes of trailing garbage"));
}

BOOST_AUTO_TEST_CASE(string_length_past_end_names_the_file_offset) {
  Tree t;
  t.files = {File{}};
  std::string enc = encode_tree(t);
  // files count(4) id(4) type(1), then the path length.
  size_t at = files_count_offset() + 9;
  put_u32(enc, at, 0xffffffff);
  BOOST_TEST(error_of([&] { decode_tree(enc); }) ==
             "tree.ck offset " + std::to_string(at + kFileHeaderSize) + ": string length 4294967295 past end");
}

BOOST_AUTO_TEST_CASE(absurd_count_is_refused_before_allocating) {
  Tree t;
  std::string enc = encode_tree(t);
  size_t files_at = files_count_offset();
  put_u32(enc, files_at, 0xffffffff);
  BOOST_TEST(error_of([&] { decode_tree(enc); }) == "tree.ck offset " + std::to_string(files_at + kFileHeaderSize) +
                                                        ": file count 4294967295 past end (46 bytes left)");
  // A count that would fit bytes-wise but not element-wise: the bytes left cannot hold 2 processes.
  put_u32(enc, files_at, 0);
  put_u32(enc, files_at + 8, 2);
  BOOST_TEST(contains(error_of([&] { decode_tree(enc); }), "process count 2 past end"));
}

// The byte of the encoding that differs between two trees differing in one field.
size_t differing_byte(const Tree& a, const Tree& b) {
  std::string ea = encode_tree(a), eb = encode_tree(b);
  BOOST_REQUIRE(ea.size() == eb.size());
  size_t found = std::string::npos;
  for (size_t i = 0; i < ea.size(); ++i)
    if (ea[i] != eb[i]) {
      BOOST_REQUIRE(found == std::string::npos);
      found = i;
    }
  BOOST_REQUIRE(found != std::string::npos);
  return found;
}

BOOST_AUTO_TEST_CASE(enum_and_bool_out_of_range_throw) {
  Tree t = make_full_tree();
  struct Case {
    std::function<void(Tree&)> set;
    uint8_t bad;
    std::string msg;
  } cases[] = {
      {[](Tree& x) { x.processes[0].vmas[1].kind = VmaKind::sysv_shm; }, 9, "VmaKind value 9 out of range"},
      {[](Tree& x) { x.files[0].type = FileType::regular; }, 5, "FileType value 5 out of range"},
      {[](Tree& x) { x.processes[1].fds[2].kind = FdKind::file; }, 10, "FdKind value 10 out of range"},
      {[](Tree& x) { x.processes[0].pages[0].codec = Codec::zstd; }, 2, "Codec value 2 out of range"},
      {[](Tree& x) { x.files[0].deleted = false; }, 2, "bool value 2 out of range"},
      {[](Tree& x) { x.processes[1].thp_disable = false; }, 255, "bool value 255 out of range"},
  };
  for (auto& c : cases) {
    Tree u = t;
    c.set(u);
    size_t at = differing_byte(t, u);
    std::string enc = encode_tree(t);
    enc[at] = static_cast<char>(c.bad);
    BOOST_TEST(error_of([&] { decode_tree(enc); }) ==
               "tree.ck offset " + std::to_string(at + kFileHeaderSize) + ": " + c.msg);
  }
}

BOOST_AUTO_TEST_CASE(random_byte_flips_never_crash) {
  std::string tree = encode_tree(make_full_tree());
  std::string man = encode_manifest(make_full_manifest());
  std::mt19937 rng(12345);
  int threw = 0, decoded = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    bool is_tree = iter % 3 != 0;
    std::string d = is_tree ? tree : man;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) d[rng() % d.size()] ^= static_cast<char>(1u << (rng() % 8));
    try {
      if (is_tree)
        decode_tree(d);
      else
        decode_manifest(d);
      ++decoded;
    } catch (const ck::Error& e) {
      BOOST_REQUIRE(e.code() == ck::ExitCode::bad_image);
      ++threw;
    }
  }
  // Flips in value fields decode, flips in lengths/enums do not: both must happen.
  BOOST_TEST(threw > 100);
  BOOST_TEST(decoded > 100);
}

BOOST_AUTO_TEST_CASE(dangling_references_are_refused) {
  Tree t = make_full_tree();
  t.processes[1].vmas[0].file_id = 2;
  BOOST_TEST(error_of([&] { decode_tree(encode_tree(t)); }) ==
             "tree.ck: process 413 vma 0: file_id 2 out of range (2 files)");
  t = make_full_tree();
  t.processes[0].fds[2].pipe_id = -5;
  BOOST_TEST(contains(error_of([&] { decode_tree(encode_tree(t)); }), "fd 5: pipe_id -5 out of range"));
  t = make_full_tree();
  t.processes[0].mm.exe_file_id = 7;
  BOOST_TEST(contains(error_of([&] { decode_tree(encode_tree(t)); }), "exe_file_id 7"));
}

BOOST_AUTO_TEST_CASE(sockets_round_trip_and_references_are_checked) {
  Tree t = make_full_tree();
  Socket a, b;
  a.id = 0;
  a.ino = 1234;
  a.family = 1;  // AF_UNIX
  a.type = 1;    // SOCK_STREAM
  a.state = SocketState::connected;
  a.peer_id = 1;
  a.shutdown = 2;
  a.options = {SockOpt{1, 7, 65536}};
  a.queue = {SockMsg{std::string("q\0ueued", 7), ""}};
  b = a;
  b.id = 1;
  b.peer_id = 0;
  b.type = 2;  // SOCK_DGRAM
  b.queue = {SockMsg{"one", std::string("\1\0/x", 5)}, SockMsg{"two", ""}};
  b.tcp.snd_seq = 0xdeadbeef;
  b.tcp.send_queue = "unacked";
  t.sockets = {a, b};
  t.own_netns = true;
  t.processes[0].fds[1].kind = FdKind::socket;
  t.processes[0].fds[1].socket_id = 1;
  Tree u = decode_tree(encode_tree(t));
  BOOST_TEST(u.own_netns);
  BOOST_REQUIRE(u.sockets.size() == 2u);
  BOOST_TEST(u.sockets[0].queue[0].data == a.queue[0].data);
  BOOST_TEST(u.sockets[1].queue[1].data == "two");
  BOOST_TEST(u.sockets[1].queue[0].from == b.queue[0].from);
  BOOST_TEST(u.sockets[1].tcp.snd_seq == 0xdeadbeefu);
  BOOST_TEST(u.sockets[1].tcp.send_queue == "unacked");
  BOOST_TEST(u.sockets[0].shutdown == 2);
  BOOST_TEST(u.sockets[0].options[0].value == 65536);
  BOOST_TEST(u.processes[0].fds[1].socket_id == 1);
  BOOST_TEST(encode_tree(u) == encode_tree(t));
  t.sockets[0].peer_id = 5;
  BOOST_TEST(contains(error_of([&] { decode_tree(encode_tree(t)); }), "peer_id 5 out of range"));
  t.sockets[0].peer_id = 1;
  t.processes[0].fds[1].socket_id = -1;
  BOOST_TEST(contains(error_of([&] { decode_tree(encode_tree(t)); }), "socket_id -1"));
}

BOOST_AUTO_TEST_CASE(manifest_version_is_checked_before_the_rest) {
  Manifest m = make_full_manifest();
  m.format_version = 9;
  std::string enc = encode_manifest(m).substr(0, 4) + "whatever a version 9 manifest holds";
  BOOST_TEST(error_of([&] { decode_manifest(enc); }) ==
             "manifest.ck: format version 9, this ck reads " + std::to_string(kFormatVersion));
}

BOOST_AUTO_TEST_CASE(manifest_page_size_must_be_a_power_of_two) {
  Manifest m = make_full_manifest();
  m.page_size = 0;
  BOOST_TEST(contains(error_of([&] { decode_manifest(encode_manifest(m)); }), "page size 0"));
  m.page_size = 12288;
  BOOST_TEST(contains(error_of([&] { decode_manifest(encode_manifest(m)); }), "page size 12288"));
}

// The bytes on disk of format version 2, frozen: an image written by any ck of this version must
// keep reading the same. `unit_image -t codec -- --write-golden` rewrites the fixtures; do that
// only together with a kFormatVersion bump (and new file names).
const std::string kGoldenTree = std::string(CK_FIXTURES) + "/image_codec/tree-v2.bin";
const std::string kGoldenManifest = std::string(CK_FIXTURES) + "/image_codec/manifest-v2.bin";

bool write_golden_requested() {
  auto& suite = boost::unit_test::framework::master_test_suite();
  for (int i = 1; i < suite.argc; ++i)
    if (std::string(suite.argv[i]) == "--write-golden") return true;
  return false;
}

// Compares with the fixture and names the first differing offset (a whole dump helps nobody).
void check_golden(const std::string& path, const std::string& encoded) {
  if (write_golden_requested()) {
    fs::create_directories(fs::path(path).parent_path());
    write_bytes(path, encoded);
    BOOST_TEST_MESSAGE("wrote " << path);
  }
  std::string golden = read_file(path);
  BOOST_REQUIRE_MESSAGE(!golden.empty(), path << " missing");
  size_t n = std::min(golden.size(), encoded.size()), at = 0;
  while (at < n && golden[at] == encoded[at]) ++at;
  BOOST_TEST((at == n && golden.size() == encoded.size()),
             path << ": encoding differs at payload offset " << at << " (sizes " << encoded.size() << " now, "
                  << golden.size() << " in the fixture)");
}

BOOST_AUTO_TEST_CASE(golden_tree_bytes_are_unchanged) { check_golden(kGoldenTree, encode_tree(make_golden_tree())); }

BOOST_AUTO_TEST_CASE(golden_manifest_bytes_are_unchanged) {
  check_golden(kGoldenManifest, encode_manifest(make_golden_manifest()));
}

BOOST_AUTO_TEST_CASE(golden_files_decode_to_every_field) {
  BOOST_TEST(diff(make_golden_tree(), decode_tree(read_file(kGoldenTree))) == "");
  BOOST_TEST(diff(make_golden_manifest(), decode_manifest(read_file(kGoldenManifest))) == "");
}

BOOST_AUTO_TEST_CASE(checksum_is_xxh3_64) {
  BOOST_TEST(checksum("", 0) == 0x2d06800538d394c2ull);  // XXH3_64bits of nothing, from the spec
  BOOST_TEST(checksum("abc", 3) == XXH3_64bits("abc", 3));
}

BOOST_AUTO_TEST_SUITE_END()

// ==== directory ================================================================================

BOOST_AUTO_TEST_SUITE(directory)

BOOST_AUTO_TEST_CASE(writer_to_load_round_trip) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  mode_t old_umask = umask(0);  // the modes must not depend on a permissive umask
  Tree t = write_image(dir);
  umask(old_umask);

  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}));
  struct stat st {};
  BOOST_REQUIRE(stat(dir.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    files.push_back(e.path().filename());
    BOOST_REQUIRE(stat(e.path().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0600u, e.path());
  }
  std::sort(files.begin(), files.end());
  BOOST_TEST(files == (std::vector<std::string>{"manifest.ck", "pages-412.ck", "tree.ck"}));

  LoadedImage img = load_image(dir);
  BOOST_TEST(img.dir == resolve_image_dir(dir));
  BOOST_TEST(img.dir.rfind(dir + ".d/000001-", 0) == 0, img.dir);
  BOOST_TEST(diff(t, img.tree) == "");
  BOOST_TEST(img.manifest.hostname == "testhost");
  BOOST_TEST(img.manifest.format_version == kFormatVersion);
  BOOST_REQUIRE(img.manifest.entries.size() == 2u);
  // Entries in the order written; size and checksum cover the whole file, header included.
  BOOST_TEST(img.manifest.entries[0].name == "pages-412.ck");
  BOOST_TEST(img.manifest.entries[1].name == "tree.ck");
  for (const ManifestEntry& e : img.manifest.entries) {
    std::string data = read_file(dir + "/" + e.name);
    BOOST_TEST(e.size == data.size());
    BOOST_TEST(e.xxh3 == XXH3_64bits(data.data(), data.size()));
  }
  std::string pages = read_file(dir + "/pages-412.ck");
  BOOST_TEST(pages.size() == kFileHeaderSize + t.processes[0].pages[0].comp_len + kPage);
  BOOST_TEST(load_image(dir, false).tree.processes[0].pages.size() == 2u);
}

BOOST_AUTO_TEST_CASE(file_header_layout) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  std::string tree = read_file(dir + "/tree.ck");
  BOOST_TEST(tree.substr(0, 8) == std::string("CKIMG\0\0\0", 8));
  BOOST_TEST(get_u32(tree, 8) == kFormatVersion);
  BOOST_TEST(get_u32(tree, 12) == static_cast<uint32_t>(FileKind::tree));
  BOOST_TEST(get_u64(tree, 16) == tree.size() - kFileHeaderSize);
  BOOST_TEST(get_u64(tree, 24) == XXH3_64bits(tree.data() + kFileHeaderSize, tree.size() - kFileHeaderSize));
  std::string pages = read_file(dir + "/pages-412.ck");
  BOOST_TEST(get_u32(pages, 12) == static_cast<uint32_t>(FileKind::pages));
  BOOST_TEST(get_u64(pages, 16) == 0u);  // streamed: size and checksum live in the manifest
  BOOST_TEST(get_u64(pages, 24) == 0u);
  std::string man = read_file(dir + "/manifest.ck");
  BOOST_TEST(get_u32(man, 12) == static_cast<uint32_t>(FileKind::manifest));
  BOOST_TEST(get_u64(man, 24) == XXH3_64bits(man.data() + kFileHeaderSize, man.size() - kFileHeaderSize));
}

BOOST_AUTO_TEST_CASE(a_flipped_byte_in_any_file_is_named) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  for (std::string name : {"manifest.ck", "tree.ck", "pages-412.ck"}) {
    size_t size = read_file(dir + "/" + name).size();
    // Magic, version, kind, length, checksum fields, the first payload byte, the middle, the end.
    for (size_t off : {size_t{0}, size_t{9}, size_t{13}, size_t{17}, size_t{30}, kFileHeaderSize, size / 2, size - 1}) {
      TempDir copy;
      std::string d = copy.path + "/ckpt";
      fs::copy(dir, d);
      flip_byte(d + "/" + name, off);
      std::string msg = error_of([&] { load_image(d, true); });
      BOOST_TEST(msg.rfind(d + "/" + name, 0) == 0, name << " offset " << off << ": " << msg);
    }
  }
}

BOOST_AUTO_TEST_CASE(damaged_page_data_is_found_only_when_checking_data) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  flip_byte(dir + "/pages-412.ck", 100);
  // Messages name the file in the version directory: the one that is damaged.
  BOOST_TEST(error_of([&] { load_image(dir, true); }) ==
             resolve_image_dir(dir) + "/pages-412.ck: checksum mismatch (file damaged)");
  BOOST_TEST(load_image(dir, false).tree.root_pid == 412);
}

BOOST_AUTO_TEST_CASE(truncated_file_says_truncated) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  dir = resolve_image_dir(dir);
  std::string path = dir + "/pages-412.ck";
  size_t size = read_file(path).size();
  BOOST_REQUIRE(truncate(path.c_str(), 1000) == 0);
  // Sizes are checked even without data checks: restoring from a short file cannot work.
  BOOST_TEST(error_of([&] { load_image(dir, false); }) ==
             path + ": truncated: 1000 bytes, manifest says " + std::to_string(size));
  BOOST_REQUIRE(truncate((dir + "/manifest.ck").c_str(), 40) == 0);
  BOOST_TEST(contains(error_of([&] { load_image(dir); }), dir + "/manifest.ck: truncated: 40 bytes, header says"));
}

BOOST_AUTO_TEST_CASE(other_format_version_is_named) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  dir = resolve_image_dir(dir);
  std::string path = dir + "/manifest.ck";
  std::string man = read_file(path);
  put_u32(man, 8, 7);
  write_bytes(path, man);
  BOOST_TEST(error_of([&] { load_image(dir); }) == path + ": format version 7, this ck reads " + std::to_string(kFormatVersion));

  // A consistent file whose payload claims another version (header version left at 1).
  put_u32(man, 8, kFormatVersion);
  std::string payload = man.substr(kFileHeaderSize);
  put_u32(payload, 0, 9);
  put_u64(man, 24, XXH3_64bits(payload.data(), payload.size()));
  write_bytes(path, man.substr(0, kFileHeaderSize) + payload);
  BOOST_TEST(error_of([&] { load_image(dir); }) ==
             dir + "/manifest.ck: format version 9, this ck reads " + std::to_string(kFormatVersion));
}

BOOST_AUTO_TEST_CASE(missing_things_are_named) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  BOOST_TEST(error_of([&] { load_image(dir); }) == dir + ": no such checkpoint directory");
  write_image(dir);
  dir = resolve_image_dir(dir);
  fs::remove(dir + "/tree.ck");
  BOOST_TEST(error_of([&] { load_image(dir); }) == dir + "/tree.ck: missing (listed in the manifest)");
  fs::remove(dir + "/manifest.ck");
  BOOST_TEST(error_of([&] { load_image(dir); }) == dir + "/manifest.ck: missing");
  write_bytes(dir + "/manifest.ck", "{\"json\": \"not an image\"}\n");
  BOOST_TEST(error_of([&] { load_image(dir); }) == dir + "/manifest.ck: not a ck image");
}

BOOST_AUTO_TEST_CASE(load_never_writes) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  BOOST_REQUIRE(chmod(dir.c_str(), 0500) == 0);
  auto before = read_file(dir + "/manifest.ck") + read_file(dir + "/tree.ck");
  load_image(dir);
  verify_image(dir);
  BOOST_TEST(before == read_file(dir + "/manifest.ck") + read_file(dir + "/tree.ck"));
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}));
  chmod(dir.c_str(), 0700);
}

BOOST_AUTO_TEST_CASE(open_image_file_checks_the_header) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  dir = resolve_image_dir(dir);
  ck::UniqueFd fd = open_image_file(dir, "pages-412.ck", FileKind::pages);
  BOOST_TEST(lseek(fd.get(), 0, SEEK_CUR) == static_cast<off_t>(kFileHeaderSize));
  BOOST_TEST(error_of([&] { open_image_file(dir, "pages-412.ck", FileKind::tree); }) ==
             dir + "/pages-412.ck: file kind 3, expected 2");
  BOOST_TEST(error_of([&] { open_image_file(dir, "file-3.ck", FileKind::file_content); }) ==
             dir + "/file-3.ck: missing");
  BOOST_TEST(contains(error_of([&] { open_image_file(dir, "../ckpt/tree.ck", FileKind::tree); }), "invalid"));
}

BOOST_AUTO_TEST_CASE(commit_replaces_a_previous_checkpoint) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir, {.pid = 100, .fill = 'A', .mutate = {}});
  std::string first = resolve_image_dir(dir);
  write_image(dir, {.pid = 200, .fill = 'B', .mutate = {}});
  LoadedImage img = load_image(dir);
  BOOST_TEST(img.tree.root_pid == 200);
  BOOST_TEST(!fs::exists(dir + "/pages-100.ck"));  // nothing of the old image mixed in
  BOOST_TEST(fs::exists(dir + "/pages-200.ck"));
  BOOST_TEST(img.dir != first);                     // a new directory, switched in
  BOOST_TEST(load_image(first).tree.root_pid == 100);  // the previous one kept (keep 2)
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}));
}

BOOST_AUTO_TEST_CASE(commit_into_an_empty_directory) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  BOOST_REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  write_image(dir + "/");  // a trailing slash names the same directory
  BOOST_TEST(load_image(dir).tree.root_pid == 412);
  BOOST_TEST(fs::is_symlink(dir));  // the empty directory became the link
  BOOST_TEST(load_image(dir + "//").dir == resolve_image_dir(dir));
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}));
}

BOOST_AUTO_TEST_CASE(commit_refuses_to_replace_something_else) {
  TempDir tmp;
  std::string dir = tmp.path + "/precious";
  BOOST_REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  write_bytes(dir + "/thesis.tex", "years of work");
  std::string msg = error_of([&] { write_image(dir); }, ck::ExitCode::failure);
  BOOST_TEST(msg == dir + ": exists and is not a ck checkpoint (no manifest.ck); refusing to replace it");
  BOOST_TEST(read_file(dir + "/thesis.tex") == "years of work");
  BOOST_TEST(tmp.entries() == std::vector<std::string>{"precious"});  // staging removed

  std::string file = tmp.path + "/afile";
  write_bytes(file, "data");
  BOOST_TEST(contains(error_of([&] { write_image(file); }, ck::ExitCode::failure), "not a directory"));
  BOOST_TEST(read_file(file) == "data");
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"afile", "precious"}));
}

BOOST_AUTO_TEST_CASE(writer_without_commit_leaves_nothing) {
  TempDir tmp;
  {
    ImageWriter w(tmp.path + "/ckpt");
    BOOST_TEST(w.staging_path().rfind(tmp.path + "/.ckpt.tmp-" + std::to_string(getpid()) + "-", 0) == 0);
    struct stat st {};
    BOOST_REQUIRE(stat(w.staging_path().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0700u);
    w.write_file("tree.ck", FileKind::tree, "x");
    auto s = w.open_stream("pages-1.ck", FileKind::pages);
    s.write("abc", 3);
    BOOST_TEST(tmp.entries().size() == 1u);
  }
  BOOST_TEST(tmp.entries().empty());
}

BOOST_AUTO_TEST_CASE(commit_refuses_an_unfinished_stream) {
  TempDir tmp;
  ImageWriter w(tmp.path + "/ckpt");
  w.write_file("tree.ck", FileKind::tree, encode_tree(Tree{}));
  { auto s = w.open_stream("pages-1.ck", FileKind::pages); }
  BOOST_TEST(error_of([&] { w.commit(Manifest{}); }, ck::ExitCode::failure) ==
             "commit " + tmp.path + "/ckpt: pages-1.ck was opened but never finished");
  BOOST_TEST(tmp.entries().empty());
}

BOOST_AUTO_TEST_CASE(writer_needs_an_existing_parent) {
  TempDir tmp;
  std::string msg = error_of([&] { ImageWriter w(tmp.path + "/no/such/ckpt"); }, ck::ExitCode::failure);
  BOOST_TEST(msg == tmp.path + "/no/such: parent directory of " + tmp.path + "/no/such/ckpt does not exist");
}

BOOST_AUTO_TEST_CASE(writer_refuses_bad_names) {
  TempDir tmp;
  ImageWriter w(tmp.path + "/ckpt");
  BOOST_TEST(contains(error_of([&] { w.write_file("../evil", FileKind::tree, ""); }, ck::ExitCode::failure),
                      "invalid image file name"));
  BOOST_TEST(contains(error_of([&] { w.write_file("manifest.ck", FileKind::tree, ""); }, ck::ExitCode::failure),
                      "written by commit()"));
  w.write_file("tree.ck", FileKind::tree, "");
  BOOST_TEST(contains(error_of([&] { w.write_file("tree.ck", FileKind::tree, ""); }, ck::ExitCode::failure),
                      "File exists"));
}

// A tiny tmpfs makes the device fill up; needs CAP_SYS_ADMIN, skipped without it.
struct TinyFs {
  TempDir tmp;
  bool mounted = false;
  TinyFs() { mounted = mount("tmpfs", tmp.path.c_str(), "tmpfs", 0, "size=64k") == 0; }
  ~TinyFs() {
    if (mounted) umount2(tmp.path.c_str(), MNT_DETACH);
  }
};

BOOST_AUTO_TEST_CASE(full_device_names_the_file) {
  TinyFs tiny;
  if (!tiny.mounted) {
    BOOST_TEST_MESSAGE("skipped: cannot mount tmpfs: " << std::strerror(errno));
    return;
  }
  {
    ImageWriter w(tiny.tmp.path + "/ckpt");
    auto s = w.open_stream("pages-412.ck", FileKind::pages);
    std::string big(1 << 20, 'x');
    BOOST_TEST(error_of([&] { s.write(big.data(), big.size()); }, ck::ExitCode::failure) ==
               "write pages-412.ck: No space left on device");
    BOOST_TEST(contains(error_of([&] { s.finish(); }, ck::ExitCode::failure), "an earlier write failed"));
  }
  {
    // Small writes are buffered: the error shows up when the buffer is flushed.
    ImageWriter w(tiny.tmp.path + "/ckpt");
    auto s = w.open_stream("pages-9.ck", FileKind::pages);
    std::string chunk(4096, 'y');
    std::string msg = error_of([&] {
      for (int i = 0; i < 300; ++i) s.write(chunk.data(), chunk.size());
      s.finish();
    }, ck::ExitCode::failure);
    BOOST_TEST(msg == "write pages-9.ck: No space left on device");
  }
  BOOST_TEST(fs::is_empty(tiny.tmp.path));
}

BOOST_AUTO_TEST_SUITE_END()

// ==== versions: DIR -> DIR.d/<version>, --keep, interruptions =================================

namespace {

// The version names in DIR.d, oldest first.
std::vector<std::string> versions_of(const std::string& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir + ".d")) return names;
  for (const auto& e : fs::directory_iterator(dir + ".d")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

Tree tree_with_root(int32_t pid) {
  Tree t;
  t.root_pid = pid;
  return t;
}

std::string link_of(const std::string& dir) { return fs::read_symlink(dir).string(); }

// Every file of an image directory and its bytes: "unchanged" means byte for byte.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files[e.path().filename()] = read_file(e.path());
  return files;
}

// A pid that certainly ran and is gone now.
pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

const char* g_die_at = nullptr;
void die_at_step(const char* step) {
  if (g_die_at && std::strcmp(step, g_die_at) == 0) raise(SIGKILL);
}
void throw_at_step(const char* step) {
  if (g_die_at && std::strcmp(step, g_die_at) == 0) throw ck::Error(std::string("injected at ") + step);
}

struct HookGuard {
  explicit HookGuard(void (*hook)(const char*), const char* step) {
    g_die_at = step;
    testing::commit_hook = hook;
  }
  ~HookGuard() {
    testing::commit_hook = nullptr;
    g_die_at = nullptr;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(versions)

BOOST_AUTO_TEST_CASE(dir_is_a_relative_link_to_a_version) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  ImageWriter w(dir);
  BOOST_TEST(w.keep() == kDefaultKeep);
  BOOST_TEST(kDefaultKeep == 2u);
  BOOST_TEST(w.version_path() == "");
  w.write_file("tree.ck", FileKind::tree, encode_tree(Tree{}));
  w.commit(Manifest{});
  BOOST_TEST(fs::is_symlink(dir));
  std::string target = link_of(dir);
  // Relative, so that moving or copying DIR and DIR.d together keeps it valid.
  BOOST_TEST(target.rfind("ckpt.d/000001-", 0) == 0, target);
  BOOST_TEST(target.size() == std::string("ckpt.d/000001-20250301T120000Z").size(), target);
  BOOST_TEST(w.version_path() == tmp.path + "/" + target);
  BOOST_TEST(resolve_image_dir(dir) == tmp.path + "/" + target);
  struct stat st {};
  BOOST_REQUIRE(stat((dir + ".d").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);

  // The pair moves as a unit.
  fs::rename(dir, tmp.path + "/moved");
  fs::rename(dir + ".d", tmp.path + "/moved.d");
  BOOST_TEST(contains(error_of([&] { load_image(tmp.path + "/moved"); }), "which does not exist"));
  fs::rename(tmp.path + "/moved.d", tmp.path + "/ckpt.d");
  BOOST_TEST(load_image(tmp.path + "/moved").tree.root_pid == -1);
}

BOOST_AUTO_TEST_CASE(keep_n_removes_the_oldest_after_the_switch) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  for (int32_t pid = 1; pid <= 5; ++pid) {
    ImageWriter w(dir, 3);
    w.write_file("tree.ck", FileKind::tree, encode_tree(tree_with_root(pid)));
    w.commit(Manifest{});
    BOOST_TEST(versions_of(dir).size() == std::min<size_t>(pid, 3));
    BOOST_TEST(load_image(dir).tree.root_pid == pid);
  }
  std::vector<std::string> v = versions_of(dir);
  BOOST_REQUIRE(v.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST(v[i].rfind("00000" + std::to_string(i + 3) + "-", 0) == 0, v[i]);
    BOOST_TEST(load_image(dir + ".d/" + v[i]).tree.root_pid == static_cast<int32_t>(i + 3));
  }
  {
    ImageWriter w(dir);
    w.set_keep(1);
    w.write_file("tree.ck", FileKind::tree, encode_tree(Tree{}));
    w.commit(Manifest{});
  }
  v = versions_of(dir);
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(v[0].rfind("000006-", 0) == 0);
  BOOST_TEST(link_of(dir) == "ckpt.d/" + v[0]);
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}));
  BOOST_TEST(error_of([&] { ImageWriter w(dir, 0); }, ck::ExitCode::usage) ==
             "--keep: at least the new checkpoint must be kept (1 or more)");
}

BOOST_AUTO_TEST_CASE(pruning_never_removes_what_dir_names_nor_what_is_not_a_version) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  for (int i = 0; i < 3; ++i) write_image(dir);
  std::vector<std::string> v = versions_of(dir);
  BOOST_REQUIRE(v.size() == 2u);  // 000002, 000003
  write_bytes(dir + ".d/notes.txt", "mine");
  BOOST_REQUIRE(mkdir((dir + ".d/.hidden").c_str(), 0700) == 0);
  BOOST_REQUIRE(mkdir((dir + ".d/old-runs").c_str(), 0700) == 0);
  // Someone (a user rolling back, another ckdump) points DIR at the oldest version while this
  // commit switches: pruning reads the link again and keeps that version.
  static std::string oldest;
  oldest = v[0];
  struct Repoint {
    static void hook(const char* step) {
      if (std::strcmp(step, "switched") == 0) {
        std::string dir = g_die_at;
        fs::remove(dir);
        fs::create_directory_symlink("ckpt.d/" + oldest, dir);
      }
    }
  };
  {
    HookGuard g(Repoint::hook, dir.c_str());
    ImageWriter w(dir, 1);
    w.write_file("tree.ck", FileKind::tree, encode_tree(Tree{}));
    w.commit(Manifest{});
  }
  std::vector<std::string> after = versions_of(dir);
  // keep 1: the newest stays too; 000003, neither newest nor named by DIR, goes.
  BOOST_REQUIRE(after.size() == 5u);
  BOOST_TEST(after[2].rfind("000004-", 0) == 0);
  after.erase(after.begin() + 2);
  BOOST_TEST(after == (std::vector<std::string>{".hidden", v[0], "notes.txt", "old-runs"}));
  BOOST_TEST(link_of(dir) == "ckpt.d/" + v[0]);
  BOOST_TEST(load_image(dir).tree.root_pid == 412);
}

BOOST_AUTO_TEST_CASE(an_error_at_any_step_before_the_switch_changes_nothing) {
  for (const char* step : {"verified", "placed", "linked"}) {
    TempDir tmp;
    std::string dir = tmp.path + "/ckpt";
    write_image(dir, {.pid = 100, .fill = 'A', .mutate = {}});
    std::string link = link_of(dir);
    auto before = snapshot(dir);
    {
      HookGuard g(throw_at_step, step);
      BOOST_TEST(error_of([&] { write_image(dir, {.pid = 200, .fill = 'B', .mutate = {}}); }, ck::ExitCode::failure) ==
                 std::string("injected at ") + step);
    }
    BOOST_TEST(link_of(dir) == link, step);
    BOOST_TEST((snapshot(dir) == before), step);
    BOOST_TEST(load_image(dir).tree.root_pid == 100, step);
    // Nothing of the failed commit is left: no staging directory, no link, no version.
    BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}), step);
    BOOST_TEST(versions_of(dir).size() == 1u, step);
  }
  // The very first commit: not even DIR.d stays.
  TempDir tmp;
  HookGuard g(throw_at_step, "linked");
  BOOST_TEST(contains(error_of([&] { write_image(tmp.path + "/ckpt"); }, ck::ExitCode::failure), "injected"));
  BOOST_TEST(tmp.entries().empty());
}

// SIGKILL (SLURM at the wall time) at every step of a dump: DIR always names a complete image,
// the previous one until the switch, the new one after; the next dump cleans up.
BOOST_AUTO_TEST_CASE(a_writer_killed_at_any_step_leaves_a_complete_image) {
  for (const char* step : {"streaming", "verified", "placed", "linked", "switched", "pruned"}) {
    TempDir tmp;
    std::string dir = tmp.path + "/ckpt";
    write_image(dir, {.pid = 100, .fill = 'A', .mutate = {}});
    write_image(dir, {.pid = 101, .fill = 'C', .mutate = {}});
    std::string link = link_of(dir);
    auto before = snapshot(dir);
    std::vector<std::string> versions_before = versions_of(dir);
    pid_t child = fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
      g_die_at = step;
      testing::commit_hook = die_at_step;
      if (std::strcmp(step, "streaming") == 0) {
        ImageWriter w(dir);
        auto s = w.open_stream("pages-200.ck", FileKind::pages);
        s.write("data", 4);
        raise(SIGKILL);
      }
      try {
        write_image(dir, {.pid = 200, .fill = 'B', .mutate = {}});
      } catch (...) {
        _exit(2);
      }
      _exit(0);
    }
    int status = 0;
    BOOST_REQUIRE(waitpid(child, &status, 0) == child);
    bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    bool after_switch = std::strcmp(step, "switched") == 0 || std::strcmp(step, "pruned") == 0;
    BOOST_TEST(killed, step);
    BOOST_TEST(load_image(dir).tree.root_pid == (after_switch ? 200 : 101), step);
    if (!after_switch) {
      BOOST_TEST(link_of(dir) == link, step);
      BOOST_TEST((snapshot(dir) == before), step);
    }
    for (const std::string& v : versions_before)  // the versions before it were complete: kept
      if (std::strcmp(step, "pruned") != 0) BOOST_TEST(load_image(dir + ".d/" + v).tree.root_pid > 0, step << " " << v);

    // The next dump (another pid) removes the dead writer's staging directory and link.
    write_image(dir, {.pid = 300, .fill = 'D', .mutate = {}});
    BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}), step);
    BOOST_TEST(load_image(dir).tree.root_pid == 300, step);
    BOOST_TEST(versions_of(dir).size() == 2u, step);
  }
}

// Readers never see DIR missing or half switched while versions change under them.
BOOST_AUTO_TEST_CASE(the_switch_is_atomic_for_readers) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir, {.pid = 1, .fill = 'A', .mutate = {}});
  int pipefd[2];
  BOOST_REQUIRE(pipe(pipefd) == 0);
  pid_t reader = fork();
  BOOST_REQUIRE(reader >= 0);
  if (reader == 0) {
    close(pipefd[0]);
    uint32_t loads = 0, failures = 0;
    while (loads < 100000) {
      try {
        LoadedImage img = load_image(dir, true);
        if (img.tree.root_pid != img.manifest.root_pid) ++failures;  // a mix of two versions
      } catch (const ck::Error& e) {
        if (failures++ == 0) std::fprintf(stderr, "reader: %s\n", e.what());
      }
      ++loads;
      if (access((tmp.path + "/stop").c_str(), F_OK) == 0) break;
    }
    uint32_t out[2] = {loads, failures};
    ssize_t n = write(pipefd[1], out, sizeof out);
    _exit(n == sizeof out ? 0 : 1);
  }
  close(pipefd[1]);
  for (int32_t pid = 2; pid <= 40; ++pid) {
    ImageWriter w(dir, 1000);  // no pruning: a reader holding an old version is another matter
    w.write_file("tree.ck", FileKind::tree, encode_tree(tree_with_root(pid)));
    Manifest m;
    m.root_pid = pid;
    w.commit(m);
  }
  write_bytes(tmp.path + "/stop", "");
  uint32_t got[2] = {0, 0};
  BOOST_REQUIRE(read(pipefd[0], got, sizeof got) == static_cast<ssize_t>(sizeof got));
  close(pipefd[0]);
  waitpid(reader, nullptr, 0);
  BOOST_TEST_MESSAGE("reader loaded " << got[0] << " times during 39 switches");
  BOOST_TEST(got[0] > 39u);
  BOOST_TEST(got[1] == 0u);
}

BOOST_AUTO_TEST_CASE(a_plain_image_directory_becomes_the_previous_version) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  // An image directory as ck wrote it before versions: a plain directory at DIR.
  write_image(tmp.path + "/src", {.pid = 100, .fill = 'A', .mutate = {}});
  fs::copy(resolve_image_dir(tmp.path + "/src"), dir);
  BOOST_REQUIRE(chmod(dir.c_str(), 0700) == 0);
  fs::remove_all(tmp.path + "/src.d");
  fs::remove(tmp.path + "/src");
  auto old_files = snapshot(dir);
  BOOST_TEST(load_image(dir).dir == dir);  // readers take a plain directory as it is
  BOOST_TEST(load_image(dir).tree.root_pid == 100);

  write_image(dir, {.pid = 200, .fill = 'B', .mutate = {}});
  BOOST_TEST(fs::is_symlink(dir));
  BOOST_TEST(load_image(dir).tree.root_pid == 200);
  std::vector<std::string> v = versions_of(dir);
  BOOST_REQUIRE(v.size() == 2u);
  BOOST_TEST(v[0].rfind("000001-", 0) == 0);  // the old directory, moved, not copied
  BOOST_TEST(v[1].rfind("000002-", 0) == 0);
  BOOST_TEST(link_of(dir) == "ckpt.d/" + v[1]);
  BOOST_TEST((snapshot(dir + ".d/" + v[0]) == old_files));
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"ckpt", "ckpt.d"}));

  write_image(dir, {.pid = 300, .fill = 'C', .mutate = {}});  // keep 2: now it goes
  v = versions_of(dir);
  BOOST_TEST(v.size() == 2u);
  BOOST_TEST(v[0].rfind("000002-", 0) == 0);

  // An interruption right before the exchange leaves the plain directory where it was.
  TempDir tmp2;
  std::string dir2 = tmp2.path + "/ckpt";
  fs::copy(dir + ".d/" + v[0], dir2);
  auto files2 = snapshot(dir2);
  {
    HookGuard g(throw_at_step, "linked");
    error_of([&] { write_image(dir2); }, ck::ExitCode::failure);
  }
  BOOST_TEST(!fs::is_symlink(dir2));
  BOOST_TEST((snapshot(dir2) == files2));
  BOOST_TEST(tmp2.entries() == (std::vector<std::string>{"ckpt"}));
}

BOOST_AUTO_TEST_CASE(links_readers_follow_and_links_writers_refuse) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  // A user's own link to the versions link, relative and absolute: followed to the image.
  fs::create_directory_symlink("ckpt", tmp.path + "/rel");
  fs::create_directory_symlink(dir, tmp.path + "/abs");
  BOOST_TEST(load_image(tmp.path + "/rel").dir == resolve_image_dir(dir));
  BOOST_TEST(load_image(tmp.path + "/abs/").dir == resolve_image_dir(dir));
  fs::create_directory_symlink("nowhere", tmp.path + "/dangling");
  BOOST_TEST(error_of([&] { load_image(tmp.path + "/dangling"); }) ==
             tmp.path + "/dangling: link to " + tmp.path + "/nowhere, which does not exist");
  fs::create_directory_symlink("loop", tmp.path + "/loop");
  BOOST_TEST(contains(error_of([&] { load_image(tmp.path + "/loop"); }), "too many levels"));

  // ckdump never writes through a link it did not make, nor touches its target.
  auto before = snapshot(dir);
  BOOST_TEST(error_of([&] { write_image(tmp.path + "/rel"); }, ck::ExitCode::failure) ==
             tmp.path + "/rel: exists and is a symbolic link to ckpt, not one ck made; refusing to replace it");
  BOOST_TEST((snapshot(dir) == before));
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{"abs", "ckpt", "ckpt.d", "dangling", "loop", "rel"}));
}

BOOST_AUTO_TEST_CASE(leftovers_of_dead_writers_only_are_removed) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  pid_t dead = dead_pid();
  std::string stale = tmp.path + "/.ckpt.tmp-" + std::to_string(dead) + "-0";
  std::string live = tmp.path + "/.ckpt.tmp-1-0";  // init runs: its staging directory stays
  for (const std::string& d : {stale, live}) {
    BOOST_REQUIRE(mkdir(d.c_str(), 0700) == 0);
    write_bytes(d + "/pages-9.ck", std::string(10000, 'p'));
  }
  fs::create_directory_symlink("ckpt.d/x", tmp.path + "/.ckpt.lnk-" + std::to_string(dead) + "-4");
  // A previous checkpoint left under a link name (exchange done, move into DIR.d not): kept.
  std::string swapped = tmp.path + "/.ckpt.lnk-" + std::to_string(dead) + "-5";
  BOOST_REQUIRE(mkdir(swapped.c_str(), 0700) == 0);
  write_bytes(swapped + "/manifest.ck", "x");
  // Other names: not ours.
  BOOST_REQUIRE(mkdir((tmp.path + "/.other.tmp-" + std::to_string(dead) + "-0").c_str(), 0700) == 0);
  write_image(dir);
  BOOST_TEST(tmp.entries() == (std::vector<std::string>{".ckpt.lnk-" + std::to_string(dead) + "-5", ".ckpt.tmp-1-0",
                                                        ".other.tmp-" + std::to_string(dead) + "-0", "ckpt", "ckpt.d"}));
  BOOST_TEST(read_file(live + "/pages-9.ck").size() == 10000u);
}

BOOST_AUTO_TEST_SUITE_END()

// ==== verify, JSON, ckimage ====================================================================

BOOST_AUTO_TEST_SUITE(tools)

BOOST_AUTO_TEST_CASE(verify_accepts_a_good_image) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  VerifySummary s = verify_image(dir);
  BOOST_TEST(s.files == 3u);
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(dir)) bytes += fs::file_size(e.path());
  BOOST_TEST(s.bytes == bytes);
}

BOOST_AUTO_TEST_CASE(verify_finds_inconsistent_page_indexes) {
  struct Case {
    std::function<void(Tree&)> mutate;
    std::string msg;
  } cases[] = {
      {[](Tree& t) { t.processes[0].pages[0].runs[0].npages = 1; }, "frame 0: runs hold 2 pages, raw length says 3"},
      {[](Tree& t) { t.processes[0].pages[1].offset += 4000; }, "frame 1: bytes"},
      {[](Tree& t) { t.processes[0].pages[1].offset = 8; }, "frame 1: offset 8 inside the file header"},
      {[](Tree& t) { t.processes[0].pages[1].offset -= 1; }, "frames overlap at offset"},
      {[](Tree& t) { t.processes[0].pages_raw_bytes += 4096; }, "frames hold 16384 raw bytes, tree.ck says 20480"},
      {[](Tree& t) { t.processes[0].pages[1].runs[0].vaddr = 0x20000000; }, "outside every VMA"},
      {[](Tree& t) {
         auto& f = t.processes[0].pages[0];
         f.raw_len += 4096;
         f.runs[1].npages += 1;
         t.processes[0].pages_raw_bytes += 4096;
       },
       "frame 0: decompresses to 12288 bytes, raw length says 16384"},
      {[](Tree& t) { t.processes[0].pid = 999; }, "pages-999.ck: missing (process 999 has 2 page frames)"},
  };
  for (auto& c : cases) {
    TempDir tmp;
    std::string dir = tmp.path + "/ckpt";
    write_image(dir, {.pid = 412, .fill = 'A', .mutate = c.mutate});
    load_image(dir, true);  // checksums are fine: only the contents disagree
    std::string msg = error_of([&] { verify_image(dir); });
    BOOST_TEST(contains(msg, c.msg), msg);
  }
}

BOOST_AUTO_TEST_CASE(json_quote_escapes_everything_unsafe) {
  BOOST_TEST(json_quote("plain") == "\"plain\"");
  BOOST_TEST(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  BOOST_TEST(json_quote("\n\t\r\b\f") == "\"\\n\\t\\r\\b\\f\"");
  BOOST_TEST(json_quote(std::string("\x01\x1f\x7f\0", 4)) == "\"\\u0001\\u001f\\u007f\\u0000\"");
  BOOST_TEST(json_quote("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  BOOST_TEST(json_quote("\xff") == "\"\\u00ff\"");
  BOOST_TEST(json_quote("\xc0\x80") == "\"\\u00c0\\u0080\"");          // overlong NUL
  BOOST_TEST(json_quote("\xed\xa0\x80") == "\"\\u00ed\\u00a0\\u0080\"");  // UTF-16 surrogate
  BOOST_TEST(json_quote("\xf4\x90\x80\x80") == "\"\\u00f4\\u0090\\u0080\\u0080\"");  // > U+10FFFF
  BOOST_TEST(json_quote("\xe2\x82") == "\"\\u00e2\\u0082\"");          // cut short
}

// Numbers are read as text: ptree's numeric get<> trips -Wmaybe-uninitialized in some builds.
int64_t num(const boost::property_tree::ptree& pt, const std::string& path) {
  return std::stoll(pt.get<std::string>(path));
}

boost::property_tree::ptree parse_json(const std::string& text) {
  std::istringstream in(text);
  boost::property_tree::ptree pt;
  boost::property_tree::read_json(in, pt);
  return pt;
}

BOOST_AUTO_TEST_CASE(json_of_a_full_image) {
  LoadedImage img;
  img.dir = "/ck/dir";
  img.manifest = make_full_manifest();
  img.tree = make_full_tree();
  img.tree.processes[0].threads[1].gpregs.clear();
  auto regs = ck::arch::blank_gp_regs();
  ck::arch::set_ip(regs, 0x401000);
  img.tree.processes[0].threads[0].gpregs = regs;
  const std::string ip_name = ck::arch::regs_summary(regs).at(0).first;
  img.tree.processes[0].sigactions.fill(SigAction{});
  img.tree.processes[0].sigactions[9] = SigAction{1, 0, 0, 0};
  img.tree.processes[0].sigactions[14] = SigAction{0x401234, 0x14000000, 0x401000, 0x2};
  img.tree.processes[0].rlimits[7] = {1024, ~uint64_t{0}};
  std::string json = image_to_json(img);
  auto pt = parse_json(json);  // throws on invalid JSON

  BOOST_TEST(pt.get<std::string>("manifest.arch") == "x86_64");
  BOOST_TEST(pt.get<std::string>("manifest.created") == "2023-11-14T22:13:20.123456789Z");
  BOOST_TEST(pt.get<std::string>("manifest.cpu.xfeatures") == "0x2e7");
  BOOST_TEST(pt.get<std::string>("manifest.hostname") == "host\x7f");
  BOOST_TEST(pt.get_child("manifest.files").size() == 2u);
  const auto& procs = pt.get_child("processes");
  BOOST_REQUIRE(procs.size() == 2u);
  const auto& p0 = procs.begin()->second;
  BOOST_TEST(num(p0, "pid") == 412);
  BOOST_TEST(p0.get<std::string>("umask") == "0077");
  BOOST_TEST(p0.get<std::string>("rlimits.NOFILE.cur") == "1024");
  BOOST_TEST(p0.get<std::string>("rlimits.NOFILE.max") == "unlimited");
  BOOST_TEST(p0.get_child("vmas").size() == 3u);
  const auto& vma0 = p0.get_child("vmas").begin()->second;
  BOOST_TEST(vma0.get<std::string>("start") == "0x400000");
  BOOST_TEST(vma0.get<std::string>("prot") == "r-x");
  BOOST_TEST(vma0.get<std::string>("kind") == "file_private");
  BOOST_TEST(vma0.get<std::string>("advice") == "dontdump,locked");
  BOOST_TEST(vma0.get<std::string>("file") == make_full_tree().files[1].path);
  // Only the two changed signals are listed.
  const auto& sigs = p0.get_child("sigactions");
  BOOST_REQUIRE(sigs.size() == 2u);
  BOOST_TEST(sigs.begin()->second.get<std::string>("name") == "SIGUSR1");
  BOOST_TEST(sigs.begin()->second.get<std::string>("handler") == "SIG_IGN");
  BOOST_TEST(std::next(sigs.begin())->second.get<std::string>("flags") == "SA_RESTORER|SA_RESTART");
  const auto& fds = p0.get_child("fds");
  BOOST_TEST(std::next(fds.begin())->second.get<std::string>("path") == "/tmp/data");
  BOOST_TEST(std::next(fds.begin(), 2)->second.get<std::string>("path") == "pipe:[" + std::to_string(make_full_tree().pipes[0].ino) + "]");
  const auto& threads = p0.get_child("threads");
  BOOST_TEST(threads.begin()->second.get<std::string>("registers." + ip_name) == "0x401000");
  BOOST_TEST(!std::next(threads.begin())->second.get_child_optional("registers"));  // empty blob: none
  BOOST_TEST(num(p0, "pages.frames") == 2);
  BOOST_TEST(num(p0, "pages.pages") == 2 + int64_t{img.tree.processes[0].pages[1].runs[0].npages});
  BOOST_TEST(num(p0, "pages.compressed_bytes") == 8192 + int64_t{img.tree.processes[0].pages[1].comp_len});
  // Non-UTF-8 bytes in a comm are escaped, control characters too.
  BOOST_TEST(contains(json, "\"comm\": \"comm\\n\\u0001\\u00ff-"));
}

BOOST_AUTO_TEST_CASE(ckimage_verify_ok) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  VerifySummary s = verify_image(dir);
  CliResult r = run_ckimage({"verify", dir});
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out == dir + ": OK (3 files, " + std::to_string(s.bytes) + " bytes)\n");
  BOOST_TEST(r.err == "");
}

BOOST_AUTO_TEST_CASE(ckimage_verify_damaged) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  flip_byte(dir + "/pages-412.ck", 200);
  CliResult r = run_ckimage({"verify", dir});
  BOOST_TEST(r.code == 3);
  BOOST_TEST(r.out == "");
  BOOST_TEST(r.err == "ckimage: error: " + resolve_image_dir(dir) + "/pages-412.ck: checksum mismatch (file damaged)\n");
  r = run_ckimage({"verify", tmp.path + "/nothing"});
  BOOST_TEST(r.code == 3);
  BOOST_TEST(r.err == "ckimage: error: " + tmp.path + "/nothing: no such checkpoint directory\n");
}

BOOST_AUTO_TEST_CASE(ckimage_show_prints_json) {
  TempDir tmp;
  std::string dir = tmp.path + "/ckpt";
  write_image(dir);
  CliResult r = run_ckimage({"show", dir});
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.err == "");
  auto pt = parse_json(r.out);
  BOOST_TEST(pt.get<std::string>("dir") == resolve_image_dir(dir));
  BOOST_TEST(num(pt, "root_pid") == 412);
  const auto& p0 = pt.get_child("processes").begin()->second;
  BOOST_TEST(p0.get<std::string>("comm") == "sleeper");
  BOOST_TEST(num(p0, "pages.zero_pages_skipped") == 7);
  BOOST_TEST(num(p0, "pages.raw_bytes") == 16384);
}

BOOST_AUTO_TEST_CASE(ckimage_usage) {
  CliResult r = run_ckimage({});
  BOOST_TEST(r.code == 2);
  BOOST_TEST(contains(r.err, "ckimage: error: missing command"));
  r = run_ckimage({"frobnicate", "x"});
  BOOST_TEST(r.code == 2);
  BOOST_TEST(contains(r.err, "unknown command \"frobnicate\""));
  r = run_ckimage({"verify"});
  BOOST_TEST(r.code == 2);
  r = run_ckimage({"show", "a", "b"});
  BOOST_TEST(r.code == 2);
  r = run_ckimage({"--help"});
  BOOST_TEST(r.code == 0);
  BOOST_TEST(contains(r.out, "ckimage verify DIR"));
}

BOOST_AUTO_TEST_SUITE_END()
