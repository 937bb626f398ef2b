#include "runtime/cni/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <thread>

#include "common/fd.h"

namespace kcr::runtime {

bool IsPinnedNetns(const std::string& path) {
  struct statfs sfs;
  return ::statfs(path.c_str(), &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

Status PinNewNetns(const std::string& path) {
  if (IsPinnedNetns(path)) return absl::AlreadyExistsError("network namespace " + path + " already exists");
  {
    UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!f && errno != EEXIST) return ErrnoError("create netns pin " + path);
  }
  Status result;
  // unshare(CLONE_NEWNET) moves only the calling thread; that thread pins the
  // namespace and then ends, so no other thread of kcrd ever runs in it.
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      result = ErrnoError("unshare(CLONE_NEWNET)");
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0)
      result = ErrnoError("bind-mount netns on " + path);
  });
  t.join();
  if (!result.ok()) ::unlink(path.c_str());
  return result;
}

Status UnpinNetns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return ErrnoError("unmount netns " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove netns pin " + path);
  return absl::OkStatus();
}

}  // namespace kcr::runtime

namespace kcr::runtime {

std::vector<InterfaceCounters> ParseNetDev(const std::string& text) {
  // Two header lines, then "  name: rx_bytes rx_packets rx_errs rx_drop fifo
  // frame compressed multicast tx_bytes tx_packets tx_errs tx_drop ...".
  std::vector<InterfaceCounters> out;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line_no++ < 2) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    InterfaceCounters c;
    size_t b = line.find_first_not_of(' ');
    c.name = line.substr(b, colon - b);
    if (c.name == "lo") continue;
    uint64_t v[16] = {};
    const char* p = line.c_str() + colon + 1;
    for (int i = 0; i < 16; i++) {
      char* e;
      v[i] = std::strtoull(p, &e, 10);
      if (e == p) break;
      p = e;
    }
    c.rx_bytes = v[0], c.rx_packets = v[1], c.rx_errors = v[2], c.rx_dropped = v[3];
    c.tx_bytes = v[8], c.tx_packets = v[9], c.tx_errors = v[10], c.tx_dropped = v[11];
    out.push_back(c);
  }
  return out;
}

StatusOr<std::vector<InterfaceCounters>> ReadNetCounters(const std::string& path) {
  UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return ErrnoError("network namespace " + path);
  std::string text;
  Status st;
  // Only this short-lived thread ever enters the pod's namespace.
  std::thread t([&] {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      st = ErrnoError("join network namespace " + path);
      return;
    }
    UniqueFd f(::open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC));
    if (!f) {
      st = ErrnoError("open /proc/thread-self/net/dev");
      return;
    }
    char buf[8192];
    ssize_t n;
    while ((n = ::read(f.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  });
  t.join();
  KCR_RETURN_IF_ERROR(st);
  return ParseNetDev(text);
}

}  // namespace kcr::runtime
