#pragma once
// /sys/fs/cgroup inside a container: the container's own cgroups, laid out
// as runc lays them out (libcontainer/rootfs_linux.go, mountCgroupV1/V2).
// Internal to runtime/linux, called by the init before pivot_root.
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::runtime::child {

// A cgroup v1 hierarchy as the host mounts it.
struct V1Hierarchy {
  std::string mount_point;  // e.g. /sys/fs/cgroup/cpu,cpuacct
  std::string name;         // its directory in the container: the mount point's base name
  std::string options;      // what names it to mount(2): "cpu,cpuacct", "name=systemd"
};

// The v1 hierarchies mounted directly below `mount_root`, from a
// /proc/self/mountinfo text; `controllers` are the kernel's (/proc/cgroups),
// so that mount options such as xattr or clone_children are not taken for
// one. The hybrid layout's cgroup2 ("unified") is not among them.
std::vector<V1Hierarchy> ParseV1Hierarchies(std::string_view mountinfo, std::string_view mount_root,
                                            const std::set<std::string>& controllers);

// Mounts the container's cgroups on `dest` (inside the rootfs `root`).
// v1 and hybrid hosts: a tmpfs holding, for each v1 hierarchy in which the
// container has its cgroup (spec.linux.cgroups_path), that cgroup: a fresh
// mount of the hierarchy when the container has a cgroup namespace of its
// own (rooted at its cgroup), else a bind mount of the host's directory;
// plus runc's symlinks for co-mounted controllers (cpu -> cpu,cpuacct).
// v2 hosts: cgroup2, scoped by the cgroup namespace (without one, the
// container's cgroup directory is bound instead). `read_only` applies to
// every one of these mounts (per mount: the hierarchies' superblocks are
// the host's). The init must already be in its cgroup and namespace.
Status MountCgroups(int root, const std::string& dest, bool read_only, const oci::Spec& spec);

}  // namespace kcr::runtime::child
