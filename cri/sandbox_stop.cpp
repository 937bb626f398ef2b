// StopPodSandbox: stops every container, tears the network down and ends
// the monitor. Idempotent: a missing or already stopped pod succeeds, as
// kubelet expects (CRI: "If there are any running containers in the
// sandbox, they must be forcibly terminated").
#include <sys/mount.h>
#include <unistd.h>

#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "runtime/cni/netns.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
kcr::runtime::PodNetwork PodNetworkOf(const kcr::runtime::SandboxRecord& s);

absl::Status RuntimeService::StopSandbox(kcr::runtime::SandboxRecord& s) {
  // The watcher goes first: the monitor's end is ours, not a lost monitor.
  // The exits are announced here instead.
  UnwatchPod(s.id);
  if (auto m = Monitor(s.id); m.ok()) {
    // Shutdown kills and reaps every container, recording each exit first.
    absl::Status st = (*m)->Call({{"op", "shutdown"}}, kShutdown).status();
    if (!st.ok()) spdlog::warn("pod {}: monitor shutdown: {}", s.id, st.message());
  }
  ForgetMonitor(s.id);
  for (auto& c : d_.store.ListContainers(s.id)) {
    bool was_running = c.state == kcr::runtime::ContainerState::kRunning;
    if (was_running && Refresh(c).state == kcr::runtime::ContainerState::kExited)
      Publish(c.id, ::runtime::v1::CONTAINER_STOPPED_EVENT);
  }
  // The pin is where the paths module puts it even when the record never
  // learnt it: kcrd was killed between pinning the namespace (and CNI ADD)
  // and recording the pod ready. Whatever exists is torn down.
  kcr::runtime::SandboxRecord net = s;
  if (net.netns_path.empty() && ::access(d_.paths.Netns(s.id).c_str(), F_OK) == 0) net.netns_path = d_.paths.Netns(s.id);
  if (!net.netns_path.empty()) {
    if (absl::Status st = d_.network.Teardown(PodNetworkOf(net)); !st.ok())
      return Annotate(st, "pod " + s.id + " network teardown");
    KCR_RETURN_IF_ERROR(kcr::runtime::UnpinNetns(net.netns_path));
  }
  ::umount2((d_.paths.PodDir(s.id) + "/shm").c_str(), MNT_DETACH);
  s.state = kcr::runtime::SandboxState::kNotReady;
  return d_.store.UpdateSandbox(s);
}

grpc::Status RuntimeService::StopPodSandbox(grpc::ServerContext*, const v1::StopPodSandboxRequest* req,
                                            v1::StopPodSandboxResponse*) {
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) {
    if (s.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
    return ToGrpc(s.status());
  }
  std::lock_guard<std::mutex> lock(LockFor(s->id));
  absl::Status st = StopSandbox(*s);
  if (st.ok()) spdlog::info("StopPodSandbox {}", s->id);
  return ToGrpc(st, "StopPodSandbox");
}

}  // namespace kcr::cri
