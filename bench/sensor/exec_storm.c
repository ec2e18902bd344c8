// Exec storm generator for the sensor benchmark: posix_spawn (default) or fork + execve, then
// waitpid, of one binary, paced to a rate (or as fast as possible), for a duration. The two ways
// differ in what the kernel does per spawn: glibc's posix_spawn makes a vfork-style child that
// resets every signal's disposition before its exec (~160 syscalls per spawn of /bin/true), fork +
// execve copies the parent's page tables and makes ~32. Prints one JSON object: execs, seconds, the
// mean spawn-to-reap latency in microseconds, and the CPU time (user + system) of the storm and its
// reaped children per exec: a sensor's in-path cost (its BPF programs run in the storm's tasks and
// are charged to them) shows there with much less noise than in the wall-clock latency. Also the
// medians over the spawns of the latency and of each child's own CPU time (wait4's rusage: its
// exec, run and exit, where the exec and exit programs of a sensor run): robust to a few spawns a
// busy machine delays by milliseconds (on the VMs of BENCHMARKS.md, session 10, they were as noisy
// as the means: the drift between phases dominates there).
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 20)

extern char** environ;

static double CpuSeconds(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double TimevalSeconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int CompareDoubles(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double Median(double* values, long n) {
  if (n == 0) return 0;
  qsort(values, (size_t)n, sizeof *values, CompareDoubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s BINARY RATE_PER_SECOND(0=max) SECONDS [posix_spawn|fork]\n",
            argv[0]);
    return 2;
  }
  const int use_fork = argc == 5 && strcmp(argv[4], "fork") == 0;
  if (argc == 5 && !use_fork && strcmp(argv[4], "posix_spawn") != 0) {
    fprintf(stderr, "%s: the spawn method is posix_spawn or fork, not '%s'\n", argv[0], argv[4]);
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
  double* latencies = malloc(MAX_SAMPLES * sizeof(double));
  double* child_cpu = malloc(MAX_SAMPLES * sizeof(double));
  if (!latencies || !child_cpu) {
    perror("malloc");
    return 1;
  }
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
    if (use_fork) {
      pid = fork();
      if (pid < 0) {
        perror("fork");
        return 1;
      }
      if (pid == 0) {
        execve(binary, child_argv, environ);
        _exit(127);
      }
    } else if (posix_spawn(&pid, binary, NULL, NULL, child_argv, environ) != 0) {
      perror("posix_spawn");
      return 1;
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) {
      perror("wait4");
      return 1;
    }
    const double spawn_latency = Now() - t0;
    latency += spawn_latency;
    if (execs < MAX_SAMPLES) {
      latencies[execs] = spawn_latency;
      child_cpu[execs] = TimevalSeconds(ru.ru_utime) + TimevalSeconds(ru.ru_stime);
    }
    ++execs;
  }
  double elapsed = Now() - start;
  double cpu = CpuSeconds(RUSAGE_SELF) + CpuSeconds(RUSAGE_CHILDREN) - cpu_start;
  const long samples = execs < MAX_SAMPLES ? execs : MAX_SAMPLES;
  printf(
      "{\"execs\": %ld, \"seconds\": %.3f, \"latency_us\": %.1f, \"cpu_us_per_exec\": %.2f, "
      "\"latency_us_median\": %.1f, \"child_cpu_us_median\": %.2f}\n",
      execs, elapsed, execs ? latency / (double)execs * 1e6 : 0.0,
      execs ? cpu / (double)execs * 1e6 : 0.0, Median(latencies, samples) * 1e6,
      Median(child_cpu, samples) * 1e6);
  free(latencies);
  free(child_cpu);
  return 0;
}
