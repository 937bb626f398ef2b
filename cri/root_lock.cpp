#include "cri/root_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/fs.h"

namespace kcr::cri {

StatusOr<RootLock> RootLock::Acquire(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError("open lock file " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoError("lock " + path);
    std::string holder = "unknown";
    if (auto pid = fs::ReadFile(path, 64); pid.ok() && !pid->empty()) holder = *pid;
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return absl::FailedPreconditionError("another kcrd (pid " + holder + ") is already using this root (" +
                                         path + " is locked)");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
    return ErrnoError("write lock file " + path);
  return RootLock(std::move(fd));
}

}  // namespace kcr::cri
