// /sys/fs/cgroup inside a container (see cgroup_mount.h). JVMs, Go's
// runtime and most language runtimes size themselves from the limits they
// read there, so a container must see its own cgroups, and only those.
#include "runtime/linux/cgroup_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "common/fd.h"
#include "common/fs.h"
#include "common/paths.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/linux/mount_util.h"

namespace kcr::runtime::child {

namespace {

// Where the host mounts its hierarchies, and where kcr's cgroupfs code
// makes the containers' cgroups (CgroupManager's default mount root).
constexpr char kMountRoot[] = "/sys/fs/cgroup";
constexpr unsigned long kNoSuidDevExec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The controllers this kernel knows (first column of /proc/cgroups).
std::set<std::string> KernelControllers() {
  std::set<std::string> out;
  auto text = fs::ReadFile("/proc/cgroups", 1 << 16);
  if (!text.ok()) return out;
  for (const auto& line : Split(*text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    out.insert(line.substr(0, line.find_first_of(" \t")));
  }
  return out;
}

// The init unshares a cgroup namespace (rooted at its cgroup) when the spec
// asks for a new one; a namespace joined by path is rooted elsewhere.
bool OwnCgroupNamespace(const oci::Spec& spec) {
  for (const auto& n : spec.linux.namespaces)
    if (n.type == "cgroup") return n.path.empty();
  return false;
}

// nosuid, nodev, noexec and (when asked) read-only on the mount whose root
// `fd` names: a bind remount changes this mount only, never the superblock
// the host's own mount of the same hierarchy shares.
Status Remount(int fd, bool read_only, const std::string& what) {
  unsigned long fl = MS_BIND | MS_REMOUNT | kNoSuidDevExec | (read_only ? MS_RDONLY : 0);
  if (::mount(nullptr, FdPath(fd).c_str(), nullptr, fl, nullptr) != 0)
    return ErrnoError(std::string("remount ") + what + (read_only ? " read-only" : ""));
  return absl::OkStatus();
}

// The container's cgroup `host_dir` of hierarchy `h`, on `dir`/<h.name>.
Status MountHierarchy(int dir, const V1Hierarchy& h, const std::string& host_dir, bool own_ns, bool read_only,
                      const std::string& what) {
  if (::mkdirat(dir, h.name.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("create " + what);
  UniqueFd target(::openat(dir, h.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!target) return ErrnoError("open " + what);
  bool mounted = false;
  if (own_ns) {
    // Inside the container's cgroup namespace a new mount of the hierarchy
    // is rooted at the namespace's root: the container's own cgroup.
    if (::mount("cgroup", FdPath(target.get()).c_str(), "cgroup", kNoSuidDevExec, h.options.c_str()) == 0)
      mounted = true;
    else if (errno != EPERM)  // a user namespace may not mount v1 hierarchies: bind (the same view)
      return ErrnoError("mount the " + h.options + " cgroup hierarchy on " + what);
  }
  if (!mounted && ::mount(host_dir.c_str(), FdPath(target.get()).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return ErrnoError("bind " + host_dir + " on " + what);
  // The mount must show the container's cgroup and nothing above it (the
  // namespace's root is wherever the init was when it unshared).
  UniqueFd top(::openat(dir, h.name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat shown, own;
  if (!top || ::fstat(top.get(), &shown) != 0) return ErrnoError("open " + what);
  if (::stat(host_dir.c_str(), &own) != 0) return ErrnoError("stat " + host_dir);
  if (shown.st_dev != own.st_dev || shown.st_ino != own.st_ino)
    return absl::FailedPreconditionError(what + " would show a cgroup other than the container's " + host_dir +
                                         " (its init is not in it)");
  return Remount(top.get(), read_only, what);
}

// v1 and hybrid hosts. runc mounts only the v1 hierarchies here, not the
// hybrid layout's cgroup2 ("unified"), and kcr does the same: kcr keeps no
// container cgroup there.
Status MountV1(int root, const std::string& dest, bool read_only, const oci::Spec& spec) {
  KCR_ASSIGN_OR_RETURN(UniqueFd target, MountTarget(root, dest, false));
  if (::mount("tmpfs", FdPath(target.get()).c_str(), "tmpfs", kNoSuidDevExec, "mode=755,size=64k") != 0)
    return ErrnoError("mount tmpfs on " + dest);
  UniqueFd dir(OpenInRoot(root, dest, O_PATH | O_DIRECTORY));  // the new tmpfs
  if (!dir) return ErrnoError("open " + dest);
  const std::string& path = spec.linux.cgroups_path;
  std::vector<std::string> comounted;
  if (!path.empty()) {
    KCR_ASSIGN_OR_RETURN(std::string mountinfo, fs::ReadFile("/proc/self/mountinfo", 16 << 20));
    bool own_ns = OwnCgroupNamespace(spec);
    for (const auto& h : ParseV1Hierarchies(mountinfo, kMountRoot, KernelControllers())) {
      std::string host_dir = JoinPath(h.mount_point, path);
      struct stat st;
      if (::stat(host_dir.c_str(), &st) != 0) continue;  // the container has no cgroup of its own there
      KCR_RETURN_IF_ERROR(MountHierarchy(dir.get(), h, host_dir, own_ns, read_only, JoinPath(dest, h.name)));
      if (h.name.find(',') != std::string::npos) comounted.push_back(h.name);
    }
  }
  // Co-mounted controllers are also reachable by each one's name, as on
  // the host (cpu -> cpu,cpuacct): programs look for /sys/fs/cgroup/cpu.
  for (const auto& name : comounted)
    for (const auto& part : Split(name, ','))
      if (part != name && ::symlinkat(name.c_str(), dir.get(), part.c_str()) != 0 && errno != EEXIST)
        return ErrnoError("symlink " + JoinPath(dest, part) + " -> " + name);
  return Remount(dir.get(), read_only, dest);
}

// v2 hosts: cgroup2 mounted inside the container's cgroup namespace shows
// its own cgroup as the root. Without a namespace of its own, its cgroup
// directory is bound instead of the host's whole tree (as runc does).
Status MountV2(int root, const std::string& dest, bool read_only, const oci::Spec& spec) {
  KCR_ASSIGN_OR_RETURN(UniqueFd target, MountTarget(root, dest, false));
  const std::string& path = spec.linux.cgroups_path;
  if (OwnCgroupNamespace(spec) || path.empty()) {
    if (::mount("cgroup2", FdPath(target.get()).c_str(), "cgroup2", kNoSuidDevExec, nullptr) != 0)
      return ErrnoError("mount cgroup2 on " + dest);
  } else {
    std::string host_dir = JoinPath(kMountRoot, path);
    if (::mount(host_dir.c_str(), FdPath(target.get()).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return ErrnoError("bind " + host_dir + " on " + dest);
  }
  UniqueFd top(OpenInRoot(root, dest, O_PATH | O_DIRECTORY));
  if (!top) return ErrnoError("open " + dest);
  return Remount(top.get(), read_only, dest);
}

}  // namespace

std::vector<V1Hierarchy> ParseV1Hierarchies(std::string_view mountinfo, std::string_view mount_root,
                                            const std::set<std::string>& controllers) {
  std::map<std::string, V1Hierarchy> by_name;  // a later mount on the same point hides the earlier
  for (const auto& line : Split(mountinfo, '\n')) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    std::vector<std::string> f = Split(line, ' ');
    size_t sep = 0;
    while (sep < f.size() && f[sep] != "-") sep++;
    if (f.size() < 5 || sep + 3 >= f.size() || f[sep + 1] != "cgroup") continue;
    const std::string& mp = f[4];
    size_t slash = mp.rfind('/');
    if (mp.find('\\') != std::string::npos || slash == std::string::npos || mp.substr(0, slash) != mount_root)
      continue;
    V1Hierarchy h{mp, mp.substr(slash + 1), ""};
    for (const auto& opt : Split(f[sep + 3], ','))
      if (controllers.count(opt) || opt.rfind("name=", 0) == 0) h.options += (h.options.empty() ? "" : ",") + opt;
    if (h.name.empty() || h.options.empty()) continue;
    by_name[h.name] = std::move(h);
  }
  std::vector<V1Hierarchy> out;
  for (auto& [name, h] : by_name) out.push_back(std::move(h));
  return out;
}

Status MountCgroups(int root, const std::string& dest, bool read_only, const oci::Spec& spec) {
  if (DetectCgroupLayout() == CgroupLayout::kV2) return MountV2(root, dest, read_only, spec);
  return MountV1(root, dest, read_only, spec);
}

}  // namespace kcr::runtime::child
