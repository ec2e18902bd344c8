// Exec storm generator for the sensor benchmark: posix_spawn + waitpid of one binary, paced to a
// rate (or as fast as possible), for a duration. Prints one JSON object: execs, seconds, and the
// mean spawn-to-reap latency in microseconds.
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

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
  printf("{\"execs\": %ld, \"seconds\": %.3f, \"latency_us\": %.1f}\n", execs, elapsed,
         execs ? latency / (double)execs * 1e6 : 0.0);
  return 0;
}
