// CreateContainer: validates everything first, reserves the name, prepares
// the rootfs snapshot, builds the OCI spec and has the pod's monitor create
// the container (its init waits before exec until StartContainer).
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/log.h"
#include "cri/container_cdi.h"
#include "cri/container_hooks.h"
#include "cri/container_spec.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "cri/validate.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
using nlohmann::json;

namespace {

// Whether `sub` exists in the image whose layers `mounts` stack: in the
// first layer, from the top, that has it (a whiteout there hides it).
bool InImageLayers(const std::vector<kcr::images::Mount>& mounts, const std::string& sub) {
  for (const auto& m : mounts) {
    if (m.type == "bind") {
      struct stat st;
      return ::lstat(JoinPath(m.source, sub).c_str(), &st) == 0;
    }
    for (const auto& o : m.options) {
      if (o.rfind("lowerdir=", 0) != 0) continue;
      std::string dirs = o.substr(9);
      for (size_t p = 0; p <= dirs.size();) {
        size_t e = dirs.find(':', p);
        if (e == std::string::npos) e = dirs.size();
        std::string path = JoinPath(dirs.substr(p, e - p), sub);
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0) return !(S_ISCHR(st.st_mode) && st.st_rdev == 0);  // 0:0 is a whiteout
        p = e + 1;
      }
    }
  }
  return false;
}

}  // namespace

grpc::Status RuntimeService::CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* req,
                                             v1::CreateContainerResponse* resp) {
  const v1::ContainerConfig& c = req->config();
  if (req->pod_sandbox_id().empty()) return ToGrpc(absl::InvalidArgumentError("pod_sandbox_id is empty"));
  if (absl::Status st = ValidateContainerConfig(c); !st.ok()) return ToGrpc(st);
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) return ToGrpc(s.status());
  std::lock_guard<std::mutex> lock(LockFor(s->id));
  s = d_.store.GetSandbox(s->id);  // as it is now that no other call on the pod runs
  if (!s.ok()) return ToGrpc(s.status());
  if (s->state != kcr::runtime::SandboxState::kReady) {
    std::string why = NotReadyReason(*s);
    return ToGrpc(absl::FailedPreconditionError("pod sandbox " + s->id + " is not ready" + (why.empty() ? "" : ": " + why)));
  }
  auto image = d_.images.Get(c.image().image());
  if (!image.ok()) return ToGrpc(Annotate(image.status(), "container image"));
  // A foreign image fails here, naming both platforms, not at exec(2).
  if (absl::Status st = d_.images.CheckPlatform(*image); !st.ok()) return ToGrpc(st, "CreateContainer");
  // CDI devices (cdi_devices and cdi.k8s.io/ annotations), resolved before
  // anything is made. An unknown device is FAILED_PRECONDITION naming it:
  // the request is sound, this node lacks the device's spec (a driver may
  // still install it); a malformed name is INVALID_ARGUMENT.
  auto cdi_names = CdiDeviceNames(c);
  if (!cdi_names.ok()) return ToGrpc(cdi_names.status());
  std::optional<kcr::runtime::cdi::ContainerEdits> cdi_edits;
  if (!cdi_names->empty()) {
    auto e = cdi_.Resolve(*cdi_names);
    if (!e.ok() && absl::IsNotFound(e.status())) return ToGrpc(absl::FailedPreconditionError(e.status().message()));
    if (!e.ok()) return ToGrpc(e.status());
    cdi_edits = std::move(*e);
  }
  // Image volumes: read-only, of pulled images, with a sub path inside the
  // image; checked before anything is created. The record keeps the image
  // ID each resolved to (ContainerStatus reports it as image_ref).
  v1::ContainerConfig recorded = c;
  std::vector<std::pair<std::string, std::string>> volume_images;  // chain top, sub path
  for (auto& m : *recorded.mutable_mounts()) {
    if (m.image().image().empty()) continue;
    std::string what = "image volume " + m.container_path();
    if (!m.readonly()) return ToGrpc(absl::InvalidArgumentError(what + ": image volumes must be read-only"));
    auto vi = d_.images.Get(m.image().image());
    if (!vi.ok()) return ToGrpc(Annotate(vi.status(), what));
    const std::string& sub = m.image_sub_path();
    if (!sub.empty()) {
      bool bad = sub[0] == '/';
      for (size_t p = 0; p <= sub.size() && !bad;) {
        size_t e = sub.find('/', p);
        if (e == std::string::npos) e = sub.size();
        if (sub.compare(p, e - p, "..") == 0 && e - p == 2) bad = true;
        p = e + 1;
      }
      if (bad) return ToGrpc(absl::InvalidArgumentError(what + ": sub path \"" + sub + "\" must be relative, without \"..\""));
    }
    m.mutable_image()->set_image_ref(vi->id);
    volume_images.push_back({vi->chain_ids.empty() ? "" : vi->chain_ids.back(), sub});
  }
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
  recorded.SerializeToString(&r.config);
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
           for (size_t i = 0; i < volume_images.size(); i++)
             d_.snapshots.Remove(ImageVolumeKey(r.id, static_cast<int>(i))).IgnoreError();
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
  ContainerSpecInput in{c, pod, *s, *image, r.id, rootfs, d_.paths.PodDir(s->id), ContainerCgroup(d_.cgroups, *s, r.id), {},
                        apparmor_.enabled()};
  int vol = 0;
  for (const auto& m : c.mounts()) {
    if (m.image().image().empty()) continue;
    const auto& [chain, sub] = volume_images[static_cast<size_t>(vol)];
    auto vm = d_.snapshots.Prepare(ImageVolumeKey(r.id, vol++), chain);
    if (!vm.ok()) return ToGrpc(Annotate(vm.status(), "image volume " + m.container_path()), "CreateContainer");
    if (!sub.empty() && !InImageLayers(*vm, sub))
      return ToGrpc(absl::InvalidArgumentError("image volume " + m.container_path() + ": sub path \"" + sub +
                                               "\" does not exist in image " + m.image().image()),
                    "CreateContainer");
    in.image_volumes.push_back({m.container_path(), *vm, sub});
  }
  auto spec = BuildContainerSpec(in);
  if (!spec.ok()) return ToGrpc(spec.status(), "CreateContainer");
  if (cdi_edits) {
    absl::Status st = ApplyCdiEdits(*cdi_edits, &*spec);
    if (st.ok()) st = kcr::runtime::oci::ValidateSpec(*spec);
    if (!st.ok()) return ToGrpc(Annotate(st, "CDI devices"), "CreateContainer");
  }
  if (!spec->hooks.empty()) {
    spec->annotations = {c.annotations().begin(), c.annotations().end()};  // the hooks' state carries them
    if (absl::Status st = WriteBundleSpec(d_.paths.ContainerDir(r.id), *spec); !st.ok())
      return ToGrpc(st, "CreateContainer");
  }
  if (spec->process.apparmor_profile == kDefaultAppArmorProfile)
    if (absl::Status st = apparmor_.EnsureDefault(); !st.ok()) return ToGrpc(st, "CreateContainer");
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
                               {"stdin_once", c.stdin_once()}},
                              kCreateOrStart);
  if (!created.ok()) return ToGrpc(Annotate(created.status(), "create container " + r.name), "CreateContainer");
  bool lost = false;
  {
    // The pod's monitor may have died since it answered: then its watcher
    // declares the pod's containers lost (MonitorLost) before or after
    // this, under the same lock. Before: the pod is no longer ready and
    // this container is lost too; after: it sees this record.
    std::lock_guard<std::mutex> order(transition_mu_);
    auto pod_now = d_.store.GetSandbox(s->id);
    // The identity the init runs as (ContainerStatus.user), kept with the record.
    if (created->contains("user") && (*created)["user"].is_object()) r.extra = json{{"user", (*created)["user"]}}.dump();
    if (!pod_now.ok() || pod_now->state != kcr::runtime::SandboxState::kReady) {
      json extra = json::parse(pod_now.ok() && !pod_now->extra.empty() ? pod_now->extra : "{}", nullptr, false);
      MarkLost(r, extra.is_object() ? extra.value("notReadyReason", "the pod is not ready") : "the pod is not ready");
      lost = true;
    }
    if (absl::Status st = d_.store.UpdateContainer(r); !st.ok()) return ToGrpc(st, "CreateContainer");
    done = true;
    Publish(r.id, v1::CONTAINER_CREATED_EVENT);
    if (lost) Publish(r.id, v1::CONTAINER_STOPPED_EVENT);
  }
  if (lost) spdlog::warn("CreateContainer {}: its pod's monitor died meanwhile; the container is lost", r.id);
  spdlog::info("CreateContainer {} ({} in pod {})", r.id, r.name, s->id);
  resp->set_container_id(r.id);
  return grpc::Status::OK;
}

}  // namespace kcr::cri
