// SPDY/3.1 session, sans I/O: the framing kubectl, crictl and kubelet use
// for exec/attach/port-forward after `Upgrade: SPDY/3.1` (Go's
// moby/spdystream). No packaged C++ implementation exists, so this one is
// kcr's own, and fuzzed (streaming/fuzz/).
//
// The session owns no socket: the caller feeds it the bytes it read, takes
// the events those produced, and writes out the bytes the session queued.
// That keeps every wait (a stalled or hostile peer) in the caller's event
// loop, where it has a deadline, and lets a fuzzer drive the parser alone.
//
// Spec: https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/
// (frames, the zlib dictionary of section 2.6.10.1, flow control).
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcr::streaming::spdy {

// Header names are lower case (SPDY/3 requires it of senders; received
// names are lower-cased). A value carrying several values holds them
// NUL-separated, as on the wire.
using Headers = std::vector<std::pair<std::string, std::string>>;

// RST_STREAM status codes (section 2.6.3).
enum class RstStatus : uint32_t {
  kProtocolError = 1,
  kInvalidStream = 2,
  kRefusedStream = 3,
  kUnsupportedVersion = 4,
  kCancel = 5,
  kInternalError = 6,
  kFlowControlError = 7,
  kStreamInUse = 8,
  kStreamAlreadyClosed = 9,
  kFrameTooLarge = 11,
};

// What one session may cost: a peer over a limit is a protocol error (the
// session answers GOAWAY), never an allocation it chose.
struct Limits {
  size_t max_frame_payload = 1 << 20;     // bytes of one frame's payload
  size_t max_header_block = 256 << 10;    // bytes of a decompressed header block
  size_t max_header_pairs = 128;          // name/value pairs per block
  size_t max_streams = 1024;              // streams open at once
  uint32_t initial_window = 64 << 10;     // our receive window per stream (SETTINGS)
  // Receive side against peers that ignore windows (Go's spdystream, i.e.
  // kubectl, crictl, kubelet, neither sends nor honours WINDOW_UPDATE):
  // data past the advertised window is accepted, but a stream whose data
  // the caller has not yet Consumed() would pass max_stream_buffer, or all
  // streams' together max_session_buffer, is reset with FLOW_CONTROL_ERROR
  // (RST_STREAM to the peer, kReset to the caller). A caller that stops
  // reading the connection while it holds unconsumed data (backpressure)
  // never meets either cap; each must be at least max_frame_payload.
  size_t max_stream_buffer = 4 << 20;
  size_t max_session_buffer = 16 << 20;
  // Our session-level receive window (SPDY/3.1 WINDOW_UPDATE on stream 0),
  // raised from the protocol's 64 KiB at start.
  uint32_t session_window = 1 << 20;
};

// Something the peer did, in the order its frames arrived.
// A FLAG_FIN always gives kFin, right after the event of the frame that
// carried it (whose `fin` is set too), so either may serve as end of input.
struct Event {
  enum class Type {
    kStreamOpened,  // SYN_STREAM: stream_id, headers; fin when it is half-closed already
    kReply,         // SYN_REPLY (client role): stream_id, headers
    kData,          // DATA: stream_id, data (empty only with fin); Consumed() it when used
    kFin,           // the peer half-closed stream_id (FLAG_FIN on any frame); after its data
    kReset,         // RST_STREAM: stream_id, status; the stream is gone. Also when the
                    // session reset a stream for the peer's fault (a frame on a half-closed
                    // stream, a buffer cap, ...): status says which
    kWindowOpened,  // WINDOW_UPDATE or SETTINGS: stream_id (0: every stream) may take more data from Send
    kGoAway,        // GOAWAY: the peer opens no more streams; stream_id is its last good one
  };
  Type type;
  uint32_t stream_id = 0;
  Headers headers;
  std::string data;
  RstStatus status = RstStatus::kProtocolError;
  bool fin = false;
};

class Session {
 public:
  enum class Role { kServer, kClient };
  // Queues the session's preface (SETTINGS with our window and stream
  // limit, a WINDOW_UPDATE raising the session window): the first
  // TakeOutput() returns it, so take it after the HTTP upgrade answer.
  explicit Session(Role role, Limits limits = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Parses bytes read from the connection; a partial frame is kept for the
  // next call. PINGs are answered and SETTINGS applied here. A violation by
  // the peer (bad version, oversized frame, corrupt header block, a stream
  // id reused or of the wrong parity, a malformed control frame, ...)
  // returns an error naming it; the session has then queued a GOAWAY
  // (write TakeOutput() and close) and ignores further input. A fault
  // confined to one stream (its header block's contents, data after its
  // FIN, data past Limits' buffer caps, a stream over max_streams) resets
  // that stream only; frames for streams that never existed get
  // RST_STREAM INVALID_STREAM, late frames for ended streams are dropped.
  absl::Status Feed(std::string_view bytes);

  // Events parsed since the last call, in order.
  std::vector<Event> TakeEvents();

  // Bytes to write to the connection, in order; empty when there are none.
  // Input can queue output (PING answers, resets): a caller that cannot
  // write stops reading, or a peer that never reads grows this without end.
  std::string TakeOutput();

  // Client role: opens a stream (odd ids, ascending) with SYN_STREAM.
  absl::StatusOr<uint32_t> OpenStream(const Headers& headers, bool fin);

  // Server role: answers a stream the peer opened (SYN_REPLY). Must come
  // before Send on that stream: spdystream drops data that arrives before
  // the reply.
  absl::Status Reply(uint32_t stream_id, const Headers& headers, bool fin);

  // Queues as much of `data` as the peer's stream and session windows allow
  // and returns how many bytes that was (0 with a closed window: wait for
  // kWindowOpened). `fin` half-closes the stream, and is honoured only when
  // all of `data` was queued. An unknown, reset or locally closed stream is
  // an error, as is a peer's stream not yet replied to.
  // Windows bind only once the peer has shown it keeps them (a SETTINGS
  // INITIAL_WINDOW_SIZE or a WINDOW_UPDATE from it): spdystream sends
  // neither and never would reopen a window, so against it Send takes all.
  absl::StatusOr<size_t> Send(uint32_t stream_id, std::string_view data, bool fin);

  // The application has consumed `n` bytes of stream_id's data: reopen the
  // peer's windows (WINDOW_UPDATE) so it may send more. Until it does, a
  // peer that honours flow control sends at most `initial_window` bytes.
  void Consumed(uint32_t stream_id, size_t n);

  // RST_STREAM; the stream is forgotten. Idempotent.
  void Reset(uint32_t stream_id, RstStatus status);

  // GOAWAY (status OK); no more streams are accepted. Idempotent.
  void GoAway();

  // The stream exists and neither side reset it.
  bool IsOpen(uint32_t stream_id) const;
  // Streams open now (for the caller's own bounds).
  size_t OpenStreams() const;
  // Bytes of stream_id's kData events not yet Consumed() (0 when unknown).
  size_t Unconsumed(uint32_t stream_id) const;
  // Bytes of an incomplete frame Feed has kept for the next call (0 when
  // the input ended on a frame boundary): the caller's cue for a per-frame
  // deadline against a peer that starts a frame and never finishes it.
  size_t PartialFrame() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcr::streaming::spdy
