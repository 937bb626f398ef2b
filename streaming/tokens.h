#pragma once
// One-time tokens for streaming URLs (/exec/<token>, ...): random, used at
// most once, and valid for a limited time, as kubelet's request cache.
// Thread-safe: cri/ inserts from gRPC threads, the server takes from its
// event loop.
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "streaming/requests.h"

namespace kcr::streaming {

class TokenStore {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is for tests; `max_pending` bounds what unused tokens may cost
  // (the oldest is dropped to make room).
  explicit TokenStore(std::chrono::milliseconds ttl, size_t max_pending = 4096,
                      std::function<Clock::time_point()> now = Clock::now);

  // A fresh token (24 characters of base64url from getrandom) for `r`.
  StatusOr<std::string> Insert(Request r);

  // The request of `token`, which is consumed. InvalidArgument when the
  // token cannot be one of ours (wrong length or characters: HTTP 400);
  // NotFound when it is unknown, already used or expired (HTTP 404).
  StatusOr<Request> Take(std::string_view token);

  static bool WellFormed(std::string_view token);
  static constexpr size_t kTokenLength = 24;

 private:
  void DropExpiredLocked(Clock::time_point now);
  struct Entry {
    Request request;
    Clock::time_point expires;
  };
  std::chrono::milliseconds ttl_;
  size_t max_pending_;
  std::function<Clock::time_point()> now_;
  // The map's key: SHA-256 of the token. The lookup compares keys byte by
  // byte and stops at the first difference, so its time tells how much of
  // the key a guess got right: of a hash, which says nothing about the
  // token (a token as the key would leak it prefix by prefix).
  static std::string Key(std::string_view token);
  std::mutex mu_;
  std::map<std::string, Entry> tokens_;  // by Key()
};

}  // namespace kcr::streaming
