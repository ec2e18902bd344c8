/* Exec latency probe for the exec-block benchmark (bench/response/exec_latency.py).
 *   exec_stamp run BINARY N   forks N times; each child reads CLOCK_MONOTONIC and execve()s
 *                             BINARY with that time as argv[1]; prints one latency (ns) per line.
 *   exec_stamp T0             (as BINARY) prints now - T0 to stdout and exits.
 *   exec_stamp open FILE N    execve()s FILE, an executable file in no binary format, N times in
 *                             this process; each call opens FILE for exec (where fanotify's
 *                             FAN_OPEN_EXEC_PERM waits for the agent's answer) and then fails
 *                             with ENOEXEC; prints one latency (ns) per call.
 *   exec_stamp pingpong N     N round trips of one byte between this thread and a second thread
 *                             over two pipes: the cheapest wake-up of another thread and back,
 *                             the floor under any answer that user space gives the kernel.
 * "run" times a whole execve(), up to the first instruction of main in the new image; on a VM that
 * takes milliseconds with a spread far wider than the cost under test. "open" times the part of
 * execve() that the permission check is in, without fork, page tables or the loader around it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int ping[2], pong[2];

static void* echo(void* unused) {
  (void)unused;
  char c;
  while (read(ping[0], &c, 1) == 1)
    if (write(pong[1], &c, 1) != 1) break;
  return NULL;
}

static int pingpong(int n) {
  pthread_t thread;
  if (pipe(ping) != 0 || pipe(pong) != 0 || pthread_create(&thread, NULL, echo, NULL) != 0) {
    perror("pingpong setup");
    return 1;
  }
  for (int i = 0; i < n; ++i) {
    char c = 'x';
    long long t0 = now_ns();
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
      perror("pingpong");
      return 1;
    }
    printf("%lld\n", now_ns() - t0);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "pingpong") == 0) return pingpong(atoi(argv[2]));
  if (argc == 2) {
    long long t0 = atoll(argv[1]);
    printf("%lld\n", now_ns() - t0);
    return 0;
  }
  if (argc != 4 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "open") != 0)) {
    fprintf(stderr, "usage: exec_stamp run BINARY N | open FILE N | pingpong N\n");
    return 2;
  }
  int n = atoi(argv[3]);
  if (strcmp(argv[1], "open") == 0) {
    char* args[] = {argv[2], NULL};
    char* env[] = {NULL};
    for (int i = 0; i < n; ++i) {
      long long t0 = now_ns();
      execve(argv[2], args, env);
      long long elapsed = now_ns() - t0;
      if (errno != ENOEXEC) {
        perror("execve (expected ENOEXEC)");
        return 1;
      }
      printf("%lld\n", elapsed);
    }
    return 0;
  }
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      char stamp[32];
      snprintf(stamp, sizeof stamp, "%lld", now_ns());
      char* args[] = {argv[2], stamp, NULL};
      execv(argv[2], args);
      perror("execv");
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child failed\n");
      return 1;
    }
  }
  return 0;
}
