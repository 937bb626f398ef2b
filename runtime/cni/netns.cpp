#include "runtime/cni/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <thread>

#include "common/fd.h"

namespace kcr::runtime {

bool IsPinnedNetns(const std::string& path) {
  struct statfs sfs;
  return ::statfs(path.c_str(), &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

Status PinNewNetns(const std::string& path) {
  if (IsPinnedNetns(path)) return absl::AlreadyExistsError("network namespace " + path + " already exists");
  {
    UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!f && errno != EEXIST) return ErrnoError("create netns pin " + path);
  }
  Status result;
  // unshare(CLONE_NEWNET) moves only the calling thread; that thread pins the
  // namespace and then ends, so no other thread of kcrd ever runs in it.
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      result = ErrnoError("unshare(CLONE_NEWNET)");
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0)
      result = ErrnoError("bind-mount netns on " + path);
  });
  t.join();
  if (!result.ok()) ::unlink(path.c_str());
  return result;
}

Status UnpinNetns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return ErrnoError("unmount netns " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove netns pin " + path);
  return absl::OkStatus();
}

}  // namespace kcr::runtime
