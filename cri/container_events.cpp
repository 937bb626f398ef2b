// GetContainerEvents (kubelet's evented PLEG): CREATED, STARTED, STOPPED and
// DELETED events with the pod's status and the container's, streamed to
// every subscriber until it goes away. STOPPED comes from the pod
// monitors' exit events, so containers that end on their own are reported.
#include <set>

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
// What the monitor has running among the containers kcr's record has
// CREATED: {id -> its state}. Empty when there are none or it does not say.
std::map<std::string, nlohmann::json> RunningButCreated(kcr::monitor::MonitorClient& m, kcr::runtime::PodStore& store,
                                                        const std::string& pod_id) {
  std::map<std::string, nlohmann::json> found;
  std::set<std::string> created;
  for (const auto& c : store.ListContainers(pod_id))
    if (c.state == kcr::runtime::ContainerState::kCreated) created.insert(c.id);
  if (created.empty()) return found;
  auto st = m.Call({{"op", "state"}});
  if (!st.ok()) {
    spdlog::warn("pod {}: containers' state from its monitor: {}", pod_id, st.status().message());
    return found;
  }
  if (!(*st)["containers"].is_array()) return found;
  for (const auto& s : (*st)["containers"])
    if (std::string id = s.value("container", ""); created.count(id) && s.value("status", "") == "running") found[id] = s;
  return found;
}
}  // namespace

// Containers the monitor started whose StartContainer never recorded it
// (kcrd was killed before the answer, or the call's deadline passed): the
// monitor's state has them running. They are RUNNING from now on, not
// CREATED. Exits are in the exit records, which the watcher reads.
void RuntimeService::AdoptStarts(kcr::monitor::MonitorClient& m, const std::string& pod_id) {
  auto running = RunningButCreated(m, d_.store, pod_id);
  std::lock_guard<std::mutex> order(transition_mu_);
  for (const auto& [id, state] : running) {
    auto c = d_.store.GetContainer(id);
    if (!c.ok() || c->state != kcr::runtime::ContainerState::kCreated) continue;  // recorded meanwhile
    if (absl::Status us = RecordStart(*c, state); !us.ok()) {
      spdlog::warn("container {}: {}", id, us.message());
      continue;
    }
    spdlog::warn("container {}: started by its monitor, though its start was not recorded", id);
    Publish(id, v1::CONTAINER_STARTED_EVENT);
  }
}

void RuntimeService::WatchPod(const std::string& pod_id) {
  // Idempotent: a pod has one watcher. One whose monitor ended (its thread
  // is done) is replaced; a std::thread assigned over a joinable one would
  // terminate kcrd.
  {
    Watcher old;
    {
      std::lock_guard<std::mutex> l(watchers_mu_);
      auto it = watchers_.find(pod_id);
      if (it != watchers_.end() && !it->second.ended->load()) return;
      if (it != watchers_.end()) {
        old = std::move(it->second);
        watchers_.erase(it);
      }
    }
    if (old.thread.joinable()) old.thread.join();
  }
  auto conn = kcr::monitor::MonitorClient::Connect(d_.paths.MonitorSocket(pod_id));
  if (conn.ok()) AdoptStarts(**conn, pod_id);
  if (!conn.ok() || !(*conn)->Subscribe().ok()) {
    spdlog::warn("pod {}: no exit events from its monitor", pod_id);
    return;
  }
  // A reaper that died while nobody listened (kcrd was down, or before the
  // subscription): a hello after the subscription says so (the monitor
  // serves one request at a time, so a death after it comes as an event).
  if (auto s = d_.store.GetSandbox(pod_id); s.ok() && s->state == kcr::runtime::SandboxState::kReady &&
                                            SharesPidNamespace(*s)) {
    auto now = kcr::monitor::MonitorClient::Connect(d_.paths.MonitorSocket(pod_id), std::chrono::seconds(2));
    if (now.ok() && (*now)->hello().value("reaper", -1) <= 0)
      PodReaperExited(pod_id, "the reaper of its shared PID namespace (PID 1) is gone; every process in that "
                              "namespace was killed with it");
  }
  std::shared_ptr<kcr::monitor::MonitorClient> shared(std::move(*conn));
  auto closing = std::make_shared<std::atomic<bool>>(false);
  auto ended = std::make_shared<std::atomic<bool>>(false);
  // Exits that happened before the subscription (e.g. while kcrd was
  // down) are in the exit records.
  for (const auto& c : d_.store.ListContainers(pod_id)) Refresh(c);
  std::lock_guard<std::mutex> l(watchers_mu_);
  if (watchers_.count(pod_id)) return;  // a concurrent WatchPod won; `shared` closes with us
  Watcher& w = watchers_[pod_id];
  w.conn = shared;
  w.closing = closing;
  w.ended = ended;
  w.thread = std::thread([this, shared, closing, ended, pod_id] {
    for (;;) {
      auto ev = shared->NextEvent();
      if (!ev.ok()) {
        // The monitor ended: a stop or removal we asked for, or a crash.
        if (!closing->load()) MonitorLost(pod_id, "its monitor exited unexpectedly (" + std::string(ev.status().message()) + ")");
        ended->store(true);
        return;
      }
      if (ev->value("event", "") == "pod_reaper_exited") {
        PodReaperExited(pod_id, "the reaper of its shared PID namespace (PID 1) exited with code " +
                                    std::to_string(ev->value("exit_code", -1)) +
                                    "; every process in that namespace was killed with it");
        continue;
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
