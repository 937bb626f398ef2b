#pragma once
// Unix socket addresses of any length: sun_path holds 107 bytes, state
// directories can be deeper than that allows, so a long path is reached
// through /proc/self/fd/<fd of its directory>/<name>.
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace kcr {

// bind(2) `fd` to `path`.
Status BindUnix(int fd, const std::string& path);
// connect(2) `fd` to `path`. Unavailable when nothing listens there.
Status ConnectUnix(int fd, const std::string& path);

}  // namespace kcr
