#pragma once
// kcr's RuntimeDefault seccomp profile.
#include "runtime/oci/spec.h"

namespace kcr::runtime::oci {

// Allows everything except the system calls container runtimes' default
// profiles block for unprivileged workloads (kernel modules, reboot, clock
// setting, mount and namespace manipulation, keyrings, sethostname,
// kexec, bpf, perf, ...), which fail with EPERM. A deny-list of the same
// calls the usual allow-list leaves out (see docs/DESIGN-NOTES.md).
Seccomp RuntimeDefaultSeccomp();

// Parses a Localhost profile (OCI or Docker JSON). InvalidArgument naming
// the problem.
StatusOr<Seccomp> ParseSeccompProfile(const std::string& json_text);

}  // namespace kcr::runtime::oci
