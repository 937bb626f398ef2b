#pragma once
// CDI devices of a CreateContainer request: the names it asks for
// (ContainerConfig.cdi_devices, then the `cdi.k8s.io/` annotations, as
// containerd reads them) and their edits applied to the container's spec.
#include <string>
#include <vector>

#include "api/api.pb.h"
#include "common/status.h"
#include "runtime/cdi/spec.h"
#include "runtime/oci/spec.h"

namespace kcr::cri {

// The qualified device names `c` asks for, each once, in request order.
// InvalidArgument naming a malformed annotation.
StatusOr<std::vector<std::string>> CdiDeviceNames(const ::runtime::v1::ContainerConfig& c);

// Applies resolved edits to `s` as CDI says: env entries replace the same
// variable or are appended; device nodes replace one at the same path and
// are allowed in the device cgroup with their permissions; mounts replace
// one at the same destination (a mount without a type is a bind mount),
// parents before children; hooks are appended at their point; additional
// GIDs are added. FailedPrecondition for edits kcr's runtime cannot honour
// (intelRdt), never a silent drop.
Status ApplyCdiEdits(const kcr::runtime::cdi::ContainerEdits& e, kcr::runtime::oci::Spec* s);

}  // namespace kcr::cri
