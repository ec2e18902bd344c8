// Burst generator for the sensor benchmark. `file DIR SECONDS`: create (O_CREAT|O_WRONLY), close
// and unlink files in DIR as fast as possible; `connect PORT SECONDS`: TCP connects to a loopback
// listener it runs itself, as fast as possible; each client waits for its accept, then resets.
// Prints one JSON object with the operations done.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listener_fd = -1;

static void* AcceptLoop(void* arg) {
  (void)arg;
  for (;;) {
    int c = accept(listener_fd, NULL, NULL);
    if (c < 0) return NULL;
    (void)!write(c, "x", 1);  // tells the client its connection was accepted
    close(c);
  }
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s file DIR SECONDS | connect PORT SECONDS\n", argv[0]);
    return 2;
  }
  const double seconds = atof(argv[3]);
  long ops = 0;
  double start = Now();
  if (strcmp(argv[1], "file") == 0) {
    char path[4096];
    while (Now() - start < seconds) {
      for (int i = 0; i < 100; ++i, ++ops) {
        snprintf(path, sizeof path, "%s/f%ld", argv[2], ops);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0) return perror("open"), 1;
        close(fd);
        unlink(path);
      }
    }
  } else if (strcmp(argv[1], "connect") == 0) {
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener_fd, (struct sockaddr*)&addr, sizeof addr) || listen(listener_fd, 4096))
      return perror("listen"), 1;
    pthread_t t;
    pthread_create(&t, NULL, AcceptLoop, NULL);
    struct linger nolinger = {1, 0};  // RST on close: no TIME_WAIT pile-up
    while (Now() - start < seconds) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr*)&addr, sizeof addr) != 0) return perror("connect"), 1;
      char byte;
      (void)!read(s, &byte, 1);  // close only after the accept: a reset before it is another test
      setsockopt(s, SOL_SOCKET, SO_LINGER, &nolinger, sizeof nolinger);
      close(s);
      ++ops;
    }
  } else {
    return 2;
  }
  printf("{\"ops\": %ld, \"seconds\": %.3f}\n", ops, Now() - start);
  return 0;
}
