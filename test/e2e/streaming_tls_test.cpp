// kcrd's streaming server over TLS: crictl through it over both transports,
// and hostile TLS clients (plain HTTP, a stalled handshake, a protocol
// error and then silence).
#include <openssl/ssl.h>

#include "test/e2e/streaming_helpers.h"

namespace kcr::e2e {
namespace {

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

// The same over TLS: Beast's TLS teardown waits for the client's
// close_notify. A client that sends a protocol error and then nothing at
// all sees the server's FIN once kcr closes its socket.
TEST_F(StreamingTlsTest, WebSocketProtocolErrorClosesTheSocketOfAClientThatNeverCloses) {
  auto [port, path] = Split(ExecUrl({"sleep", "4707"}));
  int fd = Dial(port);
  ASSERT_GE(fd, 0);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  std::string up = WsUpgrade(path, "v5.channel.k8s.io");
  ASSERT_EQ(SSL_write(ssl, up.data(), static_cast<int>(up.size())), static_cast<int>(up.size()));
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos) {
    char b[4096];
    int n = SSL_read(ssl, b, sizeof b);
    ASSERT_GT(n, 0) << got;
    got.append(b, static_cast<size_t>(n));
  }
  ASSERT_NE(got.find(" 101 "), std::string::npos) << got;
  static const char kBad[] = "\x83\x80\x00\x00\x00\x00";
  ASSERT_EQ(SSL_write(ssl, kBad, sizeof kBad - 1), static_cast<int>(sizeof kBad - 1));
  // From here the client reads, writes and closes nothing.
  bool fin = false;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!fin && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLRDHUP, 0};
    fin = poll(&p, 1, 1000) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
  }
  EXPECT_TRUE(fin) << "kcrd still holds the TLS connection of a client that broke the protocol";
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    gone = CountProcesses("sleep 4707") == 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the exec outlived its connection";
}

}  // namespace
}  // namespace kcr::e2e
