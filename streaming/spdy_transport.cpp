// The SPDY transport: reads feed the session; its events become handler
// calls one at a time (the next only once the handler consumed the data,
// which also stops reading the connection: backpressure); sends go through
// the session's flow control and out in one write at a time.
#include "streaming/spdy_transport.h"

#include "streaming/protocols.h"

#include <boost/asio/steady_timer.hpp>

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>

#include <array>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "common/log.h"
#include "streaming/spdy/session.h"

namespace kcr::streaming {

namespace asio = boost::asio;

StatusOr<SpdyProtocol> NegotiateSpdy(bool portforward, std::string_view offered) {
  std::vector<std::string> names = OfferedProtocols(offered);
  for (const std::string& p : names) {
    if (portforward) {
      if (p == "portforward.k8s.io") return SpdyProtocol{p, 1, true};
      continue;
    }
    if (p == "v4.channel.k8s.io") return SpdyProtocol{p, 4, false};
    if (p == "v3.channel.k8s.io") return SpdyProtocol{p, 3, false};
    if (p == "v2.channel.k8s.io") return SpdyProtocol{p, 2, false};
    if (p == "channel.k8s.io") return SpdyProtocol{p, 1, false};
  }
  if (names.empty()) return SpdyProtocol{"", 1, portforward};
  return absl::InvalidArgumentError("none of the offered stream protocols is supported: " + std::string(offered));
}

namespace {

std::map<std::string, std::string> HeaderMap(const spdy::Headers& h) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : h) m[k] = v;
  return m;
}

class SpdyTransport : public Transport, public std::enable_shared_from_this<SpdyTransport> {
 public:
  SpdyTransport(asio::io_context& io, std::shared_ptr<ByteIo> bytes, std::string early, SpdyProtocol p,
                SpdyTimeouts t)
      : bytes_(std::move(bytes)), early_(std::move(early)), p_(std::move(p)), t_(t), idle_(io), frame_(io),
        session_(spdy::Session::Role::kServer) {}

  void Start(std::weak_ptr<Handler> h) override {
    h_ = std::move(h);
    Flush();  // the session's preface
    ArmIdle();
    if (!early_.empty()) {
      std::string e = std::move(early_);
      Feed(e);
    } else {
      Read();
    }
  }

  void Send(uint32_t channel, std::string data, std::function<void()> done) override {
    if (gone_ || finishing_ || Ended(channel)) {
      if (done) done();
      return;
    }
    out_[channel].push_back({std::move(data), 0, std::move(done), false});
    Push(channel);
    Prune();
    Flush();
  }

  void CloseChannel(uint32_t channel) override {
    if (gone_ || Ended(channel)) return;
    out_[channel].push_back({"", 0, nullptr, true});
    Push(channel);
    Prune();
    Flush();
  }

  bool ClientOpensChannels() const override { return true; }

  void Finish() override {
    if (gone_ || finishing_) return;
    // What waits for a stream the client never opened cannot go out.
    std::vector<uint32_t> unopened, open;
    for (auto& [channel, q] : out_)
      if (!streams_.count(channel)) unopened.push_back(channel);
    for (uint32_t c : unopened) DropOut(c);
    for (auto& [channel, stream] : streams_) open.push_back(channel);
    for (uint32_t c : open) CloseChannel(c);
    finishing_ = true;
    MaybeEnd();
  }

  void Abort() override {
    if (gone_) return;
    bytes_->Close();
    Gone(absl::CancelledError("connection aborted by the server"));
  }

 private:
  struct Out {
    std::string data;
    size_t off;
    std::function<void()> done;
    bool fin;
  };

  void ArmIdle() {
    idle_.expires_after(t_.idle);
    idle_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->bytes_->Close();
      self->Gone(absl::DeadlineExceededError("SPDY client idle too long"));
    });
  }

  // Runs while we wait for the rest of a frame the client began.
  void ArmFrame() {
    if (frame_armed_ || session_.PartialFrame() == 0) return;
    frame_armed_ = true;
    frame_.expires_after(t_.frame);
    frame_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || !self->frame_armed_) return;
      spdlog::info("streaming: SPDY client left a frame unfinished for {} ms, closed", self->t_.frame.count());
      self->bytes_->Close();
      self->Gone(absl::DeadlineExceededError("SPDY frame unfinished past its deadline"));
    });
  }
  void DisarmFrame() {
    if (!frame_armed_) return;
    frame_armed_ = false;
    frame_.cancel();
  }

  void Read() {
    if (gone_ || reading_ || paused_) return;
    ArmFrame();
    reading_ = true;
    bytes_->ReadSome(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->reading_ = false;
      if (self->gone_) return;
      if (ec) {
        self->bytes_->Close();
        self->Gone(ec == asio::error::eof ? absl::OkStatus() : absl::UnavailableError("SPDY read: " + ec.message()));
        return;
      }
      self->ArmIdle();
      self->Feed(std::string_view(self->buf_.data(), n));
    });
  }

  void Feed(std::string_view bytes) {
    Status st = session_.Feed(bytes);
    if (session_.PartialFrame() == 0) DisarmFrame();
    for (auto& e : session_.TakeEvents()) events_.push_back(std::move(e));
    if (!st.ok()) {
      spdlog::info("streaming: SPDY client broke the protocol: {}", st.message());
      broken_ = true;
      Flush();  // the GOAWAY, then the connection closes
      return;
    }
    Process();
  }

  // Events in order; stops at data the handler has not consumed yet.
  void Process() {
    while (!paused_ && !gone_ && !events_.empty()) {
      spdy::Event e = std::move(events_.front());
      events_.pop_front();
      Handle(e);
    }
    Prune();
    Flush();
    if (!paused_) Read();
  }

  void Handle(spdy::Event& e) {
    auto h = h_.lock();
    switch (e.type) {
      case spdy::Event::Type::kStreamOpened: {
        auto headers = HeaderMap(e.headers);
        std::optional<uint32_t> channel = ChannelFor(headers);
        if (!channel || finishing_) {
          session_.Reset(e.stream_id, spdy::RstStatus::kRefusedStream);
          return;
        }
        if (Status st = session_.Reply(e.stream_id, {}, false); !st.ok()) {
          session_.Reset(e.stream_id, spdy::RstStatus::kProtocolError);
          return;
        }
        streams_[*channel] = e.stream_id;
        channels_[e.stream_id] = *channel;
        if (p_.portforward) reqs_[*channel / 2].opened[*channel % 2] = true;
        if (h) h->OnOpen(*channel, headers);
        Push(*channel);
        if (e.fin && h) h->OnClose(*channel);
        return;
      }
      case spdy::Event::Type::kData: {
        auto it = channels_.find(e.stream_id);
        if (it == channels_.end() || e.data.empty() || !h) return;
        size_t n = e.data.size();
        uint32_t stream = e.stream_id;
        paused_ = true;
        DisarmFrame();  // we stop reading: the rest of a frame may be waiting on us
        h->OnData(it->second, std::move(e.data), [weak = weak_from_this(), stream, n] {
          auto self = weak.lock();
          if (!self || self->gone_) return;
          self->session_.Consumed(stream, n);
          self->paused_ = false;
          self->Process();
        });
        return;
      }
      case spdy::Event::Type::kFin:
        if (auto it = channels_.find(e.stream_id); it != channels_.end()) {
          check_.push_back(it->second);  // forgotten if our side ended too
          if (h) h->OnClose(it->second);
        }
        return;
      case spdy::Event::Type::kReset:
        if (auto it = channels_.find(e.stream_id); it != channels_.end()) {
          uint32_t channel = it->second;
          ChannelEnded(channel);
          if (h) h->OnReset(channel);
        }
        return;
      case spdy::Event::Type::kWindowOpened: {
        std::vector<uint32_t> waiting;  // Push may drop a queue: not while iterating out_
        for (auto& [channel, q] : out_) waiting.push_back(channel);
        for (uint32_t c : waiting) Push(c);
        return;
      }
      case spdy::Event::Type::kReply:
      case spdy::Event::Type::kGoAway:
        return;
    }
  }

  std::optional<uint32_t> ChannelFor(const std::map<std::string, std::string>& headers) {
    auto type = headers.find("streamtype");
    if (type == headers.end()) return std::nullopt;
    if (!p_.portforward) {
      static const std::map<std::string, uint32_t> kTypes = {
          {"stdin", kStdin}, {"stdout", kStdout}, {"stderr", kStderr}, {"error", kError}, {"resize", kResize}};
      auto it = kTypes.find(type->second);
      if (it == kTypes.end() || streams_.count(it->second)) return std::nullopt;
      return it->second;
    }
    auto id = headers.find("requestid");
    if (id == headers.end() || (type->second != "data" && type->second != "error")) return std::nullopt;
    auto [k, fresh] = requests_.emplace(id->second, next_k_);
    if (fresh) {
      if (next_k_ >= kMaxRequestNumber) {
        requests_.erase(k);
        return std::nullopt;
      }
      reqs_[next_k_++].id = id->second;
    }
    int side = type->second == "error" ? 1 : 0;
    if (reqs_[k->second].opened[side]) return std::nullopt;  // that stream of the request exists already
    return 2 * k->second + side;
  }

  // A channel whose stream ended (reset, or closed by both sides): what is
  // sent to it is dropped.
  bool Ended(uint32_t channel) const {
    if (!p_.portforward) return ended_channels_.count(channel) > 0;
    auto r = reqs_.find(channel / 2);
    if (r == reqs_.end()) return channel / 2 < next_k_;  // the request is over
    return r->second.ended[channel % 2];
  }

  // Forgets an ended channel's stream and queue; a port-forward request
  // whose streams both ended (or whose data stream ended before its error
  // stream ever opened) is forgotten whole, so a connection serving
  // requests one after another holds only the live ones.
  void ChannelEnded(uint32_t channel) {
    if (auto s = streams_.find(channel); s != streams_.end()) {
      channels_.erase(s->second);
      streams_.erase(s);
    }
    DropOut(channel);
    if (!p_.portforward) {
      ended_channels_.insert(channel);
      return;
    }
    uint32_t k = channel / 2;
    auto r = reqs_.find(k);
    if (r == reqs_.end()) return;
    r->second.ended[channel % 2] = true;
    if (!(r->second.ended[0] && (r->second.ended[1] || !r->second.opened[1]))) return;
    DropOut(2 * k + 1);
    requests_.erase(r->second.id);
    reqs_.erase(r);
  }

  // The channels check_ names whose streams the session has forgotten
  // (both sides closed them) are ended.
  void Prune() {
    auto check = std::move(check_);
    check_.clear();
    for (uint32_t c : check)
      if (auto s = streams_.find(c); s != streams_.end() && !session_.IsOpen(s->second)) ChannelEnded(c);
  }

  // Moves what the stream's windows allow from the channel's queue into the
  // session; a piece fully taken has its `done` run once written out.
  void Push(uint32_t channel) {
    auto s = streams_.find(channel);
    auto q = out_.find(channel);
    if (s == streams_.end() || q == out_.end()) return;
    while (!q->second.empty()) {
      Out& o = q->second.front();
      if (o.data.empty() && !o.fin) {  // nothing to frame
        if (o.done) after_write_.push_back(std::move(o.done));
        q->second.pop_front();
        continue;
      }
      auto n = session_.Send(s->second, std::string_view(o.data).substr(o.off), o.fin);
      if (!n.ok()) {  // the stream is gone: nothing more can go out on it
        DropOut(channel);
        return;
      }
      o.off += *n;
      if (o.off < o.data.size()) {
        if (*n == 0) return;  // window closed: kWindowOpened resumes
        continue;
      }
      if (o.done) after_write_.push_back(std::move(o.done));
      if (o.fin) check_.push_back(channel);  // forgotten if the client's side ended too
      q->second.pop_front();
    }
  }

  void DropOut(uint32_t channel) {
    auto q = out_.find(channel);
    if (q == out_.end()) return;
    for (auto& o : q->second)
      if (o.done) after_write_.push_back(std::move(o.done));
    out_.erase(q);
  }

  void Flush() {
    if (gone_) return;
    std::string more = session_.TakeOutput();
    pending_ += more;
    if (writing_) return;
    if (pending_.empty()) {
      RunDone();
      MaybeEnd();
      return;
    }
    writing_ = true;
    auto data = std::make_shared<std::string>(std::move(pending_));
    pending_.clear();
    auto done = std::move(after_write_);
    after_write_.clear();
    bytes_->Write(data, [self = shared_from_this(), done = std::move(done)](boost::system::error_code ec) {
      self->writing_ = false;
      for (auto& d : done) d();
      if (self->gone_) return;
      if (ec) {
        self->bytes_->Close();
        self->Gone(absl::UnavailableError("SPDY write: " + ec.message()));
        return;
      }
      self->Flush();
    });
  }

  void RunDone() {
    auto done = std::move(after_write_);
    after_write_.clear();
    for (auto& d : done) d();
  }

  // After Finish or a protocol error, once everything is out: end our
  // side; the client's EOF (or the idle deadline) ends the connection.
  void MaybeEnd() {
    if (gone_ || writing_ || !pending_.empty() || ended_) return;
    if (broken_) {
      ended_ = true;
      bytes_->Close();
      Gone(absl::InvalidArgumentError("SPDY protocol error"));
      return;
    }
    if (!finishing_) return;
    for (auto& [c, q] : out_)
      if (!q.empty()) return;
    ended_ = true;
    session_.GoAway();
    std::string last = session_.TakeOutput();
    auto data = std::make_shared<std::string>(std::move(last));
    writing_ = true;
    bytes_->Write(data, [self = shared_from_this()](boost::system::error_code) {
      self->writing_ = false;
      self->bytes_->CloseSend();
    });
  }

  void Gone(const Status& why) {
    if (gone_) return;
    gone_ = true;
    idle_.cancel();
    DisarmFrame();
    for (auto& [c, q] : out_)
      for (auto& o : q)
        if (o.done) after_write_.push_back(std::move(o.done));
    out_.clear();
    RunDone();
    if (auto h = h_.lock()) h->OnGone(why);
  }

  std::shared_ptr<ByteIo> bytes_;
  std::string early_;
  SpdyProtocol p_;
  SpdyTimeouts t_;
  asio::steady_timer idle_;
  asio::steady_timer frame_;  // the per-frame deadline (SpdyTimeouts::frame)
  bool frame_armed_ = false;
  spdy::Session session_;
  std::weak_ptr<Handler> h_;
  std::array<char, 65536> buf_;
  std::deque<spdy::Event> events_;
  std::map<uint32_t, uint32_t> streams_;   // channel -> stream id
  std::map<uint32_t, uint32_t> channels_;  // stream id -> channel
  // Port-forward requests: the client's id -> k (channels 2k and 2k+1),
  // and per k, which of its streams opened and ended. Only live ones are
  // kept; k only grows, so a late frame never reaches a newer request.
  struct Req {
    std::string id;
    bool opened[2] = {false, false}, ended[2] = {false, false};
  };
  static constexpr uint32_t kMaxRequestNumber = (1u << 31) - 1;  // 2k+1 fits a channel number
  std::map<std::string, uint32_t> requests_;
  std::map<uint32_t, Req> reqs_;
  uint32_t next_k_ = 0;
  std::set<uint32_t> ended_channels_;  // remote-command channels whose stream ended
  std::vector<uint32_t> check_;     // channels that may have ended (Prune)
  std::map<uint32_t, std::deque<Out>> out_;
  std::vector<std::function<void()>> after_write_;
  std::string pending_;
  bool reading_ = false, paused_ = false, writing_ = false, finishing_ = false, broken_ = false, ended_ = false,
       gone_ = false;
};

}  // namespace

std::shared_ptr<Transport> NewSpdyTransport(asio::io_context& io, std::shared_ptr<ByteIo> bytes, std::string early,
                                            SpdyProtocol p, SpdyTimeouts t) {
  return std::make_shared<SpdyTransport>(io, std::move(bytes), std::move(early), std::move(p), t);
}

}  // namespace kcr::streaming
