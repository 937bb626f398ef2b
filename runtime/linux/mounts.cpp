// The container's filesystem view, built inside its new mount namespace.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>

#include "common/fd.h"
#include "common/fs.h"
#include "common/paths.h"
#include "runtime/linux/cgroup_mount.h"
#include "runtime/linux/child.h"
#include "runtime/linux/mount_util.h"
#include "runtime/linux/userns.h"

namespace kcr::runtime::child {

int OpenInRoot(int root, const std::string& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  return static_cast<int>(::syscall(SYS_openat2, root, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

StatusOr<UniqueFd> MountTarget(int root, const std::string& dest, bool file) {
  std::string rel;
  size_t start = 0;
  while (start < dest.size()) {
    size_t end = dest.find('/', start);
    if (end == std::string::npos) end = dest.size();
    std::string comp = dest.substr(start, end - start);
    start = end + 1;
    if (comp.empty() || comp == ".") continue;
    bool last = end >= dest.size();
    UniqueFd cur(OpenInRoot(root, rel + comp, O_PATH));
    if (!cur) {
      UniqueFd parent(OpenInRoot(root, rel, O_PATH | O_DIRECTORY));
      if (!parent) return ErrnoError("mount target " + dest);
      if (last && file) {
        UniqueFd f(::openat(parent.get(), comp.c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!f && errno != EEXIST) return ErrnoError("create mount target " + dest);
      } else if (::mkdirat(parent.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("create mount target " + dest);
      }
    }
    rel += comp + "/";
  }
  UniqueFd fd(OpenInRoot(root, dest, O_PATH));
  if (!fd) return ErrnoError("open mount target " + dest);
  return fd;
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Status RemountWithFlags(int root, const std::string& dest, unsigned long flags) {
  unsigned long per_mount = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  if (!per_mount) return absl::OkStatus();
  UniqueFd again(OpenInRoot(root, dest, O_PATH));
  if (::mount(nullptr, FdPath(again.get()).c_str(), nullptr, MS_BIND | MS_REMOUNT | per_mount, nullptr) != 0)
    return ErrnoError("remount " + dest + " with its options");
  return absl::OkStatus();
}

namespace {

struct Flags {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::string data;
  std::string subpath;  // kcr.subpath=: show this directory of the mount instead of its root
  bool bind = false, recursive = false, ro = false, rro = false;
  bool idmap = false;  // OCI 1.2 "idmap"/"ridmap": through the container's user namespace
};

Flags ParseOptions(const std::vector<std::string>& opts) {
  static const std::map<std::string, std::pair<bool, unsigned long>> kFlags = {
      {"ro", {true, MS_RDONLY}},       {"rw", {false, MS_RDONLY}},        {"nosuid", {true, MS_NOSUID}},
      {"suid", {false, MS_NOSUID}},    {"nodev", {true, MS_NODEV}},       {"dev", {false, MS_NODEV}},
      {"noexec", {true, MS_NOEXEC}},   {"exec", {false, MS_NOEXEC}},      {"sync", {true, MS_SYNCHRONOUS}},
      {"noatime", {true, MS_NOATIME}}, {"nodiratime", {true, MS_NODIRATIME}}, {"relatime", {true, MS_RELATIME}},
      {"strictatime", {true, MS_STRICTATIME}}};
  static const std::map<std::string, unsigned long> kProp = {
      {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC}, {"slave", MS_SLAVE},
      {"rslave", MS_SLAVE | MS_REC}, {"shared", MS_SHARED}, {"rshared", MS_SHARED | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
  Flags f;
  for (const auto& o : opts) {
    if (o == "bind") {
      f.bind = true;
    } else if (o == "rbind") {
      f.bind = f.recursive = true;
    } else if (auto it = kFlags.find(o); it != kFlags.end()) {
      if (it->second.first) f.flags |= it->second.second;
      else f.flags &= ~it->second.second;
    } else if (auto p = kProp.find(o); p != kProp.end()) {
      f.propagation = p->second;
    } else if (o == "idmap" || o == "ridmap") {
      f.idmap = true;
      if (o == "ridmap") f.recursive = true;
    } else if (o == "rro") {  // OCI runtime-spec 1.1: recursively read-only
      f.rro = true;
    } else if (o.rfind("kcr.subpath=", 0) == 0) {
      f.subpath = o.substr(12);
    } else {
      f.data += (f.data.empty() ? "" : ",") + o;
    }
  }
  f.ro = f.flags & MS_RDONLY;
  return f;
}

Status DoMount(int root, const oci::Mount& m, const oci::Spec& spec, int userns_fd) {
  Flags f = ParseOptions(m.options);
  if (f.idmap && userns_fd < 0)
    return absl::InvalidArgumentError("mount " + m.destination + ": idmap needs a user namespace");
  if (m.type == "cgroup" || m.type == "cgroup2") return MountCgroups(root, m.destination, f.ro, spec);
  bool bind = f.bind || m.type == "bind";
  bool src_is_file = false;
  if (bind) {
    struct stat st;
    if (::stat(m.source.c_str(), &st) != 0) return ErrnoError("bind mount source " + m.source + " of " + m.destination);
    src_is_file = !S_ISDIR(st.st_mode);
  }
  KCR_ASSIGN_OR_RETURN(UniqueFd target, MountTarget(root, m.destination, src_is_file));
  std::string tpath = FdPath(target.get());
  if (bind) {
    unsigned long fl = MS_BIND | (f.recursive ? MS_REC : 0);
    if (f.idmap) {
      KCR_RETURN_IF_ERROR(
          Annotate(MountIdmapped(m.source, target.get(), userns_fd, f.recursive), "mount " + m.destination));
    } else if (::mount(m.source.c_str(), tpath.c_str(), nullptr, fl, nullptr) != 0) {
      return ErrnoError("bind mount " + m.source + " on " + m.destination);
    }
    // Flags other than MS_BIND need a remount of the new bind mount.
    KCR_RETURN_IF_ERROR(RemountWithFlags(root, m.destination, f.flags));
  } else {
    // A filesystem's superblock may be shared (sysfs per network namespace,
    // proc per PID namespace, mqueue per IPC namespace: every container of a
    // pod mounts the same one), and MS_RDONLY on a new mount makes the
    // superblock read-only for all of them. Read-only is therefore set on
    // this mount alone, by a bind remount, and a privileged container of the
    // same pod still gets a writable /sys.
    bool ro = f.flags & MS_RDONLY;
    std::vector<UniqueFd> layers;  // an idmapped overlay's layer copies, until it is mounted
    if (f.idmap && m.type == "overlay") {
      auto data = IdmapOverlayData(f.data, userns_fd, &layers);
      if (!data.ok()) return Annotate(data.status(), "mount " + m.destination);
      f.data = *data;
    } else if (f.idmap) {
      return absl::InvalidArgumentError("mount " + m.destination + ": idmap of a " + m.type + " mount is not supported");
    }
    if (::mount(m.source.c_str(), tpath.c_str(), m.type.c_str(), f.flags & ~static_cast<unsigned long>(MS_RDONLY),
                f.data.empty() ? nullptr : f.data.c_str()) != 0) {
      // sysfs in a container without its own network namespace is refused:
      // bind the host's instead, as runc does (read-only all the way down
      // when asked: the host's /sys has submounts).
      if (m.type == "sysfs" && (errno == EPERM || errno == EBUSY)) {
        if (::mount("/sys", tpath.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return ErrnoError("bind /sys");
        if (ro) f.rro = true;
      } else {
        return ErrnoError("mount " + m.type + " on " + m.destination);
      }
    }
    if (ro) KCR_RETURN_IF_ERROR(RemountWithFlags(root, m.destination, f.flags));
  }
  if (f.rro) {
    // Read-only all the way down (submounts included): mount_setattr(2).
    struct {
      uint64_t attr_set, attr_clr, propagation, userns_fd;
    } attr = {0x1 /* MOUNT_ATTR_RDONLY */, 0, 0, 0};
    constexpr unsigned kAtRecursive = 0x8000;
    UniqueFd again(OpenInRoot(root, m.destination, O_PATH));
    if (::syscall(SYS_mount_setattr, again.get(), "", AT_EMPTY_PATH | kAtRecursive, &attr, sizeof attr) != 0)
      return ErrnoError("make " + m.destination + " recursively read-only");
  }
  if (!f.subpath.empty()) {
    // A directory of what was just mounted, resolved inside it, stacked on
    // the mount point; the flags (read-only, nosuid, nodev) apply to it too.
    UniqueFd top(OpenInRoot(root, m.destination, O_PATH | O_DIRECTORY));
    if (!top) return ErrnoError("open " + m.destination);
    UniqueFd sub(OpenInRoot(top.get(), f.subpath, O_PATH | O_DIRECTORY));
    if (!sub) return ErrnoError("sub path " + f.subpath + " of " + m.destination);
    if (::mount(FdPath(sub.get()).c_str(), FdPath(top.get()).c_str(), nullptr, MS_BIND, nullptr) != 0)
      return ErrnoError("mount sub path " + f.subpath + " on " + m.destination);
    KCR_RETURN_IF_ERROR(RemountWithFlags(root, m.destination, f.flags));
  }
  if (f.propagation) {
    UniqueFd again(OpenInRoot(root, m.destination, O_PATH));
    if (::mount(nullptr, FdPath(again.get()).c_str(), nullptr, f.propagation, nullptr) != 0)
      return ErrnoError("set propagation of " + m.destination);
  }
  return absl::OkStatus();
}

Status SetupDev(int root) {
  struct Dev {
    const char* name;
    unsigned maj, min;
  };
  static const Dev kDevs[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
                              {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  UniqueFd dev(OpenInRoot(root, "/dev", O_PATH | O_DIRECTORY));
  if (!dev) return ErrnoError("open /dev in rootfs");
  for (const auto& d : kDevs) {
    ::unlinkat(dev.get(), d.name, 0);
    if (::mknodat(dev.get(), d.name, S_IFCHR | 0666, makedev(d.maj, d.min)) != 0) {
      // Without mknod (e.g. a user namespace), bind the host's node.
      UniqueFd f(::openat(dev.get(), d.name, O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
      std::string host = std::string("/dev/") + d.name;
      if (!f || ::mount(host.c_str(), FdPath(f.get()).c_str(), nullptr, MS_BIND, nullptr) != 0)
        return ErrnoError("create /dev/" + std::string(d.name));
    } else {
      ::fchmodat(dev.get(), d.name, 0666, 0);  // umask-proof
    }
  }
  for (auto [name, target] : {std::pair{"fd", "/proc/self/fd"}, std::pair{"stdin", "/proc/self/fd/0"},
                              std::pair{"stdout", "/proc/self/fd/1"}, std::pair{"stderr", "/proc/self/fd/2"},
                              std::pair{"ptmx", "pts/ptmx"}, std::pair{"core", "/proc/kcore"}}) {
    ::unlinkat(dev.get(), name, 0);
    if (::symlinkat(target, dev.get(), name) != 0 && errno != EEXIST) return ErrnoError(std::string("/dev/") + name);
  }
  return absl::OkStatus();
}

// Creates linux.devices[] nodes inside the rootfs (`root`), parents
// included, never following a symlink out of it.
Status CreateDevices(int root, const std::vector<oci::Device>& devices) {
  for (const auto& d : devices) {
    size_t slash = d.path.rfind('/');
    std::string parent = d.path.substr(0, slash), name = d.path.substr(slash + 1);
    UniqueFd dir(::dup(root));
    for (size_t s = 1, e; s < parent.size(); s = e + 1) {
      e = parent.find('/', s);
      if (e == std::string::npos) e = parent.size();
      std::string part = parent.substr(s, e - s);
      if (part.empty() || part == ".") continue;
      if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        return ErrnoError("linux.devices " + d.path + ": mkdir " + part);
      UniqueFd next(::openat(dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) return ErrnoError("linux.devices " + d.path + ": open " + part);
      dir = std::move(next);
    }
    mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
    mode_t perm = d.file_mode.value_or(0666) & 07777;
    ::unlinkat(dir.get(), name.c_str(), 0);
    if (::mknodat(dir.get(), name.c_str(), type | perm,
                  makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor))) != 0) {
      // Without mknod (a user namespace), bind the host's node of that path.
      UniqueFd f(::openat(dir.get(), name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
      if (!f || ::mount(d.path.c_str(), FdPath(f.get()).c_str(), nullptr, MS_BIND, nullptr) != 0)
        return ErrnoError("linux.devices " + d.path);
      continue;
    }
    ::fchmodat(dir.get(), name.c_str(), perm, 0);  // umask-proof
    if (::fchownat(dir.get(), name.c_str(), d.uid.value_or(0), d.gid.value_or(0), AT_SYMLINK_NOFOLLOW) != 0)
      return ErrnoError("linux.devices " + d.path + ": chown");
  }
  return absl::OkStatus();
}

Status Mask(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return absl::OkStatus();  // nothing to mask
  if (S_ISDIR(st.st_mode)) {
    if (::mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY, "size=0") != 0) return ErrnoError("mask " + path);
  } else if (::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError("mask " + path);
  }
  return absl::OkStatus();
}

Status ReadOnly(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return ErrnoError("bind " + path + " read-only");
  if (::mount(nullptr, path.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, nullptr) != 0)
    return ErrnoError("remount " + path + " read-only");
  return absl::OkStatus();
}

// The mount point under which `path` lies (longest matching mount point
// in this mount namespace), and whether it is shared.
std::pair<std::string, bool> ParentMount(const std::string& path) {
  std::string best = "/";
  bool shared = false;
  auto info = fs::ReadFile("/proc/self/mountinfo", 16 << 20);
  if (!info.ok()) return {best, shared};
  size_t pos = 0;
  while (pos < info->size()) {
    size_t end = info->find('\n', pos);
    if (end == std::string::npos) end = info->size();
    std::string line = info->substr(pos, end - pos);
    pos = end + 1;
    // id parent major:minor root mount-point options optional-fields... - ...
    size_t p = 0;
    for (int i = 0; i < 4 && p != std::string::npos; i++) p = line.find(' ', p + 1);
    if (p == std::string::npos) continue;
    size_t q = line.find(' ', p + 1);
    std::string mp = line.substr(p + 1, q - p - 1);
    bool under = mp == "/" || path == mp || (path.size() > mp.size() && path.compare(0, mp.size(), mp) == 0 &&
                                              path[mp.size()] == '/');
    if (!under || mp.size() < best.size()) continue;
    size_t dash = line.find(" - ", q);
    best = mp;
    shared = line.substr(q, dash - q).find(" shared:") != std::string::npos;
  }
  return {best, shared};
}

}  // namespace

Status SetupRootfs(const oci::Spec& spec, const CreateOptions& opts, int userns_fd,
                   const std::function<Status()>& before_pivot) {
  // Nothing we mount may propagate back to the host.
  unsigned long prop = MS_SLAVE | MS_REC;
  if (spec.linux.rootfs_propagation == "rprivate" || spec.linux.rootfs_propagation == "private") prop = MS_PRIVATE | MS_REC;
  if (spec.linux.rootfs_propagation == "rshared" || spec.linux.rootfs_propagation == "shared") prop = MS_SHARED | MS_REC;
  // rootfsPropagation applies to the whole new mount namespace first, as
  // runc does: rslave by default (host mounts reach the container, nothing
  // goes back); rshared keeps peer groups so bidirectional mounts work.
  if (::mount(nullptr, "/", nullptr, prop, nullptr) != 0) return ErrnoError("linux.rootfsPropagation");
  const std::string& root = spec.root_path;
  // The rootfs must not be mounted into a shared peer group (with rshared,
  // or a host whose / is shared): the host would see it, and pivot_root
  // refuses a shared parent. Its parent mount becomes private, as runc does.
  if (auto [parent, shared] = ParentMount(root); shared)
    if (::mount(nullptr, parent.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
      return ErrnoError("make the rootfs parent mount " + parent + " private");
  // In a user namespace every file the set-up creates (mount points, /dev,
  // the overlay's work and upper files) is the container root's.
  if (userns_fd >= 0) KCR_RETURN_IF_ERROR(ActAsContainerRoot(spec));
  for (const auto& m : opts.rootfs) {
    Flags f = ParseOptions(m.options);
    bool bind = m.type == "bind" || f.bind;
    unsigned long fl = f.flags | (bind ? MS_BIND | (f.recursive ? MS_REC : 0) : 0);
    if (userns_fd >= 0 && bind) {
      // The image's files, idmapped: root on disk is the container's root.
      UniqueFd target(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!target) return ErrnoError("root.path " + root);
      KCR_RETURN_IF_ERROR(Annotate(MountIdmapped(m.source, target.get(), userns_fd, f.recursive), "rootfs"));
      continue;
    }
    std::vector<UniqueFd> layers;  // the layers' idmapped copies, until the overlay holds them
    if (userns_fd >= 0 && m.type == "overlay") {
      auto data = IdmapOverlayData(f.data, userns_fd, &layers);
      if (!data.ok()) return Annotate(data.status(), "rootfs");
      f.data = *data;
    } else if (userns_fd >= 0) {
      return absl::InvalidArgumentError("rootfs: a " + m.type + " rootfs cannot be idmapped");
    }
    if (::mount(m.source.c_str(), root.c_str(), bind ? nullptr : m.type.c_str(), fl,
                f.data.empty() ? nullptr : f.data.c_str()) != 0)
      return ErrnoError("mount rootfs (" + m.type + ") on " + root);
  }
  // pivot_root needs the root to be a mount point.
  if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return ErrnoError("root.path " + root);
  UniqueFd rfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rfd) return ErrnoError("root.path " + root);
  for (const auto& m : spec.mounts) KCR_RETURN_IF_ERROR(DoMount(rfd.get(), m, spec, userns_fd));
  bool dev_is_tmpfs = false;
  for (const auto& m : spec.mounts)
    if (m.destination == "/dev" && m.type == "tmpfs") dev_is_tmpfs = true;
  if (dev_is_tmpfs) KCR_RETURN_IF_ERROR(SetupDev(rfd.get()));
  KCR_RETURN_IF_ERROR(CreateDevices(rfd.get(), spec.linux.devices));
  if (before_pivot) KCR_RETURN_IF_ERROR(before_pivot());

  // pivot_root(".", ".") stacks the old root on the new one. Our cwd is
  // then moved to the old root through an fd opened before (what "." names
  // after the pivot is not something the kernel promises), which is made a
  // slave so that unmounting it cannot propagate to shared host mounts.
  UniqueFd old_root(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!old_root) return ErrnoError("open the old root");
  if (::chdir(root.c_str()) != 0) return ErrnoError("chdir " + root);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return ErrnoError("pivot_root");
  if (::fchdir(old_root.get()) != 0) return ErrnoError("fchdir to the old root");
  if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) return ErrnoError("make the old root a slave");
  if (::umount2(".", MNT_DETACH) != 0) return ErrnoError("detach the old root");
  if (::chdir("/") != 0) return ErrnoError("chdir /");

  // Sysctls while /proc/sys is still writable (it becomes read-only below).
  for (const auto& [k, v] : spec.linux.sysctl) {
    std::string path = "/proc/sys/" + k;
    for (size_t i = 10; i < path.size(); i++)
      if (path[i] == '.') path[i] = '/';
    UniqueFd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!f || ::write(f.get(), v.data(), v.size()) < 0) return ErrnoError("linux.sysctl " + k);
  }
  for (const auto& p : spec.linux.masked_paths) KCR_RETURN_IF_ERROR(Mask(p));
  for (const auto& p : spec.linux.readonly_paths) KCR_RETURN_IF_ERROR(ReadOnly(p));
  if (spec.root_readonly &&
      ::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
    return ErrnoError("root.readonly");
  return absl::OkStatus();
}

}  // namespace kcr::runtime::child
