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

StatusOr<size_t> SendSomeWithFds(int sock, std::string_view data, const std::vector<int>& fds, int flags) {
  if (data.empty()) return absl::InvalidArgumentError("descriptors need at least one byte of data");
  if (fds.size() > 8) return absl::InvalidArgumentError("at most 8 descriptors per message");
  alignas(cmsghdr) char ctl[CMSG_SPACE(8 * sizeof(int))] = {};
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (!fds.empty()) {
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t w;
  do w = ::sendmsg(sock, &m, MSG_NOSIGNAL | flags);
  while (w < 0 && errno == EINTR);
  if (w < 0) return ErrnoError("sendmsg");
  return static_cast<size_t>(w);
}

Status SendWithFds(int sock, std::string_view data, const std::vector<int>& fds) {
  KCR_ASSIGN_OR_RETURN(size_t off, SendSomeWithFds(sock, data, fds, 0));
  // The descriptors went with the first byte; the rest is plain data.
  while (off < data.size()) {
    KCR_ASSIGN_OR_RETURN(size_t n, SendSomeWithFds(sock, data.substr(off), {}, 0));
    off += n;
  }
  return absl::OkStatus();
}

StatusOr<size_t> RecvWithFds(int sock, char* buf, size_t len, std::vector<int>* fds) {
  alignas(cmsghdr) char ctl[CMSG_SPACE(8 * sizeof(int))];
  iovec iov{buf, len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  ssize_t n;
  do n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError("recvmsg");
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
        fds->push_back(got);
      }
    }
  return static_cast<size_t>(n);
}

}  // namespace kcr
