#pragma once
// User namespaces (KEP-127) and idmapped mounts: a pod's user namespace is
// made once by its monitor and held by descriptor; the container's init
// and exec'd processes join it last, after everything that needs the
// host's privileges (mounts, cgroups, sysctls, limits). What the container
// sees of the host's filesystems goes through idmapped mounts
// (mount_setattr(MOUNT_ATTR_IDMAP) with that namespace), never a chown.
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::runtime {

// A new user namespace with these mappings (setgroups left allowed, so the
// container's root can set its groups as runc's containers can). Made by
// a short-lived child that unshares it; the descriptor returned keeps it
// alive, and the child is reaped before this returns. Forks: call it from
// a single-threaded process or with only async-signal-safe work in the
// child (which is all the child does).
StatusOr<UniqueFd> MakeUserNamespace(const std::vector<oci::IdMapping>& uids, const std::vector<oci::IdMapping>& gids);

// "C:H:N" (container id, host id, length) <-> IdMapping, as kcr-monitor's
// command line carries mappings.
std::string FormatIdMapping(const oci::IdMapping& m);
StatusOr<oci::IdMapping> ParseIdMapping(const std::string& text);

// A detached copy of the mount tree at `path` (its submounts too when
// `recursive`), idmapped through `userns_fd`: ids on disk appear shifted
// by the namespace's mappings, ids written are shifted back. The
// filesystem must support idmapped mounts (ext4, xfs, btrfs, tmpfs since
// 6.3; overlayfs itself does not, its layers may be).
StatusOr<UniqueFd> IdmappedTree(const std::string& path, int userns_fd, bool recursive);

// Attaches IdmappedTree(source) on the directory or file `target_fd`
// (an O_PATH descriptor).
Status MountIdmapped(const std::string& source, int target_fd, int userns_fd, bool recursive);

// Overlay mount data with each layer (lowerdir, upperdir, workdir) read
// through an idmapped copy of its parent directory, named
// /proc/self/fd/N/<layer>: nothing is attached anywhere (the overlay keeps
// its own references), so no mount point appears on the host's snapshot
// directories whatever the propagation. `held` keeps the copies open until
// the overlay is mounted. upperdir and workdir share one copy (overlayfs
// wants them on one mount).
StatusOr<std::string> IdmapOverlayData(const std::string& data, int userns_fd, std::vector<UniqueFd>* held);

// The calling process's filesystem ids become the host ids of the
// container's root (spec.linux.uidMappings/gidMappings of container id 0),
// its effective capabilities stay whole: files the runtime creates through
// idmapped mounts (mount points, /dev nodes, the overlay's upper layer)
// are then the container root's, where host root's ids would be refused
// (EOVERFLOW: kuid 0 has no mapping). setresuid later resets them.
Status ActAsContainerRoot(const oci::Spec& spec);

}  // namespace kcr::runtime
