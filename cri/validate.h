#pragma once
// Request validation for the RuntimeService: every request is checked
// completely before anything is created, so a bad request leaves nothing
// half-made behind. Errors are InvalidArgument naming the field.
#include "api/api.pb.h"
#include "common/status.h"

namespace kcr::cri {

Status ValidateSandboxConfig(const ::runtime::v1::PodSandboxConfig& config);
Status ValidateContainerConfig(const ::runtime::v1::ContainerConfig& config);

// namespace_options.userns_options (KEP-127): absent or NODE is the host's
// user namespace; POD takes exactly one uid and one gid mapping of
// container id 0, of equal lengths, not reaching host id 0, and no host
// network, IPC or PID namespace; CONTAINER and TARGET are refused.
Status ValidateUserNamespace(const ::runtime::v1::NamespaceOption& ns);

// Namespaced sysctls only, and only where the pod owns that namespace:
// net.* needs the pod's network namespace, IPC ones its IPC namespace
// (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*), kernel.hostname
// and kernel.domainname its UTS namespace (never with host network).
Status ValidateSysctls(const google::protobuf::Map<std::string, std::string>& sysctls, bool host_network,
                       bool host_ipc);

// "name_namespace_uid_attempt", the unique key a pod name reserves.
std::string SandboxNameKey(const ::runtime::v1::PodSandboxMetadata& m);
// "name_podname_podnamespace_poduid_attempt" for a container.
std::string ContainerNameKey(const ::runtime::v1::ContainerMetadata& c, const ::runtime::v1::PodSandboxMetadata& p);

}  // namespace kcr::cri
