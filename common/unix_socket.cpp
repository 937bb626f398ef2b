#include "common/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace kcr {

namespace {
// Fills `addr` for `path`, opening `dir` when the path is too long.
Status Address(const std::string& path, sockaddr_un* addr, UniqueFd* dir) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  std::string p = path;
  if (p.size() >= sizeof addr->sun_path) {
    auto slash = p.rfind('/');
    if (slash == std::string::npos) return absl::InvalidArgumentError("socket path " + path + " is too long");
    dir->reset(::open(p.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!*dir) return ErrnoError("open socket directory of " + path);
    p = "/proc/self/fd/" + std::to_string(dir->get()) + p.substr(slash);
    if (p.size() >= sizeof addr->sun_path) return absl::InvalidArgumentError("socket name of " + path + " is too long");
  }
  std::memcpy(addr->sun_path, p.c_str(), p.size());
  return absl::OkStatus();
}
}  // namespace

Status BindUnix(int fd, const std::string& path) {
  sockaddr_un addr;
  UniqueFd dir;
  KCR_RETURN_IF_ERROR(Address(path, &addr, &dir));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return ErrnoError("bind " + path);
  return absl::OkStatus();
}

Status ConnectUnix(int fd, const std::string& path) {
  sockaddr_un addr;
  UniqueFd dir;
  KCR_RETURN_IF_ERROR(Address(path, &addr, &dir));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return absl::UnavailableError("connect " + path + ": " + std::strerror(errno));
  return absl::OkStatus();
}

}  // namespace kcr
