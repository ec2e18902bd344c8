/* Exec latency probe for the exec-block benchmark (bench/response/exec_latency.py).
 *   exec_stamp run BINARY N   forks N times; each child reads CLOCK_MONOTONIC and execve()s
 *                             BINARY with that time as argv[1]; prints one latency (ns) per line.
 *   exec_stamp T0             (as BINARY) prints now - T0 to stdout and exits.
 *   exec_stamp open FILE N    execve()s FILE, an executable file in no binary format, N times in
 *                             this process; each call opens FILE for exec (where fanotify's
 *                             FAN_OPEN_EXEC_PERM waits for the agent's answer) and then fails
 *                             with ENOEXEC; prints one latency (ns) per call.
 * "run" times a whole execve(), up to the first instruction of main in the new image; on a VM that
 * takes milliseconds with a spread far wider than the cost under test. "open" times the part of
 * execve() that the permission check is in, without fork, page tables or the loader around it. */
#define _GNU_SOURCE
#include <errno.h>
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

int main(int argc, char** argv) {
  if (argc == 2) {
    long long t0 = atoll(argv[1]);
    printf("%lld\n", now_ns() - t0);
    return 0;
  }
  if (argc != 4 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "open") != 0)) {
    fprintf(stderr, "usage: exec_stamp run BINARY N | exec_stamp open FILE N\n");
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
