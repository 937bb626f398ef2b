#pragma once
// Unix sockets: addresses of any length (sun_path holds 107 bytes, state
// directories can be deeper than that allows, so a long path is reached
// through /proc/self/fd/<fd of its directory>/<name>), and passing file
// descriptors (SCM_RIGHTS).
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace kcr {

// bind(2) `fd` to `path`.
Status BindUnix(int fd, const std::string& path);
// connect(2) `fd` to `path`. Unavailable when nothing listens there.
Status ConnectUnix(int fd, const std::string& path);

// Sends all of `data` (not empty) on `sock`, with `fds` (at most 8)
// attached to its first byte. The descriptors stay open here.
Status SendWithFds(int sock, std::string_view data, const std::vector<int>& fds);
// One sendmsg(2) of `data` (not empty) with `flags` (MSG_NOSIGNAL is always
// added), `fds` (at most 8) attached to its first byte: the bytes sent.
// EAGAIN and other failures are errors carrying errno.
StatusOr<size_t> SendSomeWithFds(int sock, std::string_view data, const std::vector<int>& fds, int flags);
// One recvmsg(2) into `buf`: the bytes read (0 at end of stream);
// descriptors that came with them are appended to `fds` (close-on-exec).
StatusOr<size_t> RecvWithFds(int sock, char* buf, size_t len, std::vector<int>* fds);

}  // namespace kcr
