// The data model of a checkpoint image: what ckdump collects and ckrestore needs.
// Serialization lives in image_codec.cpp; the directory layout in image_dir.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ck::img {

// Bumped on any incompatible change of any record below.
constexpr uint32_t kFormatVersion = 2;

// ---- memory ----------------------------------------------------------------------------

enum class VmaKind : uint8_t {
  anon_private = 0,  // MAP_PRIVATE|MAP_ANONYMOUS (heap, stack, malloc arenas, thread stacks)
  anon_shared = 1,   // MAP_SHARED|MAP_ANONYMOUS (shows as "/dev/zero (deleted)")
  file_private = 2,  // MAP_PRIVATE of a file: clean pages come from the file, COW pages from the image
  file_shared = 3,   // MAP_SHARED of a file: the file holds the content
  vdso = 4,
  vvar = 5,
  vvar_vclock = 6,
  vsyscall = 7,      // fixed by the kernel, nothing to restore
};

// Bits of Vma::advice: per-VMA state set by madvise()/mlock(), from smaps VmFlags.
enum VmaAdvice : uint32_t {
  advice_dontfork = 1u << 0,    // dc
  advice_wipeonfork = 1u << 1,  // wf
  advice_dontdump = 1u << 2,    // dd
  advice_hugepage = 1u << 3,    // hg
  advice_nohugepage = 1u << 4,  // nh
  advice_mergeable = 1u << 5,   // mg
  advice_locked = 1u << 6,      // lo
  advice_growsdown = 1u << 7,   // gd (VM_GROWSDOWN: created with MAP_GROWSDOWN)
  advice_random = 1u << 8,      // rr
  advice_sequential = 1u << 9,  // sr
};

struct Vma {
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t prot = 0;    // PROT_READ|PROT_WRITE|PROT_EXEC
  VmaKind kind = VmaKind::anon_private;
  uint32_t advice = 0;  // VmaAdvice bits
  uint64_t pgoff = 0;   // file offset in bytes (file kinds)
  int32_t file_id = -1; // index into Tree::files (file kinds)
  std::string name;     // the maps name: path, [heap], [stack], [anon:xyz], empty
};

// ---- files -----------------------------------------------------------------------------

enum class FileType : uint8_t { regular = 0, directory = 1, chardev = 2, fifo = 3, blockdev = 4 };

// A file system object used by fds or mappings, with what it looked like at dump time so that
// ckrestore can refuse a file that changed in a way that breaks the program.
struct File {
  int32_t id = -1;
  FileType type = FileType::regular;
  std::string path;      // absolute, as the kernel showed it (without " (deleted)")
  uint32_t mode = 0;     // st_mode
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t dev = 0, ino = 0, rdev = 0;
  bool deleted = false;  // unlinked but open/mapped: content is in the image
  std::string content;   // image file name holding the content of a deleted file, else empty
  // A memfd (path "/memfd:NAME"): recreated with memfd_create, its seals (F_GET_SEALS) put back.
  bool memfd = false;
  uint32_t seals = 0;
};

// ---- fds -------------------------------------------------------------------------------

enum class FdKind : uint8_t {
  file = 0,    // anything with a File entry: regular, directory, char device, named fifo
  pipe = 1,    // an anonymous pipe end; Tree::pipes[pipe_id]
  stdio = 2,   // a pipe/tty/socket on 0/1/2 that ckrestore re-attaches to its own stdio
  socket = 3,  // Tree::sockets[socket_id]
  eventfd = 4,   // Tree::event_files[event_id], for every kind below
  epoll = 5,
  signalfd = 6,
  timerfd = 7,
  inotify = 8,
  pidfd = 9,
};
constexpr uint8_t kMaxFdKind = 9;

struct Fd {
  int32_t fd = -1;
  FdKind kind = FdKind::file;
  uint32_t flags = 0;        // open flags from fdinfo, without O_CLOEXEC
  bool cloexec = false;
  uint64_t pos = 0;
  int32_t file_id = -1;      // kind == file
  int32_t pipe_id = -1;      // kind == pipe
  int32_t ofd_id = -1;       // open file description: fds (of any process) with one id share it
  std::string link;          // readlink of /proc/PID/fd/N, for messages
  int32_t socket_id = -1;    // kind == socket
  int32_t event_id = -1;     // eventfd .. pidfd: Tree::event_files
};

struct Pipe {
  int32_t id = -1;
  uint64_t ino = 0;
  uint32_t capacity = 0;     // F_GETPIPE_SZ
  std::string data;          // bytes queued at dump time
};

// ---- sockets ---------------------------------------------------------------------------

enum class SocketState : uint8_t {
  unconnected = 0,  // created, maybe bound
  listening = 1,
  connected = 2,    // stream/seqpacket connection, or a datagram socket with a default peer
};

// A socket option restored with setsockopt(level, name, value): only those that differ from a
// new socket's are recorded.
struct SockOpt {
  int32_t level = 0;
  int32_t name = 0;
  int32_t value = 0;
};

// One message of a receive queue (a datagram or seqpacket record; for a stream, all the bytes).
struct SockMsg {
  std::string data;
  std::string from;  // datagrams: the sender's address (raw sockaddr), empty when unnamed
};

// What TCP_REPAIR shows of an established connection: enough to make the kernel believe it
// never went away. Sequence numbers are those after the queued bytes.
struct TcpState {
  uint32_t snd_seq = 0;       // write_seq: after the last byte of the send queue
  uint32_t rcv_seq = 0;       // rcv_nxt: after the last byte of the receive queue
  uint32_t unsent = 0;        // bytes at the end of the send queue never sent
  uint32_t mss = 0;
  uint32_t options = 0;       // tcpi_options (TCPI_OPT_*)
  uint32_t snd_wscale = 0, rcv_wscale = 0;
  uint32_t timestamp = 0;     // TCP_TIMESTAMP
  uint32_t snd_wl1 = 0, snd_wnd = 0, max_window = 0, rcv_wnd = 0, rcv_wup = 0;  // TCP_REPAIR_WINDOW
  std::string send_queue;     // sent-but-unacknowledged bytes, then the unsent ones
};

struct Socket {
  int32_t id = -1;
  uint64_t ino = 0;
  int32_t family = 0, type = 0, protocol = 0;
  SocketState state = SocketState::unconnected;
  std::string local;            // raw sockaddr (getsockname); empty when unbound
  std::string remote;           // raw sockaddr of the peer (getpeername), when connected
  int32_t peer_id = -1;         // the socket at the other end, when it is in the tree
  bool peer_closed = false;     // unix stream/seqpacket whose peer is gone (EOF after the queue)
  bool unlinked = false;        // bound to a path that no longer names it: bind, then unlink
  bool dropped = false;         // TCP connection to a peer outside the tree, dropped (--drop-external-tcp)
  bool pending_accept = false;  // unix: connected to listener peer_id, not yet accepted there
  uint32_t backlog = 0;         // listening
  uint8_t shutdown = 0;         // 1: no more receiving, 2: no more sending (sk_shutdown bits)
  std::vector<SockOpt> options;
  std::vector<SockMsg> queue;   // receive queue, oldest first
  TcpState tcp;                 // TCP connected
};

// One entry of an epoll interest list. The kernel keys it by (file, fd number): the file is the
// open file description target_ofd (held by some fd of the tree), added under number tfd.
struct EpollTarget {
  int32_t tfd = -1;
  uint32_t events = 0;
  uint64_t data = 0;
  int32_t target_ofd = -1;
};

struct InotifyWatch {
  int32_t wd = -1;
  uint32_t mask = 0;          // as shown by fdinfo: events plus IN_ONESHOT, IN_EXCL_UNLINK, ...
  uint64_t dev = 0, ino = 0;  // the watched inode, to check the path still names it
  std::string path;
};

// The state of an anonymous-inode open file description (one record per description, shared
// by every fd with its ofd_id). Which fields matter depends on the FdKind of its fds.
struct EventFile {
  int32_t id = -1;
  FdKind kind = FdKind::eventfd;
  uint64_t count = 0;           // eventfd: counter; timerfd: expirations not yet read
  bool semaphore = false;       // eventfd: EFD_SEMAPHORE
  uint64_t sigmask = 0;         // signalfd
  int32_t clockid = 0;          // timerfd
  uint32_t settime_flags = 0;   // timerfd: TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET
  int64_t value_ns = 0;         // timerfd: time to the next expiry (0: disarmed)
  int64_t interval_ns = 0;      // timerfd
  int64_t deadline_ns = 0;      // timerfd, absolute CLOCK_REALTIME: the wall-clock expiry
  int32_t pid = 0;              // pidfd: the process (tree PID) it refers to; 0: already reaped
  bool thread = false;          // pidfd: PIDFD_THREAD
  std::vector<EpollTarget> targets;  // epoll
  std::vector<InotifyWatch> watches; // inotify, in wd order
};

// ---- signals, threads ------------------------------------------------------------------

struct SigAction {
  uint64_t handler = 0;   // SIG_DFL=0, SIG_IGN=1 or an address
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

struct SigInfo {
  std::array<uint8_t, 128> raw{};  // siginfo_t as the kernel gave it
};

struct SigAltStack {
  uint64_t sp = 0;
  uint64_t size = 0;
  int32_t flags = 0;  // SS_DISABLE, SS_AUTODISARM
};

struct Rseq {
  uint64_t ptr = 0;   // 0: not registered
  uint32_t len = 0;
  uint32_t sig = 0;
  uint32_t flags = 0;
};

struct Thread {
  int32_t tid = -1;
  std::string comm;
  std::vector<uint8_t> gpregs;  // arch register blob (arch/<arch>/regs)
  std::vector<uint8_t> fpregs;  // arch FP/vector blob (x86_64: XSAVE area, standard format)
  uint64_t sigmask = 0;         // blocked signals
  std::vector<SigInfo> pending; // thread-private pending signals
  SigAltStack altstack;
  uint64_t clear_child_tid = 0; // set_tid_address
  uint64_t robust_list = 0;
  uint64_t robust_list_len = 0;
  Rseq rseq;
};

// ---- process ---------------------------------------------------------------------------

struct Rlimit {
  uint64_t cur = 0, max = 0;
};

struct ITimer {
  int64_t interval_us = 0;
  int64_t value_us = 0;
};

struct Creds {
  uint32_t uid = 0, euid = 0, suid = 0, fsuid = 0;
  uint32_t gid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::vector<uint32_t> groups;
  uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
  uint32_t securebits = 0;
  bool no_new_privs = false;
};

// The fields of prctl(PR_SET_MM_MAP) plus brk.
struct MmInfo {
  uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
  uint64_t start_brk = 0, brk = 0, start_stack = 0;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  std::vector<uint64_t> auxv;  // key/value pairs as in /proc/PID/auxv
  int32_t exe_file_id = -1;
};

enum class Codec : uint8_t { raw = 0, zstd = 1 };

struct PageFrame {      // one independent frame in pages-<pid>.ck
  uint64_t offset = 0;  // in the pages file, from the start of the file
  Codec codec = Codec::zstd;
  uint32_t comp_len = 0;
  uint32_t raw_len = 0;
  struct Run {
    uint64_t vaddr = 0;
    uint32_t npages = 0;
  };
  std::vector<Run> runs;  // the raw bytes are these runs' pages, in order
};

struct Process {
  int32_t pid = -1, ppid = -1, pgid = -1, sid = -1;  // as seen in the tree's own PID namespace
  bool zombie = false;        // exited, not yet reaped by its parent: only pid and the status matter
  int32_t exit_status = 0;    // zombie: the wait status its parent will collect
  int32_t exit_signal = 17;   // signal sent to the parent at exit (SIGCHLD)
  std::string comm;
  std::string cwd;
  uint32_t umask = 022;
  uint32_t personality = 0;
  Creds creds;
  std::array<Rlimit, 16> rlimits{};
  int32_t pdeathsig = 0;
  bool child_subreaper = false;
  int32_t dumpable = 1;
  uint64_t timerslack_ns = 0;
  bool thp_disable = false;
  MmInfo mm;
  std::array<SigAction, 64> sigactions{};  // index = signal - 1
  std::vector<SigInfo> shared_pending;
  std::array<ITimer, 3> itimers{};         // ITIMER_REAL, _VIRTUAL, _PROF
  std::vector<Vma> vmas;
  std::vector<Fd> fds;
  std::vector<Thread> threads;             // threads[0] is the main thread
  std::vector<PageFrame> pages;            // index of pages-<pid>.ck
  uint64_t pages_raw_bytes = 0;            // sum of raw_len
  uint64_t zero_pages_skipped = 0;
};

// ---- whole image -----------------------------------------------------------------------

struct CpuInfo {
  uint64_t xfeatures = 0;       // x86_64: XCR0 bits the image's FP state may use
  uint32_t xsave_size = 0;      // x86_64: size of the XSAVE area in the image
  uint64_t hwcap = 0, hwcap2 = 0;
};

struct Tree {
  int32_t root_pid = -1;
  // The root is the init of a PID namespace (and user namespace) made by ckrun: ckrestore makes
  // new ones and the tree's PIDs are those inside. The maps are /proc/PID/{uid,gid}_map text.
  bool own_namespaces = false;
  std::string uid_map, gid_map;
  std::vector<File> files;
  std::vector<Pipe> pipes;
  std::vector<Process> processes;  // processes[0] is the root
  std::vector<Socket> sockets;
  // The tree ran in a network namespace of its own (ckrun --net): ckrestore makes a new one
  // with loopback up.
  bool own_netns = false;
  std::vector<EventFile> event_files;
};

// One file of the image directory and its checksum, listed in the manifest.
struct ManifestEntry {
  std::string name;
  uint64_t size = 0;
  uint64_t xxh3 = 0;
};

struct Manifest {
  uint32_t format_version = kFormatVersion;
  std::string arch;            // "x86_64", "aarch64"
  uint32_t page_size = 4096;
  std::string kernel;          // uname -r at dump
  std::string hostname;
  std::string ck_version;
  int64_t created_unix_ns = 0;
  int32_t root_pid = -1;
  CpuInfo cpu;
  uint64_t vdso_size = 0;      // layout of the special mappings: restore needs the same kernel ABI
  uint64_t vdso_xxh3 = 0;
  uint64_t vvar_size = 0, vvar_vclock_size = 0;
  std::vector<ManifestEntry> entries;
};

}  // namespace ck::img
