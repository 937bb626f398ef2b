#pragma once
// The user-namespace part of a container's OCI spec (KEP-127): a pod made
// with userns_options mode POD has a user namespace held by its monitor;
// every container joins it ("user" namespace path "pod"), and what kcr
// mounts from the pod's directory, plus every CRI mount that carries the
// pod's mappings (kubelet sets them on all mounts of such a pod), is
// idmapped through it. The rootfs is idmapped by the runtime whenever the
// spec has a user namespace.
#include "api/api.pb.h"
#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::cri {

// Adds the pod's user namespace to `spec` (built from `config` in `pod`,
// whose files live in `pod_dir`). InvalidArgument when the container asks
// for another user namespace than its pod's, or a mount carries mappings
// that are not the pod's (or the pod has none).
Status ApplyPodUserNamespace(const ::runtime::v1::ContainerConfig& config, const ::runtime::v1::PodSandboxConfig& pod,
                             const std::string& pod_dir, runtime::oci::Spec* spec);

// The pod's mappings in the OCI form; empty without a pod user namespace.
std::vector<runtime::oci::IdMapping> PodUidMappings(const ::runtime::v1::PodSandboxConfig& pod);
std::vector<runtime::oci::IdMapping> PodGidMappings(const ::runtime::v1::PodSandboxConfig& pod);

}  // namespace kcr::cri
