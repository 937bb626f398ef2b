#pragma once
// Helpers shared by the RuntimeService RPC files: record <-> CRI
// conversions, filters, the pod cgroup path, time.
#include "api/api.pb.h"
#include "common/status.h"
#include "runtime/oci/spec.h"
#include "runtime/pod/store.h"

namespace kcr::cri {

int64_t NowNs();

::runtime::v1::PodSandboxConfig SandboxConfigOf(const kcr::runtime::SandboxRecord& s);
::runtime::v1::ContainerConfig ContainerConfigOf(const kcr::runtime::ContainerRecord& c);

::runtime::v1::ContainerState CriState(kcr::runtime::ContainerState s);

// The pod's cgroup: kubelet's cgroup_parent when given (cgroupfs form
// "/kubepods/burstable/pod<uid>"), else "kcr/<pod-id>" under the configured
// parent.
std::string PodCgroup(const ::runtime::v1::PodSandboxConfig& c, const std::string& pod_id,
                      const std::string& default_parent);

// CRI resources in the OCI model (CPU, cpuset, memory and swap, hugepage
// limits, unified v2 files). InvalidArgument naming a bad hugepage size.
StatusOr<kcr::runtime::oci::Resources> ResourcesFromCri(const ::runtime::v1::LinuxContainerResources& r);

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels);

}  // namespace kcr::cri
