#pragma once
// The daemon's wiring: builds every module from the configuration, serves
// CRI on the unix socket until SIGTERM/SIGINT, then shuts down cleanly.
#include "common/status.h"
#include "cri/config.h"

namespace kcr::cri {

// Blocks until a termination signal. The caller must have blocked SIGTERM,
// SIGINT and SIGPIPE in every thread (main does, before any thread starts).
Status RunDaemon(const Config& config);

// "cgroupfs" or "systemd", resolving "auto" against the host (systemd only
// when it runs as the init system).
std::string ResolveCgroupDriver(const std::string& configured);

}  // namespace kcr::cri
