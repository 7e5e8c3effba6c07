/*
 * netbench: the one traffic tool of bench/net.ts, run unchanged on the host,
 * in network namespaces and inside guests (built static: the guest image has
 * only busybox). Large writes and few system calls, so a guest's figure is
 * its network path, not its shell tools (every guest syscall is a ptrace
 * round trip in UML).
 *
 *   netbench serve PORT                      TCP: sink or source per request; UDP: echo
 *   netbench tcp HOST PORT send|recv MB STREAMS   prints "tcp bytes=B secs=S MBps=X"
 *   netbench ping HOST PORT COUNT            UDP round trips: "rtt n=N lost=L p50us=A p99us=B"
 *
 * A TCP client writes a 16-byte request (mode, byte count); for "send" it then
 * sends and half-closes, the server reads to EOF and answers one byte, so the
 * client's clock stops when everything arrived; for "recv" the server sends
 * the bytes and closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
static char buf[CHUNK];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int full_write(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int full_read(int fd, char *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static uint64_t blast(int fd, uint64_t bytes) {
  uint64_t done = 0;
  while (done < bytes) {
    size_t n = bytes - done < CHUNK ? (size_t)(bytes - done) : CHUNK;
    if (full_write(fd, buf, n) < 0) break;
    done += n;
  }
  return done;
}

static uint64_t drain(int fd) {
  uint64_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf, CHUNK);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got;
    got += (uint64_t)r;
  }
}

static struct sockaddr_in addr_of(const char *host, const char *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "netbench: not an IPv4 address: %s\n", host);
    exit(2);
  }
  return a;
}

static void serve_tcp(int c) {
  char req[16];
  if (full_read(c, req, sizeof req) < 0) _exit(1);
  uint64_t bytes;
  memcpy(&bytes, req + 8, 8);
  if (req[0] == 's') {
    drain(c); /* the client sends */
    full_write(c, "k", 1);
  } else {
    blast(c, bytes);
  }
  _exit(0);
}

static _Noreturn void serve(const char *port) {
  struct sockaddr_in a = addr_of("0.0.0.0", port);
  int one = 1;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  if (l < 0 || u < 0) die("socket");
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 64) < 0) die("bind tcp");
  if (bind(u, (struct sockaddr *)&a, sizeof a) < 0) die("bind udp");
  signal(SIGCHLD, SIG_IGN); /* no zombies */
  printf("netbench serving on %s\n", port);
  fflush(stdout);
  struct pollfd p[2] = {{.fd = l, .events = POLLIN}, {.fd = u, .events = POLLIN}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (p[1].revents & POLLIN) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(u, buf, 2048, 0, (struct sockaddr *)&from, &fl);
      if (n > 0) sendto(u, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    if (p[0].revents & POLLIN) {
      int c = accept(l, NULL, NULL);
      if (c < 0) continue;
      if (fork() == 0) {
        close(l);
        close(u);
        serve_tcp(c);
      }
      close(c);
    }
  }
}

static int tcp(const char *host, const char *port, const char *mode, double mb, int streams) {
  struct sockaddr_in a = addr_of(host, port);
  uint64_t per = (uint64_t)(mb * 1024 * 1024 / streams);
  int fds[64];
  if (streams < 1 || streams > 64) streams = 1;
  for (int i = 0; i < streams; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  }
  double t0 = now();
  for (int i = 0; i < streams; i++) {
    if (fork() == 0) {
      char req[16] = {mode[0] == 's' ? 's' : 'r'};
      memcpy(req + 8, &per, 8);
      if (full_write(fds[i], req, sizeof req) < 0) _exit(1);
      uint64_t moved;
      if (mode[0] == 's') {
        moved = blast(fds[i], per);
        shutdown(fds[i], SHUT_WR);
        char k;
        if (full_read(fds[i], &k, 1) < 0) _exit(1); /* everything arrived */
      } else {
        moved = drain(fds[i]);
      }
      _exit(moved == per ? 0 : 1);
    }
  }
  int failed = 0, st;
  while (wait(&st) > 0) failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  double secs = now() - t0;
  uint64_t total = per * (uint64_t)streams;
  printf("tcp bytes=%llu secs=%.3f MBps=%.1f%s\n", (unsigned long long)total, secs, total / 1e6 / secs, failed ? " FAILED" : "");
  return failed;
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static int ping(const char *host, const char *port, int count) {
  struct sockaddr_in a = addr_of(host, port);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("udp connect");
  double *rtt = calloc((size_t)count, sizeof *rtt);
  int n = 0, lost = 0;
  for (int i = 0; i < count; i++) {
    char msg[64], back[64];
    snprintf(msg, sizeof msg, "ping %d", i);
    double t = now();
    send(s, msg, strlen(msg), 0);
    struct pollfd p = {.fd = s, .events = POLLIN};
    for (;;) {
      if (poll(&p, 1, 1000) <= 0) {
        lost++;
        break;
      }
      ssize_t r = recv(s, back, sizeof back - 1, 0);
      if (r == (ssize_t)strlen(msg) && memcmp(back, msg, (size_t)r) == 0) {
        rtt[n++] = (now() - t) * 1e6;
        break;
      }
    }
  }
  qsort(rtt, (size_t)n, sizeof *rtt, cmp);
  double p50 = n ? rtt[n / 2] : -1, p99 = n ? rtt[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : -1;
  printf("rtt n=%d lost=%d p50us=%.0f p99us=%.0f\n", n, lost, p50, p99);
  return n == 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "serve")) serve(argv[2]);
  if (argc == 7 && !strcmp(argv[1], "tcp")) return tcp(argv[2], argv[3], argv[4], atof(argv[5]), atoi(argv[6]));
  if (argc == 5 && !strcmp(argv[1], "ping")) return ping(argv[2], argv[3], atoi(argv[4]));
  fprintf(stderr, "usage: netbench serve PORT | tcp HOST PORT send|recv MB STREAMS | ping HOST PORT COUNT\n");
  return 2;
}
