// A program holding a netlink socket, which ck does not support: ckdump must refuse it and
// leave the program running. Prints "tick N" every 100 ms.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

int main() {
  if (socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0) < 0) return 1;
  printf("sockhold ready\n");
  fflush(stdout);
  for (unsigned long tick = 1;; tick++) {
    printf("tick %lu\n", tick);
    fflush(stdout);
    usleep(100000);
  }
}
