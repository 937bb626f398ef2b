#pragma once
// Safe layer extraction into a directory that becomes an overlayfs layer.
//
// Every path is resolved inside the layer root: entry paths are cleaned
// lexically (".." cannot climb above the root, a leading "/" is dropped) and
// opened with openat2(RESOLVE_IN_ROOT), so absolute or relative symlinks in
// parent directories resolve inside the root too (as containerd's
// fs.RootPath confines them). Hardlink targets resolve the same way and must
// exist in this layer. OCI whiteouts become overlayfs whiteouts: ".wh.<n>"
// a 0/0 character device <n>, ".wh..wh..opq" the trusted.overlay.opaque=y
// xattr on its directory. Layers may not carry trusted.overlay.* xattrs.
#include <string>

#include "common/status.h"
#include "images/unpack/tar_reader.h"

namespace kcr::images {

struct ExtractStats {
  int64_t entries = 0;
  int64_t bytes = 0;
};

// Extracts every entry of `tar` into the existing directory `root`.
// FailedPrecondition naming the entry for content kcr refuses; the caller
// adds the layer digest and discards `root` on any error.
StatusOr<ExtractStats> ExtractLayer(TarReader& tar, const std::string& root);

}  // namespace kcr::images
