// GetContainerEvents (kubelet's evented PLEG): CREATED, STARTED, STOPPED and
// DELETED events with the pod's status and the container's, streamed to
// every subscriber until it goes away. STOPPED comes from the pod
// monitors' exit events, so containers that end on their own are reported.
#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

void RuntimeService::Publish(const std::string& container_id, v1::ContainerEventType type,
                             const std::string& pod_id) {
  v1::ContainerEventResponse ev;
  ev.set_container_id(container_id);
  ev.set_container_event_type(type);
  ev.set_created_at(NowNs());
  if (type != v1::CONTAINER_DELETED_EVENT) {
    grpc::ServerContext ctx;
    v1::ContainerStatusRequest creq;
    creq.set_container_id(container_id);
    v1::ContainerStatusResponse cresp;
    if (ContainerStatus(&ctx, &creq, &cresp).ok()) *ev.add_containers_statuses() = cresp.status();
  }
  std::string pod = pod_id;
  if (pod.empty())
    if (auto c = d_.store.GetContainer(container_id); c.ok()) pod = c->sandbox_id;
  if (!pod.empty()) {
    grpc::ServerContext ctx;
    v1::PodSandboxStatusRequest preq;
    preq.set_pod_sandbox_id(pod);
    v1::PodSandboxStatusResponse presp;
    if (PodSandboxStatus(&ctx, &preq, &presp).ok()) *ev.mutable_pod_sandbox_status() = presp.status();
  }
  std::lock_guard<std::mutex> l(events_mu_);
  for (auto& q : subscribers_) {
    std::lock_guard<std::mutex> ql(q->mu);
    if (q->events.size() < 10000) q->events.push_back(ev);  // a stuck reader loses events, not memory
    q->cv.notify_one();
  }
}

grpc::Status RuntimeService::GetContainerEvents(grpc::ServerContext* ctx, const v1::GetEventsRequest*,
                                                grpc::ServerWriter<v1::ContainerEventResponse>* w) {
  auto q = std::make_shared<EventQueue>();
  {
    std::lock_guard<std::mutex> l(events_mu_);
    subscribers_.push_back(q);
  }
  grpc::Status result = grpc::Status::OK;
  while (!ctx->IsCancelled()) {
    std::unique_lock<std::mutex> l(q->mu);
    q->cv.wait_for(l, std::chrono::milliseconds(200), [&] { return !q->events.empty(); });
    while (!q->events.empty()) {
      v1::ContainerEventResponse ev = std::move(q->events.front());
      q->events.pop_front();
      l.unlock();
      if (!w->Write(ev)) {
        result = grpc::Status::CANCELLED;
        break;
      }
      l.lock();
    }
    if (!result.ok()) break;
  }
  std::lock_guard<std::mutex> l(events_mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), q), subscribers_.end());
  return result;
}

namespace {
// Containers the monitor started whose StartContainer never recorded it
// (kcrd was killed before the answer, or the call's deadline passed): the
// monitor's state has them running. They are RUNNING from now on, not
// CREATED. Exits are in the exit records, which the watcher reads.
std::vector<std::string> AdoptStarts(kcr::monitor::MonitorClient& m, kcr::runtime::PodStore& store,
                                     const std::string& pod_id) {
  std::vector<std::string> adopted;
  std::vector<kcr::runtime::ContainerRecord> created;
  for (auto& c : store.ListContainers(pod_id))
    if (c.state == kcr::runtime::ContainerState::kCreated) created.push_back(std::move(c));
  if (created.empty()) return adopted;
  auto st = m.Call({{"op", "state"}});
  if (!st.ok()) {
    spdlog::warn("pod {}: containers' state from its monitor: {}", pod_id, st.status().message());
    return adopted;
  }
  if (!(*st)["containers"].is_array()) return adopted;
  for (auto& c : created)
    for (const auto& s : (*st)["containers"]) {
      if (s.value("container", "") != c.id || s.value("status", "") != "running") continue;
      MarkStarted(c, s);
      if (absl::Status us = store.UpdateContainer(c); !us.ok()) {
        spdlog::warn("container {}: {}", c.id, us.message());
        continue;
      }
      spdlog::warn("container {}: started by its monitor, though its start was not recorded", c.id);
      adopted.push_back(c.id);
    }
  return adopted;
}
}  // namespace

void RuntimeService::WatchPod(const std::string& pod_id) {
  auto conn = kcr::monitor::MonitorClient::Connect(d_.paths.MonitorSocket(pod_id));
  if (conn.ok()) {
    std::vector<std::string> started = AdoptStarts(**conn, d_.store, pod_id);
    std::lock_guard<std::mutex> order(transition_mu_);
    for (const auto& id : started) Publish(id, v1::CONTAINER_STARTED_EVENT);
  }
  if (!conn.ok() || !(*conn)->Subscribe().ok()) {
    spdlog::warn("pod {}: no exit events from its monitor", pod_id);
    return;
  }
  std::shared_ptr<kcr::monitor::MonitorClient> shared(std::move(*conn));
  auto closing = std::make_shared<std::atomic<bool>>(false);
  // Exits that happened before the subscription (e.g. while kcrd was
  // down) are in the exit records.
  for (const auto& c : d_.store.ListContainers(pod_id)) Refresh(c);
  std::lock_guard<std::mutex> l(watchers_mu_);
  Watcher& w = watchers_[pod_id];
  w.conn = shared;
  w.closing = closing;
  w.thread = std::thread([this, shared, closing, pod_id] {
    for (;;) {
      auto ev = shared->NextEvent();
      if (!ev.ok()) {
        // The monitor ended: a stop or removal we asked for, or a crash.
        if (!closing->load()) MonitorLost(pod_id, "its monitor exited unexpectedly (" + std::string(ev.status().message()) + ")");
        return;
      }
      std::string id = ev->value("container", "");
      // A container can exit before its StartContainer has recorded the
      // start: wait for that, so STARTED always precedes STOPPED.
      for (int i = 0; i < 250 && !closing->load(); i++) {
        auto c = d_.store.GetContainer(id);
        if (!c.ok() || c->state != kcr::runtime::ContainerState::kCreated) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      std::lock_guard<std::mutex> order(transition_mu_);
      if (auto c = d_.store.GetContainer(id); c.ok() && c->state != kcr::runtime::ContainerState::kExited) {
        // The event itself when its record could not be written.
        if (Refresh(*c).state != kcr::runtime::ContainerState::kExited) RecordExit(*c, *ev);
        Publish(id, v1::CONTAINER_STOPPED_EVENT);
      }
    }
  });
}

void RuntimeService::UnwatchPod(const std::string& pod_id) {
  Watcher w;
  {
    std::lock_guard<std::mutex> l(watchers_mu_);
    auto it = watchers_.find(pod_id);
    if (it == watchers_.end()) return;
    w = std::move(it->second);
    watchers_.erase(it);
  }
  if (w.closing) w.closing->store(true);
  if (w.conn) w.conn->Close();
  if (w.thread.joinable()) w.thread.join();
}

RuntimeService::~RuntimeService() {
  std::vector<std::string> pods;
  {
    std::lock_guard<std::mutex> l(watchers_mu_);
    for (const auto& [id, w] : watchers_) pods.push_back(id);
  }
  for (const auto& id : pods) UnwatchPod(id);
}

}  // namespace kcr::cri
