// Holds one fd of every kind ckrestore must recreate, and checks them all on SIGUSR1:
// prints "fd <name> ok" or "fd <name> FAIL <why>", then "fdcheck done".
// argv[1]: a work directory for its files.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

static volatile sig_atomic_t want_check = 0;
static std::string dir;

static void result(const char* name, bool ok, const std::string& why = "") {
  printf("fd %s %s %s\n", name, ok ? "ok" : "FAIL", why.c_str());
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  dir = argv[1];
  std::string data = dir + "/data.txt", log = dir + "/append.log", gone = dir + "/deleted.bin";
  FILE* f = fopen(data.c_str(), "w");
  for (int i = 0; i < 1000; i++) fprintf(f, "line %04d\n", i);  // 10 bytes a line
  fclose(f);
  int rd = open(data.c_str(), O_RDONLY);
  char buf[128];
  if (read(rd, buf, 100) != 100) return 3;  // now at offset 100: next read is "line 0010"
  int dup_rd = dup(rd);
  int app = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
  if (write(app, "before\n", 7) != 7) return 3;
  int dirfd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  int null = open("/dev/null", O_RDWR);
  int urnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  int p[2];
  if (pipe(p) != 0) return 3;
  if (write(p[1], "queued-in-pipe", 14) != 14) return 3;
  int del = open(gone.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  for (int i = 0; i < 5000; i++) dprintf(del, "deleted %d\n", i);
  unlink(gone.c_str());
  off_t del_size = lseek(del, 0, SEEK_CUR);
  lseek(del, 8, SEEK_SET);

  signal(SIGUSR1, [](int) { want_check = 1; });
  printf("fdkinds ready\n");
  fflush(stdout);
  for (;;) {
    pause();
    if (!want_check) continue;
    want_check = 0;
    ssize_t n = read(rd, buf, 10);
    result("regular", n == 10 && !memcmp(buf, "line 0010\n", 10), std::string(buf, n > 0 ? n : 0));
    n = read(dup_rd, buf, 10);  // shares the offset with rd
    result("dup-shares-offset", n == 10 && !memcmp(buf, "line 0011\n", 10), std::string(buf, n > 0 ? n : 0));
    int fl = fcntl(urnd, F_GETFD);
    result("cloexec", fl == FD_CLOEXEC && fcntl(rd, F_GETFD) == 0);
    result("append", write(app, "after\n", 6) == 6 && (fcntl(app, F_GETFL) & O_APPEND));
    struct stat st;
    result("directory", fstat(dirfd_, &st) == 0 && S_ISDIR(st.st_mode) && faccessat(dirfd_, "data.txt", R_OK, 0) == 0);
    result("devnull", write(null, "x", 1) == 1 && read(null, buf, 1) == 0);
    result("urandom", read(urnd, buf, 16) == 16);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    n = read(p[0], buf, sizeof buf);
    result("pipe-data", n == 14 && !memcmp(buf, "queued-in-pipe", 14), std::string(buf, n > 0 ? n : 0));
    result("pipe-works", write(p[1], "more", 4) == 4 && read(p[0], buf, 4) == 4 && !memcmp(buf, "more", 4));
    n = pread(del, buf, 10, 0);
    bool del_ok = n == 10 && !memcmp(buf, "deleted 0\n", 10) && lseek(del, 0, SEEK_CUR) == 8 &&
                  lseek(del, 0, SEEK_END) == del_size && fstat(del, &st) == 0 && st.st_nlink == 0;
    lseek(del, 8, SEEK_SET);
    result("deleted-file", del_ok);
    lseek(rd, 100, SEEK_SET);
    printf("fdcheck done\n");
    fflush(stdout);
  }
}
