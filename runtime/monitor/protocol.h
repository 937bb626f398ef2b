#pragma once
// kcr-monitor's control protocol framing (PROTOCOL.md): each message is a
// 4-byte big-endian length followed by that many bytes of JSON (an object).
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kcr::monitor {

inline constexpr int kProtocolVersion = 1;
inline constexpr uint32_t kMaxFrame = 16 << 20;

std::string EncodeFrame(const nlohmann::json& msg);

// Accumulates bytes from a stream and yields complete messages.
class FrameReader {
 public:
  void Append(const char* data, size_t n) { buf_.append(data, n); }
  // A complete message if one is buffered; InvalidArgument on a bad frame
  // (oversized, not a JSON object) — the connection is then closed.
  StatusOr<bool> Next(nlohmann::json* out);

 private:
  std::string buf_;
};

// Blocking helpers for clients.
Status WriteFrame(int fd, const nlohmann::json& msg);
// Reads the next message from `fd`, buffering in `reader` whatever arrives
// beyond it (keep one reader per connection).
StatusOr<nlohmann::json> ReadFrame(int fd, FrameReader& reader);

}  // namespace kcr::monitor
