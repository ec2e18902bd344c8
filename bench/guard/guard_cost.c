// Cost generator for the guard benchmark: the thread's CPU time per call of syscalls a Landlock
// policy does and does not look at — getppid (never), a read-only open of /dev/null (reads are not
// governed), creating+writing+removing a file in a directory (the write class), and the CPU time
// of posix_spawn + waitpid of /usr/bin/true (exec, checked against the execute rules), the spawned
// children's time included. Prints one JSON object; run it with and without a policy.
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static double ThreadNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double CpuNs(void) {  // this process and its reaped children
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  return 1e9 * (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                        kids.ru_stime.tv_sec) +
         1e3 * (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                        kids.ru_stime.tv_usec);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s CALLS SPAWNS WRITABLE_DIR\n", argv[0]);
    return 2;
  }
  const long n = atol(argv[1]), spawns = atol(argv[2]);
  char path[4096];
  snprintf(path, sizeof path, "%s/guard-cost-%d", argv[3], (int)getpid());
  double t0 = ThreadNs();
  for (long i = 0; i < n; ++i) syscall(SYS_getppid);
  double t1 = ThreadNs();
  for (long i = 0; i < n / 10; ++i) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
  }
  double t2 = ThreadNs();
  for (long i = 0; i < n / 20; ++i) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return perror(path), 1;
    if (write(fd, "x", 1) != 1) return perror("write"), 1;
    close(fd);
    unlink(path);
  }
  double t3 = ThreadNs();
  double c0 = CpuNs();
  char* child_argv[] = {"/usr/bin/true", NULL};
  for (long i = 0; i < spawns; ++i) {
    pid_t pid;
    if (posix_spawn(&pid, child_argv[0], NULL, NULL, child_argv, environ) != 0) return 1;
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fprintf(stderr, "spawn failed\n"), 1;
  }
  double c1 = CpuNs();
  printf(
      "{\"getppid_ns\": %.1f, \"open_read_ns\": %.1f, \"create_write_unlink_ns\": %.1f, "
      "\"spawn_cpu_us\": %.1f}\n",
      (t1 - t0) / (double)n, (t2 - t1) / (double)(n / 10), (t3 - t2) / (double)(n / 20),
      (c1 - c0) / 1e3 / (double)spawns);
  return 0;
}
