// leaky: a small, deliberately leaking program for the mem-watcher demo.
//
// Every interval it leaks from two named functions (so memleak's stacks and the
// code.function.name span attribute have something to show) and also allocates and frees a
// buffer (which memleak must NOT report). The leaked memory is written to, so RSS grows and
// procstat sees it too. It stops leaking once `cap` bytes are outstanding, and exits cleanly
// on SIGINT/SIGTERM.
//
// usage: leaky [interval_ms=1000] [session_bytes=4096] [request_bytes=1024] [cap_mb=256]
// Build: cc -O0 -g -fno-omit-frame-pointer -fno-inline -o leaky leaky.c
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

// Kept non-static and out of line so their names survive in the symbol table.
__attribute__((noinline)) void *leak_session_cache(size_t n) {
  char *p = malloc(n);
  if (p) memset(p, 0x5a, n);
  return p;
}

__attribute__((noinline)) void *leak_request_buffer(size_t n) {
  char *p = calloc(1, n);
  if (p) p[n - 1] = 1;
  return p;
}

// Allocated and freed: the control that must not show up as a leak.
__attribute__((noinline)) void churn_scratch(size_t n) {
  char *p = malloc(n);
  if (p) {
    memset(p, 0, n);
    free(p);
  }
}

static unsigned long arg(int argc, char **argv, int i, unsigned long dflt) {
  if (argc <= i) return dflt;
  char *end = NULL;
  unsigned long v = strtoul(argv[i], &end, 10);
  if (end == argv[i] || *end != '\0' || v == 0) {
    fprintf(stderr, "leaky: bad argument %d: %s\n", i, argv[i]);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  unsigned long interval_ms = arg(argc, argv, 1, 1000);
  size_t session_bytes = arg(argc, argv, 2, 4096);
  size_t request_bytes = arg(argc, argv, 3, 1024);
  unsigned long long cap = (unsigned long long)arg(argc, argv, 4, 256) << 20;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  printf("leaky: pid %ld leaking %zu+%zu bytes every %lu ms (cap %llu MiB)\n", (long)getpid(),
         session_bytes, request_bytes, interval_ms, cap >> 20);
  fflush(stdout);

  unsigned long long outstanding = 0;
  struct timespec ts = {(time_t)(interval_ms / 1000), (long)(interval_ms % 1000) * 1000000L};
  while (!stop) {
    if (outstanding < cap) {
      // The pointers are dropped on purpose: that is the leak.
      if (leak_session_cache(session_bytes)) outstanding += session_bytes;
      if (leak_request_buffer(request_bytes)) outstanding += request_bytes;
    }
    churn_scratch(8192);
    nanosleep(&ts, NULL);
  }
  printf("leaky: stopping with %llu bytes leaked\n", outstanding);
  return 0;
}
