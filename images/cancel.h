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
  // `on_bytes`, when set, is told of every blob byte this pull downloads
  // (cri/'s in-flight pull metrics), from download threads, concurrently:
  // it must be thread-safe and never block.
  Cancel(std::function<bool()> probe, std::function<void(size_t)> on_bytes)
      : probe_(std::move(probe)), on_bytes_(std::move(on_bytes)) {}
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

  // Progress of the pull this Cancel belongs to: `n` more blob bytes.
  void Downloaded(size_t n) const {
    if (on_bytes_) on_bytes_(n);
  }

 private:
  std::function<bool()> probe_;
  std::function<void(size_t)> on_bytes_;
  mutable std::mutex mu_;
  mutable std::atomic<bool> cancelled_{false};
};

}  // namespace kcr::images
