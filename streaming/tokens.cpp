#include "streaming/tokens.h"

#include <openssl/sha.h>
#include <sys/random.h>

#include <cerrno>

namespace kcr::streaming {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

TokenStore::TokenStore(std::chrono::milliseconds ttl, size_t max_pending, std::function<Clock::time_point()> now)
    : ttl_(ttl), max_pending_(max_pending), now_(std::move(now)) {}

std::string TokenStore::Key(std::string_view token) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d);
  return std::string(reinterpret_cast<const char*>(d), sizeof d);
}

bool TokenStore::WellFormed(std::string_view token) {
  if (token.size() != kTokenLength) return false;
  for (char c : token)
    if (std::string_view(kAlphabet).find(c) == std::string_view::npos) return false;
  return true;
}

StatusOr<std::string> TokenStore::Insert(Request r) {
  // 18 random bytes: 144 bits, exactly 24 base64url characters.
  unsigned char raw[18];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = ::getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("getrandom for a streaming token");
    got += static_cast<size_t>(n);
  }
  std::string token;
  for (size_t i = 0; i < sizeof raw; i += 3) {
    uint32_t v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];
    for (int s = 18; s >= 0; s -= 6) token.push_back(kAlphabet[(v >> s) & 63]);
  }
  Clock::time_point now = now_();
  std::lock_guard<std::mutex> l(mu_);
  DropExpiredLocked(now);
  while (tokens_.size() >= max_pending_) {
    auto oldest = tokens_.begin();
    for (auto it = tokens_.begin(); it != tokens_.end(); ++it)
      if (it->second.expires < oldest->second.expires) oldest = it;
    tokens_.erase(oldest);
  }
  tokens_[Key(token)] = Entry{std::move(r), now + ttl_};
  return token;
}

StatusOr<Request> TokenStore::Take(std::string_view token) {
  if (!WellFormed(token)) return absl::InvalidArgumentError("malformed streaming token");
  Clock::time_point now = now_();
  std::lock_guard<std::mutex> l(mu_);
  auto it = tokens_.find(Key(token));
  if (it == tokens_.end()) return absl::NotFoundError("unknown or already used streaming token");
  Entry e = std::move(it->second);
  tokens_.erase(it);
  if (now >= e.expires) return absl::NotFoundError("expired streaming token");
  return std::move(e.request);
}

void TokenStore::DropExpiredLocked(Clock::time_point now) {
  for (auto it = tokens_.begin(); it != tokens_.end();)
    it = now >= it->second.expires ? tokens_.erase(it) : std::next(it);
}

}  // namespace kcr::streaming
