// A program holding a unix socket pair, which ck does not support yet: ckdump must refuse it
// and leave the program running. Prints "tick N" every 100 ms.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

int main() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  printf("sockhold ready\n");
  fflush(stdout);
  for (unsigned long tick = 1;; tick++) {
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}
