// CreateContainer: validates everything first, reserves the name, prepares
// the rootfs snapshot, builds the OCI spec and has the pod's monitor create
// the container (its init waits before exec until StartContainer).
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/log.h"
#include "cri/container_spec.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "cri/validate.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
using nlohmann::json;

grpc::Status RuntimeService::CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* req,
                                             v1::CreateContainerResponse* resp) {
  const v1::ContainerConfig& c = req->config();
  if (req->pod_sandbox_id().empty()) return ToGrpc(absl::InvalidArgumentError("pod_sandbox_id is empty"));
  if (absl::Status st = ValidateContainerConfig(c); !st.ok()) return ToGrpc(st);
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) return ToGrpc(s.status());
  std::lock_guard<std::mutex> lock(LockFor(s->id));
  if (s->state != kcr::runtime::SandboxState::kReady)
    return ToGrpc(absl::FailedPreconditionError("pod sandbox " + s->id + " is not ready"));
  auto image = d_.images.Get(c.image().image());
  if (!image.ok()) return ToGrpc(Annotate(image.status(), "container image"));
  v1::PodSandboxConfig pod = req->sandbox_config().has_metadata() ? req->sandbox_config() : SandboxConfigOf(*s);

  kcr::runtime::ContainerRecord r;
  r.id = kcr::runtime::NewId();
  r.sandbox_id = s->id;
  r.name = c.metadata().name();
  r.attempt = c.metadata().attempt();
  r.name_key = ContainerNameKey(c.metadata(), pod.metadata());
  r.state = kcr::runtime::ContainerState::kCreated;
  r.created_ns = NowNs();
  r.image = c.image().image();
  r.image_id = image->id;
  r.labels = {c.labels().begin(), c.labels().end()};
  r.annotations = {c.annotations().begin(), c.annotations().end()};
  if (!pod.log_directory().empty() && !c.log_path().empty()) r.log_path = JoinPath(pod.log_directory(), c.log_path());
  c.SerializeToString(&r.config);
  if (absl::Status st = d_.store.AddContainer(r); !st.ok()) return ToGrpc(st, "CreateContainer");
  bool done = false;
  struct Undo {
    std::function<void()> f;
    bool* done;
    ~Undo() {
      if (!*done) f();
    }
  } undo{[&] {
           d_.snapshots.Remove(r.id).IgnoreError();
           fs::RemoveAll(d_.paths.ContainerDir(r.id)).IgnoreError();
           d_.store.RemoveContainer(r.id).IgnoreError();
         },
         &done};

  std::string parent = image->chain_ids.empty() ? "" : image->chain_ids.back();
  auto mounts = d_.snapshots.Prepare(r.id, parent);
  if (!mounts.ok()) return ToGrpc(Annotate(mounts.status(), "container rootfs"), "CreateContainer");
  std::string rootfs = JoinPath(d_.paths.ContainerDir(r.id), "rootfs");
  if (absl::Status st = fs::MkdirAll(rootfs, 0755); !st.ok()) return ToGrpc(st, "CreateContainer");
  if (!r.log_path.empty()) {
    auto slash = r.log_path.rfind('/');
    if (absl::Status st = fs::MkdirAll(r.log_path.substr(0, slash), 0755); !st.ok()) return ToGrpc(Annotate(st, "log directory"));
  }
  ContainerSpecInput in{c, pod, *s, *image, r.id, rootfs, d_.paths.PodDir(s->id), s->cgroup_parent + "/" + r.id};
  auto spec = BuildContainerSpec(in);
  if (!spec.ok()) return ToGrpc(spec.status(), "CreateContainer");
  auto mon = Monitor(s->id);
  if (!mon.ok()) return ToGrpc(Annotate(mon.status(), "pod " + s->id), "CreateContainer");
  json rootfs_mounts = json::array();
  for (const auto& m : *mounts) rootfs_mounts.push_back({{"type", m.type}, {"source", m.source}, {"options", m.options}});
  auto created = (*mon)->Call({{"op", "create"},
                               {"container", r.id},
                               {"spec", json::parse(kcr::runtime::oci::SerializeSpec(*spec))},
                               {"rootfs", rootfs_mounts},
                               {"log_path", r.log_path},
                               {"stdin", c.stdin()},
                               {"stdin_once", c.stdin_once()}});
  if (!created.ok()) return ToGrpc(Annotate(created.status(), "create container " + r.name), "CreateContainer");
  done = true;
  Publish(r.id, v1::CONTAINER_CREATED_EVENT);
  spdlog::info("CreateContainer {} ({} in pod {})", r.id, r.name, s->id);
  resp->set_container_id(r.id);
  return grpc::Status::OK;
}

}  // namespace kcr::cri
