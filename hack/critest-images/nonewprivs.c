/* critest's nonewprivs image entrypoint: installed setuid root; prints the
 * effective uid it ends up with (0 unless no_new_privs stopped setuid). */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("Effective uid: %d\n", geteuid());
  return 0;
}
