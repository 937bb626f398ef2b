#pragma once
// The daemon's wiring: builds every module from the configuration, serves
// CRI on the unix socket until SIGTERM/SIGINT, then shuts down cleanly.
#include "common/status.h"
#include "cri/config.h"

namespace kcr::cri {

// Blocks until a termination signal. The caller must have blocked SIGTERM,
// SIGINT and SIGPIPE in every thread (main does, before any thread starts).
Status RunDaemon(const Config& config);

// The cgroup driver to use: "auto" is cgroupfs on every host for now (the
// systemd driver is not built yet; a host whose init is systemd is logged,
// and RuntimeConfig reports cgroupfs, which kubelet's
// KubeletCgroupDriverFromCRI follows). An explicit "systemd" is kept, and
// refused when the cgroup manager is created.
std::string ResolveCgroupDriver(const std::string& configured);

}  // namespace kcr::cri
