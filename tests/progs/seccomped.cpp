// A program under a seccomp filter (allow-all, after no_new_privs), which ck refuses: ckdump
// must fail naming it and leave the program running. Prints "tick N" every 100 ms.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

int main() {
  sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  sock_fprog prog{1, allow};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("seccomp");
    return 1;
  }
  for (unsigned long tick = 1;; tick++) {
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}
