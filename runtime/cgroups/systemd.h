#pragma once
// The systemd cgroup driver (kcrd only: it talks sd-bus, which the static
// kcr-monitor does not link).
//
// systemd owns the pod's slice (kubelet's "kubepods-...-pod<uid>.slice", or
// kcr's own "<parent>-<pod-id>.slice") and, per pod, a transient scope
// "kcr-<pod-id>.scope" in it, started with StartTransientUnit, Delegate=yes
// and the monitor's PIDs. Inside that delegated scope kcr writes cgroupfs
// itself, as systemd's delegation contract allows: the monitor moves to the
// leaf "kcr-monitor" (cgroup v2 allows processes only in leaves once
// controllers are enabled below), and each container gets a child cgroup
// named by its ID. File operations (Create, Update, Stats, ...) are the
// cgroupfs driver's, on paths under the scope.
//
// DestroyPod removes kcr's cgroups in the scope, stops the scope (and the
// slice when it is kcr's own) and waits for systemd's job; units that no
// longer exist are not an error.
#include <memory>
#include <string>

#include "runtime/cgroups/cgroup.h"

namespace kcr::runtime {

struct SystemdOptions {
  // sd-bus address; "" is systemd's private socket
  // (unix:path=/run/systemd/private) for root, else the system bus.
  std::string bus_address;
  std::string mount_root = "/sys/fs/cgroup";
  int job_timeout_ms = 30000;  // how long a start or stop job may take
};

// FailedPrecondition naming the cause when systemd is not the init system
// (sd_booted) or its bus cannot be reached.
StatusOr<std::unique_ptr<CgroupManager>> NewSystemdCgroupManager(const SystemdOptions& o = {});

// The unit name of pod `pod_id`'s scope.
std::string PodScopeName(const std::string& pod_id);

}  // namespace kcr::runtime
