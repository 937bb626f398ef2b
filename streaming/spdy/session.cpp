// The SPDY/3.1 state machine: stream ids, half-closes, resets, flow
// control, and which peer faults end the session (GOAWAY) and which end a
// stream (RST_STREAM). Facts about the real peer (Go's moby/spdystream, as
// client-go and kubelet use it) that shaped it:
// - it sends no SETTINGS and no WINDOW_UPDATE and ignores both: see the
//   flow-control notes at Send and in Limits;
// - it closes a stream with an empty DATA frame carrying FIN, cancels with
//   RST_STREAM CANCEL, and closes the connection with GOAWAY after which it
//   reads nothing more;
// - it drops DATA for a stream it opened until that stream's SYN_REPLY came,
//   and drops the whole connection on a header block with a repeated name
//   or on a control frame type it does not know (so kcr sends only types
//   1-4 and 6-9);
// - it echoes PINGs whose id parity is not its own.
#include "streaming/spdy/session.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>

#include "streaming/spdy/frame.h"
#include "streaming/spdy/header_block.h"

namespace kcr::streaming::spdy {

namespace {

// DATA frames kcr sends are at most this large (spdystream writes what one
// Write got, 32 KiB from io.Copy; the peer's own limit is not announced).
constexpr size_t kMaxSendChunk = 64 << 10;

struct Stream {
  bool ours = false;        // we opened it (client role)
  bool replied = false;     // SYN_REPLY sent (peer's stream) or received (ours)
  bool local_fin = false;   // we half-closed it
  bool remote_fin = false;  // the peer half-closed it
  int64_t send_window = 0;  // what the peer's window still takes from us
  size_t unconsumed = 0;    // delivered in kData, not yet Consumed()
  size_t pending_update = 0;  // consumed, not yet returned by WINDOW_UPDATE
};

std::string Id(uint32_t id) { return "SPDY stream " + std::to_string(id); }

}  // namespace

class Session::Impl {
 public:
  Impl(Role role, Limits limits)
      : role_(role), limits_(limits), inflater_(limits.max_header_block),
        next_local_id_(role == Role::kClient ? 1 : 2) {
    limits_.max_stream_buffer = std::max(limits_.max_stream_buffer, limits_.max_frame_payload);
    limits_.max_session_buffer = std::max(limits_.max_session_buffer, limits_.max_stream_buffer);
    limits_.initial_window = std::min<uint32_t>(std::max<uint32_t>(limits_.initial_window, 1), wire::kMaxWindow);
    limits_.session_window = std::min<uint32_t>(limits_.session_window, wire::kMaxWindow);
    wire::AppendSettings(&out_, {{wire::kSettingMaxConcurrentStreams, static_cast<uint32_t>(std::min<size_t>(
                                                                          limits_.max_streams, UINT32_MAX))},
                                 {wire::kSettingInitialWindowSize, limits_.initial_window}});
    if (limits_.session_window > wire::kDefaultWindow)
      wire::AppendWindowUpdate(&out_, 0, static_cast<uint32_t>(limits_.session_window - wire::kDefaultWindow));
  }

  absl::Status Feed(std::string_view bytes);
  std::vector<Event> TakeEvents() { return std::exchange(events_, {}); }
  std::string TakeOutput() { return std::exchange(out_, {}); }
  absl::StatusOr<uint32_t> OpenStream(const Headers& headers, bool fin);
  absl::Status Reply(uint32_t id, const Headers& headers, bool fin);
  absl::StatusOr<size_t> Send(uint32_t id, std::string_view data, bool fin);
  void Consumed(uint32_t id, size_t n);
  void Reset(uint32_t id, RstStatus status);
  void GoAway();
  bool IsOpen(uint32_t id) const { return streams_.contains(id); }
  size_t OpenStreams() const { return streams_.size(); }
  size_t PartialFrame() const { return failure_.ok() ? in_.size() : 0; }
  size_t Unconsumed(uint32_t id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? 0 : it->second.unconsumed;
  }

 private:
  absl::StatusOr<size_t> FrameSize(std::string_view buf) const;
  absl::Status Process(std::string_view frame);
  absl::Status OnSynStream(const wire::FrameHeader& h, std::string_view payload);
  absl::Status OnSynReplyOrHeaders(const wire::FrameHeader& h, std::string_view payload);
  absl::Status OnData(const wire::FrameHeader& h, std::string_view payload);
  absl::Status OnSettings(std::string_view payload);
  absl::Status OnWindowUpdate(std::string_view payload);
  void OnRst(std::string_view payload);
  void OnPing(std::string_view payload);
  void OnGoAway(std::string_view payload);

  absl::Status Fail(absl::Status why);
  absl::Status Usable() const;
  // A header block for SYN_STREAM/SYN_REPLY, within our own header limit,
  // through this session's one compression context.
  absl::StatusOr<std::string> CompressHeaders(const Headers& headers);
  bool PeerParity(uint32_t id) const { return (id % 2 == 1) == (role_ == Role::kServer); }
  // An id no stream ever had: the peer's beyond the highest it opened, or
  // ours beyond the highest we opened.
  bool NeverOpened(uint32_t id) const { return PeerParity(id) ? id > highest_peer_id_ : id >= next_local_id_; }
  // Sends RST_STREAM for a stream the peer broke, tells the caller.
  void ResetForPeer(uint32_t id, RstStatus status);
  void Forget(uint32_t id);
  // Forgets a stream both sides have half-closed.
  void MaybeForget(uint32_t id);
  void RemoteFin(uint32_t id, Stream& s);
  // Returns n bytes of the session window (data consumed, or dropped).
  void ReleaseSession(size_t n);
  void Emit(Event::Type type, uint32_t id) {
    Event e;
    e.type = type;
    e.stream_id = id;
    events_.push_back(std::move(e));
  }

  Role role_;
  Limits limits_;
  HeaderDeflater deflater_;
  HeaderInflater inflater_;
  std::string in_;  // an incomplete frame
  std::string out_;
  std::vector<Event> events_;
  absl::flat_hash_map<uint32_t, Stream> streams_;
  uint32_t next_local_id_;
  uint32_t highest_peer_id_ = 0;
  uint32_t last_accepted_peer_id_ = 0;
  absl::Status failure_;
  bool goaway_sent_ = false;
  bool goaway_received_ = false;
  // The peer keeps SPDY/3.1 flow control (see Send).
  bool peer_flow_control_ = false;
  int64_t peer_initial_window_ = wire::kDefaultWindow;
  int64_t session_send_window_ = wire::kDefaultWindow;
  uint32_t peer_max_streams_ = UINT32_MAX;
  size_t session_unconsumed_ = 0;
  size_t session_pending_update_ = 0;
};

absl::Status Session::Impl::Fail(absl::Status why) {
  failure_ = why;
  in_.clear();
  if (!goaway_sent_) wire::AppendGoAway(&out_, last_accepted_peer_id_, wire::kGoAwayProtocolError);
  goaway_sent_ = true;
  return why;
}

absl::Status Session::Impl::Usable() const {
  if (failure_.ok()) return absl::OkStatus();
  return absl::FailedPreconditionError("SPDY session ended: " + std::string(failure_.message()));
}

absl::StatusOr<std::string> Session::Impl::CompressHeaders(const Headers& headers) {
  auto block = EncodeBlock(headers);
  if (!block.ok()) return block.status();
  if (block->size() > limits_.max_header_block)
    return absl::InvalidArgumentError("SPDY headers of " + std::to_string(block->size()) + " bytes");
  return deflater_.Compress(*block);
}

absl::StatusOr<size_t> Session::Impl::FrameSize(std::string_view buf) const {
  if (buf.size() < wire::kHeaderSize) return wire::kHeaderSize;
  wire::FrameHeader h = wire::ParseHeader(buf.data());
  // Both checks come before the payload is awaited or buffered.
  if (h.control && h.version != wire::kVersion)
    return absl::InvalidArgumentError("SPDY control frame of version " + std::to_string(h.version) +
                                      " (only 3 is spoken)");
  if (h.length > limits_.max_frame_payload)
    return absl::ResourceExhaustedError("SPDY frame of " + std::to_string(h.length) + " bytes (limit " +
                                        std::to_string(limits_.max_frame_payload) + ")");
  return wire::kHeaderSize + h.length;
}

absl::Status Session::Impl::Feed(std::string_view bytes) {
  if (!failure_.ok()) return Usable();
  // Complete a frame left over from an earlier call, copying only its bytes.
  while (!in_.empty() && !bytes.empty()) {
    auto need = FrameSize(in_);
    if (!need.ok()) return Fail(need.status());
    size_t take = std::min(*need - in_.size(), bytes.size());
    in_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    need = FrameSize(in_);
    if (!need.ok()) return Fail(need.status());
    if (in_.size() == *need) {
      std::string frame = std::exchange(in_, {});
      if (auto st = Process(frame); !st.ok()) return Fail(st);
    }
  }
  if (!in_.empty()) return absl::OkStatus();
  // Whole frames straight from the caller's buffer.
  while (!bytes.empty()) {
    auto need = FrameSize(bytes);
    if (!need.ok()) return Fail(need.status());
    if (bytes.size() < *need) break;
    if (auto st = Process(bytes.substr(0, *need)); !st.ok()) return Fail(st);
    bytes.remove_prefix(*need);
  }
  in_.assign(bytes);
  return absl::OkStatus();
}

absl::Status Session::Impl::Process(std::string_view frame) {
  wire::FrameHeader h = wire::ParseHeader(frame.data());
  std::string_view payload = frame.substr(wire::kHeaderSize);
  if (!h.control) return OnData(h, payload);
  auto exact = [&](size_t n, const char* what) {
    if (payload.size() == n) return absl::OkStatus();
    return absl::InvalidArgumentError(std::string("SPDY ") + what + " frame of " + std::to_string(payload.size()) +
                                      " bytes (must be " + std::to_string(n) + ")");
  };
  switch (h.type) {
    case wire::kSynStream: return OnSynStream(h, payload);
    case wire::kSynReply:
    case wire::kHeaders: return OnSynReplyOrHeaders(h, payload);
    case wire::kRstStream:
      if (auto st = exact(8, "RST_STREAM"); !st.ok()) return st;
      OnRst(payload);
      return absl::OkStatus();
    case wire::kSettings: return OnSettings(payload);
    case wire::kPing:
      if (auto st = exact(4, "PING"); !st.ok()) return st;
      OnPing(payload);
      return absl::OkStatus();
    case wire::kGoAway:
      if (auto st = exact(8, "GOAWAY"); !st.ok()) return st;
      OnGoAway(payload);
      return absl::OkStatus();
    case wire::kWindowUpdate:
      if (auto st = exact(8, "WINDOW_UPDATE"); !st.ok()) return st;
      return OnWindowUpdate(payload);
    default: return absl::OkStatus();  // section 2.2.1: unknown control frames are ignored
  }
}

absl::Status Session::Impl::OnSynStream(const wire::FrameHeader& h, std::string_view payload) {
  if (payload.size() < 10)
    return absl::InvalidArgumentError("SPDY SYN_STREAM of " + std::to_string(payload.size()) + " bytes");
  uint32_t id = wire::ReadU32(payload.data()) & wire::kMaxStreamId;
  // The block is inflated whatever happens to the stream: the zlib stream
  // runs across all blocks, so skipping one would lose every later one.
  auto block = inflater_.Inflate(payload.substr(10));
  if (!block.ok()) return block.status();
  if (id == 0) return absl::InvalidArgumentError("SPDY SYN_STREAM for stream 0");
  if (!PeerParity(id))
    return absl::InvalidArgumentError("SPDY SYN_STREAM for stream " + std::to_string(id) + " (the peer's ids are " +
                                      (role_ == Role::kServer ? "odd)" : "even)"));
  if (id <= highest_peer_id_)
    return absl::InvalidArgumentError("SPDY SYN_STREAM for stream " + std::to_string(id) + " after stream " +
                                      std::to_string(highest_peer_id_) + " (ids must ascend)");
  highest_peer_id_ = id;
  if (goaway_sent_) return absl::OkStatus();  // section 2.6.6: ignored after our GOAWAY
  if (role_ == Role::kClient) {  // server push: kcr's client never asked for it
    wire::AppendRstStream(&out_, id, static_cast<uint32_t>(RstStatus::kRefusedStream));
    return absl::OkStatus();
  }
  auto headers = DecodeBlock(*block, limits_.max_header_pairs);
  if (!headers.ok()) {
    wire::AppendRstStream(&out_, id, static_cast<uint32_t>(RstStatus::kProtocolError));
    return absl::OkStatus();
  }
  if (streams_.size() >= limits_.max_streams) {
    wire::AppendRstStream(&out_, id, static_cast<uint32_t>(RstStatus::kRefusedStream));
    return absl::OkStatus();
  }
  last_accepted_peer_id_ = id;
  Stream& s = streams_[id];
  s.send_window = peer_initial_window_;
  // A unidirectional stream takes nothing from us, not even a reply.
  s.local_fin = (h.flags & wire::kFlagUnidirectional) != 0;
  Event e;
  e.type = Event::Type::kStreamOpened;
  e.stream_id = id;
  e.headers = std::move(*headers);
  e.fin = (h.flags & wire::kFlagFin) != 0;
  events_.push_back(std::move(e));
  if (h.flags & wire::kFlagFin) RemoteFin(id, s);
  return absl::OkStatus();
}

absl::Status Session::Impl::OnSynReplyOrHeaders(const wire::FrameHeader& h, std::string_view payload) {
  const bool reply = h.type == wire::kSynReply;
  if (payload.size() < 4)
    return absl::InvalidArgumentError(std::string("SPDY ") + (reply ? "SYN_REPLY" : "HEADERS") + " of " +
                                      std::to_string(payload.size()) + " bytes");
  uint32_t id = wire::ReadU32(payload.data()) & wire::kMaxStreamId;
  auto block = inflater_.Inflate(payload.substr(4));  // always: see OnSynStream
  if (!block.ok()) return block.status();
  if (id == 0) return absl::InvalidArgumentError(std::string("SPDY ") + (reply ? "SYN_REPLY" : "HEADERS") +
                                                 " for stream 0");
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    // A stream that ended may still see late frames; one that never was
    // is the peer's mistake.
    if (NeverOpened(id)) wire::AppendRstStream(&out_, id, static_cast<uint32_t>(RstStatus::kInvalidStream));
    return absl::OkStatus();
  }
  Stream& s = it->second;
  auto headers = DecodeBlock(*block, limits_.max_header_pairs);
  if (!headers.ok()) {
    ResetForPeer(id, RstStatus::kProtocolError);
    return absl::OkStatus();
  }
  if (s.remote_fin) {
    ResetForPeer(id, RstStatus::kStreamAlreadyClosed);
    return absl::OkStatus();
  }
  const bool fin = (h.flags & wire::kFlagFin) != 0;
  if (reply) {
    if (!s.ours) {
      ResetForPeer(id, RstStatus::kProtocolError);  // a reply to the peer's own stream
      return absl::OkStatus();
    }
    if (s.replied) {
      ResetForPeer(id, RstStatus::kStreamInUse);  // section 2.6.2: a second reply
      return absl::OkStatus();
    }
    s.replied = true;
    Event e;
    e.type = Event::Type::kReply;
    e.stream_id = id;
    e.headers = std::move(*headers);
    e.fin = fin;
    events_.push_back(std::move(e));
  }
  // HEADERS' contents are not passed on: none of the streaming protocols
  // sends them (spdystream's SendHeader is unused by client-go and kubelet).
  if (fin) RemoteFin(id, s);
  return absl::OkStatus();
}

absl::Status Session::Impl::OnData(const wire::FrameHeader& h, std::string_view payload) {
  uint32_t id = h.stream_id;
  if (id == 0) return absl::InvalidArgumentError("SPDY DATA frame for stream 0");
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    ReleaseSession(payload.size());
    if (NeverOpened(id)) wire::AppendRstStream(&out_, id, static_cast<uint32_t>(RstStatus::kInvalidStream));
    return absl::OkStatus();  // late data for a stream that ended or was refused
  }
  Stream& s = it->second;
  if (s.remote_fin) {
    ReleaseSession(payload.size());
    ResetForPeer(id, RstStatus::kStreamAlreadyClosed);
    return absl::OkStatus();
  }
  if (s.ours && !s.replied) {  // section 2.3.2: data before SYN_REPLY
    ReleaseSession(payload.size());
    ResetForPeer(id, RstStatus::kProtocolError);
    return absl::OkStatus();
  }
  // The advertised window is not enforced (spdystream ignores it); the
  // caps on what the caller holds unconsumed are.
  if (s.unconsumed + payload.size() > limits_.max_stream_buffer ||
      session_unconsumed_ + payload.size() > limits_.max_session_buffer) {
    ReleaseSession(payload.size());
    ResetForPeer(id, RstStatus::kFlowControlError);
    return absl::OkStatus();
  }
  s.unconsumed += payload.size();
  session_unconsumed_ += payload.size();
  const bool fin = (h.flags & wire::kFlagFin) != 0;
  if (!payload.empty() || fin) {
    Event e;
    e.type = Event::Type::kData;
    e.stream_id = id;
    e.data.assign(payload);
    e.fin = fin;
    events_.push_back(std::move(e));
  }
  if (fin) RemoteFin(id, s);
  return absl::OkStatus();
}

absl::Status Session::Impl::OnSettings(std::string_view payload) {
  if (payload.size() < 4) return absl::InvalidArgumentError("SPDY SETTINGS frame without its entry count");
  uint64_t n = wire::ReadU32(payload.data());
  if (payload.size() != 4 + 8 * n)
    return absl::InvalidArgumentError("SPDY SETTINGS frame of " + std::to_string(payload.size()) + " bytes for " +
                                      std::to_string(n) + " entries");
  bool opened = false;
  for (uint64_t i = 0; i < n; i++) {
    const char* p = payload.data() + 4 + 8 * i;
    uint32_t id = wire::ReadU32(p) & 0xffffff;
    uint32_t value = wire::ReadU32(p + 4);
    if (id == wire::kSettingInitialWindowSize) {
      if (value > wire::kMaxWindow)
        return absl::InvalidArgumentError("SPDY SETTINGS initial window " + std::to_string(value));
      // Section 2.6.4: the change applies to every open stream too.
      int64_t delta = int64_t{value} - peer_initial_window_;
      for (auto& [sid, s] : streams_) s.send_window += delta;
      peer_initial_window_ = value;
      peer_flow_control_ = true;
      opened = opened || delta > 0;
    } else if (id == wire::kSettingMaxConcurrentStreams) {
      peer_max_streams_ = value;
    }
  }
  if (opened) Emit(Event::Type::kWindowOpened, 0);
  return absl::OkStatus();
}

absl::Status Session::Impl::OnWindowUpdate(std::string_view payload) {
  uint32_t id = wire::ReadU32(payload.data()) & wire::kMaxStreamId;
  int64_t delta = wire::ReadU32(payload.data() + 4) & 0x7fffffff;
  peer_flow_control_ = true;
  if (delta == 0) return absl::OkStatus();
  if (id == 0) {
    session_send_window_ += delta;
    if (session_send_window_ > wire::kMaxWindow)
      return absl::InvalidArgumentError("SPDY WINDOW_UPDATE grows the session window past 2^31-1");
    Emit(Event::Type::kWindowOpened, 0);
    return absl::OkStatus();
  }
  auto it = streams_.find(id);
  if (it == streams_.end()) return absl::OkStatus();  // ended streams still see updates
  it->second.send_window += delta;
  if (it->second.send_window > wire::kMaxWindow) {
    ResetForPeer(id, RstStatus::kFlowControlError);  // section 2.6.8
    return absl::OkStatus();
  }
  Emit(Event::Type::kWindowOpened, id);
  return absl::OkStatus();
}

void Session::Impl::OnRst(std::string_view payload) {
  uint32_t id = wire::ReadU32(payload.data()) & wire::kMaxStreamId;
  uint32_t status = wire::ReadU32(payload.data() + 4);
  if (!streams_.contains(id)) return;  // never answer a reset with a reset
  Forget(id);
  Event e;
  e.type = Event::Type::kReset;
  e.stream_id = id;
  e.status = static_cast<RstStatus>(status);  // fixed underlying type: any value is valid
  events_.push_back(std::move(e));
}

void Session::Impl::OnPing(std::string_view payload) {
  uint32_t id = wire::ReadU32(payload.data());
  // Our own pings have our parity (client odd, server even); we send none,
  // so such a "reply" is ignored. The peer's are echoed.
  bool ours = (id % 2 == 1) == (role_ == Role::kClient);
  if (!ours) wire::AppendPing(&out_, id);
}

void Session::Impl::OnGoAway(std::string_view payload) {
  uint32_t last = wire::ReadU32(payload.data()) & wire::kMaxStreamId;
  if (goaway_received_) return;
  goaway_received_ = true;
  // Our streams past the peer's last good one were never processed.
  std::vector<uint32_t> refused;
  for (const auto& [id, s] : streams_)
    if (s.ours && id > last) refused.push_back(id);
  std::sort(refused.begin(), refused.end());
  Emit(Event::Type::kGoAway, last);
  for (uint32_t id : refused) {
    Forget(id);
    Event e;
    e.type = Event::Type::kReset;
    e.stream_id = id;
    e.status = RstStatus::kRefusedStream;
    events_.push_back(std::move(e));
  }
}

void Session::Impl::ResetForPeer(uint32_t id, RstStatus status) {
  wire::AppendRstStream(&out_, id, static_cast<uint32_t>(status));
  Forget(id);
  Event e;
  e.type = Event::Type::kReset;
  e.stream_id = id;
  e.status = status;
  events_.push_back(std::move(e));
}

void Session::Impl::Forget(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  // Its unconsumed data will never be consumed: give it back to the
  // session window the peer counts.
  size_t held = it->second.unconsumed;
  session_unconsumed_ -= held;
  streams_.erase(it);
  ReleaseSession(held);
}

void Session::Impl::MaybeForget(uint32_t id) {
  auto it = streams_.find(id);
  if (it != streams_.end() && it->second.local_fin && it->second.remote_fin) Forget(id);
}

void Session::Impl::RemoteFin(uint32_t id, Stream& s) {
  s.remote_fin = true;
  Emit(Event::Type::kFin, id);
  MaybeForget(id);
}

void Session::Impl::ReleaseSession(size_t n) {
  session_pending_update_ += n;
  // Batched: an update once half the window is back, as peers expect.
  if (failure_.ok() && session_pending_update_ > 0 && session_pending_update_ >= limits_.session_window / 2) {
    size_t delta = std::min<size_t>(session_pending_update_, wire::kMaxWindow);
    wire::AppendWindowUpdate(&out_, 0, static_cast<uint32_t>(delta));
    session_pending_update_ -= delta;
  }
}

absl::StatusOr<uint32_t> Session::Impl::OpenStream(const Headers& headers, bool fin) {
  if (role_ != Role::kClient) return absl::FailedPreconditionError("a SPDY server does not open streams");
  if (auto st = Usable(); !st.ok()) return st;
  if (goaway_sent_ || goaway_received_)
    return absl::FailedPreconditionError("SPDY session is going away: no new streams");
  if (next_local_id_ > wire::kMaxStreamId) return absl::ResourceExhaustedError("SPDY stream ids used up");
  size_t ours = 0;
  for (const auto& [id, s] : streams_) ours += s.ours ? 1 : 0;
  if (streams_.size() >= limits_.max_streams || ours >= peer_max_streams_)
    return absl::ResourceExhaustedError("SPDY session has " + std::to_string(streams_.size()) + " open streams");
  auto compressed = CompressHeaders(headers);
  if (!compressed.ok()) return compressed.status();
  uint32_t id = next_local_id_;
  next_local_id_ += 2;
  Stream& s = streams_[id];
  s.ours = true;
  s.local_fin = fin;
  s.send_window = peer_initial_window_;
  wire::AppendSynStream(&out_, id, fin ? wire::kFlagFin : 0, *compressed);
  return id;
}

absl::Status Session::Impl::Reply(uint32_t id, const Headers& headers, bool fin) {
  if (auto st = Usable(); !st.ok()) return st;
  auto it = streams_.find(id);
  if (it == streams_.end()) return absl::NotFoundError(Id(id) + " is not open");
  Stream& s = it->second;
  if (s.ours) return absl::FailedPreconditionError(Id(id) + " is ours: only the peer's streams get a reply");
  if (s.replied) return absl::FailedPreconditionError(Id(id) + " was replied to already");
  if (s.local_fin) return absl::FailedPreconditionError(Id(id) + " is closed on our side (unidirectional)");
  auto compressed = CompressHeaders(headers);
  if (!compressed.ok()) return compressed.status();
  wire::AppendSynReply(&out_, id, fin ? wire::kFlagFin : 0, *compressed);
  s.replied = true;
  if (fin) {
    s.local_fin = true;
    MaybeForget(id);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Session::Impl::Send(uint32_t id, std::string_view data, bool fin) {
  if (auto st = Usable(); !st.ok()) return st;
  auto it = streams_.find(id);
  if (it == streams_.end()) return absl::NotFoundError(Id(id) + " is not open");
  Stream& s = it->second;
  if (!s.ours && !s.replied) return absl::FailedPreconditionError(Id(id) + ": Reply before sending data");
  if (s.local_fin) return absl::FailedPreconditionError(Id(id) + " is half-closed on our side");
  // Flow control binds only a peer that showed it keeps it: spdystream
  // never sends WINDOW_UPDATE, so honouring the 64 KiB default window
  // against it would stall every stream after 64 KiB, for good. The
  // windows are counted all along, so a peer that starts updating them is
  // held to what they say from then on.
  size_t n = data.size();
  if (peer_flow_control_) {
    int64_t room = std::max<int64_t>(0, std::min(s.send_window, session_send_window_));
    n = static_cast<size_t>(std::min<int64_t>(room, static_cast<int64_t>(n)));
  }
  const bool send_fin = fin && n == data.size();
  size_t chunk = std::max<size_t>(1, std::min(kMaxSendChunk, size_t{wire::kMaxLength}));
  for (size_t off = 0; off < n; off += chunk) {
    size_t len = std::min(chunk, n - off);
    bool last = off + len == n;
    wire::AppendData(&out_, id, send_fin && last ? wire::kFlagFin : 0, data.substr(off, len));
  }
  if (send_fin && n == 0) wire::AppendData(&out_, id, wire::kFlagFin, {});
  s.send_window -= static_cast<int64_t>(n);
  session_send_window_ -= static_cast<int64_t>(n);
  if (send_fin) {
    s.local_fin = true;
    MaybeForget(id);
  }
  return n;
}

void Session::Impl::Consumed(uint32_t id, size_t n) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  n = std::min(n, s.unconsumed);
  s.unconsumed -= n;
  session_unconsumed_ -= n;
  s.pending_update += n;
  // Batched like the session's; after the peer's FIN no more data comes.
  if (failure_.ok() && !s.remote_fin && s.pending_update > 0 && s.pending_update >= limits_.initial_window / 2) {
    size_t delta = std::min<size_t>(s.pending_update, wire::kMaxWindow);
    wire::AppendWindowUpdate(&out_, id, static_cast<uint32_t>(delta));
    s.pending_update -= delta;
  }
  ReleaseSession(n);
}

void Session::Impl::Reset(uint32_t id, RstStatus status) {
  if (!streams_.contains(id)) return;
  if (failure_.ok()) wire::AppendRstStream(&out_, id, static_cast<uint32_t>(status));
  Forget(id);
}

void Session::Impl::GoAway() {
  if (goaway_sent_) return;
  goaway_sent_ = true;
  wire::AppendGoAway(&out_, last_accepted_peer_id_, wire::kGoAwayOk);
}

Session::Session(Role role, Limits limits) : impl_(std::make_unique<Impl>(role, limits)) {}
Session::~Session() = default;
absl::Status Session::Feed(std::string_view bytes) { return impl_->Feed(bytes); }
std::vector<Event> Session::TakeEvents() { return impl_->TakeEvents(); }
std::string Session::TakeOutput() { return impl_->TakeOutput(); }
absl::StatusOr<uint32_t> Session::OpenStream(const Headers& headers, bool fin) {
  return impl_->OpenStream(headers, fin);
}
absl::Status Session::Reply(uint32_t stream_id, const Headers& headers, bool fin) {
  return impl_->Reply(stream_id, headers, fin);
}
absl::StatusOr<size_t> Session::Send(uint32_t stream_id, std::string_view data, bool fin) {
  return impl_->Send(stream_id, data, fin);
}
void Session::Consumed(uint32_t stream_id, size_t n) { impl_->Consumed(stream_id, n); }
void Session::Reset(uint32_t stream_id, RstStatus status) { impl_->Reset(stream_id, status); }
void Session::GoAway() { impl_->GoAway(); }
bool Session::IsOpen(uint32_t stream_id) const { return impl_->IsOpen(stream_id); }
size_t Session::OpenStreams() const { return impl_->OpenStreams(); }
size_t Session::Unconsumed(uint32_t stream_id) const { return impl_->Unconsumed(stream_id); }
size_t Session::PartialFrame() const { return impl_->PartialFrame(); }

}  // namespace kcr::streaming::spdy
