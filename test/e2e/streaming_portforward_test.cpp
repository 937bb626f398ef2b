// PortForward through kcrd's streaming server: kubelet's WebSocket channels,
// many requests over one SPDY connection (each releases its connection
// into the pod), crictl port-forward, and a port that never accepts.

#include "test/e2e/streaming_helpers.h"

namespace kcr::e2e {
namespace {

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

}  // namespace
}  // namespace kcr::e2e
