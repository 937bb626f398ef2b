// StopContainer: the stop signal (from the config or the image), then
// SIGKILL after the timeout. Idempotent for stopped or missing containers.
#include <signal.h>
#include <string.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

namespace {
// "SIGTERM" / "TERM" / "15" -> 15; 0 when unknown.
int SignalNumber(std::string s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return std::stoi(s);
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  for (int i = 1; i < NSIG; i++)
    if (const char* abbrev = sigabbrev_np(i); abbrev && s == abbrev) return i;
  return 0;
}

// The CRI Signal enum is not numbered like Linux signals: map by name.
int StopSignal(const v1::ContainerConfig& c, const std::string& image_config) {
  if (c.stop_signal() != v1::SIGNAL_RUNTIME_DEFAULT) {
    std::string name = v1::Signal_Name(c.stop_signal());  // "SIGNAL_SIGKILL"
    if (int n = SignalNumber(name.substr(name.find('_') + 1)); n > 0) return n;
  }
  auto j = nlohmann::json::parse(image_config, nullptr, false);
  std::string s = j.is_object() && j.contains("config") && j["config"].is_object()
                      ? j["config"].value("StopSignal", std::string())
                      : std::string();
  if (int n = SignalNumber(s); n > 0) return n;
  return SIGTERM;
}
}  // namespace

grpc::Status RuntimeService::StopContainer(grpc::ServerContext*, const v1::StopContainerRequest* req,
                                           v1::StopContainerResponse*) {
  auto c = d_.store.GetContainer(req->container_id());
  if (!c.ok()) {
    if (c.status().code() == absl::StatusCode::kNotFound) return grpc::Status::OK;
    return ToGrpc(c.status());
  }
  std::unique_lock<std::mutex> lock(LockFor(c->sandbox_id));
  kcr::runtime::ContainerRecord r = Refresh(*c);
  if (r.state == kcr::runtime::ContainerState::kCreated) {
    // Its monitor may run it though the record says CREATED (a start whose
    // answer was lost): what runs is what is stopped.
    if (auto mon = Monitor(r.sandbox_id); mon.ok()) r = AdoptMonitorState(r, **mon);
  }
  if (r.state != kcr::runtime::ContainerState::kRunning) return grpc::Status::OK;
  auto mon = Monitor(r.sandbox_id);
  if (!mon.ok()) return ToGrpc(mon.status(), "StopContainer");
  std::string image_config;
  if (auto img = d_.images.Get(r.image_id); img.ok()) image_config = img->config_json;
  int sig = StopSignal(ContainerConfigOf(r), image_config);
  int64_t timeout = std::max<int64_t>(0, req->timeout());
  auto st = (*mon)->Call({{"op", "stop"}, {"container", r.id}, {"signal", sig}, {"timeout_s", timeout}});
  if (!st.ok()) return ToGrpc(st.status(), "StopContainer");
  // The monitor escalates to SIGKILL itself: the wait holds no pod lock, so
  // kubelet's parallel stops of one pod's containers overlap their grace
  // periods, and other calls on the pod go on meanwhile.
  lock.unlock();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout + 10);
  while (std::chrono::steady_clock::now() < deadline) {
    // The record as stored: the exit may come from the exit record, or
    // from the pod's watcher when the monitor died before the kill (then
    // there is no exit record, and the container died with its monitor).
    auto cur = d_.store.GetContainer(r.id);
    if (!cur.ok()) return grpc::Status::OK;  // removed meanwhile
    r = Refresh(*cur);
    if (r.state != kcr::runtime::ContainerState::kRunning) {
      spdlog::info("StopContainer {} exit {}", r.id, r.exit_code);
      return grpc::Status::OK;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ToGrpc(absl::DeadlineExceededError("container " + r.id + " did not stop"));
}

}  // namespace kcr::cri
