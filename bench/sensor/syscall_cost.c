// Per-syscall cost generator for the sensor benchmark: times N calls each of a syscall the sensor
// does not follow (getppid), of one it follows but reports nothing for (a read-only openat of
// /dev/null, then close), and N/10 sends of 32 bytes on loopback sockets: a UDP sendto to a
// bound socket nobody reads (a flow the sensor reports once, then rate-limits) and a TCP send()
// on a connection a second thread drains (not port 53: every send runs the sensor's send program,
// which returns at once); and N/100 threads created and joined (each thread's exit runs the
// sensor's exit program, which returns at once for a thread that is not its process's last). Prints
// one JSON object with nanoseconds per call (CPU time, user + kernel: the calling thread's, the
// whole process's for the threads, so that waiting for a CPU on a loaded machine does not count),
// so that runs without an agent and with each of its hook sets can be compared.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double CpuNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);  // CPU time: a loaded machine preempts
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double Now(void) { return CpuNs(CLOCK_THREAD_CPUTIME_ID); }

static void* Nothing(void* arg) { return arg; }

static int Bound(int type, struct sockaddr_in* addr) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  socklen_t len = sizeof *addr;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr*)addr, len) != 0 ||
      getsockname(fd, (struct sockaddr*)addr, &len) != 0) {
    perror("bind");
    exit(1);
  }
  return fd;
}

static void* Drain(void* arg) {
  int fd = *(int*)arg;
  char buf[65536];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CALLS\n", argv[0]);
    return 2;
  }
  const long n = atol(argv[1]);
  char payload[32] = "vigil syscall cost";
  struct sockaddr_in udp_to, tcp_at;
  int udp_sink = Bound(SOCK_DGRAM, &udp_to);
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int listener = Bound(SOCK_STREAM, &tcp_at);
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (udp < 0 || tcp < 0 || listen(listener, 1) != 0 ||
      connect(tcp, (struct sockaddr*)&tcp_at, sizeof tcp_at) != 0) {
    perror("sockets");
    return 1;
  }
  int server = accept(listener, NULL, NULL);
  pthread_t drain;
  if (server < 0 || pthread_create(&drain, NULL, Drain, &server) != 0) {
    perror("accept");
    return 1;
  }

  double t0 = Now();
  for (long i = 0; i < n; ++i) syscall(SYS_getppid);
  double t1 = Now();
  for (long i = 0; i < n / 10; ++i) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
  }
  double t2 = Now();
  for (long i = 0; i < n / 10; ++i)
    sendto(udp, payload, sizeof payload, 0, (struct sockaddr*)&udp_to, sizeof udp_to);
  double t3 = Now();
  for (long i = 0; i < n / 10; ++i) send(tcp, payload, sizeof payload, MSG_NOSIGNAL);
  double t4 = Now();
  // The process's CPU time: a thread's exit (and the sensor's program there) runs in that thread.
  double t5 = CpuNs(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n / 100; ++i) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, Nothing, NULL) != 0 || pthread_join(thread, NULL) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  double t6 = CpuNs(CLOCK_PROCESS_CPUTIME_ID);

  shutdown(tcp, SHUT_WR);
  pthread_join(drain, NULL);
  close(server);
  close(tcp);
  close(listener);
  close(udp);
  close(udp_sink);
  printf(
      "{\"calls\": %ld, \"getppid_ns\": %.1f, \"open_close_ns\": %.1f, \"udp_send_ns\": %.1f, "
      "\"tcp_send_ns\": %.1f, \"thread_ns\": %.1f}\n",
      n, (t1 - t0) / (double)n, (t2 - t1) / (double)(n / 10), (t3 - t2) / (double)(n / 10),
      (t4 - t3) / (double)(n / 10), (t6 - t5) / (double)(n / 100));
  return 0;
}
