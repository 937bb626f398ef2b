#include "runtime/monitor/protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/json.h"
#include "common/unix_socket.h"

namespace kcr::monitor {

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) | static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(in[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return absl::InvalidArgumentError("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; j++) {
      char ch = in[i + j];
      const char* p = ch ? std::strchr(kB64, ch) : nullptr;
      if (ch == '=' && i + 4 == in.size() && j >= 2 && (j == 3 || in[i + 3] == '=')) {
        pad++;
        v <<= 6;
        continue;
      }
      if (!p || pad) return absl::InvalidArgumentError("invalid base64");
      v = (v << 6) | static_cast<uint32_t>(p - kB64);
    }
    out.push_back(static_cast<char>(v >> 16));
    if (pad < 2) out.push_back(static_cast<char>(v >> 8));
    if (pad < 1) out.push_back(static_cast<char>(v));
  }
  return out;
}

std::string EncodeFrame(const nlohmann::json& msg) {
  std::string body = msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out(4, '\0');
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + body;
}

StatusOr<bool> FrameReader::Next(nlohmann::json* out) {
  if (buf_.size() < 4) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data());
  uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  if (n > kMaxFrame) return absl::InvalidArgumentError("monitor frame of " + std::to_string(n) + " bytes is too large");
  if (buf_.size() < 4 + n) return false;
  *out = ParseJsonBounded(buf_.begin() + 4, buf_.begin() + 4 + n);
  buf_.erase(0, 4 + n);
  if (out->is_discarded() || !out->is_object())
    return absl::InvalidArgumentError("monitor frame is not a JSON object of at most " +
                                      std::to_string(kMaxJsonDepth) + " levels");
  return true;
}

StatusOr<std::vector<UniqueFd>> FrameReader::TakeFds(size_t n) {
  if (fds_.size() < n)
    return absl::FailedPreconditionError("monitor sent " + std::to_string(fds_.size()) + " file descriptors, not " +
                                         std::to_string(n));
  std::vector<UniqueFd> out;
  for (size_t i = 0; i < n; i++) {
    out.push_back(std::move(fds_.front()));
    fds_.pop_front();
  }
  return out;
}

Status WriteFrame(int fd, const nlohmann::json& msg) {
  std::string f = EncodeFrame(msg);
  size_t off = 0;
  while (off < f.size()) {
    ssize_t w = ::write(fd, f.data() + off, f.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoError("write to monitor");
    off += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

StatusOr<nlohmann::json> ReadFrame(int fd, FrameReader& r) {
  nlohmann::json msg;
  char buf[65536];
  for (;;) {
    KCR_ASSIGN_OR_RETURN(bool have, r.Next(&msg));
    if (have) return msg;
    std::vector<int> fds;
    auto got = RecvWithFds(fd, buf, sizeof buf, &fds);
    for (int f : fds) r.AddFd(f);
    if (!got.ok()) return Annotate(got.status(), "read from monitor");
    size_t n = *got;
    if (n == 0) return absl::UnavailableError("monitor closed the connection");
    r.Append(buf, static_cast<size_t>(n));
  }
}

}  // namespace kcr::monitor
