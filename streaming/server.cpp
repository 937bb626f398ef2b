// The streaming server's listener, HTTP request handling and upgrades.
// Everything on one event-loop thread; monitor calls on a small pool.
#include "streaming/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <absl/strings/match.h>
#include <absl/strings/str_split.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "streaming/connection_limits.h"
#include "streaming/portforward.h"
#include "streaming/remotecommand.h"
#include "streaming/spdy_transport.h"
#include "streaming/tokens.h"
#include "streaming/ws_transport.h"

namespace kcr::streaming {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// Once the server sent a WebSocket close frame (its end of a session, or a
// client's protocol error), how long the client has to answer it and close;
// then the connection is closed regardless (bounded_teardown.h).
constexpr std::chrono::milliseconds kCloseTimeout{3000};
// Connections of one client address that have not shown a valid token yet;
// past it the oldest of them is closed (connection_limits.h). Live
// connections are bounded too (ServerOptions::max_connections, 503 beyond),
// but only once every one of them has shown a token: before that the
// oldest unauthenticated connection makes room.
constexpr size_t kMaxUnauthenticatedPerSource = 128;

// What every connection needs from the server; outlives them all.
struct Shared {
  explicit Shared(const ServerOptions& o) : preauth(kMaxUnauthenticatedPerSource), opt(o) {}
  // First: the connections io_context holds (destroyed with it) hold slots.
  PreAuthLimits preauth;
  asio::io_context io;
  asio::thread_pool blocking{2};
  ServerOptions opt;
  std::unique_ptr<TokenStore> tokens;
  std::vector<std::weak_ptr<void>> live;  // connections, for the bound (loop thread only)

  size_t Live() {
    live.erase(std::remove_if(live.begin(), live.end(), [](const auto& w) { return w.expired(); }), live.end());
    return live.size();
  }
};

const char* KindOf(const Request& r) {
  if (std::holds_alternative<ExecRequest>(r)) return "exec";
  if (std::holds_alternative<AttachRequest>(r)) return "attach";
  return "portforward";
}

// The lowest channel the server writes: kubelet greets the client on it.
int HelloChannel(const Request& r) {
  bool out = false, err = false;
  if (auto* e = std::get_if<ExecRequest>(&r)) out = e->stdout, err = e->stderr;
  if (auto* a = std::get_if<AttachRequest>(&r)) out = a->stdout, err = a->stderr;
  return out ? kStdout : err ? kStderr : kError;
}

// The upgraded connection as bytes for the SPDY session.
template <class Stream>
class StreamIo : public ByteIo {
 public:
  explicit StreamIo(Stream s) : s_(std::move(s)) {}
  void ReadSome(asio::mutable_buffer b, ReadHandler h) override {
    s_.async_read_some(b, [h = std::move(h)](beast::error_code ec, size_t n) { h(ec, n); });
  }
  void Write(std::shared_ptr<std::string> data, WriteHandler h) override {
    asio::async_write(s_, asio::buffer(*data), [data, h = std::move(h)](beast::error_code ec, size_t) { h(ec); });
  }
  void CloseSend() override {
    beast::error_code ec;
    beast::get_lowest_layer(s_).socket().shutdown(tcp::socket::shutdown_send, ec);
  }
  void Close() override { beast::get_lowest_layer(s_).close(); }

 private:
  Stream s_;
};

// SPDY tunneled in WebSocket binary messages (client-go's port-forward
// dialer since Kubernetes 1.31): message boundaries mean nothing.
template <class Stream>
class WsIo : public ByteIo {
 public:
  using Ws = websocket::stream<BoundedTeardown<Stream>>;
  explicit WsIo(std::unique_ptr<Ws> ws) : ws_(std::move(ws)) { ws_->binary(true); }
  void ReadSome(asio::mutable_buffer b, ReadHandler h) override {
    ws_->async_read_some(b, [h = std::move(h)](beast::error_code ec, size_t n) { h(ec, n); });
  }
  void Write(std::shared_ptr<std::string> data, WriteHandler h) override {
    ws_->async_write(asio::buffer(*data), [data, h = std::move(h)](beast::error_code ec, size_t) { h(ec); });
  }
  void CloseSend() override { AsyncCloseBounded(*ws_, websocket::close_code::normal, [](beast::error_code) {}); }
  void Close() override { beast::get_lowest_layer(*ws_).close(); }

 private:
  std::unique_ptr<Ws> ws_;
};

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;
  HttpSession(Shared& s, Stream stream) : s_(s), stream_(std::move(stream)) {}

  // Counts as unauthenticated until its token checked out.
  void SetSlot(std::shared_ptr<PreAuthLimits::Slot> slot) { slot_ = std::move(slot); }

  void Start() {
    parser_.emplace();
    parser_->header_limit(16 << 10);
    parser_->body_limit(64 << 10);
    beast::get_lowest_layer(stream_).expires_after(s_.opt.handshake_timeout);
    http::async_read(stream_, buf_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

 private:
  void OnRequest(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      Close();
      return;
    }
    if (ec) {
      Respond(http::status::bad_request, "malformed request: " + ec.message());
      return;
    }
    req_ = parser_->release();
    std::string target(req_.target());
    target = target.substr(0, target.find('?'));
    std::vector<std::string> parts = absl::StrSplit(target, '/');
    // "/exec/<token>" splits into "", "exec", "<token>".
    if (parts.size() != 3 || !parts[0].empty() ||
        (parts[1] != "exec" && parts[1] != "attach" && parts[1] != "portforward")) {
      Respond(http::status::not_found, "not found");
      return;
    }
    auto r = s_.tokens->Take(std::string_view(parts[2]));
    if (r.ok()) slot_.reset();
    if (!r.ok()) {
      Respond(absl::IsInvalidArgument(r.status()) ? http::status::bad_request : http::status::not_found,
              std::string(r.status().message()));
      return;
    }
    if (parts[1] != KindOf(*r)) {
      Respond(http::status::not_found, "token is not for " + std::string(parts[1]));
      return;
    }
    if (websocket::is_upgrade(req_)) {
      UpgradeWebSocket(std::move(*r));
    } else if (beast::iequals(req_[http::field::upgrade], "SPDY/3.1")) {
      UpgradeSpdy(std::move(*r));
    } else {
      Respond(http::status::bad_request, "an upgrade to SPDY/3.1 or websocket is required");
    }
  }

  void UpgradeWebSocket(Request r) {
    std::string offered(req_[http::field::sec_websocket_protocol]);
    bool portforward = std::holds_alternative<PortForwardRequest>(r);
    std::optional<ChannelProtocol> p = portforward ? NegotiatePortForward(offered) : NegotiateRemoteCommand(offered);
    if (!p) {
      Respond(http::status::bad_request, "none of the requested protocols is supported: " + offered);
      return;
    }
    // The channel protocol takes its ports from the query; tunneled SPDY
    // names a port in each stream's headers, and its URL has none.
    std::vector<int> ports;
    if (portforward && !p->spdy_tunnel) {
      auto got = PortsFromQuery(std::string(req_.target()));
      if (!got.ok()) {
        Respond(http::status::bad_request, std::string(got.status().message()));
        return;
      }
      ports = std::move(*got);
    }
    auto ws = std::make_unique<typename WsIo<Stream>::Ws>(std::move(stream_), kCloseTimeout);
    beast::get_lowest_layer(*ws).expires_never();  // the websocket's own timeouts from here
    websocket::stream_base::timeout t;
    t.handshake_timeout = s_.opt.handshake_timeout;
    t.idle_timeout = s_.opt.idle_timeout;
    t.keep_alive_pings = true;
    ws->set_option(t);
    ws->read_message_max(1 << 20);
    std::string name = p->name;
    ws->set_option(websocket::stream_base::decorator([name](websocket::response_type& res) {
      if (!name.empty()) res.set(http::field::sec_websocket_protocol, name);
    }));
    auto* raw = ws.get();
    auto accepted = [self = shared_from_this(), ws = std::move(ws), p = *p, r = std::move(r),
                     ports = std::move(ports)](beast::error_code ec) mutable {
      if (ec) return;  // the client gave up or stalled: the connection closes with `ws`
      self->OnWebSocket(std::move(ws), std::move(p), std::move(r), std::move(ports));
    };
    if (buf_.size() == 0) {
      raw->async_accept(req_, std::move(accepted));
      return;
    }
    // Frames the client sent right behind its request are in buf_, which
    // the request overload would drop (the session then waited for frames
    // already received): hand Beast the request again with those bytes
    // (it copies them; its read buffer bounds them to a few KiB).
    std::ostringstream again;
    again << req_;
    std::string bytes = again.str() + beast::buffers_to_string(buf_.data());
    buf_.consume(buf_.size());
    raw->async_accept(asio::buffer(bytes), std::move(accepted));
  }

  void OnWebSocket(std::unique_ptr<typename WsIo<Stream>::Ws> ws, ChannelProtocol p, Request r,
                   std::vector<int> ports) {
    if (auto* pf = std::get_if<PortForwardRequest>(&r)) {
      if (p.spdy_tunnel) {
        auto t = NewSpdyTransport(s_.io, std::make_shared<WsIo<Stream>>(std::move(ws)), "",
                                  SpdyProtocol{"portforward.k8s.io", 1, true}, SpdyTimeouts{});
        s_.live.push_back(t);
        RunSpdyPortForward(s_.io, s_.blocking, t, std::move(*pf));
        return;
      }
      auto t = NewWsTransport(std::move(ws), p, -1);
      s_.live.push_back(t);
      RunWsPortForward(s_.io, s_.blocking, t, std::move(ports), std::move(*pf));
      return;
    }
    auto t = NewWsTransport(std::move(ws), p, HelloChannel(r));
    s_.live.push_back(t);
    RunRemoteCommand(s_.io, s_.blocking, t, p.version, std::move(r));
  }

  void UpgradeSpdy(Request r) {
    bool portforward = std::holds_alternative<PortForwardRequest>(r);
    std::string offered;
    for (const auto& f : req_) {  // the header may come several times
      if (beast::iequals(f.name_string(), "X-Stream-Protocol-Version")) {
        if (!offered.empty()) offered += ",";
        offered += std::string(f.value());
      }
    }
    auto p = NegotiateSpdy(portforward, offered);
    if (!p.ok()) {
      Respond(http::status::bad_request, std::string(p.status().message()));
      return;
    }
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::switching_protocols, req_.version());
    res->set(http::field::connection, "Upgrade");
    res->set(http::field::upgrade, "SPDY/3.1");
    if (!p->name.empty()) res->set("X-Stream-Protocol-Version", p->name);
    http::async_write(stream_, *res, [self = shared_from_this(), res, p = *p, r = std::move(r)](
                                         beast::error_code ec, size_t) mutable {
      if (ec) return;
      self->OnSpdy(std::move(p), std::move(r));
    });
  }

 public:
  // Pending operations end with an error and release the session.
  void Close() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
  }

 private:

  void OnSpdy(SpdyProtocol p, Request r) {
    beast::get_lowest_layer(stream_).expires_never();  // the transport's idle deadline from here
    std::string early = beast::buffers_to_string(buf_.data());  // frames sent right behind the request
    SpdyTimeouts t;
    auto tr = NewSpdyTransport(s_.io, std::make_shared<StreamIo<Stream>>(std::move(stream_)), std::move(early), p, t);
    s_.live.push_back(tr);
    if (auto* pf = std::get_if<PortForwardRequest>(&r)) {
      RunSpdyPortForward(s_.io, s_.blocking, tr, std::move(*pf));
    } else {
      RunRemoteCommand(s_.io, s_.blocking, tr, p.version, std::move(r));
    }
  }

  void Respond(http::status code, std::string body) {
    auto res = std::make_shared<http::response<http::string_body>>(code, 11);
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->keep_alive(false);
    res->body() = std::move(body) + "\n";
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(s_.opt.handshake_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) { self->Close(); });
  }

  Shared& s_;
  std::shared_ptr<PreAuthLimits::Slot> slot_;
  Stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
};

class ServerImpl : public Server {
 public:
  explicit ServerImpl(const ServerOptions& o) : s_(o), acceptor_(s_.io) {
    s_.tokens = std::make_unique<TokenStore>(o.token_ttl);
  }

  ~ServerImpl() override {
    s_.io.stop();
    if (thread_.joinable()) thread_.join();
    s_.blocking.join();
  }

  Status Init() {
    beast::error_code ec;
    auto addr = asio::ip::make_address(s_.opt.address, ec);
    if (ec) return absl::InvalidArgumentError("streaming address \"" + s_.opt.address + "\": " + ec.message());
    if (s_.opt.port < 0 || s_.opt.port > 65535)
      return absl::InvalidArgumentError("streaming port " + std::to_string(s_.opt.port) + " is out of range");
    if (s_.opt.tls_cert_file.empty() != s_.opt.tls_key_file.empty())
      return absl::InvalidArgumentError("streaming TLS needs both a certificate and a key file");
    if (!s_.opt.tls_cert_file.empty()) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
      tls_->use_certificate_chain_file(s_.opt.tls_cert_file, ec);
      if (ec) return absl::InvalidArgumentError("streaming TLS certificate " + s_.opt.tls_cert_file + ": " + ec.message());
      tls_->use_private_key_file(s_.opt.tls_key_file, asio::ssl::context::pem, ec);
      if (ec) return absl::InvalidArgumentError("streaming TLS key " + s_.opt.tls_key_file + ": " + ec.message());
    }
    tcp::endpoint ep(addr, static_cast<unsigned short>(s_.opt.port));
    // Asio opens and accepts without SOCK_CLOEXEC: kcrd's sockets are made
    // here so that no child kcrd starts (CNI plugins, monitors) inherits one.
    int lfd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd < 0) return absl::UnavailableError(std::string("streaming server socket: ") + std::strerror(errno));
    acceptor_.assign(ep.protocol(), lfd, ec);
    if (ec) ::close(lfd);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError("streaming server cannot listen on " + s_.opt.address + ":" +
                                          std::to_string(s_.opt.port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    host_ = addr.is_v6() ? "[" + s_.opt.address + "]" : s_.opt.address;
    Accept();
    thread_ = std::thread([this] {
      for (;;) {
        try {
          s_.io.run();
          return;
        } catch (const std::exception& e) {  // a handler's bug must not end streaming for everyone
          spdlog::error("streaming server: {}", e.what());
        }
      }
    });
    return absl::OkStatus();
  }

  StatusOr<std::string> Url(Request r) override {
    const char* kind = KindOf(r);
    KCR_ASSIGN_OR_RETURN(std::string token, s_.tokens->Insert(std::move(r)));
    return std::string(tls_ ? "https://" : "http://") + host_ + ":" + std::to_string(port_) + "/" + kind + "/" + token;
  }

  int port() const override { return port_; }

 private:
  void Accept() {
    acceptor_.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        // accept4 with SOCK_CLOEXEC: asio's accept leaves the descriptor
        // inheritable until a later fcntl, a window a concurrent spawn hits.
        int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
          tcp::socket sock(s_.io);
          sock.assign(acceptor_.local_endpoint(ec).protocol(), fd, ec);
          if (ec) ::close(fd);
          else OnAccepted(std::move(sock));
        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
          spdlog::warn("streaming server: accept: {}", std::strerror(errno));
        }
      }
      Accept();
    });
  }

  void OnAccepted(tcp::socket sock) {
    // At the limit, an unauthenticated connection (the oldest) makes room;
    // only sessions that showed a token can fill the server.
    if (s_.Live() >= s_.opt.max_connections && !s_.preauth.EvictOldest()) {
      spdlog::warn("streaming: {} connections open, refusing another", s_.opt.max_connections);
      static const char kBusy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      beast::error_code ec;
      sock.non_blocking(true, ec);
      sock.write_some(asio::buffer(kBusy, sizeof kBusy - 1), ec);
      sock.close(ec);
      return;
    }
    beast::error_code ec;
    std::string source = sock.remote_endpoint(ec).address().to_string();
    if (!tls_) {
      auto h = std::make_shared<HttpSession<beast::tcp_stream>>(s_, beast::tcp_stream(std::move(sock)));
      s_.live.push_back(h);
      h->SetSlot(s_.preauth.Admit(source, CloseSession(h)));
      h->Start();
      return;
    }
    auto tls = std::make_shared<TlsStream>(beast::tcp_stream(std::move(sock)), *tls_);
    s_.live.push_back(tls);
    std::shared_ptr<PreAuthLimits::Slot> slot = s_.preauth.Admit(source, [weak = std::weak_ptr<TlsStream>(tls)] {
      if (auto t = weak.lock()) beast::get_lowest_layer(*t).close();
    });
    beast::get_lowest_layer(*tls).expires_after(s_.opt.handshake_timeout);
    tls->async_handshake(asio::ssl::stream_base::server, [this, tls, slot](beast::error_code ec) {
      if (ec) return;
      auto h = std::make_shared<HttpSession<TlsStream>>(s_, std::move(*tls));
      s_.live.push_back(h);
      slot->SetClose(CloseSession(h));
      h->SetSlot(slot);
      h->Start();
    });
  }

  // Eviction of a session still unauthenticated.
  template <class Stream>
  static std::function<void()> CloseSession(const std::shared_ptr<HttpSession<Stream>>& h) {
    return [weak = std::weak_ptr<HttpSession<Stream>>(h)] {
      if (auto s = weak.lock()) s->Close();
    };
  }

  Shared s_;
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> tls_;
  int port_ = 0;
  std::string host_;
  std::thread thread_;
};

}  // namespace

StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& o) {
  auto s = std::make_unique<ServerImpl>(o);
  KCR_RETURN_IF_ERROR(s->Init());
  return s;
}

}  // namespace kcr::streaming
