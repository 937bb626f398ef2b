#include "runtime/monitor/protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/json.h"
#include "common/unix_socket.h"

namespace kcr::monitor {

std::string EncodeFrame(const nlohmann::json& msg) {
  std::string body = msg.dump();
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

Status WriteFrameWithFds(int sock, const nlohmann::json& msg, const std::vector<int>& fds) {
  return SendWithFds(sock, EncodeFrame(msg), fds);
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
