/* A stand-in for critest's nginx images, built offline: a process named
 * "nginx" whose command line reads "nginx: master process ...", that writes
 * /var/run/nginx.pid and answers every HTTP request on WEB_ADDR:WEB_PORT
 * (default 0.0.0.0:80) with 200 OK. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* title = "nginx: master process nginx";
  size_t room = 0;
  for (int i = 0; i < argc; i++) room += strlen(argv[i]) + 1;
  if (room > strlen(title)) {
    memset(argv[0], 0, room);
    memcpy(argv[0], title, strlen(title));
  }
  signal(SIGPIPE, SIG_IGN);
  FILE* pid = fopen("/var/run/nginx.pid", "w");
  if (pid) {
    fprintf(pid, "%d\n", getpid());
    fclose(pid);
  }
  const char* addr = getenv("WEB_ADDR");
  const char* port = getenv("WEB_PORT");
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port ? atoi(port) : 80);
  sa.sin_addr.s_addr = addr ? inet_addr(addr) : INADDR_ANY;
  if (bind(s, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(s, 64) != 0) {
    perror("nginx: bind/listen");
    return 1;
  }
  const char* body = "<html><body>Welcome to nginx!</body></html>\n";
  char resp[512];
  snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
           strlen(body), body);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char buf[4096];
    (void)!read(c, buf, sizeof buf);
    (void)!write(c, resp, strlen(resp));
    close(c);
  }
}
