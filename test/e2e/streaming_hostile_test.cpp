// Hostile and broken clients of kcrd's streaming server: single-use and
// expiring tokens, garbage frames, stalled upgrades and frames, silent SPDY
// clients, a client killed mid-stream, a client that never closes after a
// protocol error, hundreds of stalled connections. kcrd must keep serving
// and leave no exec'd process behind.

#include "test/e2e/streaming_helpers.h"

namespace kcr::e2e {
namespace {

TEST_F(StreamingTest, TokensAreSingleUseAndExpire) {
  std::string url = ExecUrl({"true"});
  auto [port, path] = Split(url);
  std::string get = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  // No upgrade: 400, and the token is spent.
  EXPECT_NE(Request(port, get).find(" 400 "), std::string::npos);
  EXPECT_NE(Request(port, get).find(" 404 "), std::string::npos);
  EXPECT_NE(Request(port, "GET /exec/short HTTP/1.1\r\n\r\n").find(" 400 "), std::string::npos);
  EXPECT_NE(Request(port, "GET /nothing HTTP/1.1\r\n\r\n").find(" 404 "), std::string::npos);
  // A live token's prefix with another last character: unknown, and the
  // real token is still good.
  std::string real = Split(ExecUrl({"true"})).second, guess = real;
  guess.back() = guess.back() == 'A' ? 'B' : 'A';
  EXPECT_NE(Request(port, WsUpgrade(guess, "v5.channel.k8s.io")).find(" 404 "), std::string::npos);
  EXPECT_NE(Request(port, WsUpgrade(real, "v5.channel.k8s.io")).find(" 101 "), std::string::npos);
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

// Regression: after a client's protocol error kcr sends its close frame and
// tears the connection down. Beast's teardown waits for the client to
// close, with no deadline on that path: a client that never reads nor
// closes held the connection (and its exec) until the idle timer, minutes.
TEST_F(StreamingTest, WebSocketProtocolErrorClosesTheSocketOfAClientThatNeverCloses) {
  auto [port, path] = Split(ExecUrl({"sleep", "4706"}));
  int fd = Dial(port);
  ASSERT_GE(fd, 0);
  std::string up = WsUpgrade(path, "v5.channel.k8s.io");
  ASSERT_EQ(write(fd, up.data(), up.size()), static_cast<ssize_t>(up.size()));
  ASSERT_TRUE(ReadUpgradeResponse(fd));
  // A masked, empty frame with a reserved opcode (3): a protocol error.
  static const char kBad[] = "\x83\x80\x00\x00\x00\x00";
  ASSERT_EQ(write(fd, kBad, sizeof kBad - 1), static_cast<ssize_t>(sizeof kBad - 1));
  // From here the client reads, writes and closes nothing. (The client
  // sees EOF at once either way: the teardown shuts down sending first. And
  // any byte it sent would end Beast's teardown loop.) The server's deadline
  // is 3 s; 30 s is only the bound of the wait.
  ASSERT_TRUE(ServerHoldsSocket(fd, port));
  bool closed = false;
  for (int i = 0; i < 300 && !closed; i++) {
    closed = !ServerHoldsSocket(fd, port);
    if (!closed) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(closed) << "kcrd still holds the connection of a client that broke the protocol";
  close(fd);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    gone = CountProcesses("sleep 4706") == 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the exec outlived its connection";
  ExpectExecWorks("websocket");
}

// Hundreds of connections that never send a whole request (more than the
// server's 512 connections), from another address and then from kubelet's
// own (127.0.0.1): they held every slot, and the next client got 503. The
// oldest unauthenticated connections now make room, so exec still works
// over both transports while they are held, and CRI still answers.
TEST_F(StreamingTest, HundredsOfStalledConnectionsLockNoClientOut) {
  auto [port, path] = Split(ExecUrl({"true"}));
  for (const char* source : {"127.0.0.2", "127.0.0.1"}) {
    SCOPED_TRACE(source);
    std::vector<int> stalled;
    for (int i = 0; i < 600; i++) {
      int fd = DialFrom(source, port);
      ASSERT_GE(fd, 0) << i;
      ASSERT_EQ(write(fd, "GET /exec/", 10), 10);
      stalled.push_back(fd);
    }
    // Accepted in order: the clients below come after all of them. (The
    // handshake deadline, 10 s, ends them all only later.)
    ExpectExecWorks("websocket");
    ExpectExecWorks("spdy");
    v1::VersionRequest req;
    v1::VersionResponse resp;
    grpc::Status st = Runtime().Version(Ctx(10).get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    for (int fd : stalled) close(fd);
  }
}

}  // namespace
}  // namespace kcr::e2e
