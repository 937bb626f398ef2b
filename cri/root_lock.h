#pragma once
// RootLock: an exclusive flock on <root>/kcr.lock for the daemon's lifetime,
// so a second kcrd on the same root refuses to start instead of corrupting
// the store. The kernel drops the lock when the process dies (even kill -9).
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace kcr::cri {

class RootLock {
 public:
  // FailedPrecondition naming the holder's pid when another process holds it.
  static StatusOr<RootLock> Acquire(const std::string& lock_path);

 private:
  explicit RootLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace kcr::cri
