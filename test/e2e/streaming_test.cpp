// Exec, Attach and PortForward through kcrd's streaming server, driven by
// crictl (client-go's remotecommand/portforward inside) and by hand-made
// hostile clients: piped stdin and exit codes, a terminal whose size the
// command sees at start and after a change, attach, single-use and
// expiring tokens, garbage frames, a stalled upgrade and a client killed
// mid-stream (its process must not survive it).
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include <absl/strings/escaping.h>

#include "streaming/spdy/session.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

namespace v1 = ::runtime::v1;
using namespace std::chrono_literals;

// A process with its stdin and stdout+stderr on pipes.
struct Child {
  pid_t pid = -1;
  int in = -1, out = -1;
  std::string output;
  // Reads until `token` appeared or `timeout` passed; true if it did.
  bool ReadUntil(const std::string& token, std::chrono::seconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output.find(token) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) return output.find(token) != std::string::npos;
      output.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  void Write(const std::string& s) { ASSERT_EQ(write(in, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void CloseIn() {
    if (in >= 0) close(in);
    in = -1;
  }
  // Reads to EOF, reaps; the exit code.
  int Wait() {
    CloseIn();
    ReadUntil("\x01never\x01", 60s);
    int st = 0;
    waitpid(pid, &st, 0);
    close(out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
};

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

// Runs argv under a pseudo-terminal of rows x cols (python3's pty): the
// child's stdin/stdout are the terminal; writing "\x1b[8;R;Ct" to the
// helper's stdin resizes it (TIOCSWINSZ on the master: SIGWINCH to crictl).
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

// Processes on the host whose command line is `marker` (arguments
// separated by spaces), e.g. "sleep 4702": not the shells that name it.
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

// A SPDY client driven by hand over a raw upgraded connection, for what
// client-go never does: open streams late, stall mid-frame, reset streams.
namespace spdy = ::kcr::streaming::spdy;
struct SpdyClient {
  int fd = -1;
  spdy::Session s{spdy::Session::Role::kClient};
  std::vector<spdy::Event> events;  // everything received, in order
  bool closed = false;

  ~SpdyClient() {
    if (fd >= 0) close(fd);
  }
  // POSTs the upgrade for `path`; true once the server answered 101.
  bool Upgrade(int port, const std::string& path, const std::string& protocol) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    std::string up = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                     "X-Stream-Protocol-Version: " + protocol + "\r\n\r\n";
    if (write(fd, up.data(), up.size()) != static_cast<ssize_t>(up.size())) return false;
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 1000) <= 0) continue;
      char b[4096];
      ssize_t n = read(fd, b, sizeof b);
      if (n <= 0) return false;
      got.append(b, static_cast<size_t>(n));
    }
    size_t end = got.find("\r\n\r\n");
    if (end == std::string::npos || got.find(" 101 ") == std::string::npos) return false;
    Feed(got.substr(end + 4));
    return true;
  }
  void Feed(const std::string& bytes) {
    EXPECT_TRUE(s.Feed(bytes).ok());
    for (auto& e : s.TakeEvents()) events.push_back(std::move(e));
  }
  void Flush() { Raw(s.TakeOutput()); }
  void Raw(const std::string& bytes) {
    if (bytes.empty()) return;
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  uint32_t Open(spdy::Headers h, bool fin = false) {
    auto id = s.OpenStream(h, fin);
    EXPECT_TRUE(id.ok()) << id.status();
    Flush();
    return id.ok() ? *id : 0;
  }
  // Reads until `done()` holds, the server closes or `timeout` passes;
  // what done() said last.
  bool Pump(const std::function<bool()>& done, std::chrono::seconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (closed) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000))) <= 0) continue;
      char b[65536];
      ssize_t n = read(fd, b, sizeof b);
      if (n <= 0) {
        closed = true;
        continue;
      }
      Feed(std::string(b, static_cast<size_t>(n)));
      Flush();  // PING answers
    }
    return true;
  }
  // Takes in what has arrived, without waiting.
  void Drain() {
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (closed || poll(&p, 1, 0) <= 0) return;
      char b[65536];
      ssize_t n = read(fd, b, sizeof b);
      if (n <= 0) {
        closed = true;
        return;
      }
      Feed(std::string(b, static_cast<size_t>(n)));
      Flush();
    }
  }
  // Bytes received on `stream` so far.
  std::string Data(uint32_t stream) const {
    std::string d;
    for (const auto& e : events)
      if (e.type == spdy::Event::Type::kData && e.stream_id == stream) d += e.data;
    return d;
  }
  bool Has(spdy::Event::Type t, uint32_t stream) const {
    for (const auto& e : events)
      if (e.type == t && e.stream_id == stream) return true;
    return false;
  }
};

// Descriptors kcrd holds open.
int KcrdFds(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/fd"); }

class StreamingTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    Start("[streaming]\ntoken_ttl = \"2s\"\n" + ExtraStreamingToml());
    ASSERT_TRUE(Pull("busybox").ok());
    pc_ = PodConfig("stream");
    auto pod = RunPod(pc_);
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_ = *pod;
    auto ctr = RunCtr(pod_, pc_, CtrConfig("sleeper", "busybox", {"sleep", "100000"}));
    ASSERT_TRUE(ctr.ok()) << ctr.status();
    ctr_ = *ctr;
  }

  // More keys for the [streaming] table.
  virtual std::string ExtraStreamingToml() { return ""; }

  std::vector<std::string> CrictlArgv(std::vector<std::string> args) {
    std::vector<std::string> argv{KCR_CRICTL_BIN, "--timeout", "60s", "-r", "unix://" + sock_, "-i", "unix://" + sock_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::string ExecUrl(std::vector<std::string> cmd) {
    v1::ExecRequest req;
    req.set_container_id(ctr_);
    for (auto& c : cmd) req.add_cmd(c);
    req.set_stdout(true);
    v1::ExecResponse resp;
    grpc::Status st = Runtime().Exec(Ctx().get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.url();
  }

  // host:port and path of a streaming URL.
  static std::pair<int, std::string> Split(const std::string& url) {
    size_t host = url.find("://") + 3, colon = url.find(':', host), path = url.find('/', host);
    return {std::stoi(url.substr(colon + 1, path - colon - 1)), url.substr(path)};
  }

  // A TCP connection to the streaming server; -1 on failure.
  static int Dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Reads what the server sends until it closes (or `timeout`); the bytes.
  static std::string ReadToClose(int fd, std::chrono::seconds timeout, bool* closed) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    *closed = false;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return got;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) {
        *closed = true;
        return got;
      }
      got.append(buf, static_cast<size_t>(n));
    }
  }

  static std::string Request(int port, const std::string& text) {
    int fd = Dial(port);
    if (fd < 0) return "connect failed";
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    bool closed;
    std::string got = ReadToClose(fd, 20s, &closed);
    close(fd);
    return got;
  }

  static std::string WsUpgrade(const std::string& path, const std::string& protocol) {
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Protocol: " + protocol + "\r\n\r\n";
  }

  // kcrd still answers exec at once.
  void ExpectExecWorks(const std::string& transport) {
    auto r = Crictl({"exec", "--transport", transport, ctr_, "echo", "still-serving"});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find("still-serving"), std::string::npos) << r.out;
  }

  v1::PodSandboxConfig pc_;
  std::string pod_, ctr_;
};

TEST_F(StreamingTest, ExecWithPipedStdinAndExitCodes) {
  for (std::string transport : {"websocket", "spdy"}) {
    SCOPED_TRACE(transport);
    Child c = Spawn(CrictlArgv({"exec", "-i", "--transport", transport, ctr_, "sh", "-c",
                                "tr a-z A-Z; echo to-stderr >&2; exit 3"}));
    c.Write("hello from stdin\n");
    // crictl itself exits 1 and prints the command's code from the Status.
    int code = c.Wait();
    EXPECT_NE(code, 0) << c.output;
    EXPECT_NE(c.output.find("exit code 3"), std::string::npos) << c.output;
    EXPECT_NE(c.output.find("HELLO FROM STDIN"), std::string::npos) << c.output;
    EXPECT_NE(c.output.find("to-stderr"), std::string::npos) << c.output;
    auto r = Crictl({"exec", "--transport", transport, ctr_, "true"});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    // A command that cannot start reports the runtime's error.
    r = Crictl({"exec", "--transport", transport, ctr_, "/no/such/program"});
    EXPECT_NE(r.exit_code, 0) << r.out;
  }
}

TEST_F(StreamingTest, ExecWithATerminalSeesItsSizeAtStartAndAfterAResize) {
  for (std::string transport : {"websocket", "spdy"}) {
    SCOPED_TRACE(transport);
    std::vector<std::string> argv{"/usr/bin/python3", "-c", kPtyHelper, "33", "111"};
    for (auto& a : CrictlArgv({"exec", "-it", "--transport", transport, ctr_, "sh", "-c",
                               "stty size; while read x; do stty size; done; exit 4"}))
      argv.push_back(a);
    Child c = Spawn(argv);
    // The very first command sees the client's size (no 0x0 or 24x80).
    ASSERT_TRUE(c.ReadUntil("33 111")) << c.output;
    c.Write("resize 44 122\n");
    // The resize travels on its own stream: ask again until it applied.
    bool resized = false;
    for (int i = 0; i < 50 && !resized; i++) {
      c.Write("\n");
      resized = c.ReadUntil("44 122", 1s);
    }
    EXPECT_TRUE(resized) << c.output;
    c.Write("EOF\n");  // ^D: read fails, the shell exits 4
    EXPECT_NE(c.Wait(), 0) << c.output;
    EXPECT_NE(c.output.find("exit code 4"), std::string::npos) << c.output;
  }
}

TEST_F(StreamingTest, AttachSeesOutputAndSendsStdin) {
  for (std::string transport : {"websocket", "spdy"}) {
    SCOPED_TRACE(transport);
    auto cfg = CtrConfig("echoer-" + transport, "busybox",
                         {"sh", "-c", "echo attached-ready; while read l; do echo got:$l; done; echo bye"});
    cfg.set_stdin(true);
    cfg.set_stdin_once(true);
    auto ctr = RunCtr(pod_, pc_, cfg);
    ASSERT_TRUE(ctr.ok()) << ctr.status();
    Child c = Spawn(CrictlArgv({"attach", "-i", "--transport", transport, *ctr}));
    c.Write("line-one\n");
    ASSERT_TRUE(c.ReadUntil("got:line-one")) << c.output;
    // stdin_once: the client's EOF is the container's; it says bye and ends.
    EXPECT_EQ(c.Wait(), 0) << c.output;
    EXPECT_NE(c.output.find("bye"), std::string::npos) << c.output;
  }
}

TEST_F(StreamingTest, TokensAreSingleUseAndExpire) {
  std::string url = ExecUrl({"true"});
  auto [port, path] = Split(url);
  std::string get = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  // No upgrade: 400, and the token is spent.
  EXPECT_NE(Request(port, get).find(" 400 "), std::string::npos);
  EXPECT_NE(Request(port, get).find(" 404 "), std::string::npos);
  EXPECT_NE(Request(port, "GET /exec/short HTTP/1.1\r\n\r\n").find(" 400 "), std::string::npos);
  EXPECT_NE(Request(port, "GET /nothing HTTP/1.1\r\n\r\n").find(" 404 "), std::string::npos);
  // The TTL (2 s here) passes: 404 for a token never used.
  std::string late = Split(ExecUrl({"true"})).second;
  std::this_thread::sleep_for(2500ms);
  EXPECT_NE(Request(port, WsUpgrade(late, "v5.channel.k8s.io")).find(" 404 "), std::string::npos);
}

TEST_F(StreamingTest, MalformedClientsNeitherWedgeKcrdNorLeakProcesses) {
  // Garbage after a good WebSocket upgrade: the connection is dropped.
  {
    auto [port, path] = Split(ExecUrl({"sleep", "4701"}));
    int fd = Dial(port);
    ASSERT_GE(fd, 0);
    std::string up = WsUpgrade(path, "v5.channel.k8s.io");
    ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
    // An unmasked frame with a reserved opcode and a huge length.
    std::string junk = "\x83\x7f\xff\xff\xff\xff\xff\xff\xff\xffgarbage";
    ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    bool closed = false;
    std::string got = ReadToClose(fd, 20s, &closed);
    EXPECT_NE(got.find(" 101 "), std::string::npos) << got;
    EXPECT_TRUE(closed);
    close(fd);
  }
  // A garbage request line and a bad upgrade protocol: 400.
  {
    auto [port, path] = Split(ExecUrl({"true"}));
    EXPECT_NE(Request(port, "\x16\x03\x01garbage\r\n\r\n").find(" 400 "), std::string::npos);
    EXPECT_NE(Request(port, WsUpgrade(path, "v99.nothing")).find(" 400 "), std::string::npos);
  }
  // A stalled upgrade holds only its own connection, and is closed at the
  // handshake deadline.
  auto [port, path] = Split(ExecUrl({"true"}));
  int stalled = Dial(port);
  ASSERT_GE(stalled, 0);
  std::string half = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr";
  ASSERT_EQ(write(stalled, half.data(), half.size()), static_cast<ssize_t>(half.size()));
  ExpectExecWorks("websocket");
  // A client killed mid-stream: its process goes too.
  Child c = Spawn(CrictlArgv({"exec", "-i", "--transport", "websocket", ctr_, "sh", "-c",
                              "echo running; sleep 4702; echo never"}));
  ASSERT_TRUE(c.ReadUntil("running")) << c.output;
  // busybox sh may run sleep in-process: look for the shell itself. (At
  // least one: a child it forks for sleep bears its command line until it
  // execs.)
  const std::string shell = "sh -c echo running; sleep 4702; echo never";
  EXPECT_GE(CountProcesses(shell), 1);
  kill(c.pid, SIGKILL);
  c.Wait();
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    gone = CountProcesses(shell) == 0 && CountProcesses("sleep 4702") == 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the exec'd process outlived its client";
  ExpectExecWorks("websocket");
  bool closed = false;
  ReadToClose(stalled, 30s, &closed);
  EXPECT_TRUE(closed) << "a stalled upgrade was never closed";
  close(stalled);
  EXPECT_EQ(CountProcesses("sleep 4701"), 0);
}

// WebSocket frames by hand (RFC 6455): a client's masked binary frame, and
// the server's frames parsed from a byte buffer.
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

// Complete frames at the front of `buf` (consumed), each with its opcode
// (1 text, 2 binary, 8 close).
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

// Complete frames' payloads at the front of `buf` (consumed).
std::vector<std::string> ServerFrames(std::string& buf) {
  std::vector<std::string> out;
  for (auto& f : ServerFramesWithOpcodes(buf)) out.push_back(std::move(f.second));
  return out;
}

using WsFrames = std::vector<std::pair<int, std::string>>;

// Reads a WebSocket upgrade's response and the frames behind it from fd
// until done(every frame so far) holds, the connection ends or `limit`
// passes. Everything read, response included, goes to *raw.
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

class StreamingPortForwardTest : public StreamingTest {
 protected:
  void SetUp() override {
    StreamingTest::SetUp();
    ASSERT_TRUE(Pull("kcr-test/web").ok());
    auto web = RunCtr(pod_, pc_, CtrConfig("web", "kcr-test/web", {}));
    ASSERT_TRUE(web.ok()) << web.status();
    // Serving once its port answers inside the pod.
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
      up = Exec(ctr_, {"sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 80"}).stdout().find("kcr test web server") !=
           std::string::npos;
      if (!up) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(up);
  }
  std::string Url() {
    v1::PortForwardRequest req;
    req.set_pod_sandbox_id(pod_);
    req.add_port(80);
    v1::PortForwardResponse resp;
    grpc::Status st = Runtime().PortForward(Ctx().get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.url();
  }
};

// kubelet's WebSocket port-forward (v4.channel.k8s.io): ports in the query,
// data channel 0 and error channel 1 each opened with the port number.
TEST_F(StreamingPortForwardTest, WebSocketChannelsReachTheServerInThePod) {
  auto [port, path] = Split(Url());
  int fd = Dial(port);
  ASSERT_GE(fd, 0);
  std::string up = WsUpgrade(path + "?port=80", "v4.channel.k8s.io");
  ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
  std::string req = ClientFrame(std::string("\x00", 1) + "GET / HTTP/1.0\r\n\r\n");
  std::string buf, body;
  bool sent = false, closed = false;
  std::vector<std::string> frames;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char b[8192];
    ssize_t n = read(fd, b, sizeof b);
    if (n <= 0) break;
    buf.append(b, static_cast<size_t>(n));
    if (!sent) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      ASSERT_NE(buf.find(" 101 "), std::string::npos) << buf;
      buf.erase(0, end + 4);
      ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
      sent = true;
    }
    for (auto& f : ServerFrames(buf)) {
      frames.push_back(f);
      if (!f.empty() && f[0] == 0) body += f.substr(1);
      if (f.empty()) closed = true;  // a close frame's payload is its code; data frames have a channel
    }
  }
  close(fd);
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames[0], std::string("\x00\x50\x00", 3));  // channel 0, port 80 little endian
  EXPECT_EQ(frames[1], std::string("\x01\x50\x00", 3));
  EXPECT_NE(body.find("kcr test web server"), std::string::npos) << body;
}

// Over one long SPDY port-forward connection (kubectl port-forward serving
// many requests), each request's connection into the pod is released when
// it ends: the pod closed it, or the client reset its streams. kcrd's
// descriptors must not grow with the number of requests served.
TEST_F(StreamingPortForwardTest, SpdyRequestsReleaseTheirConnections) {
  auto [port, path] = Split(Url());
  SpdyClient c;
  ASSERT_TRUE(c.Upgrade(port, path, "portforward.k8s.io"));
  pid_t kcrd = KcrdPid();
  int base = KcrdFds(kcrd);
  auto open = [&](int id) {
    std::string rid = std::to_string(id);
    c.Open({{"streamtype", "error"}, {"port", "80"}, {"requestid", rid}});
    return c.Open({{"streamtype", "data"}, {"port", "80"}, {"requestid", rid}});
  };
  // 150 requests served to their end: the server in the pod answers and
  // closes, kcrd ends the data stream.
  std::vector<uint32_t> data;
  for (int i = 0; i < 150; i++) {
    uint32_t d = open(i);
    data.push_back(d);
    ASSERT_TRUE(c.s.Send(d, "GET / HTTP/1.0\r\n\r\n", true).ok());
  }
  c.Flush();
  auto all_ended = [&] {
    for (uint32_t d : data)
      if (!c.Has(spdy::Event::Type::kFin, d)) return false;
    return true;
  };
  ASSERT_TRUE(c.Pump(all_ended, 60s));
  EXPECT_NE(c.Data(data[0]).find("kcr test web server"), std::string::npos);
  bool released = false;
  for (int i = 0; i < 100 && !released; i++) {
    released = KcrdFds(kcrd) < base + 20;
    if (!released) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(released) << "kcrd holds " << KcrdFds(kcrd) - base << " more descriptors after 150 ended requests";
  // 150 requests the client resets while the pod's server still waits for
  // their request: connected first (kcrd's descriptors show it), then reset.
  std::vector<std::pair<uint32_t, uint32_t>> held;
  for (int i = 1000; i < 1150; i++) {
    uint32_t d = open(i);
    held.push_back({d - 2, d});
  }
  bool connected = false;
  for (int i = 0; i < 300 && !connected; i++) {
    connected = KcrdFds(kcrd) >= base + 140;
    if (!connected) c.Drain(), std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(connected) << KcrdFds(kcrd) - base;
  for (auto [e, d] : held) {
    c.s.Reset(d, spdy::RstStatus::kCancel);
    c.s.Reset(e, spdy::RstStatus::kCancel);
  }
  c.Flush();
  released = false;
  for (int i = 0; i < 100 && !released; i++) {
    released = KcrdFds(kcrd) < base + 20;
    if (!released) c.Drain(), std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(released) << "kcrd holds " << KcrdFds(kcrd) - base << " more descriptors after 150 reset requests";
  EXPECT_FALSE(c.closed);
}

TEST_F(StreamingPortForwardTest, CrictlPortForward) {
  for (std::string transport : {"spdy", "websocket"}) {
    SCOPED_TRACE(transport);
    std::string local = std::to_string(transport == "spdy" ? 18801 : 18802);
    Child c = Spawn(CrictlArgv({"port-forward", "--transport", transport, pod_, local + ":80"}));
    ASSERT_TRUE(c.ReadUntil("Forwarding from")) << c.output;
    // Two requests at once and one after the other: each its own stream.
    for (int i = 0; i < 3; i++) {
      auto r = e2e::Run({"/usr/bin/curl", "-s", "-m", "10", "http://127.0.0.1:" + local + "/"});
      EXPECT_NE(r.out.find("kcr test web server"), std::string::npos) << r.out << c.output;
    }
    kill(c.pid, SIGTERM);
    c.Wait();
  }
}

// Regression for e92c5fe: over SPDY the process waits for the streams its
// request asked for. A client opening stdout after a fast command ended
// had it refused (client-go then waited 30 s for a reply) and lost the
// output.
TEST_F(StreamingTest, SpdyExecWaitsForAStdoutStreamOpenedLate) {
  auto [port, path] = Split(ExecUrl({"echo", "late-stream-output"}));
  SpdyClient c;
  ASSERT_TRUE(c.Upgrade(port, path, "v4.channel.k8s.io"));
  uint32_t error = c.Open({{"streamtype", "error"}});
  // Long enough for `echo` to have run and ended had it started now.
  ASSERT_FALSE(c.Pump([] { return false; }, 2s));
  ASSERT_FALSE(c.closed);
  uint32_t out = c.Open({{"streamtype", "stdout"}});
  EXPECT_TRUE(c.Pump([&] { return c.Data(error).find("Success") != std::string::npos; }))
      << c.Data(error);
  EXPECT_TRUE(c.Has(spdy::Event::Type::kReply, out));
  EXPECT_FALSE(c.Has(spdy::Event::Type::kReset, out));
  EXPECT_EQ(c.Data(out), "late-stream-output\n");
}

// A client that upgrades and then opens none of the streams it must
// (kubelet's stream creation timeout): closed, and its command never runs.
TEST_F(StreamingTest, SpdyClientSilentAfterTheUpgradeIsClosedAndRunsNothing) {
  auto [port, path] = Split(ExecUrl({"sleep", "4704"}));
  SpdyClient c;
  ASSERT_TRUE(c.Upgrade(port, path, "v4.channel.k8s.io"));
  EXPECT_FALSE(c.Pump([] { return false; }, 40s));
  EXPECT_TRUE(c.closed) << "a silent SPDY client was kept";
  EXPECT_EQ(CountProcesses("sleep 4704"), 0);
  ExpectExecWorks("spdy");
}

// A frame header whose payload never comes ends the connection at the
// frame deadline (not the 4 h idle one), and the exec goes with it.
TEST_F(StreamingTest, SpdyFrameStalledMidwayIsClosed) {
  auto [port, path] = Split(ExecUrl({"sleep", "4705"}));
  SpdyClient c;
  ASSERT_TRUE(c.Upgrade(port, path, "v4.channel.k8s.io"));
  c.Open({{"streamtype", "error"}});
  uint32_t out = c.Open({{"streamtype", "stdout"}});
  ASSERT_TRUE(c.Pump([&] { return c.Has(spdy::Event::Type::kReply, out); }));
  bool running = false;
  for (int i = 0; i < 200 && !running; i++) {
    running = CountProcesses("sleep 4705") == 1;
    if (!running) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(running);
  // A DATA frame on the stdout stream announcing 100 bytes; 10 come.
  std::string frame = {0, 0, 0, static_cast<char>(out), 0, 0, 0, 100};
  c.Raw(frame + std::string(10, 'x'));
  EXPECT_FALSE(c.Pump([] { return false; }, 40s));
  EXPECT_TRUE(c.closed) << "a frame stalled midway held its connection";
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    gone = CountProcesses("sleep 4705") == 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the exec outlived its connection";
}

// The WebSocket variants client-go and kubelet also speak: v4 (no close
// signal) and the base64 text codecs. Output and the exit status arrive
// on their channels in each.
TEST_F(StreamingTest, WebSocketV4AndBase64VariantsCarryOutputAndStatus) {
  for (std::string proto : {"v4.channel.k8s.io", "v4.base64.channel.k8s.io", "v5.base64.channel.k8s.io",
                            "base64.channel.k8s.io"}) {
    SCOPED_TRACE(proto);
    bool b64 = proto.find("base64") != std::string::npos;
    auto [port, path] = Split(ExecUrl({"sh", "-c", "echo ws-variant; exit 7"}));
    int fd = Dial(port);
    ASSERT_GE(fd, 0);
    std::string up = WsUpgrade(path, proto);
    ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
    // Up to the server's close frame (answering it would only end the
    // connection sooner).
    std::string got;
    auto is_close = [](const std::pair<int, std::string>& f) { return f.first == 8; };
    WsFrames frames = ReadWsFramesUntil(
        fd, 30s, [&](const WsFrames& fs) { return std::any_of(fs.begin(), fs.end(), is_close); }, &got);
    bool close_frame = std::any_of(frames.begin(), frames.end(), is_close);
    close(fd);
    EXPECT_TRUE(close_frame);
    size_t end = got.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos) << got;
    EXPECT_NE(got.substr(0, end).find("Sec-WebSocket-Protocol: " + proto), std::string::npos) << got;
    std::string out, status;
    for (auto& [op, f] : frames) {
      if (op == 8) break;  // close
      EXPECT_EQ(op, b64 ? 1 : 2);  // text or binary
      ASSERT_FALSE(f.empty());
      int channel = b64 ? f[0] - '0' : static_cast<uint8_t>(f[0]);
      std::string data = f.substr(1);
      if (b64) {
        ASSERT_TRUE(absl::Base64Unescape(f.substr(1), &data)) << f;
      }
      if (channel == 1) out += data;
      if (channel == 3) status += data;
    }
    EXPECT_EQ(out, "ws-variant\n");
    if (proto == "base64.channel.k8s.io") {  // version 1: a message, no Status object
      EXPECT_NE(status.find("exit status 7"), std::string::npos) << status;
    } else {
      EXPECT_NE(status.find("NonZeroExitCode"), std::string::npos) << status;
      EXPECT_NE(status.find("\"message\":\"7\""), std::string::npos) << status;
    }
  }
}

// Several clients attached to one container at once each get all of its
// output from the moment they attached.
TEST_F(StreamingTest, SeveralAttachersAllSeeTheOutput) {
  auto ctr = RunCtr(pod_, pc_, CtrConfig("ticker", "busybox",
                                         {"sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  std::vector<Child> attached;
  for (std::string transport : {"websocket", "spdy", "websocket"})
    attached.push_back(Spawn(CrictlArgv({"attach", "--transport", transport, *ctr})));
  for (auto& c : attached) ASSERT_TRUE(c.ReadUntil("tick-")) << c.output;
  // A tick after all of them attached: every one sees it.
  const std::string& o = attached[0].output;
  size_t last = o.rfind("tick-");
  int n = std::stoi(o.substr(last + 5));
  std::string later = "tick-" + std::to_string(n + 3) + "\n";
  for (auto& c : attached) EXPECT_TRUE(c.ReadUntil(later)) << c.output;
  for (auto& c : attached) {
    kill(c.pid, SIGKILL);  // crictl attach outlives SIGTERM
    c.Wait();
  }
}

// The server with [streaming] tls_cert_file/tls_key_file: URLs are https,
// crictl (client-go, which skips verification for the runtime's URL as
// kubelet's proxy does) execs through it over both transports, and a
// client speaking plain HTTP to the TLS port, or stalling its TLS
// handshake, is closed without holding anything.
class StreamingTlsTest : public StreamingTest {
 protected:
  std::string ExtraStreamingToml() override {
    std::string key = dir_ + "/streaming-key.pem", cert = dir_ + "/streaming-cert.pem";
    auto r = e2e::Run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                       cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return "tls_cert_file = \"" + cert + "\"\ntls_key_file = \"" + key + "\"\n";
  }
};

TEST_F(StreamingTlsTest, ExecOverTlsAndHostileTlsClients) {
  std::string url = ExecUrl({"true"});
  EXPECT_EQ(url.rfind("https://", 0), 0u) << url;
  ExpectExecWorks("websocket");
  ExpectExecWorks("spdy");
  auto [port, path] = Split(url);
  // Plain HTTP on the TLS port: no upgrade, the connection closes.
  {
    int fd = Dial(port);
    ASSERT_GE(fd, 0);
    std::string up = WsUpgrade(path, "v5.channel.k8s.io");
    ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
    bool closed = false;
    std::string got = ReadToClose(fd, 30s, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(got.find(" 101 "), std::string::npos) << got;
    close(fd);
  }
  // A TLS handshake begun and never finished (a ClientHello's first
  // bytes) holds only its connection, until the handshake deadline.
  int stalled = Dial(port);
  ASSERT_GE(stalled, 0);
  static const char kHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
  ASSERT_EQ(write(stalled, kHello, sizeof kHello - 1), static_cast<ssize_t>(sizeof kHello - 1));
  ExpectExecWorks("websocket");
  bool closed = false;
  ReadToClose(stalled, 30s, &closed);
  EXPECT_TRUE(closed) << "a stalled TLS handshake was never closed";
  close(stalled);
  ExpectExecWorks("spdy");
}

// Port-forward into a host-network pod, to a port whose listener never
// accepts and whose queue is full (the kernel drops the SYNs: a blocking
// connect waits about 2 minutes). Connecting must neither hold up other
// clients' exec (the monitor calls share a small pool) nor outlast the
// connect deadline; the client hears why on the error channel.
TEST_F(StreamingTest, PortForwardToAPortThatNeverAcceptsHoldsUpNoExec) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 0), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  int port = ntohs(a.sin_port);
  std::vector<int> fillers;  // fill the accept queue
  for (int i = 0; i < 4; i++) {
    int f = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(f);
  }
  auto hpc = PodConfig("hostnet");
  hpc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NamespaceMode::NODE);
  auto hpod = RunPod(hpc);
  ASSERT_TRUE(hpod.ok()) << hpod.status();
  std::vector<int> forwards;
  for (int i = 0; i < 3; i++) {
    v1::PortForwardRequest req;
    req.set_pod_sandbox_id(*hpod);
    req.add_port(port);
    v1::PortForwardResponse resp;
    grpc::Status st = Runtime().PortForward(Ctx().get(), req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    auto [sport, path] = Split(resp.url());
    int fd = Dial(sport);
    ASSERT_GE(fd, 0);
    std::string up = WsUpgrade(path + "?port=" + std::to_string(port), "v4.channel.k8s.io");
    ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
    forwards.push_back(fd);
  }
  // Exec in the other pod while those connects are pending.
  Child c = Spawn(CrictlArgv({"exec", ctr_, "echo", "not-held-up"}));
  EXPECT_TRUE(c.ReadUntil("not-held-up", 30s)) << c.output;
  kill(c.pid, SIGKILL);
  c.Wait();
  // Each forward reports its failed connect on its error channel (1).
  for (int fd : forwards) {
    std::string got, error;
    ReadWsFramesUntil(
        fd, 40s,
        [&](const WsFrames& fs) {
          for (auto& [op, f] : fs)
            if (f.size() > 3 && f[0] == 1) error = f.substr(1);
          return !error.empty();
        },
        &got);
    EXPECT_NE(error.find(std::to_string(port)), std::string::npos) << "no connect error within 40 s: " << got;
    close(fd);
  }
  for (int f : fillers) close(f);
  close(l);
}

TEST_F(StreamingTest, SpdyExecAttachAndGarbage) {
  Child c = Spawn(CrictlArgv({"exec", "-i", ctr_, "sh", "-c", "tr a-z A-Z; exit 5"}));
  c.Write("spdy stdin\n");
  EXPECT_NE(c.Wait(), 0) << c.output;
  EXPECT_NE(c.output.find("exit code 5"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("SPDY STDIN"), std::string::npos) << c.output;
  // Garbage after the SPDY upgrade: dropped, kcrd goes on.
  auto [port, path] = Split(ExecUrl({"sleep", "4703"}));
  int fd = Dial(port);
  ASSERT_GE(fd, 0);
  std::string up = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                   "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n";
  ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
  // A SYN_STREAM header declaring a 16 MiB payload (over the session's
  // frame limit: refused as soon as the header is in). Sized explicitly:
  // the literal holds a NUL, where a C string would end after two bytes
  // (a partial header, which the server rightly waits on).
  static const char kJunk[] = "\x80\x03\x00\x01\x01\xff\xff\xffnot a frame at all, just bytes";
  std::string junk(kJunk, sizeof kJunk - 1);
  ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  bool closed = false;
  std::string got = ReadToClose(fd, 20s, &closed);
  EXPECT_NE(got.find(" 101 "), std::string::npos) << got;
  EXPECT_TRUE(closed);
  close(fd);
  ExpectExecWorks("spdy");
  EXPECT_EQ(CountProcesses("sleep 4703"), 0);
}

}  // namespace
}  // namespace kcr::e2e
