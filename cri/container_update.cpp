// UpdateContainerResources and ReopenContainerLog.
#include "cri/grpc_status.h"
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
  kcr::runtime::oci::Resources res;
  if (r.cpu_shares() > 0) res.cpu_shares = static_cast<uint64_t>(r.cpu_shares());
  if (r.cpu_quota() != 0) res.cpu_quota = r.cpu_quota();
  if (r.cpu_period() > 0) res.cpu_period = static_cast<uint64_t>(r.cpu_period());
  res.cpuset_cpus = r.cpuset_cpus();
  res.cpuset_mems = r.cpuset_mems();
  if (r.memory_limit_in_bytes() > 0) res.memory_limit = r.memory_limit_in_bytes();
  if (r.memory_swap_limit_in_bytes() > 0) res.memory_swap = r.memory_swap_limit_in_bytes();
  std::lock_guard<std::mutex> lock(LockFor(c->sandbox_id));
  if (absl::Status st = d_.cgroups.Update(pod->cgroup_parent + "/" + c->id, res); !st.ok())
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

}  // namespace kcr::cri
