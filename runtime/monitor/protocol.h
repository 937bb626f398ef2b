#pragma once
// kcr-monitor's control protocol framing (PROTOCOL.md): each message is a
// 4-byte big-endian length followed by that many bytes of JSON (an object).
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"

namespace kcr::monitor {

inline constexpr int kProtocolVersion = 1;
inline constexpr uint32_t kMaxFrame = 16 << 20;
// exec_sync output travels in "chunk" frames of at most this many bytes
// (base64 in the JSON), ahead of the reply (PROTOCOL.md).
inline constexpr size_t kExecChunk = 1 << 20;

std::string Base64Encode(std::string_view in);
// InvalidArgument on a character or length base64 does not allow.
StatusOr<std::string> Base64Decode(std::string_view in);

// Strings that are not UTF-8 (a file name from an image, a message quoting
// one) are sent with U+FFFD in place of bad bytes, never refused.
std::string EncodeFrame(const nlohmann::json& msg);

// Accumulates bytes from a stream and yields complete messages. File
// descriptors that arrived with them (SCM_RIGHTS) queue up in order; a
// reply that carries some says how many in its "fds" list.
class FrameReader {
 public:
  void Append(const char* data, size_t n) { buf_.append(data, n); }
  void AddFd(int fd) { fds_.emplace_back(fd); }
  // The next `n` received descriptors; FailedPrecondition when fewer came.
  StatusOr<std::vector<UniqueFd>> TakeFds(size_t n);
  // A complete message if one is buffered; InvalidArgument on a bad frame
  // (oversized, not a JSON object) — the connection is then closed.
  StatusOr<bool> Next(nlohmann::json* out);

 private:
  std::string buf_;
  std::deque<UniqueFd> fds_;
};

// Blocking helpers for clients.
Status WriteFrame(int fd, const nlohmann::json& msg);
// Reads the next message from `fd`, buffering in `reader` whatever arrives
// beyond it (keep one reader per connection).
StatusOr<nlohmann::json> ReadFrame(int fd, FrameReader& reader);

}  // namespace kcr::monitor
