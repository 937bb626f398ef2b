#pragma once
// Path-safe mount helpers shared by the container init's mount steps
// (mounts.cpp, cgroup_mount.cpp). Internal to runtime/linux.
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace kcr::runtime::child {

// openat2 of `path` below the directory fd `root`, resolved as if `root`
// were "/" and never through a magic link; O_CLOEXEC is added.
int OpenInRoot(int root, const std::string& path, int flags);

// Creates `dest` inside the root (a directory, or a file when `file`),
// resolving every component inside it, and returns an O_PATH fd to it:
// mounting on /proc/self/fd/N cannot be redirected by a symlink swapped in
// later.
StatusOr<UniqueFd> MountTarget(int root, const std::string& dest, bool file);

// "/proc/self/fd/<fd>": how a mount call names an fd's file.
std::string FdPath(int fd);

// Gives the mount now on `dest` the per-mount flags among `flags`
// (read-only, nosuid, nodev, noexec) with a bind remount; none, nothing.
Status RemountWithFlags(int root, const std::string& dest, unsigned long flags);

}  // namespace kcr::runtime::child
