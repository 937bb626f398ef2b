// WebSocket transport: one read at a time (the next only once the handler
// consumed the last message: backpressure), one write at a time from a
// queue.
#include "streaming/ws_transport.h"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>

#include "common/log.h"

namespace kcr::streaming {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

template <class Next>
class WsTransport : public Transport, public std::enable_shared_from_this<WsTransport<Next>> {
 public:
  using Ws = websocket::stream<Next>;
  using std::enable_shared_from_this<WsTransport<Next>>::shared_from_this;
  using std::enable_shared_from_this<WsTransport<Next>>::weak_from_this;
  WsTransport(std::unique_ptr<Ws> ws, ChannelProtocol p, int hello)
      : ws_(std::move(ws)), p_(std::move(p)), hello_(hello) {
    ws_->binary(!p_.base64);
  }

  void Start(std::weak_ptr<Handler> h) override {
    h_ = std::move(h);
    if (hello_ >= 0) Send(static_cast<uint32_t>(hello_), "", nullptr);
    Read();
  }

  void Send(uint32_t channel, std::string data, std::function<void()> done) override {
    if (gone_ || finishing_) {
      if (done) done();
      return;
    }
    out_.push_back({EncodeChannelMessage(p_, static_cast<uint8_t>(channel), data), std::move(done)});
    if (out_.size() == 1) WriteNext();
  }

  void Finish() override {
    if (gone_ || finishing_) return;
    finishing_ = true;
    if (out_.empty()) Close();
  }

  void Abort() override {
    if (gone_) return;
    beast::error_code ec;
    beast::get_lowest_layer(*ws_).socket().shutdown(boost::asio::socket_base::shutdown_both, ec);
    beast::get_lowest_layer(*ws_).close();
    Gone(absl::CancelledError("connection aborted by the server"));
  }

 private:
  struct Out {
    std::string frame;
    std::function<void()> done;
  };

  void Read() {
    if (gone_) return;
    ws_->async_read(in_, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      Gone(ec == websocket::error::closed ? absl::OkStatus()
                                          : absl::UnavailableError("websocket read: " + ec.message()));
      return;
    }
    std::string msg = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    if (msg.empty()) {  // wsstream skips empty messages
      Read();
      return;
    }
    auto m = DecodeChannelMessage(p_, msg);
    if (!m.ok()) {
      Fail(m.status());
      return;
    }
    auto h = h_.lock();
    if (!h) return;
    if (m->channel == kCloseChannel && p_.version >= 5) {
      if (m->data.size() != 1) {
        Fail(absl::InvalidArgumentError("close signal without one channel"));
        return;
      }
      h->OnClose(static_cast<uint8_t>(m->data[0]));
      Read();
      return;
    }
    std::weak_ptr<WsTransport> weak = weak_from_this();
    h->OnData(m->channel, std::move(m->data), [weak] {
      if (auto self = weak.lock()) self->Read();
    });
  }

  void WriteNext() {
    ws_->async_write(boost::asio::buffer(out_.front().frame),
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWritten(ec); });
  }

  void OnWritten(beast::error_code ec) {
    Out done = std::move(out_.front());
    out_.pop_front();
    if (done.done) done.done();
    if (ec) {
      for (auto& o : out_)
        if (o.done) o.done();
      out_.clear();
      Gone(absl::UnavailableError("websocket write: " + ec.message()));
      return;
    }
    if (!out_.empty()) {
      WriteNext();
    } else if (finishing_) {
      Close();
    }
  }

  void Close() {
    // The read loop then sees the client's answer, or the close deadline.
    AsyncCloseBounded(*ws_, websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {});
  }

  void Fail(const Status& st) {
    spdlog::info("streaming: websocket client broke the protocol: {}", st.message());
    beast::error_code ec;
    beast::get_lowest_layer(*ws_).socket().shutdown(boost::asio::socket_base::shutdown_both, ec);
    beast::get_lowest_layer(*ws_).close();
    Gone(st);
  }

  void Gone(const Status& why) {
    if (gone_) return;
    gone_ = true;
    if (auto h = h_.lock()) h->OnGone(why);
  }

  std::unique_ptr<Ws> ws_;
  ChannelProtocol p_;
  int hello_;
  std::weak_ptr<Handler> h_;
  beast::flat_buffer in_;
  std::deque<Out> out_;
  bool gone_ = false, finishing_ = false;
};

}  // namespace

std::shared_ptr<Transport> NewWsTransport(std::unique_ptr<WsStream> ws, ChannelProtocol p, int hello) {
  return std::make_shared<WsTransport<BoundedTeardown<beast::tcp_stream>>>(std::move(ws), std::move(p), hello);
}

std::shared_ptr<Transport> NewWsTransport(std::unique_ptr<WssStream> ws, ChannelProtocol p, int hello) {
  return std::make_shared<WsTransport<BoundedTeardown<TlsStream>>>(std::move(ws), std::move(p), hello);
}

}  // namespace kcr::streaming
