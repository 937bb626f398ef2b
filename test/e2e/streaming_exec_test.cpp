// Exec through kcrd's streaming server: crictl (client-go's remotecommand
// inside) with piped stdin and exit codes, a terminal whose size the
// command sees at start and after a change, a SPDY client opening its
// streams late, and the WebSocket v4 and base64 variants by hand.
#include <absl/strings/escaping.h>

#include "test/e2e/streaming_helpers.h"

namespace kcr::e2e {
namespace {

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

}  // namespace
}  // namespace kcr::e2e
