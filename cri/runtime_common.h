#pragma once
// Helpers shared by the RuntimeService RPC files: record <-> CRI
// conversions, filters, the pod cgroup path, time.
#include "api/api.pb.h"
#include "common/status.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/monitor/client.h"
#include "runtime/oci/spec.h"
#include "runtime/pod/store.h"

namespace kcr::cri {

int64_t NowNs();

// Deadlines of the monitor calls that wait on a container's init (it
// mounts the rootfs and volumes, resolves the user; the runtime bounds
// that at 60 s) and of a pod's shutdown (kills and reaps every container).
inline const kcr::monitor::MonitorClient::CallOptions kCreateOrStart{std::chrono::seconds(90), {}};
inline const kcr::monitor::MonitorClient::CallOptions kShutdown{std::chrono::seconds(30), {}};

::runtime::v1::PodSandboxConfig SandboxConfigOf(const kcr::runtime::SandboxRecord& s);
::runtime::v1::ContainerConfig ContainerConfigOf(const kcr::runtime::ContainerRecord& c);

::runtime::v1::ContainerState CriState(kcr::runtime::ContainerState s);

// A start the monitor reports ({"pid", "started_ns"}: its start reply or
// its state of the container) into the record: RUNNING, with the start
// time and the PID (ContainerStatus' verbose info). The caller stores it.
void MarkStarted(kcr::runtime::ContainerRecord& c, const nlohmann::json& started);

// A container whose pod monitor is gone with no exit record of it: it
// cannot have outlived its monitor (parent-death signal), but how it ended
// is unknown. EXITED, 255, reason Unknown, `why` in the message. The caller
// stores it.
void MarkLost(kcr::runtime::ContainerRecord& c, const std::string& why);

// A pod that can no longer run containers (its monitor is gone, or the
// reaper of its shared PID namespace died): NOTREADY, with `why` kept as
// notReadyReason (PodSandboxStatus' verbose info, CreateContainer's
// refusal). The caller stores it.
void MarkNotReady(kcr::runtime::SandboxRecord& s, const std::string& why);
// Why a pod is not ready, as MarkNotReady recorded it; empty if unknown.
std::string NotReadyReason(const kcr::runtime::SandboxRecord& s);
// Whether the pod's containers share one PID namespace (kubelet's
// shareProcessNamespace), whose PID 1 is the monitor's reaper.
bool SharesPidNamespace(const kcr::runtime::SandboxRecord& s);

// The pod's cgroup (a path relative to the hierarchy root): kubelet's
// cgroup_parent when given, else one under the configured parent.
// cgroupfs: "/kubepods/burstable/pod<uid>" as given, a slice name as systemd
// lays it out, else "<parent>/<pod-id>". systemd: the parent must be a
// slice name ("kubepods-burstable-pod<uid>.slice"); kcr's own is
// "<parent>-<pod-id>.slice" (parent "kcr.slice": kcr.slice/kcr-<id>.slice).
// InvalidArgument naming linux.cgroup_parent when it cannot be used.
StatusOr<std::string> PodCgroup(const ::runtime::v1::PodSandboxConfig& c, const std::string& pod_id,
                                const std::string& default_parent, bool systemd);

// A container's cgroup: a child of the driver's ContainerParent.
std::string ContainerCgroup(const kcr::runtime::CgroupManager& cgroups, const kcr::runtime::SandboxRecord& pod,
                            const std::string& container_id);

// CRI resources in the OCI model (CPU, cpuset, memory and swap, hugepage
// limits, unified v2 files). InvalidArgument naming a bad hugepage size.
StatusOr<kcr::runtime::oci::Resources> ResourcesFromCri(const ::runtime::v1::LinuxContainerResources& r);

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels);

}  // namespace kcr::cri
