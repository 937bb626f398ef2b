#pragma once
// kcr's RuntimeDefault seccomp profile and Localhost profile parsing.
#include <string>
#include <vector>

#include "runtime/oci/spec.h"

namespace kcr::runtime::oci {

// The RuntimeDefault profile for a process holding `capabilities`
// (CAP_* names, the container's bounding set): an allow-list of the
// system calls ordinary workloads use, EPERM for every other call.
// Calls that need a capability (mount, unshare, sethostname need
// CAP_SYS_ADMIN; ptrace CAP_SYS_PTRACE; reboot CAP_SYS_BOOT; ...) are
// allowed only when the process holds it. Without CAP_SYS_ADMIN, clone may
// not create namespaces and clone3 fails with ENOSYS (so libc falls back to
// clone, whose flags the filter can see); personality is limited to the
// harmless personas; socket(AF_VSOCK) is refused.
Seccomp RuntimeDefaultSeccomp(const std::vector<std::string>& capabilities);

// Parses a Localhost profile in the OCI (linux.seccomp) or Docker JSON
// format: "names" or "name", "args", "errnoRet", "archMap", and
// "includes"/"excludes" by capability and architecture, evaluated against
// `capabilities`. InvalidArgument naming the problem.
StatusOr<Seccomp> ParseSeccompProfile(const std::string& json_text, const std::vector<std::string>& capabilities);

}  // namespace kcr::runtime::oci
