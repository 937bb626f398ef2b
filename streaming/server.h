#pragma once
// kcrd's streaming server (CRI Exec/Attach/PortForward answer with its
// URLs): HTTP/1.1 on Boost.Beast, one event-loop thread, plus a small pool
// for the blocking calls to pod monitors. Routes /exec/<token>,
// /attach/<token> and /portforward/<token>; upgrades to WebSocket
// (Sec-WebSocket-Protocol: v5/v4/v1 channel.k8s.io and base64 variants)
// or SPDY/3.1 (X-Stream-Protocol-Version). Unknown, used or expired tokens
// get 404, malformed requests and upgrades 400; every read has a deadline
// and live connections are bounded (503 beyond).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "streaming/requests.h"

namespace kcr::streaming {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: chosen at start
  std::string tls_cert_file, tls_key_file;  // both or neither: https
  std::chrono::milliseconds token_ttl{60000};
  size_t max_connections = 512;
  // Until a request's headers and its upgrade are complete.
  std::chrono::milliseconds handshake_timeout{10000};
  // A session with no traffic either way for this long is closed (the
  // server pings the client half-way).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
};

class Server {
 public:
  // Binds and starts serving. InvalidArgument for a bad address or TLS
  // files, Unavailable when the port cannot be bound.
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& o);
  virtual ~Server() = default;

  // The URL of a fresh single-use token for `r`
  // (http[s]://<address>:<port>/<exec|attach|portforward>/<token>).
  virtual StatusOr<std::string> Url(Request r) = 0;
  virtual int port() const = 0;
};

}  // namespace kcr::streaming
