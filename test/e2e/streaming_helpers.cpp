// The streaming e2e tests' shared helpers (streaming_helpers.h).
#include "test/e2e/streaming_helpers.h"

#include <cstdio>
#include <cstring>

namespace kcr::e2e {

Child Spawn(const std::vector<std::string>& argv) {
  Child c;
  int in[2], out[2];
  EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  EXPECT_EQ(posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  c.in = in[1];
  c.out = out[0];
  return c;
}

const char* kPtyHelper = R"(
import fcntl, os, pty, select, struct, sys, termios
rows, cols = int(sys.argv[1]), int(sys.argv[2])
def size(fd, r, c): fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', r, c, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    size(0, rows, cols)
    os.execv(sys.argv[3], sys.argv[3:])
buf = b''
while True:
    r, _, _ = select.select([fd, 0], [], [])
    if fd in r:
        try: data = os.read(fd, 4096)
        except OSError: data = b''
        if not data: break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 4096)
        if not data: continue
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            if line.startswith(b'resize '):
                _, r2, c2 = line.split()
                size(fd, int(r2), int(c2))
            else:
                os.write(fd, line + b'\n' if line != b'EOF' else b'\x04')
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
)";

int CountProcesses(const std::string& marker) {
  int n = 0;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    std::string path = std::string("/proc/") + e->d_name + "/cmdline", cmd;
    FILE* f = fopen(path.c_str(), "r");
    if (!f) continue;
    char buf[512];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cmd.assign(buf, got);
    for (char& ch : cmd)
      if (ch == '\0') ch = ' ';
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    if (cmd == marker) n++;
  }
  if (d) closedir(d);
  return n;
}

std::string ClientFrame(const std::string& payload) {
  std::string f = "\x82";
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  }
  f += std::string(4, '\0');  // mask key 0: the payload goes as is
  return f + payload;
}

std::vector<std::pair<int, std::string>> ServerFramesWithOpcodes(std::string& buf) {
  std::vector<std::pair<int, std::string>> out;
  for (;;) {
    if (buf.size() < 2) return out;
    size_t len = static_cast<uint8_t>(buf[1]) & 0x7f, head = 2;
    if (len == 126) {
      if (buf.size() < 4) return out;
      len = (static_cast<uint8_t>(buf[2]) << 8) | static_cast<uint8_t>(buf[3]);
      head = 4;
    } else if (len == 127) {
      if (buf.size() < 10) return out;
      len = 0;
      for (int i = 2; i < 10; i++) len = (len << 8) | static_cast<uint8_t>(buf[i]);
      head = 10;
    }
    if (buf.size() < head + len) return out;
    out.emplace_back(static_cast<uint8_t>(buf[0]) & 0x0f, buf.substr(head, len));
    buf.erase(0, head + len);
  }
}

std::vector<std::string> ServerFrames(std::string& buf) {
  std::vector<std::string> out;
  for (auto& f : ServerFramesWithOpcodes(buf)) out.push_back(std::move(f.second));
  return out;
}

WsFrames ReadWsFramesUntil(int fd, std::chrono::seconds limit, const std::function<bool(const WsFrames&)>& done,
                           std::string* raw) {
  WsFrames frames;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char b[8192];
    ssize_t n = read(fd, b, sizeof b);
    if (n <= 0) break;
    raw->append(b, static_cast<size_t>(n));
    size_t end = raw->find("\r\n\r\n");
    if (end == std::string::npos) continue;
    std::string buf = raw->substr(end + 4);
    frames = ServerFramesWithOpcodes(buf);
    if (done(frames)) break;
  }
  return frames;
}

bool ReadUpgradeResponse(int fd) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char b[1];  // byte by byte: nothing behind the response is consumed
    if (read(fd, b, 1) != 1) return false;
    got += b[0];
  }
  return got.find(" 101 ") != std::string::npos;
}

bool ServerHoldsSocket(int fd, int port) {
  sockaddr_in me{};
  socklen_t len = sizeof me;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) != 0) return false;
  char local[32], remote[32];
  snprintf(local, sizeof local, "0100007F:%04X", port);
  snprintf(remote, sizeof remote, "0100007F:%04X", ntohs(me.sin_port));
  FILE* f = fopen("/proc/net/tcp", "r");
  if (!f) return false;
  char line[512];
  bool held = false;
  while (fgets(line, sizeof line, f)) {
    char sl[16], l[32], r[32], st[8], queues[40], timer[40], retr[16], uid[16], timeout[16], inode[32];
    if (sscanf(line, "%15s %31s %31s %7s %39s %39s %15s %15s %15s %31s", sl, l, r, st, queues, timer, retr, uid,
               timeout, inode) != 10)
      continue;
    if (strcmp(l, local) == 0 && strcmp(r, remote) == 0 && strcmp(inode, "0") != 0) held = true;
  }
  fclose(f);
  return held;
}

int DialFrom(const char* source, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, source, &a.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace kcr::e2e
