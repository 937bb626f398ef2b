// UpdateContainerResources, ReopenContainerLog and UpdatePodSandboxResources.
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

grpc::Status RuntimeService::UpdateContainerResources(grpc::ServerContext*,
                                                      const v1::UpdateContainerResourcesRequest* req,
                                                      v1::UpdateContainerResourcesResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  auto pod = d_.store.GetSandbox(c->sandbox_id);
  if (!pod.ok()) return ToGrpc(pod.status());
  const auto& r = req->linux();
  auto res = ResourcesFromCri(r);
  if (!res.ok()) return ToGrpc(res.status(), "UpdateContainerResources");
  std::lock_guard<std::mutex> lock(LockFor(c->sandbox_id));
  if (absl::Status st = d_.cgroups.Update(ContainerCgroup(d_.cgroups, *pod, c->id), *res); !st.ok())
    return ToGrpc(Annotate(st, "update resources of container " + c->id), "UpdateContainerResources");
  // Recorded so ContainerStatus reports the resources in force.
  v1::ContainerConfig cfg;
  cfg.ParseFromString(c->config);
  *cfg.mutable_linux()->mutable_resources() = r;
  cfg.SerializeToString(&c->config);
  return ToGrpc(d_.store.UpdateContainer(*c), "UpdateContainerResources");
}

grpc::Status RuntimeService::ReopenContainerLog(grpc::ServerContext*, const v1::ReopenContainerLogRequest* req,
                                                v1::ReopenContainerLogResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) return ToGrpc(c.status());
  if (Refresh(*c).state != kcr::runtime::ContainerState::kRunning)
    return ToGrpc(absl::FailedPreconditionError("container " + c->id + " is not running"));
  auto mon = Monitor(c->sandbox_id);
  if (!mon.ok()) return ToGrpc(mon.status(), "ReopenContainerLog");
  return ToGrpc((*mon)->Call({{"op", "reopen_log"}, {"container", c->id}}).status(), "ReopenContainerLog");
}

grpc::Status RuntimeService::UpdatePodSandboxResources(grpc::ServerContext*,
                                                       const v1::UpdatePodSandboxResourcesRequest* req,
                                                       v1::UpdatePodSandboxResourcesResponse*) {
  // kubelet's in-place pod resize tells the runtime the pod's new
  // resources before it writes its own pod cgroup (linux.cgroup_parent) and
  // after, on a rollback. That cgroup is kubelet's: it writes it itself,
  // with the pod overhead `resources` leaves out, so kcr leaves it alone as
  // containerd and CRI-O do. Writing it too would put limits without the
  // overhead there: for a pod with overhead, lower than kubelet's, and one
  // below the pod's usage fails (EBUSY on v1) a resize kubelet accepted.
  // kcr writes only a pod cgroup it made itself (a pod without
  // cgroup_parent), where no one else would.
  auto pod = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!pod.ok()) return ToGrpc(pod.status());
  auto res = ResourcesFromCri(req->resources());
  if (!res.ok()) return ToGrpc(res.status(), "UpdatePodSandboxResources");
  std::lock_guard<std::mutex> lock(LockFor(pod->id));
  if (pod->state != kcr::runtime::SandboxState::kReady)
    return ToGrpc(absl::FailedPreconditionError("pod " + pod->id + " is not ready"), "UpdatePodSandboxResources");
  // Under systemd the pod's slice is systemd's (kubelet sets its properties
  // there); kcr writes only its own subtree.
  if (d_.cgroups.Driver() == "systemd") return grpc::Status::OK;
  if (!SandboxConfigOf(*pod).linux().cgroup_parent().empty()) return grpc::Status::OK;
  if (absl::Status st = d_.cgroups.Update(pod->cgroup_parent, *res); !st.ok())
    return ToGrpc(Annotate(st, "update resources of pod " + pod->id), "UpdatePodSandboxResources");
  return grpc::Status::OK;
}

}  // namespace kcr::cri
