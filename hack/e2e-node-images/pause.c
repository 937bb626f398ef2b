/* registry.k8s.io/pause stand-in, built offline: PID 1 of a pod's
 * infrastructure container in the runtimes that use one (kcr needs none,
 * but the node suite also runs it as an ordinary container). Like the real
 * pause, it exits 0 on SIGINT or SIGTERM (a PID 1 without a handler would
 * ignore them and make every deletion wait out its grace period) and reaps
 * whatever children it inherits. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = quit;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  for (;;) pause();
}
