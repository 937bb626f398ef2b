#pragma once
// Cancel: whether the caller of a long operation (a pull) still wants its
// result. cri/ makes one from the gRPC call (its client cancelled, or its
// deadline passed); images/ checks it while downloading and unpacking and
// in every wait on another pull's work, and stops with Cancelled.
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <string>

#include "common/status.h"

namespace kcr::images {

class Cancel {
 public:
  Cancel() = default;  // never cancelled
  // `probe` answers whether the caller gave up. It is called under a lock
  // (gRPC's ServerContext::IsCancelled must not run concurrently), from any
  // thread; once it said yes it is not called again.
  explicit Cancel(std::function<bool()> probe) : probe_(std::move(probe)) {}
  Cancel(const Cancel&) = delete;
  Cancel& operator=(const Cancel&) = delete;

  bool cancelled() const {
    if (cancelled_.load(std::memory_order_acquire)) return true;
    if (!probe_) return false;
    std::lock_guard<std::mutex> l(mu_);
    if (!cancelled_ && probe_()) cancelled_ = true;
    return cancelled_;
  }

  // Cancelled naming `what` when the caller gave up, else OK.
  Status Check(const std::string& what) const {
    if (cancelled()) return absl::CancelledError(what + ": cancelled by the caller");
    return absl::OkStatus();
  }

  // Waits until `fut` is ready or the caller gives up (false). The probe is
  // asked every kPoll: gRPC's synchronous API has no cancellation callback.
  template <typename T>
  bool Wait(const std::shared_future<T>& fut) const {
    while (fut.wait_for(kPoll) != std::future_status::ready)
      if (cancelled()) return false;
    return true;
  }

  static constexpr std::chrono::milliseconds kPoll{100};

 private:
  std::function<bool()> probe_;
  mutable std::mutex mu_;
  mutable std::atomic<bool> cancelled_{false};
};

}  // namespace kcr::images
