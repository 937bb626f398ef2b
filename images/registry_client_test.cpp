#include "images/registry_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "images/reference.h"

namespace kcr::images {
namespace {

TEST(RegistryClient, EndpointOrder) {
  RegistryOptions o;
  o.hosts["docker.io"].mirrors = {"http://127.0.0.1:5000/", "mirror.example"};
  o.hosts["registry.k8s.io"].server = "http://127.0.0.1:5000";
  RegistryClient c(o);
  EXPECT_EQ(c.Endpoints("docker.io"),
            (std::vector<std::string>{"http://127.0.0.1:5000", "https://mirror.example", "https://registry-1.docker.io"}));
  EXPECT_EQ(c.Endpoints("registry.k8s.io"), (std::vector<std::string>{"http://127.0.0.1:5000"}));
  EXPECT_EQ(c.Endpoints("quay.io"), (std::vector<std::string>{"https://quay.io"}));
  EXPECT_EQ(c.Endpoints("127.0.0.1:5001"), (std::vector<std::string>{"http://127.0.0.1:5001"}));
  EXPECT_EQ(c.Endpoints("localhost:5000"), (std::vector<std::string>{"http://localhost:5000"}));
}

// Plain HTTP (and credentials over it) only for exactly localhost, a
// loopback IP literal, or what the operator configured with http://.
TEST(RegistryClient, PlainHttpOnlyForLoopbackOrConfigured) {
  RegistryOptions o;
  o.hosts["registry.internal:5000"].server = "http://registry.internal:5000";  // the operator's choice
  o.hosts["localhost:5443"].ca_file = "/etc/kcr/ca.pem";                       // TLS configured
  RegistryClient c(o);
  using V = std::vector<std::string>;
  EXPECT_EQ(c.Endpoints("localhost.example.com"), V{"https://localhost.example.com"});
  EXPECT_EQ(c.Endpoints("localhost.example.com:5000"), V{"https://localhost.example.com:5000"});
  EXPECT_EQ(c.Endpoints("localhostevil.net"), V{"https://localhostevil.net"});
  EXPECT_EQ(c.Endpoints("127.evil.net"), V{"https://127.evil.net"});
  EXPECT_EQ(c.Endpoints("127.0.0.1.evil.net"), V{"https://127.0.0.1.evil.net"});
  EXPECT_EQ(c.Endpoints("[::1].evil.net"), V{"https://[::1].evil.net"});
  EXPECT_EQ(c.Endpoints("127.0.0.1:5000"), V{"http://127.0.0.1:5000"});
  EXPECT_EQ(c.Endpoints("127.1.2.3"), V{"http://127.1.2.3"});
  EXPECT_EQ(c.Endpoints("[::1]:5000"), V{"http://[::1]:5000"});
  EXPECT_EQ(c.Endpoints("[::1]"), V{"http://[::1]"});
  EXPECT_EQ(c.Endpoints("localhost:5000"), V{"http://localhost:5000"});
  EXPECT_EQ(c.Endpoints("localhost"), V{"http://localhost"});
  EXPECT_EQ(c.Endpoints("localhost:5443"), V{"https://localhost:5443"});
  EXPECT_EQ(c.Endpoints("registry.internal:5000"), V{"http://registry.internal:5000"});
  EXPECT_EQ(c.Endpoints("10.0.0.1:5000"), V{"https://10.0.0.1:5000"});

  EXPECT_TRUE(IsLoopbackRegistry("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackRegistry("LOCALHOST:80"));
  EXPECT_FALSE(IsLoopbackRegistry("localhost:"));
  EXPECT_FALSE(IsLoopbackRegistry("localhost:99999"));
  EXPECT_FALSE(IsLoopbackRegistry("localhost:50x"));
  EXPECT_FALSE(IsLoopbackRegistry("127.0.0.1:5000:1"));
  EXPECT_FALSE(IsLoopbackRegistry("[::1"));
  EXPECT_FALSE(IsLoopbackRegistry("[::2]:5000"));
  EXPECT_FALSE(IsLoopbackRegistry("[::1]x"));
  EXPECT_FALSE(IsLoopbackRegistry("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackRegistry("127.1"));
  EXPECT_FALSE(IsLoopbackRegistry(""));
}

TEST(RegistryClient, BasicCredentials) {
  AuthConfig a;
  EXPECT_EQ(BasicCredentials(a), "");
  a.auth = "a2NyOmtjci10ZXN0";
  EXPECT_EQ(BasicCredentials(a), "kcr:kcr-test");
  a.username = "u";
  a.password = "p";
  EXPECT_EQ(BasicCredentials(a), "u:p");
}

TEST(RegistryClient, CredentialKeySeparatesCredentials) {
  AuthConfig none, a, b, t;
  a.username = "kcr";
  a.password = "x";
  b.username = "kcr";
  b.password = "y";
  t.registry_token = "kcr:x";
  EXPECT_EQ(CredentialKey(none), "");
  EXPECT_NE(CredentialKey(a), "");
  EXPECT_EQ(CredentialKey(a), CredentialKey(a));
  EXPECT_NE(CredentialKey(a), CredentialKey(b));
  EXPECT_NE(CredentialKey(a), CredentialKey(t));
  EXPECT_EQ(CredentialKey(a).rfind("sha256:", 0), 0u);  // a digest, not the secret
}

// Hostile JSON shapes give an error or nothing, never an exception (which
// would end kcrd): nlohmann's value() throws on a non-string member.
TEST(RegistryClient, TokenAndErrorBodiesOfAnyShape) {
  EXPECT_EQ(*ParseTokenResponse(R"({"token":"abc"})", "r"), "abc");
  EXPECT_EQ(*ParseTokenResponse(R"({"access_token":"xyz"})", "r"), "xyz");
  EXPECT_EQ(*ParseTokenResponse(R"({"token":"","access_token":"xyz"})", "r"), "xyz");
  EXPECT_EQ(ParseTokenResponse(R"({"token":5})", "r").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseTokenResponse(R"({"access_token":{}})", "r").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseTokenResponse("[1]", "r").status().code(), absl::StatusCode::kUnauthenticated);
  Status st = ParseTokenResponse("{\"token\":\"a\\r\\nX-Injected: 1\"}", "https://auth.example/token").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("https://auth.example/token"), std::string::npos) << st;

  EXPECT_EQ(RegistryErrorDetail(R"({"errors":[{"code":"DENIED","message":"no"}]})"), "no");
  EXPECT_EQ(RegistryErrorDetail(R"({"errors":[{"message":5}]})"), "");
  EXPECT_EQ(RegistryErrorDetail(R"({"errors":{"message":"x"}})"), "");
  EXPECT_EQ(RegistryErrorDetail("<html>"), "");
  EXPECT_EQ(RegistryErrorDetail(R"({"errors":[{"message":")" + std::string(10000, 'm') + R"("}]})").size(), 515u);

  AuthChallenge c = ParseAuthChallenge(R"(Bearer realm="https://a/t",service="reg",scope="repository:x:pull")");
  EXPECT_EQ(c.scheme, "bearer");
  EXPECT_EQ(c.params["realm"], "https://a/t");
  EXPECT_EQ(c.params["service"], "reg");
  EXPECT_EQ(ParseAuthChallenge(R"(Basic realm="a\"b")").params["realm"], "a\"b");
  EXPECT_TRUE(ParseAuthChallenge(R"(Bearer realm="unterminated)").params.count("realm"));
}

// A scripted HTTP server on 127.0.0.1: each connection gets the request
// read (headers only) and `respond(fd)` run on it.
class TestServer {
 public:
  explicit TestServer(std::function<void(int)> respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      requests_++;
      respond_(c);
      ::close(c);
    }
  }
  std::function<void(int)> respond_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

bool Send(int fd, const std::string& s) { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }

Reference RefOn(const std::string& host) {
  auto r = ParseReference(host + "/team/app:1");
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

// A registry that sends a manifest one byte at a time never completes it:
// the request ends at its deadline with a message saying so.
TEST(RegistryClient, TricklingAnswerHitsTheDeadline) {
  TestServer srv([](int fd) {
    if (!Send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")) return;
    // One byte every 100 ms until the client hangs up.
    for (;;) {
      pollfd p{fd, POLLIN, 100};
      if (::poll(&p, 1, 100) > 0) return;  // EOF: the client gave up
      if (!Send(fd, "{")) return;
    }
  });
  RegistryOptions o;
  o.max_retries = 0;
  o.small_request_timeout_s = 1;
  RegistryClient c(o);
  auto m = c.GetManifest(RefOn(srv.host()), "1", AuthConfig{}, Cancel());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable) << m.status();
  EXPECT_NE(m.status().message().find("no complete answer within 1 s"), std::string::npos) << m.status();
}

// An endless error body is cut off after its first bytes and reported by
// its status code.
TEST(RegistryClient, EndlessErrorBodyIsCutOff) {
  TestServer srv([](int fd) {
    if (!Send(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n")) return;
    std::string chunk(65536, 'x');
    while (Send(fd, chunk)) {
    }
  });
  RegistryOptions o;
  o.max_retries = 0;
  RegistryClient c(o);
  auto m = c.GetManifest(RefOn(srv.host()), "1", AuthConfig{}, Cancel());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound) << m.status();
  EXPECT_NE(m.status().message().find("HTTP 404"), std::string::npos) << m.status();
}

// Endless response headers on a blob request (where only the stall limit
// applies, and bytes do flow) end the request: libcurl (7.88.1 in Debian 12
// and later) refuses more than 300 KiB of headers. This guards that
// assumption; the server stops after 4 MiB so a missing cap shows as a
// wrong result, not a hang.
TEST(RegistryClient, EndlessHeadersEndTheRequest) {
  TestServer srv([](int fd) {
    if (!Send(fd, "HTTP/1.1 200 OK\r\n")) return;
    std::string line = "X-Pad: " + std::string(1000, 'p') + "\r\n";
    for (int i = 0; i < 4096; i++)
      if (!Send(fd, line)) return;
    Send(fd, "Content-Length: 0\r\n\r\n");
  });
  RegistryOptions o;
  o.max_retries = 0;
  RegistryClient c(o);
  size_t got = 0;
  Status st = c.GetBlob(
      RefOn(srv.host()), "sha256:" + std::string(64, 'a'), 1 << 20, AuthConfig{},
      [&](const char*, size_t n) {
        got += n;
        return absl::OkStatus();
      },
      [] { return absl::OkStatus(); }, nullptr, Cancel());
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(got, 0u);
}

// A loopback registry whose token realm is plain HTTP on another,
// non-loopback host does not get the credentials sent there. (0.0.0.0 is
// not a loopback name, yet reaches this host, so the test sends nothing
// off the machine even when the check is missing.)
TEST(RegistryClient, NoCredentialsToAPlainHttpRealmElsewhere) {
  std::atomic<int> port{0};
  TestServer srv([&port](int fd) {
    Send(fd, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://0.0.0.0:" + std::to_string(port.load()) +
                 "/token\",service=\"reg\"\r\nContent-Length: 0\r\n\r\n");
  });
  port = std::stoi(srv.host().substr(srv.host().rfind(':') + 1));
  RegistryOptions o;
  o.max_retries = 0;
  RegistryClient c(o);
  AuthConfig auth;
  auth.username = "kcr";
  auth.password = "secret";
  auto m = c.GetManifest(RefOn(srv.host()), "1", auth, Cancel());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition) << m.status();
  EXPECT_NE(m.status().message().find("plain HTTP"), std::string::npos) << m.status();
  EXPECT_EQ(srv.requests(), 1);  // the manifest request only, no token request
}

// Waits until the client hangs up, at most `limit_ms`: a server that holds
// the connection for a client that does not give up.
void HoldUntilHangup(int fd, int limit_ms) {
  pollfd p{fd, POLLIN, 0};
  ::poll(&p, 1, limit_ms);
}

Status GetBlobInto(RegistryClient& c, const std::string& host, int64_t max_bytes, size_t* got,
                   const Cancel& cancel) {
  return c.GetBlob(
      RefOn(host), "sha256:" + std::string(64, 'b'), max_bytes, AuthConfig{},
      [got](const char*, size_t n) {
        *got += n;
        return absl::OkStatus();
      },
      [] { return absl::OkStatus(); }, nullptr, cancel);
}

// A blob that keeps moving (40 KiB/s, well above the stall limit) but would
// take minutes ends at its total deadline, which retries do not restart.
TEST(RegistryClient, TricklingBlobEndsAtItsDeadline) {
  std::atomic<bool> hung_up{false};
  TestServer srv([&hung_up](int fd) {
    if (!Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")) return;
    std::string chunk(2048, 'x');
    for (int i = 0; i < 1200; i++) {  // 60 s at most
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0 || !Send(fd, chunk)) {
        hung_up = true;
        return;
      }
    }
  });
  RegistryOptions o;
  o.max_retries = 2;
  o.base_backoff_ms = 1;
  o.blob_timeout_s = 1;
  RegistryClient c(o);
  size_t got = 0;
  Status st = GetBlobInto(c, srv.host(), 10000000, &got, Cancel());
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_NE(st.message().find("not complete within 1 s"), std::string::npos) << st;
  EXPECT_EQ(srv.requests(), 1);
  EXPECT_GT(got, 0u);
  // The client ended the transfer, not the server's 60 s: the server sees
  // the hang-up at its next poll.
  for (int i = 0; i < 200 && !hung_up; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(hung_up);
}

// A blob that stalls ends as soon as its caller gives up, long before the
// stall limit would end it.
TEST(RegistryClient, CancelEndsAStalledBlob) {
  TestServer srv([](int fd) {
    if (!Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")) return;
    HoldUntilHangup(fd, 60000);
  });
  RegistryOptions o;
  o.max_retries = 0;
  o.stall_timeout_s = 600;
  RegistryClient c(o);
  size_t got = 0;
  Cancel cancel([&got] { return got > 0; });  // gives up once the first bytes are in
  Status st = GetBlobInto(c, srv.host(), 1000, &got, cancel);
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled) << st;
  EXPECT_EQ(got, 10u);
}

// An answer announcing more than the descriptor's size is refused before a
// byte of it reaches the sink.
TEST(RegistryClient, BlobAnnouncingMoreThanItsDescriptorIsRefused) {
  TestServer srv([](int fd) {
    if (!Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")) return;
    std::string chunk(65536, 'x');
    for (int i = 0; i < 76 && Send(fd, chunk); i++) {
    }
  });
  RegistryOptions o;
  o.max_retries = 0;
  RegistryClient c(o);
  size_t got = 0;
  Status st = GetBlobInto(c, srv.host(), 100, &got, Cancel());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("announces 5000000 bytes, its descriptor 100"), std::string::npos) << st;
  EXPECT_EQ(got, 0u);
}

}  // namespace
}  // namespace kcr::images
