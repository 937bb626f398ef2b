// ContainerStatus, ListContainers, StreamContainers, and Refresh: how a
// container's state is learnt from its monitor, or from the exit record the
// monitor left when kcrd was down, or (after a reboot) declared exited.
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/stream_chunks.h"
#include "cri/runtime_common.h"
#include "cri/metrics.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
using kcr::runtime::ContainerRecord;
using kcr::runtime::ContainerState;
using nlohmann::json;

namespace {
void ApplyExit(ContainerRecord& c, const json& e) {
  c.state = ContainerState::kExited;
  c.exit_code = e.value("exit_code", 255);
  c.finished_ns = e.value("finished_ns", int64_t{0});
  if (c.started_ns == 0) c.started_ns = e.value("started_ns", int64_t{0});
  if (e.value("oom", false)) c.reason = "OOMKilled";
  else if (c.reason.empty()) c.reason = c.exit_code == 0 ? "Completed" : "Error";
}
}  // namespace

ContainerRecord RuntimeService::Refresh(ContainerRecord c) {
  if (c.state == ContainerState::kExited) return c;
  // The monitor writes this record before it reports an exit, so a status
  // never lags behind an exit whose event is still on its way.
  auto rec = fs::ReadFile(JoinPath(d_.paths.ContainerDir(c.id), "exit.json"), 1 << 16);
  if (!rec.ok()) return c;
  json e = json::parse(*rec, nullptr, false);
  return e.is_object() ? RecordExit(std::move(c), e) : c;
}

ContainerRecord RuntimeService::RecordExit(ContainerRecord c, const json& exit) {
  ApplyExit(c, exit);
  if (absl::Status st = d_.store.UpdateContainer(c); !st.ok()) spdlog::warn("container {}: {}", c.id, st.message());
  return c;
}

void RuntimeService::MonitorLost(const std::string& pod_id, const std::string& why) {
  // CreateContainer and StartContainer record what their monitor answered
  // under the same lock, re-checking their records and the pod: neither
  // can write a created or running container over its loss.
  std::lock_guard<std::mutex> order(transition_mu_);
  // Containers first: a kcrd killed half-way leaves the pod READY with its
  // monitor gone, which Recover declares lost again (it also re-checks the
  // containers of pods that are not ready).
  for (auto c : d_.store.ListContainers(pod_id)) {
    c = Refresh(c);
    if (c.state != ContainerState::kRunning && c.state != ContainerState::kCreated) continue;
    MarkLost(c, why);
    if (absl::Status st = d_.store.UpdateContainer(c); !st.ok()) spdlog::warn("container {}: {}", c.id, st.message());
    Publish(c.id, v1::CONTAINER_STOPPED_EVENT);
  }
  if (auto s = d_.store.GetSandbox(pod_id); s.ok() && s->state == kcr::runtime::SandboxState::kReady) {
    spdlog::error("pod {} ({}/{}): {}; marking it not ready", s->id, s->ns, s->name, why);
    if (d_.metrics) d_.metrics->MonitorLost();
    MarkNotReady(*s, why);
    if (absl::Status st = d_.store.UpdateSandbox(*s); !st.ok()) spdlog::warn("pod {}: {}", pod_id, st.message());
  }
}

void RuntimeService::PodReaperExited(const std::string& pod_id, const std::string& why) {
  std::lock_guard<std::mutex> order(transition_mu_);
  // The containers in the namespace died with it; their exits came first
  // (recorded by the watcher). Containers with namespaces of their own run
  // on, but no container can join this pod's PID namespace any more.
  if (auto s = d_.store.GetSandbox(pod_id); s.ok() && s->state == kcr::runtime::SandboxState::kReady) {
    spdlog::error("pod {} ({}/{}): {}; marking it not ready", s->id, s->ns, s->name, why);
    MarkNotReady(*s, why);
    if (absl::Status st = d_.store.UpdateSandbox(*s); !st.ok()) spdlog::warn("pod {}: {}", pod_id, st.message());
  }
}

namespace {
// ListContainers answers from the records alone (kubelet lists every
// second): the image as CreateContainer was given it, which kubelet uses
// only through image_id (its image GC's "in use"), as containerd does.
void FillContainer(const ContainerRecord& r, v1::Container* out) {
  v1::ContainerConfig c = ContainerConfigOf(r);
  out->set_id(r.id);
  out->set_pod_sandbox_id(r.sandbox_id);
  *out->mutable_metadata() = c.metadata();
  out->mutable_image()->set_image(r.image);
  out->mutable_image()->set_user_specified_image(c.image().user_specified_image());
  out->set_image_ref(r.image_id);
  out->set_image_id(r.image_id);
  out->set_state(CriState(r.state));
  out->set_created_at(r.created_ns);
  out->mutable_labels()->insert(r.labels.begin(), r.labels.end());
  out->mutable_annotations()->insert(r.annotations.begin(), r.annotations.end());
}

// ContainerStatus' image fields (api.proto): `image` names the image,
// `image_ref` is its digested reference, `image_id` what PullImage returned.
// kubelet creates containers with the image ID as image.image and the pod
// spec's reference as user_specified_image, and shows `image` and
// `image_ref` as the pod's status.containerStatuses[].image and imageID:
// so `image` is the user's reference (else the image's first tag, else what
// CreateContainer got) and `image_ref` its repository digest (else the ID,
// for an image removed since or never pulled from a registry).
void FillImage(const ContainerRecord& r, const v1::ContainerConfig& c, images::ImageStore& images,
               v1::ContainerStatus* st) {
  std::string name = c.image().user_specified_image(), ref = r.image_id;
  if (auto img = images.Get(r.image_id); img.ok()) {
    if (name.empty() && !img->repo_tags.empty()) name = img->repo_tags.front();
    if (!img->repo_digests.empty()) ref = img->repo_digests.front();
  }
  st->mutable_image()->set_image(name.empty() ? r.image : name);
  st->mutable_image()->set_user_specified_image(c.image().user_specified_image());
  st->set_image_ref(ref);
  st->set_image_id(r.image_id);
}

bool Matches(const v1::ContainerFilter& f, const ContainerRecord& r) {
  if (!f.id().empty() && r.id.rfind(f.id(), 0) != 0) return false;
  if (!f.pod_sandbox_id().empty() && r.sandbox_id.rfind(f.pod_sandbox_id(), 0) != 0) return false;
  if (f.has_state() && f.state().state() != CriState(r.state)) return false;
  return LabelsMatch(f.label_selector(), r.labels);
}
}  // namespace

grpc::Status RuntimeService::ContainerStatus(grpc::ServerContext*, const v1::ContainerStatusRequest* req,
                                             v1::ContainerStatusResponse* resp) {
  auto rec = d_.store.GetContainer(req->container_id());
  if (!rec.ok()) return ToGrpc(rec.status());
  ContainerRecord r = Refresh(*rec);
  v1::ContainerConfig c = ContainerConfigOf(r);
  auto* st = resp->mutable_status();
  st->set_id(r.id);
  *st->mutable_metadata() = c.metadata();
  st->set_state(CriState(r.state));
  st->set_created_at(r.created_ns);
  st->set_started_at(r.started_ns);
  st->set_finished_at(r.finished_ns);
  st->set_exit_code(r.exit_code);
  FillImage(r, c, d_.images, st);
  st->set_reason(r.reason);
  st->set_message(r.message);
  st->mutable_labels()->insert(r.labels.begin(), r.labels.end());
  st->mutable_annotations()->insert(r.annotations.begin(), r.annotations.end());
  for (const auto& m : c.mounts()) *st->add_mounts() = m;
  st->set_log_path(r.log_path);
  // The user the container's first process runs as (resolved in its image).
  if (json extra = json::parse(r.extra.empty() ? "{}" : r.extra, nullptr, false);
      extra.is_object() && extra.contains("user") && extra["user"].is_object() && extra["user"].contains("uid")) {
    const json& u = extra["user"];
    auto* lu = st->mutable_user()->mutable_linux();
    lu->set_uid(u.value("uid", int64_t{0}));
    lu->set_gid(u.value("gid", int64_t{0}));
    for (const auto& g : u.value("groups", std::vector<int64_t>{})) lu->add_supplemental_groups(g);
  }
  *st->mutable_resources()->mutable_linux() = c.linux().resources();
  if (req->verbose()) {
    json info = {{"sandboxID", r.sandbox_id}, {"snapshotKey", r.id}, {"logPath", r.log_path}};
    // The process, as containerd reports it (kcrd's PID namespace).
    if (r.state == kcr::runtime::ContainerState::kRunning)
      if (json extra = json::parse(r.extra.empty() ? "{}" : r.extra, nullptr, false);
          extra.is_object() && extra.contains("pid"))
        info["pid"] = extra["pid"];
    (*resp->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainers(grpc::ServerContext*, const v1::ListContainersRequest* req,
                                            v1::ListContainersResponse* resp) {
  for (auto r : d_.store.ListContainers()) {
    r = Refresh(r);
    if (Matches(req->filter(), r)) FillContainer(r, resp->add_containers());
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamContainers(grpc::ServerContext* ctx, const v1::StreamContainersRequest* req,
                                              grpc::ServerWriter<v1::StreamContainersResponse>* w) {
  return WriteChunked<v1::StreamContainersResponse>(
      ctx, w, d_.store.ListContainers(), 100, [&](v1::StreamContainersResponse& m, ContainerRecord r) {
    r = Refresh(r);
    if (!Matches(req->filter(), r)) return false;
    FillContainer(r, m.add_containers());
    return true;
  });
}

}  // namespace kcr::cri
