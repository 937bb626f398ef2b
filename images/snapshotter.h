#pragma once
// Snapshotter: overlayfs snapshots of image layers, keyed by chain ID so a
// layer shared by several images is stored once, plus writable ("active")
// snapshots for container root filesystems.
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/status.h"

namespace kcr::images {

// One mount(2) to perform: mount -t <type> <source> <target> -o <options>.
struct Mount {
  std::string type;     // "overlay" or "bind"
  std::string source;
  std::vector<std::string> options;  // e.g. "lowerdir=a:b", "upperdir=..", "workdir=..", "ro"
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // Creates the writable snapshot `key` on top of the committed layer chain
  // whose top is `parent_chain_id` (empty: an empty rootfs) and returns the
  // mounts that make the container's rootfs. AlreadyExists if `key` exists;
  // NotFound if the parent chain is not stored.
  virtual StatusOr<std::vector<Mount>> Prepare(const std::string& key,
                                               const std::string& parent_chain_id) = 0;

  // The mounts of an existing writable snapshot. NotFound if missing.
  virtual StatusOr<std::vector<Mount>> Mounts(const std::string& key) = 0;

  // Removes a writable snapshot and its upper/work dirs. Idempotent. The
  // caller has unmounted it.
  virtual Status Remove(const std::string& key) = 0;

  // Bytes and inodes of a writable snapshot's upper dir (container writable
  // layer stats). NotFound if missing.
  virtual StatusOr<fs::DiskUsage> Usage(const std::string& key) = 0;
};

}  // namespace kcr::images
