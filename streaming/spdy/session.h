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
};

// Something the peer did, in the order its frames arrived.
struct Event {
  enum class Type {
    kStreamOpened,  // SYN_STREAM: stream_id, headers; fin when it is half-closed already
    kReply,         // SYN_REPLY (client role): stream_id, headers
    kData,          // DATA: stream_id, data (possibly empty with fin)
    kFin,           // the peer half-closed stream_id (FLAG_FIN on any frame); after its data
    kReset,         // RST_STREAM: stream_id, status; the stream is gone
    kWindowOpened,  // WINDOW_UPDATE: stream_id (0: the session) may take more data from Send
    kGoAway,        // GOAWAY: the peer opens no more streams
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
  explicit Session(Role role, Limits limits = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Parses bytes read from the connection; a partial frame is kept for the
  // next call. PINGs are answered and SETTINGS applied here. A violation by
  // the peer (bad version, oversized frame, corrupt header block, a stream
  // id reused or of the wrong parity, data past the window we advertised,
  // ...) returns an error naming it; the session has then queued a GOAWAY
  // (write TakeOutput() and close) and ignores further input.
  absl::Status Feed(std::string_view bytes);

  // Events parsed since the last call, in order.
  std::vector<Event> TakeEvents();

  // Bytes to write to the connection, in order; empty when there are none.
  std::string TakeOutput();

  // Client role: opens a stream (odd ids, ascending) with SYN_STREAM.
  absl::StatusOr<uint32_t> OpenStream(const Headers& headers, bool fin);

  // Server role: answers a stream the peer opened (SYN_REPLY).
  absl::Status Reply(uint32_t stream_id, const Headers& headers, bool fin);

  // Queues as much of `data` as the peer's stream and session windows allow
  // and returns how many bytes that was (0 with a closed window: wait for
  // kWindowOpened). `fin` half-closes the stream, and is honoured only when
  // all of `data` was queued. An unknown, reset or locally closed stream is
  // an error.
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

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcr::streaming::spdy
