// RemovePodSandbox: stops the pod if needed, removes its containers, its
// cgroup and directory, then the record. Idempotent.
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

grpc::Status RuntimeService::RemovePodSandbox(grpc::ServerContext*, const v1::RemovePodSandboxRequest* req,
                                              v1::RemovePodSandboxResponse*) {
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) {
    if (s.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
    return ToGrpc(s.status());
  }
  std::lock_guard<std::mutex> lock(LockFor(s->id));
  if (absl::Status st = StopSandbox(*s); !st.ok()) return ToGrpc(st, "RemovePodSandbox");
  for (const auto& c : d_.store.ListContainers(s->id))
    if (absl::Status st = RemoveContainerLocked(c); !st.ok()) return ToGrpc(st, "RemovePodSandbox");
  if (absl::Status st = d_.cgroups.DestroyPod(s->cgroup_parent, s->id); !st.ok()) return ToGrpc(Annotate(st, "pod cgroup"));
  if (absl::Status st = fs::RemoveAll(d_.paths.PodDir(s->id)); !st.ok()) return ToGrpc(st, "RemovePodSandbox");
  // A monitor removes its socket when it shuts down; one that was killed
  // could not.
  if (::unlink(d_.paths.MonitorSocket(s->id).c_str()) != 0 && errno != ENOENT)
    return ToGrpc(ErrnoError("remove monitor socket of pod " + s->id), "RemovePodSandbox");
  if (absl::Status st = d_.store.RemoveSandbox(s->id); !st.ok()) return ToGrpc(st, "RemovePodSandbox");
  spdlog::info("RemovePodSandbox {}", s->id);
  return grpc::Status::OK;
}

}  // namespace kcr::cri
