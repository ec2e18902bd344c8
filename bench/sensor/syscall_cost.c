// Per-syscall cost generator for the sensor benchmark: times N calls each of a syscall the sensor
// does not follow (getppid) and of one it follows at enter and exit but reports nothing for (a
// read-only openat of /dev/null, followed by close). Prints one JSON object with nanoseconds per
// call (the thread's CPU time, user + kernel, so that waiting for a CPU on a loaded machine does
// not count), so that runs without an agent and with each of its syscall hooks can be compared.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  // CPU time: a loaded machine preempts
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CALLS\n", argv[0]);
    return 2;
  }
  const long n = atol(argv[1]);
  double t0 = Now();
  for (long i = 0; i < n; ++i) syscall(SYS_getppid);
  double t1 = Now();
  for (long i = 0; i < n / 10; ++i) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
  }
  double t2 = Now();
  printf("{\"calls\": %ld, \"getppid_ns\": %.1f, \"open_close_ns\": %.1f}\n", n,
         (t1 - t0) / (double)n, (t2 - t1) / (double)(n / 10));
  return 0;
}
