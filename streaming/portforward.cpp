#include "streaming/portforward.h"

#include "streaming/protocols.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>

#include <array>
#include <map>
#include <optional>
#include <thread>

#include "common/log.h"

namespace kcr::streaming {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

// How long a connection into the pod may take (kubelet's proxies wait
// about as long for their first byte).
constexpr std::chrono::seconds kConnectTimeout{10};

namespace {

StatusOr<UniqueFd> ConnectHere(int port) {
  std::string why;
  for (int family : {AF_INET, AF_INET6}) {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
      why = std::string("socket: ") + strerror(errno);
      continue;
    }
    int rc;
    if (family == AF_INET) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      a.sin6_addr = in6addr_loopback;
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc == 0) return fd;
    why = strerror(errno);
  }
  return absl::UnavailableError("cannot connect to localhost:" + std::to_string(port) + " in the pod: " + why);
}


// Runs make() with the calling context in the pod's network namespace (the
// host's when netns_path is empty). setns(CLONE_NEWNET) changes the calling
// thread only: a short-lived thread enters it and ends right after, so no
// thread of kcrd stays in a pod's namespace; a socket keeps the namespace it
// was made in wherever it is used.
template <typename Make>
StatusOr<UniqueFd> InPodNetns(const std::string& netns_path, Make make) {
  if (netns_path.empty()) return make();
  UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return ErrnoError("open the pod's network namespace " + netns_path);
  StatusOr<UniqueFd> out = absl::InternalError("not run");
  std::thread([&] {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      out = ErrnoError("enter the pod's network namespace " + netns_path);
      return;
    }
    out = make();
  }).join();
  return out;
}
}  // namespace

StatusOr<UniqueFd> ConnectInPod(const std::string& netns_path, int port) {
  return InPodNetns(netns_path, [port] { return ConnectHere(port); });
}

StatusOr<UniqueFd> SocketInPod(const std::string& netns_path, int family) {
  return InPodNetns(netns_path, [family]() -> StatusOr<UniqueFd> {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return ErrnoError(family == AF_INET ? "IPv4 socket" : "IPv6 socket");
    return fd;
  });
}

std::optional<ChannelProtocol> NegotiatePortForward(std::string_view offered) {
  std::vector<std::string> names = OfferedProtocols(offered);
  for (const std::string& p : names) {
    if (p == "SPDY/3.1+portforward.k8s.io") return ChannelProtocol{p, 4, false, true};
    if (p == "v4.channel.k8s.io" || p == "portforward.k8s.io") return ChannelProtocol{p, 4, false};
    if (p == "v4.base64.channel.k8s.io") return ChannelProtocol{p, 4, true};
  }
  if (names.empty()) return ChannelProtocol{"", 4, false};
  return std::nullopt;
}

StatusOr<std::vector<int>> PortsFromQuery(const std::string& target) {
  std::vector<int> ports;
  size_t q = target.find('?');
  if (q == std::string::npos) return absl::InvalidArgumentError("port-forward: no port given (?port=N)");
  for (absl::string_view a : absl::StrSplit(target.substr(q + 1), '&')) {
    std::string kv(a);
    if (kv.rfind("port=", 0) != 0) continue;
    int port = 0;
    if (!absl::SimpleAtoi(kv.substr(5), &port) || port <= 0 || port > 65535)
      return absl::InvalidArgumentError("port-forward: bad port \"" + kv.substr(5) + "\"");
    ports.push_back(port);
  }
  if (ports.empty()) return absl::InvalidArgumentError("port-forward: no port given (?port=N)");
  if (ports.size() > 64) return absl::InvalidArgumentError("port-forward: more than 64 ports");
  return ports;
}

namespace {

// Port-forward connections over one transport. WebSocket: the ports of
// the query, each connected at once, the session ends when all have.
// SPDY: each request ID the client opens (data and error streams, a "port"
// header) is connected when its data stream opens; the session lasts as
// long as the client's connection, which may serve any number of requests
// one after another (kubectl port-forward), so each request's connection
// and state are released as soon as it ends: the pod's side ended (then
// the streams end too, as containerd does), the connect failed, or the
// client reset the data stream. Bytes are copied both ways with one
// outstanding read/write per direction.
class PortForward : public Transport::Handler, public std::enable_shared_from_this<PortForward> {
 public:
  PortForward(asio::io_context& io, std::shared_ptr<Transport> t, std::vector<int> ports,
              PortForwardRequest r, bool dynamic)
      : io_(io), t_(std::move(t)), r_(std::move(r)), dynamic_(dynamic) {
    for (size_t k = 0; k < ports.size(); k++) conns_[static_cast<uint32_t>(k)] = NewConn(ports[k]);
  }

  void Run() {
    self_ = shared_from_this();
    t_->Start(weak_from_this());
    std::vector<uint32_t> ks;
    for (auto& [k, c] : conns_) ks.push_back(k);
    for (uint32_t k : ks) {
      int p = conns_[k]->port;
      std::string port(2, '\0');
      port[0] = static_cast<char>(p & 0xff);
      port[1] = static_cast<char>(p >> 8);
      t_->Send(2 * k, port, nullptr);
      t_->Send(2 * k + 1, port, nullptr);
      Connect(k);
    }
  }

  // SPDY: a request is connected when its data stream opens (its error
  // stream needs no state: what goes on it waits in the transport until
  // the client opens it).
  void OnOpen(uint32_t channel, const std::map<std::string, std::string>& headers) override {
    uint32_t k = channel / 2;
    if (channel % 2 == 1 || conns_.count(k)) return;
    int port = 0;
    auto p = headers.find("port");
    if (p == headers.end() || !absl::SimpleAtoi(p->second, &port) || port <= 0 || port > 65535) {
      t_->Send(2 * k + 1, "invalid port header", nullptr);
      t_->CloseChannel(2 * k + 1);
      t_->CloseChannel(2 * k);
      return;
    }
    conns_[k] = NewConn(port);
    Connect(k);
  }

  void OnData(uint32_t channel, std::string data, std::function<void()> done) override {
    Conn* c = Find(channel / 2);
    if (channel % 2 == 1 || !c || c->ended) {  // the client writes no error channel
      done();
      return;
    }
    c->pending.emplace(std::move(data), std::move(done));
    Flush(channel / 2);
  }

  void OnClose(uint32_t channel) override {
    Conn* c = Find(channel / 2);
    if (channel % 2 == 0 && c && !c->client_done) {
      c->client_done = true;
      if (c->sock) ::shutdown(c->sock->native_handle(), SHUT_WR);
    }
  }

  // The client gave the request up: its connection into the pod goes.
  void OnReset(uint32_t channel) override {
    if (channel % 2 == 1) return;
    if (Find(channel / 2)) End(channel / 2);
  }

  void OnGone(const Status&) override {
    gone_ = true;
    for (auto& [k, c] : conns_) c->sock.reset();
    self_.reset();
  }

 private:
  struct Conn {
    int port = 0;
    std::unique_ptr<Descriptor> sock;
    bool connecting = false, reading = false, writing = false, client_done = false, ended = false;
    bool timed_out = false;
    int attempt = 0;  // 0: IPv4 next, 1: IPv6 next
    std::string why;  // the last connect error
    std::unique_ptr<asio::steady_timer> timer;
    std::optional<std::pair<std::string, std::function<void()>>> pending;
    std::array<char, 32768> buf;
  };

  static std::unique_ptr<Conn> NewConn(int port) {
    auto c = std::make_unique<Conn>();
    c->port = port;
    return c;
  }

  Conn* Find(uint32_t k) {
    auto it = conns_.find(k);
    return it == conns_.end() ? nullptr : it->second.get();
  }

  // The request is over: both streams end, the socket closes, and the
  // state goes once no operation on it is outstanding.
  void End(uint32_t k) {
    Conn* c = Find(k);
    if (!c) return;
    if (!c->ended) {
      c->ended = true;
      t_->CloseChannel(2 * k);
      t_->CloseChannel(2 * k + 1);
      if (c->pending && !c->writing) {
        auto done = std::move(c->pending->second);
        c->pending.reset();
        done();
      }
      c->sock.reset();  // cancels a read or write in flight; its handler comes back here
    }
    if (c->connecting || c->reading || c->writing) return;
    conns_.erase(k);
    CheckDone();
  }

  // Non-blocking, on the event loop, 127.0.0.1 then ::1, bounded by
  // kConnectTimeout: a listener that never accepts (its queue full, SYNs
  // dropped) would hold a blocking connect about 2 minutes, and with it a
  // thread of the pool exec and attach need.
  void Connect(uint32_t k) {
    Conn& c = *conns_[k];
    if (c.connecting) return;
    c.connecting = true;
    c.timer = std::make_unique<asio::steady_timer>(io_, kConnectTimeout);
    c.timer->async_wait([weak = weak_from_this(), k](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || self->gone_ || ec) return;
      Conn* c = self->Find(k);
      if (!c || !c->connecting) return;
      c->timed_out = true;
      c->sock.reset();  // the pending wait completes, aborted
    });
    TryConnect(k);
  }

  void TryConnect(uint32_t k) {
    Conn& c = *conns_[k];
    while (c.attempt < 2 && !c.timed_out) {
      int family = c.attempt++ == 0 ? AF_INET : AF_INET6;
      auto fd = SocketInPod(r_.netns_path, family);
      if (!fd.ok()) {
        c.why = std::string(fd.status().message());
        continue;
      }
      sockaddr_storage addr{};
      socklen_t len;
      if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(c.port));
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
      } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(c.port));
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
      }
      int rc = ::connect(fd->get(), reinterpret_cast<sockaddr*>(&addr), len);
      if (rc != 0 && errno != EINPROGRESS) {
        c.why = strerror(errno);
        continue;
      }
      c.sock = std::make_unique<Descriptor>(io_, fd->release());
      if (rc == 0) {
        Connected(k);
        return;
      }
      c.sock->async_wait(Descriptor::wait_write, [weak = weak_from_this(), k](const boost::system::error_code&) {
        auto self = weak.lock();
        if (!self || self->gone_) return;
        Conn* c = self->Find(k);
        if (!c) return;
        if (c->ended) {  // reset meanwhile
          c->connecting = false;
          self->End(k);
          return;
        }
        int err = ETIMEDOUT;
        socklen_t n = sizeof err;
        if (!c->timed_out && c->sock && ::getsockopt(c->sock->native_handle(), SOL_SOCKET, SO_ERROR, &err, &n) != 0)
          err = errno;
        if (!c->timed_out && err == 0) {
          self->Connected(k);
          return;
        }
        c->why = c->timed_out ? "no answer within " + std::to_string(kConnectTimeout.count() / 1000) + " s"
                              : strerror(err);
        c->sock.reset();
        self->TryConnect(k);
      });
      return;
    }
    ConnectFailed(k, "cannot connect to localhost:" + std::to_string(c.port) + " in the pod: " + c.why);
  }

  void ConnectFailed(uint32_t k, const std::string& why) {
    Conn& c = *conns_[k];
    c.connecting = false;
    c.timer.reset();
    spdlog::info("streaming: port-forward to pod {}: {}", r_.pod_id, why);
    if (!c.ended) t_->Send(2 * k + 1, why, nullptr);
    End(k);
  }

  void Connected(uint32_t k) {
    Conn& c = *conns_[k];
    c.connecting = false;
    c.timer.reset();
    if (c.ended) {
      End(k);
      return;
    }
    if (c.client_done) ::shutdown(c.sock->native_handle(), SHUT_WR);
    Read(k);
    Flush(k);
  }

  void Flush(uint32_t k) {
    Conn& c = *conns_[k];
    if (!c.pending || c.writing || !c.sock) return;  // no socket yet: still connecting
    c.writing = true;
    asio::async_write(*c.sock, asio::buffer(c.pending->first),
                      [weak = weak_from_this(), k](const boost::system::error_code& ec, size_t) {
                        auto self = weak.lock();
                        if (!self || self->gone_) return;
                        Conn* c = self->Find(k);
                        if (!c) return;
                        c->writing = false;
                        auto done = std::move(c->pending->second);
                        c->pending.reset();
                        done();
                        // The pod's side no longer takes data (reset, or
                        // gone): the request is over.
                        if (c->ended || ec) self->End(k);
                      });
  }

  void Read(uint32_t k) {
    Conn& c = *conns_[k];
    c.reading = true;
    c.sock->async_read_some(asio::buffer(c.buf), [weak = weak_from_this(), k](const boost::system::error_code& ec,
                                                                              size_t n) {
      auto self = weak.lock();
      if (!self || self->gone_) return;
      Conn* c = self->Find(k);
      if (!c) return;
      c->reading = false;
      if (ec || c->ended) {  // the pod's side ended: so does the request
        self->End(k);
        return;
      }
      c->reading = true;  // until the client took the bytes
      self->t_->Send(2 * k, std::string(c->buf.data(), n), [weak, k] {
        auto s = weak.lock();
        if (!s || s->gone_) return;
        Conn* c = s->Find(k);
        if (!c) return;
        c->reading = false;
        if (c->ended || !c->sock) {
          s->End(k);
          return;
        }
        s->Read(k);
      });
    });
  }

  // kubelet ends a WebSocket once every port's connection has ended; a
  // SPDY client may open more requests, so only it ends its connection.
  void CheckDone() {
    if (dynamic_ || !conns_.empty()) return;
    t_->Finish();
  }

  asio::io_context& io_;
  std::shared_ptr<Transport> t_;
  PortForwardRequest r_;
  bool dynamic_;
  std::map<uint32_t, std::unique_ptr<Conn>> conns_;
  std::shared_ptr<PortForward> self_;
  bool gone_ = false;
};

}  // namespace

void RunWsPortForward(asio::io_context& io, asio::thread_pool& /*blocking: connects are asynchronous*/,
                      std::shared_ptr<Transport> t,
                      std::vector<int> ports, PortForwardRequest r) {
  std::make_shared<PortForward>(io, std::move(t), std::move(ports), std::move(r), false)->Run();
}

void RunSpdyPortForward(asio::io_context& io, asio::thread_pool& /*blocking: connects are asynchronous*/,
                        std::shared_ptr<Transport> t,
                        PortForwardRequest r) {
  std::make_shared<PortForward>(io, std::move(t), std::vector<int>{}, std::move(r), true)->Run();
}

}  // namespace kcr::streaming
