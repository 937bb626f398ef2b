#pragma once
// PID 1 of a pod's shared PID namespace (kubelet's shareProcessNamespace):
// a process that is no container's, whose only job is to let the kernel
// reap the orphans reparented to it. Every container of the pod sees it,
// so it is the least privileged process there: no capabilities, not root,
// no_new_privs, a seccomp filter that allows only waiting, no descriptors,
// not dumpable, and a command line naming no host path.
#include <sys/types.h>

#include "common/status.h"

namespace kcr::monitor {

// Clones the reaper into a new PID namespace (the caller's child; it dies
// with the caller). Its /proc/<pid>/ns/pid is the pod's PID namespace.
StatusOr<pid_t> StartPodReaper();

}  // namespace kcr::monitor
