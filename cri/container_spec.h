#pragma once
// Builds the OCI spec of a container from its CRI config, its pod and its
// image config, merging them as kubelet expects (containerd's rules):
// command/args over the image's entrypoint/cmd, envs over image Env,
// working_dir over WorkingDir, run_as_* over USER.
#include <string>

#include "api/api.pb.h"
#include "common/paths.h"
#include "common/status.h"
#include "images/image_store.h"
#include "runtime/oci/spec.h"
#include "runtime/pod/store.h"

namespace kcr::cri {

struct ContainerSpecInput {
  const ::runtime::v1::ContainerConfig& config;
  const ::runtime::v1::PodSandboxConfig& pod;
  const kcr::runtime::SandboxRecord& sandbox;
  const images::Image& image;
  std::string container_id;
  std::string rootfs;        // where the snapshot is mounted
  std::string pod_dir;       // hostname, hosts, resolv.conf, shm
  std::string cgroups_path;  // the container's cgroup
};

// InvalidArgument naming the field for what cannot be honoured (an unknown
// capability, a Localhost seccomp profile that does not parse, ...).
StatusOr<kcr::runtime::oci::Spec> BuildContainerSpec(const ContainerSpecInput& in);

}  // namespace kcr::cri
