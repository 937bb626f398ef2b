#pragma once
// The daemon's wiring: builds every module from the configuration, serves
// CRI on the unix socket until SIGTERM/SIGINT, then shuts down cleanly.
#include "common/status.h"
#include "cri/config.h"
#include "runtime/cgroups/systemd.h"

namespace kcr::cri {

// Blocks until a termination signal. The caller must have blocked SIGTERM,
// SIGINT and SIGPIPE in every thread (main does, before any thread starts).
Status RunDaemon(const Config& config);

// The cgroup driver: "auto" is systemd where systemd is the init system and
// its bus answers (as CRI-O; RuntimeConfig reports it, which kubelet's
// KubeletCgroupDriverFromCRI follows), else cgroupfs. An explicit
// "systemd" fails with FailedPrecondition where systemd cannot be used.
StatusOr<std::unique_ptr<runtime::CgroupManager>> NewCgroupDriver(const std::string& configured,
                                                                   const runtime::SystemdOptions& o);

}  // namespace kcr::cri
