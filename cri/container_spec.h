#pragma once
// Builds the OCI spec of a container from its CRI config, its pod and its
// image config, merging them as kubelet expects (containerd's rules):
// command/args over the image's entrypoint/cmd, envs over image Env,
// working_dir over WorkingDir, run_as_* over USER.
#include <string>
#include <vector>

#include "api/api.pb.h"
#include "common/paths.h"
#include "common/status.h"
#include "images/image_store.h"
#include "images/snapshotter.h"
#include "runtime/oci/spec.h"
#include "runtime/pod/store.h"

namespace kcr::cri {

// An image volume (CRI Mount.image): the image's layers as a read-only
// overlay (a snapshot of its own, so the image's layers stay referenced),
// and the sub path of the image to show, if any.
struct ImageVolume {
  std::string container_path;
  std::vector<images::Mount> mounts;
  std::string sub_path;
};

// The snapshot key of a container's i-th image volume.
std::string ImageVolumeKey(const std::string& container_id, int i);

struct ContainerSpecInput {
  const ::runtime::v1::ContainerConfig& config;
  const ::runtime::v1::PodSandboxConfig& pod;
  const kcr::runtime::SandboxRecord& sandbox;
  const images::Image& image;
  std::string container_id;
  std::string rootfs;        // where the snapshot is mounted
  std::string pod_dir;       // hostname, hosts, resolv.conf, shm
  std::string cgroups_path;  // the container's cgroup
  std::vector<ImageVolume> image_volumes;  // one per CRI mount with an image, in order
  bool apparmor_enabled = false;           // the host enforces AppArmor (AppArmorEnabled)
};

// InvalidArgument naming the field for what cannot be honoured (an unknown
// capability, a Localhost seccomp profile that does not parse, ...).
StatusOr<kcr::runtime::oci::Spec> BuildContainerSpec(const ContainerSpecInput& in);

}  // namespace kcr::cri
