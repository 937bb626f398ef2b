#pragma once
// kcr-monitor: one per pod sandbox. Holds the pod's namespaces, creates and
// starts its containers with the internal runtime, owns their stdio and CRI
// logs, reaps them and records each exit durably before reporting it, runs
// exec requests inside them. Single-threaded, event driven (epoll,
// signalfd, timerfd). Protocol: PROTOCOL.md beside this file.
#include <functional>
#include <string>

#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::monitor {

struct MonitorOptions {
  std::string pod_id;
  std::string socket;          // control socket to listen on
  std::string containers_dir;  // <dir>/<container-id>/exit.json
  std::string netns;           // pod network namespace to hold ("" = host network)
  std::string hostname;        // pod hostname (own UTS namespace unless host_uts)
  bool host_ipc = false;
  bool host_uts = false;
  bool share_pid = false;      // one PID namespace for the pod, with a reaper as PID 1
  // A pod user namespace (KEP-127) with these mappings, held by the
  // monitor and joined by every container and exec; none when empty.
  std::vector<runtime::oci::IdMapping> uid_mappings, gid_mappings;
};

// Sets the pod up, calls `ready` with the set-up result (OK once the
// control socket listens), then serves until shutdown.
Status RunMonitor(const MonitorOptions& opts, const std::function<void(const Status&)>& ready = {});

}  // namespace kcr::monitor
