// Holds one kind of file descriptor ck refuses (`anonhold io_uring|perf_event|userfaultfd|
// fanotify|bpf|inotify_unread|pidfd_outside`) and prints "tick N" every 100 ms, so that a test sees it keep running, without
// a gap, after the refused dump. Prints "unavailable" and exits 77 when the kernel or the
// privileges do not allow creating it.
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string kind = argv[1];
  int fd = -1;
  if (kind == "io_uring" || kind == "io_uring_mapped") {
    io_uring_params p{};
    fd = static_cast<int>(syscall(SYS_io_uring_setup, 4, &p));
    // As liburing does: the rings mapped, then (here) the fd closed; only the mapping is left.
    if (fd >= 0 && kind == "io_uring_mapped") {
      size_t len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
      if (mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING) == MAP_FAILED) return 1;
      close(fd);
    }
  } else if (kind == "perf_event") {
    perf_event_attr a{};
    a.type = PERF_TYPE_SOFTWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.exclude_kernel = 1;
    fd = static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
  } else if (kind == "userfaultfd") {
    fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    if (fd < 0) fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC));
  } else if (kind == "fanotify") {
    fd = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
  } else if (kind == "bpf") {
    bpf_attr b;
    memset(&b, 0, sizeof b);
    b.map_type = BPF_MAP_TYPE_ARRAY;
    b.key_size = 4;
    b.value_size = 4;
    b.max_entries = 1;
    fd = static_cast<int>(syscall(SYS_bpf, BPF_MAP_CREATE, &b, sizeof b));
  } else if (kind == "pidfd_outside") {
    fd = static_cast<int>(syscall(SYS_pidfd_open, getppid(), 0));  // the test's shell
  } else if (kind == "inotify_unread") {
    // Supported in itself, but not with events queued that the program has not read yet.
    char dir[] = "/tmp/ck-anonhold.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    fd = inotify_init1(IN_CLOEXEC);
    inotify_add_watch(fd, dir, IN_CREATE);
    std::string f = std::string(dir) + "/x";
    close(open(f.c_str(), O_CREAT | O_WRONLY, 0600));
    unlink(f.c_str());
    rmdir(dir);
  } else {
    return 2;
  }
  if (fd < 0) {
    printf("unavailable: %s\n", strerror(errno));
    return 77;
  }
  printf("holding %s as fd %d\n", kind.c_str(), fd);
  for (unsigned long n = 1;; n++) {
    usleep(100000);
    printf("tick %lu\n", n);
    fflush(stdout);
  }
}
