// PodSandboxStatus, ListPodSandbox and StreamPodSandboxes.
#include <nlohmann/json.hpp>

#include "common/log.h"

#include "cri/grpc_status.h"
#include "cri/stream_chunks.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
using kcr::runtime::SandboxRecord;

namespace {

void FillSandbox(const SandboxRecord& s, v1::PodSandbox* out) {
  out->set_id(s.id);
  auto* m = out->mutable_metadata();
  m->set_name(s.name);
  m->set_namespace_(s.ns);
  m->set_uid(s.uid);
  m->set_attempt(s.attempt);
  out->set_state(s.state == kcr::runtime::SandboxState::kReady ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY);
  out->set_created_at(s.created_ns);
  out->mutable_labels()->insert(s.labels.begin(), s.labels.end());
  out->mutable_annotations()->insert(s.annotations.begin(), s.annotations.end());
  out->set_runtime_handler(s.runtime_handler);
}

bool Matches(const v1::PodSandboxFilter& f, const SandboxRecord& s) {
  if (!f.id().empty() && s.id.rfind(f.id(), 0) != 0) return false;
  if (f.has_state()) {
    auto st = s.state == kcr::runtime::SandboxState::kReady ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY;
    if (f.state().state() != st) return false;
  }
  return LabelsMatch(f.label_selector(), s.labels);
}

}  // namespace

grpc::Status RuntimeService::PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest* req,
                                              v1::PodSandboxStatusResponse* resp) {
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) return ToGrpc(s.status());
  v1::PodSandboxConfig c = SandboxConfigOf(*s);
  auto* st = resp->mutable_status();
  v1::PodSandbox brief;
  FillSandbox(*s, &brief);
  st->set_id(s->id);
  *st->mutable_metadata() = brief.metadata();
  st->set_state(brief.state());
  st->set_created_at(s->created_ns);
  *st->mutable_labels() = brief.labels();
  *st->mutable_annotations() = brief.annotations();
  st->set_runtime_handler(s->runtime_handler);
  if (!s->ips.empty()) {
    st->mutable_network()->set_ip(s->ips[0]);
    for (size_t i = 1; i < s->ips.size(); i++) st->mutable_network()->add_additional_ips()->set_ip(s->ips[i]);
  }
  *st->mutable_linux()->mutable_namespaces()->mutable_options() = c.linux().security_context().namespace_options();
  resp->set_timestamp(NowNs());
  if (req->verbose()) {
    nlohmann::json info = {{"netns", s->netns_path}, {"cgroup", s->cgroup_parent},
                           {"monitor", d_.paths.MonitorSocket(s->id)}, {"podDir", d_.paths.PodDir(s->id)}};
    if (auto m = Monitor(s->id, std::chrono::seconds(1)); m.ok()) info["monitorPid"] = (*m)->hello().value("pid", -1);
    if (nlohmann::json extra = nlohmann::json::parse(s->extra.empty() ? "{}" : s->extra, nullptr, false);
        extra.is_object() && extra.contains("notReadyReason"))
      info["notReadyReason"] = extra["notReadyReason"];
    (*resp->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandbox(grpc::ServerContext*, const v1::ListPodSandboxRequest* req,
                                            v1::ListPodSandboxResponse* resp) {
  for (const auto& s : d_.store.ListSandboxes())
    if (Matches(req->filter(), s)) FillSandbox(s, resp->add_items());
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamPodSandboxes(grpc::ServerContext* ctx, const v1::StreamPodSandboxesRequest* req,
                                                grpc::ServerWriter<v1::StreamPodSandboxesResponse>* w) {
  return WriteChunked<v1::StreamPodSandboxesResponse>(
      ctx, w, d_.store.ListSandboxes(), 100, [&](v1::StreamPodSandboxesResponse& m, const auto& s) {
    if (!Matches(req->filter(), s)) return false;
    FillSandbox(s, m.add_pod_sandboxes());
    return true;
  });
}

void RuntimeService::Recover() {
  int ready = 0, lost = 0;
  for (const auto& s : d_.store.ListSandboxes()) {
    // Every pod whose record has containers alive, whatever its state: a
    // kcrd killed in the middle of declaring a pod's monitor lost may have
    // left them RUNNING in a pod that is already NOTREADY.
    bool alive = false;
    for (const auto& c : d_.store.ListContainers(s.id)) {
      auto r = Refresh(c);
      alive = alive || r.state == kcr::runtime::ContainerState::kRunning ||
              r.state == kcr::runtime::ContainerState::kCreated;
    }
    if (s.state != kcr::runtime::SandboxState::kReady && !alive) continue;
    // A monitor that does not answer promptly costs start-up no more
    // than this, and its pod is reported rather than waited for.
    auto m = Monitor(s.id, std::chrono::seconds(2));
    if (!m.ok()) {
      lost++;
      MonitorLost(s.id, "its monitor is gone or does not answer (" + std::string(m.status().message()) + ")");
    } else if (s.state == kcr::runtime::SandboxState::kReady) {
      ready++;
      WatchPod(s.id);  // reads the exit records of what ended meanwhile
    }
  }
  spdlog::info("recovered {} ready pods ({} lost their monitor)", ready, lost);
}

}  // namespace kcr::cri
