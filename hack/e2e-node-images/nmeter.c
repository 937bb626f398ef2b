/* busybox's `nmeter` applet, as much of it as the node suite uses, built
 * offline: Debian's busybox (the e2e busybox image's) is compiled without
 * it. The "Containers Lifecycle" specs timestamp every log line with
 * `date -u +%FT$(nmeter -d0 '%3t' | head -n1)Z` (busybox's date has no
 * sub-second format) and fail on "nmeter: not found".
 *
 *   nmeter [-d MSEC] FORMAT
 *
 * FORMAT: text printed as is, except %[N]t (the time of day HH:MM:SS with
 * N decimals of the second, local time like busybox's) and %% (a percent
 * sign). The other nmeter fields (%c, %m, ...) print as "?". A line every
 * MSEC milliseconds (default 1000; 0 = without pause; negative = once), until
 * a write fails (the reader, e.g. `head -n1`, went away). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void print_line(const char *fmt) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  for (const char *p = fmt; *p; p++) {
    if (*p != '%') {
      putchar(*p);
      continue;
    }
    p++;
    int decimals = 0;
    while (*p >= '0' && *p <= '9') decimals = decimals * 10 + (*p++ - '0');
    if (*p == '\0') break;
    if (*p == '%') {
      putchar('%');
    } else if (*p == 't') {
      printf("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
      if (decimals > 6) decimals = 6;
      if (decimals > 0) {
        long frac = tv.tv_usec;
        for (int i = decimals; i < 6; i++) frac /= 10;
        printf(".%0*ld", decimals, frac);
      }
    } else {
      putchar('?');
    }
  }
  putchar('\n');
}

int main(int argc, char **argv) {
  long delay_ms = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "d:")) != -1) {
    if (opt != 'd') {
      fprintf(stderr, "usage: nmeter [-d MSEC] FORMAT\n");
      return 1;
    }
    delay_ms = strtol(optarg, NULL, 10);
  }
  if (optind != argc - 1) {
    fprintf(stderr, "usage: nmeter [-d MSEC] FORMAT\n");
    return 1;
  }
  for (;;) {
    print_line(argv[optind]);
    if (fflush(stdout) != 0 || ferror(stdout)) return 0;
    if (delay_ms < 0) return 0;
    if (delay_ms > 0) {
      struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
    }
  }
}
