#pragma once
// Pinned network namespaces: a new netns kept alive by a bind mount of its
// nsfs inode on a file (<state>/netns/<pod-id>), so it outlives any process
// and can be handed to CNI plugins and the pod's monitor by path.
#include <cstdint>
#include <string>
#include <vector>

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

struct InterfaceCounters {
  std::string name;
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

// The interfaces of the namespace pinned at `path` and their counters
// (/proc/net/dev as seen from inside it), loopback excluded. Read on a
// short-lived thread that joins the namespace, like PinNewNetns.
StatusOr<std::vector<InterfaceCounters>> ReadNetCounters(const std::string& path);

// Parses /proc/net/dev text (exposed for tests).
std::vector<InterfaceCounters> ParseNetDev(const std::string& text);

}  // namespace kcr::runtime
