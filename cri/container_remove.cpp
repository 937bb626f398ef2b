// RemoveContainer: kills it if still running, then removes it from its
// monitor, its rootfs snapshot and the record. Idempotent.
#include <sys/mount.h>

#include <chrono>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/container_hooks.h"
#include "cri/container_spec.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

absl::Status RuntimeService::RemoveContainerLocked(const kcr::runtime::ContainerRecord& c) {
  if (auto mon = Monitor(c.sandbox_id); mon.ok()) {
    // A CREATED record may hide a container its monitor runs (a start
    // whose answer was lost): what runs is what is killed.
    kcr::runtime::ContainerRecord r = AdoptMonitorState(Refresh(c), **mon);
    if (r.state == kcr::runtime::ContainerState::kRunning) {
      (*mon)->Call({{"op", "kill"}, {"container", c.id}, {"signal", 9}}).IgnoreError();
      // The stored record (an exit the pod's watcher recorded counts too).
      auto running = [&] {
        auto cur = d_.store.GetContainer(r.id);
        return cur.ok() && Refresh(*cur).state == kcr::runtime::ContainerState::kRunning;
      };
      for (int i = 0; i < 250 && running(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    absl::Status st = (*mon)->Call({{"op", "remove"}, {"container", c.id}}).status();
    if (!st.ok() && st.code() != absl::StatusCode::kNotFound) return Annotate(st, "remove container " + c.id);
  }
  RunPostHooks(d_.paths.ContainerDir(c.id), c.id, true, 0);  // poststop: the container is deleted
  std::string rootfs = JoinPath(d_.paths.ContainerDir(c.id), "rootfs");
  ::umount2(rootfs.c_str(), MNT_DETACH);
  KCR_RETURN_IF_ERROR(d_.snapshots.Remove(c.id));
  int vol = 0;  // image volumes' snapshots
  const ::runtime::v1::ContainerConfig config = ContainerConfigOf(c);
  for (const auto& m : config.mounts())
    if (!m.image().image().empty()) KCR_RETURN_IF_ERROR(d_.snapshots.Remove(ImageVolumeKey(c.id, vol++)));
  KCR_RETURN_IF_ERROR(fs::RemoveAll(d_.paths.ContainerDir(c.id)));
  KCR_RETURN_IF_ERROR(d_.store.RemoveContainer(c.id));
  Publish(c.id, ::runtime::v1::CONTAINER_DELETED_EVENT, c.sandbox_id);
  return absl::OkStatus();
}

grpc::Status RuntimeService::RemoveContainer(grpc::ServerContext*, const v1::RemoveContainerRequest* req,
                                             v1::RemoveContainerResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) {
    if (c.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
    return ToGrpc(c.status());
  }
  std::lock_guard<std::mutex> lock(LockFor(c->sandbox_id));
  absl::Status st = RemoveContainerLocked(*c);
  if (st.ok()) spdlog::info("RemoveContainer {}", c->id);
  return ToGrpc(st, "RemoveContainer");
}

}  // namespace kcr::cri
