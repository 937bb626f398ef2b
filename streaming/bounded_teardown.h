#pragma once
// The next layer of kcr's WebSocket streams: the TCP or TLS stream as is,
// plus a deadline on the WebSocket teardown.
//
// Why: once Beast (1.74) has sent a close frame it tears the connection
// down with async_teardown, which for TCP shuts down sending and then reads
// until the client closes, and for TLS waits for the client's close_notify.
// Beast arms no timer for that when the close comes from its read path (a
// protocol error, or the answer to the client's close frame): a client that
// never closes held the socket until the idle timer (idle_timeout / 2).
// Beast finds async_teardown by argument-dependent lookup on its next layer,
// so the overload below, for this wrapper, bounds every teardown: past
// `close_timeout` the socket is closed, which ends the pending read.
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <chrono>
#include <memory>
#include <utility>

namespace kcr::streaming {

template <class Next>
class BoundedTeardown {
 public:
  using next_layer_type = Next;
  using executor_type = typename Next::executor_type;

  BoundedTeardown(Next next, std::chrono::milliseconds close_timeout)
      : next_(std::move(next)), close_timeout_(close_timeout) {}
  // Beast builds it in place; a teardown in flight points at it.
  BoundedTeardown(const BoundedTeardown&) = delete;
  BoundedTeardown& operator=(const BoundedTeardown&) = delete;
  ~BoundedTeardown() {
    if (deadline_) {
      deadline_->socket = nullptr;
      deadline_->timer.cancel();
    }
  }

  executor_type get_executor() noexcept { return next_.get_executor(); }
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }
  // How long the client has, once kcr sent its close frame, to end the
  // connection (WsTransport bounds its wait for the client's close frame
  // with it too).
  std::chrono::milliseconds close_timeout() const { return close_timeout_; }

  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& b, Handler&& h) {
    return next_.async_read_some(b, std::forward<Handler>(h));
  }
  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& b, Handler&& h) {
    return next_.async_write_some(b, std::forward<Handler>(h));
  }

  // Beast's teardown of the next layer, with the socket closed at the
  // deadline if it has not ended by then (the pending read then fails and
  // the teardown completes). Beast runs at most one teardown per stream.
  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, BoundedTeardown& s, Handler&& handler) {
    // Shared with both callbacks: the stream may be destroyed while the
    // teardown is in flight (Beast's operations hold it weakly), and then
    // neither may touch it.
    s.deadline_ = std::make_shared<Deadline>(s.next_.get_executor(), &boost::beast::get_lowest_layer(s.next_));
    std::shared_ptr<Deadline> d = s.deadline_;
    d->timer.expires_after(s.close_timeout_);
    d->timer.async_wait([d](boost::system::error_code ec) {
      if (ec || !d->socket) return;  // the teardown ended first, or the stream is gone
      boost::system::error_code ignored;
      d->socket->socket().close(ignored);
    });
    auto ex = boost::asio::get_associated_executor(handler, s.get_executor());
    using boost::beast::websocket::async_teardown;
    async_teardown(role, s.next_,
                   boost::asio::bind_executor(ex, [d, h = std::forward<Handler>(handler)](
                                                      boost::system::error_code ec) mutable {
                     d->socket = nullptr;
                     d->timer.cancel();
                     std::move(h)(ec);
                   }));
  }

 private:
  using Lowest = boost::beast::lowest_layer_type<Next>;
  struct Deadline {
    Deadline(executor_type ex, Lowest* s) : timer(ex), socket(s) {}
    boost::asio::steady_timer timer;
    Lowest* socket;  // null once the teardown ended or the stream is gone
  };
  Next next_;
  std::chrono::milliseconds close_timeout_;
  std::shared_ptr<Deadline> deadline_;
};

// Sends a close frame on `ws` and waits at most the close timeout for the
// client's (Beast bounds that wait by its handshake timeout, which is set
// to it here: the handshake is long over), then the bounded teardown.
template <class Next, class Handler>
void AsyncCloseBounded(boost::beast::websocket::stream<BoundedTeardown<Next>>& ws,
                       boost::beast::websocket::close_code code, Handler&& h) {
  boost::beast::websocket::stream_base::timeout t;
  ws.get_option(t);
  t.handshake_timeout = ws.next_layer().close_timeout();
  ws.set_option(t);
  ws.async_close(code, std::forward<Handler>(h));
}

}  // namespace kcr::streaming
