// Exec storm generator for the sensor benchmark: posix_spawn + waitpid of one binary, paced to a
// rate (or as fast as possible), for a duration. Prints one JSON object: execs, seconds, the mean
// spawn-to-reap latency in microseconds, and the CPU time (user + system) of the storm and its
// reaped children per exec: a sensor's in-path cost (its BPF programs run in the storm's tasks and
// are charged to them) shows there with much less noise than in the wall-clock latency.
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

static double CpuSeconds(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s BINARY RATE_PER_SECOND(0=max) SECONDS\n", argv[0]);
    return 2;
  }
  const char* binary = argv[1];
  const double rate = atof(argv[2]);
  const double seconds = atof(argv[3]);
  char* child_argv[] = {(char*)binary, NULL};
  const double cpu_start = CpuSeconds(RUSAGE_SELF) + CpuSeconds(RUSAGE_CHILDREN);
  const double start = Now();
  long execs = 0;
  double latency = 0;
  for (;;) {
    double now = Now();
    if (now - start >= seconds) break;
    if (rate > 0) {
      double due = start + (double)execs / rate;
      if (due > now) {
        struct timespec pause = {(time_t)(due - now),
                                 (long)((due - now - (time_t)(due - now)) * 1e9)};
        nanosleep(&pause, NULL);
      }
    }
    double t0 = Now();
    pid_t pid;
    if (posix_spawn(&pid, binary, NULL, NULL, child_argv, environ) != 0) {
      perror("posix_spawn");
      return 1;
    }
    int status;
    waitpid(pid, &status, 0);
    latency += Now() - t0;
    ++execs;
  }
  double elapsed = Now() - start;
  double cpu = CpuSeconds(RUSAGE_SELF) + CpuSeconds(RUSAGE_CHILDREN) - cpu_start;
  printf("{\"execs\": %ld, \"seconds\": %.3f, \"latency_us\": %.1f, \"cpu_us_per_exec\": %.2f}\n",
         execs, elapsed, execs ? latency / (double)execs * 1e6 : 0.0,
         execs ? cpu / (double)execs * 1e6 : 0.0);
  return 0;
}
