#pragma once
// Small filesystem helpers with durable semantics.
#include <string>
#include <string_view>

#include "common/status.h"

namespace kcr::fs {

// Writes `data` to `path` atomically: a temp file in the same directory,
// fsync, rename over `path`, fsync of the directory. Readers see either the
// old content or the new, never a torn file. Creates no parent directories.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);

// Reads a whole file. NotFound if it does not exist.
StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);

// mkdir -p with `mode` for created directories. OK if it exists as a directory.
Status MkdirAll(const std::string& path, int mode = 0755);

// rm -rf that does not cross mount points and succeeds if `path` is missing.
Status RemoveAll(const std::string& path);

// A new private directory /tmp/<prefix>.XXXXXX (mkdtemp); empty on failure.
std::string MakeTempDir(const std::string& prefix);

// fsync of a directory (after a rename or unlink in it).
Status SyncDir(const std::string& path);

// Bytes and inodes used below `path` (not following symlinks, one filesystem).
struct DiskUsage {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};
DiskUsage Usage(const std::string& path);

}  // namespace kcr::fs
