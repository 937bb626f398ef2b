#include "streaming/portforward.h"

#include "streaming/protocols.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
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

}  // namespace

StatusOr<UniqueFd> ConnectInPod(const std::string& netns_path, int port) {
  if (netns_path.empty()) return ConnectHere(port);
  UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return ErrnoError("open the pod's network namespace " + netns_path);
  StatusOr<UniqueFd> out = absl::InternalError("not run");
  // setns(CLONE_NEWNET) changes the calling thread only: this thread
  // ends right after, so no thread of kcrd stays in the pod's namespace.
  std::thread([&] {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      out = ErrnoError("enter the pod's network namespace " + netns_path);
      return;
    }
    out = ConnectHere(port);
  }).join();
  return out;
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
// long as the client's connection. Bytes are copied both ways with one
// outstanding read/write per direction.
class PortForward : public Transport::Handler, public std::enable_shared_from_this<PortForward> {
 public:
  PortForward(asio::io_context& io, asio::thread_pool& pool, std::shared_ptr<Transport> t, std::vector<int> ports,
              PortForwardRequest r, bool dynamic)
      : io_(io), pool_(pool), t_(std::move(t)), r_(std::move(r)), dynamic_(dynamic) {
    for (size_t k = 0; k < ports.size(); k++) conns_[static_cast<uint32_t>(k)] = NewConn(ports[k]);
  }

  void Run() {
    self_ = shared_from_this();
    t_->Start(weak_from_this());
    for (auto& [k, c] : conns_) {
      std::string port(2, '\0');
      port[0] = static_cast<char>(c->port & 0xff);
      port[1] = static_cast<char>(c->port >> 8);
      t_->Send(2 * k, port, nullptr);
      t_->Send(2 * k + 1, port, nullptr);
      Connect(k);
    }
  }

  void OnOpen(uint32_t channel, const std::map<std::string, std::string>& headers) override {
    uint32_t k = channel / 2;
    if (!conns_.count(k)) {
      int port = 0;
      auto p = headers.find("port");
      if (p == headers.end() || !absl::SimpleAtoi(p->second, &port) || port <= 0 || port > 65535) {
        t_->Send(2 * k + 1, "invalid port header", nullptr);
        t_->CloseChannel(2 * k + 1);
        t_->CloseChannel(2 * k);
        return;
      }
      conns_[k] = NewConn(port);
    }
    if (channel % 2 == 0) Connect(k);
  }

  void OnData(uint32_t channel, std::string data, std::function<void()> done) override {
    auto it = conns_.find(channel / 2);
    if (channel % 2 == 1 || it == conns_.end()) {  // the client writes no error channel
      done();
      return;
    }
    it->second->pending.emplace(std::move(data), std::move(done));
    Flush(channel / 2);
  }

  void OnClose(uint32_t channel) override {
    auto it = conns_.find(channel / 2);
    if (channel % 2 == 0 && it != conns_.end()) {
      it->second->client_done = true;
      if (it->second->sock) ::shutdown(it->second->sock->native_handle(), SHUT_WR);
    }
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
    bool connecting = false, failed = false, eof = false, writing = false, client_done = false;
    std::optional<std::pair<std::string, std::function<void()>>> pending;
    std::array<char, 32768> buf;
  };

  static std::unique_ptr<Conn> NewConn(int port) {
    auto c = std::make_unique<Conn>();
    c->port = port;
    return c;
  }

  void Connect(uint32_t k) {
    Conn& c = *conns_[k];
    if (c.connecting) return;
    c.connecting = true;
    asio::post(pool_, [weak = weak_from_this(), io = &io_, k, netns = r_.netns_path, port = c.port] {
      auto fd = std::make_shared<StatusOr<UniqueFd>>(ConnectInPod(netns, port));
      asio::post(*io, [weak, k, fd] {
        if (auto self = weak.lock()) self->OnConnected(k, std::move(*fd));
      });
    });
  }

  void OnConnected(uint32_t k, StatusOr<UniqueFd> fd) {
    if (gone_) return;
    Conn& c = *conns_[k];
    if (!fd.ok()) {
      c.failed = true;
      spdlog::info("streaming: port-forward to pod {}: {}", r_.pod_id, fd.status().message());
      t_->Send(2 * k + 1, std::string(fd.status().message()), nullptr);
      t_->CloseChannel(2 * k + 1);
      t_->CloseChannel(2 * k);
      if (c.pending) {
        auto done = std::move(c.pending->second);
        c.pending.reset();
        done();
      }
      CheckDone();
      return;
    }
    c.sock = std::make_unique<Descriptor>(io_, fd->release());
    if (c.client_done) ::shutdown(c.sock->native_handle(), SHUT_WR);
    Read(k);
    Flush(k);
  }

  void Flush(uint32_t k) {
    Conn& c = *conns_[k];
    if (!c.pending || c.writing) return;
    if (c.failed) {
      auto done = std::move(c.pending->second);
      c.pending.reset();
      done();
      return;
    }
    if (!c.sock) return;  // still connecting
    c.writing = true;
    asio::async_write(*c.sock, asio::buffer(c.pending->first),
                      [weak = weak_from_this(), k](const boost::system::error_code&, size_t) {
                        auto self = weak.lock();
                        if (!self || self->gone_) return;
                        Conn& c = *self->conns_[k];
                        c.writing = false;
                        auto done = std::move(c.pending->second);
                        c.pending.reset();
                        done();
                      });
  }

  void Read(uint32_t k) {
    Conn& c = *conns_[k];
    c.sock->async_read_some(asio::buffer(c.buf), [weak = weak_from_this(), k](const boost::system::error_code& ec,
                                                                              size_t n) {
      auto self = weak.lock();
      if (!self || self->gone_) return;
      Conn& c = *self->conns_[k];
      if (ec) {  // the pod's side ended: so does the data stream
        c.eof = true;
        self->t_->CloseChannel(2 * k);
        self->t_->CloseChannel(2 * k + 1);
        self->CheckDone();
        return;
      }
      self->t_->Send(2 * k, std::string(c.buf.data(), n), [weak, k] {
        if (auto s = weak.lock(); s && !s->gone_ && s->conns_[k]->sock) s->Read(k);
      });
    });
  }

  // kubelet ends a WebSocket once every port's connection has ended; a
  // SPDY client may open more requests, so only it ends its connection.
  void CheckDone() {
    if (dynamic_) return;
    for (auto& [k, c] : conns_)
      if (!c->failed && !c->eof) return;
    t_->Finish();
  }

  asio::io_context& io_;
  asio::thread_pool& pool_;
  std::shared_ptr<Transport> t_;
  PortForwardRequest r_;
  bool dynamic_;
  std::map<uint32_t, std::unique_ptr<Conn>> conns_;
  std::shared_ptr<PortForward> self_;
  bool gone_ = false;
};

}  // namespace

void RunWsPortForward(asio::io_context& io, asio::thread_pool& blocking, std::shared_ptr<Transport> t,
                      std::vector<int> ports, PortForwardRequest r) {
  std::make_shared<PortForward>(io, blocking, std::move(t), std::move(ports), std::move(r), false)->Run();
}

void RunSpdyPortForward(asio::io_context& io, asio::thread_pool& blocking, std::shared_ptr<Transport> t,
                        PortForwardRequest r) {
  std::make_shared<PortForward>(io, blocking, std::move(t), std::vector<int>{}, std::move(r), true)->Run();
}

}  // namespace kcr::streaming
