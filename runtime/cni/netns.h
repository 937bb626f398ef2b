#pragma once
// Pinned network namespaces: a new netns kept alive by a bind mount of its
// nsfs inode on a file (<state>/netns/<pod-id>), so it outlives any process
// and can be handed to CNI plugins and the pod's monitor by path.
#include <string>

#include "common/status.h"

namespace kcr::runtime {

// Creates a new network namespace pinned at `path` (the parent directory
// must exist). AlreadyExists if `path` is already a pinned namespace.
// Safe to call from a multithreaded process: the unshare happens on a
// short-lived thread of its own.
Status PinNewNetns(const std::string& path);

// Unmounts and removes the pin. OK if `path` does not exist (idempotent).
// The namespace itself dies with its last user.
Status UnpinNetns(const std::string& path);

// True if `path` is a mounted nsfs network namespace.
bool IsPinnedNetns(const std::string& path);

}  // namespace kcr::runtime
