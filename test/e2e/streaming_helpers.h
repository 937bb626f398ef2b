#pragma once
// What the streaming e2e tests (streaming_*_test.cpp: exec, attach,
// port-forward, hostile clients, TLS) share: a kcrd with a pod and a
// sleeping container (StreamingTest), child processes on pipes, a
// hand-driven SPDY client, WebSocket frames by hand, raw connections.
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
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "streaming/spdy/session.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {

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

Child Spawn(const std::vector<std::string>& argv);

// Runs argv under a pseudo-terminal of rows x cols (python3's pty): the
// child's stdin/stdout are the terminal; writing "\x1b[8;R;Ct" to the
// helper's stdin resizes it (TIOCSWINSZ on the master: SIGWINCH to crictl).
extern const char* kPtyHelper;

// Processes on the host whose command line is `marker` (arguments
// separated by spaces), e.g. "sleep 4702": not the shells that name it.
int CountProcesses(const std::string& marker);

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
inline int KcrdFds(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/fd"); }

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

// WebSocket frames by hand (RFC 6455): a client's masked binary frame, and
// the server's frames parsed from a byte buffer.
std::string ClientFrame(const std::string& payload);

// Complete frames at the front of `buf` (consumed), each with its opcode
// (1 text, 2 binary, 8 close).
std::vector<std::pair<int, std::string>> ServerFramesWithOpcodes(std::string& buf);

// Complete frames' payloads at the front of `buf` (consumed).
std::vector<std::string> ServerFrames(std::string& buf);

using WsFrames = std::vector<std::pair<int, std::string>>;

// Reads a WebSocket upgrade's response and the frames behind it from fd
// until done(every frame so far) holds, the connection ends or `limit`
// passes. Everything read, response included, goes to *raw.
WsFrames ReadWsFramesUntil(int fd, std::chrono::seconds limit, const std::function<bool(const WsFrames&)>& done,
                           std::string* raw);

// Reads an upgrade's response (up to its blank line) from fd; true if it
// is a 101.
bool ReadUpgradeResponse(int fd);

// Whether a process still owns the server's end of the loopback TCP
// connection `fd` (to the server's `port`): its /proc/net/tcp entry has an
// inode until the server closes it (an orphaned socket's is 0).
bool ServerHoldsSocket(int fd, int port);

// A TCP connection to the streaming server from `source` (any 127/8
// address is this host); -1 on failure.
int DialFrom(const char* source, int port);

}  // namespace kcr::e2e
