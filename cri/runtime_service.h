#pragma once
// CRI RuntimeService (runtime.v1). One file per RPC group:
// runtime_info.cpp (Version, Status, RuntimeConfig, UpdateRuntimeConfig);
// RPCs of later steps answer UNIMPLEMENTED naming the RPC
// (runtime_unimplemented.cpp) until their file exists.
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/api.grpc.pb.h"
#include "common/paths.h"
#include "cri/apparmor.h"
#include "cri/config.h"
#include "images/image_store.h"
#include "images/snapshotter.h"
#include "runtime/cdi/registry.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/cni/network.h"
#include "runtime/monitor/client.h"
#include "runtime/pod/store.h"
#include "streaming/server.h"

namespace kcr::cri {

class Metrics;

// What the runtime reports about itself; filled by the daemon's wiring.
struct RuntimeInfo {
  std::string cgroup_driver;  // "cgroupfs" | "systemd"
};

// Everything the RuntimeService works with; all borrowed, outliving it.
struct RuntimeDeps {
  const Paths& paths;
  const Config& config;
  kcr::runtime::PodStore& store;
  kcr::runtime::NetworkPlugin& network;
  images::ImageStore& images;
  images::Snapshotter& snapshots;
  kcr::runtime::CgroupManager& cgroups;
  std::string monitor_binary;
  // Exec/Attach/PortForward URLs; null: those RPCs answer UNAVAILABLE.
  streaming::Server* streaming = nullptr;
  // Daemon metrics (lost monitors); null: not counted.
  Metrics* metrics = nullptr;
};

class RuntimeService final : public ::runtime::v1::RuntimeService::Service {
 public:
  RuntimeService(RuntimeInfo info, RuntimeDeps deps) : info_(std::move(info)), d_(std::move(deps)) {
    cdi_.Devices();  // the CDI specs read once at start-up, so their errors are in the log from the start
  }

  // At start-up: reconnects to every pod's monitor; a pod whose monitor is
  // gone (a crash, or a reboot that also emptied the state dir) becomes
  // NOTREADY and its containers EXITED, with exit codes from the monitors'
  // durable records where they exist. Nothing is started again.
  void Recover();
  ~RuntimeService() override;

#define KCR_UNARY(name, req, resp) \
  grpc::Status name(grpc::ServerContext*, const ::runtime::v1::req*, ::runtime::v1::resp*) override;
#define KCR_STREAM(name, req, resp) \
  grpc::Status name(grpc::ServerContext*, const ::runtime::v1::req*, grpc::ServerWriter<::runtime::v1::resp>*) override;
#include "cri/runtime_rpcs.inc"
#undef KCR_UNARY
#undef KCR_STREAM

 private:
  // Operations on one pod or container are serialised; different IDs run
  // in parallel (a lock per hash bucket).
  std::mutex& LockFor(const std::string& id) { return locks_[std::hash<std::string>{}(id) % locks_.size()]; }
  // The pod's monitor connection, (re)connected on demand. Unavailable when
  // no monitor runs for it (stopped pod, or a reboot).
  StatusOr<std::shared_ptr<kcr::monitor::MonitorClient>> Monitor(
      const std::string& pod_id,
      std::chrono::milliseconds timeout = kcr::monitor::MonitorClient::kDefaultTimeout);
  void ForgetMonitor(const std::string& pod_id);
  // Brings a container record up to date with the exit record its monitor
  // writes before reporting an exit, and stores any change. Never calls the
  // monitor: List* and *Status answer from kcr's store, kept current by the
  // pods' event watchers (WatchPod), so no pod can slow them down.
  kcr::runtime::ContainerRecord Refresh(kcr::runtime::ContainerRecord c);
  // Records an exit (the monitor's exit record or event) and stores it.
  kcr::runtime::ContainerRecord RecordExit(kcr::runtime::ContainerRecord c, const nlohmann::json& exit);
  // The pod's monitor died or does not answer: the pod becomes NOTREADY
  // with `why` (PodSandboxStatus verbose info), its containers EXITED from
  // their exit records, else with reason Unknown (containers first, so a
  // kcrd killed half-way leaves a READY pod for Recover to declare lost
  // again). Takes transition_mu_, never a pod lock (StopSandbox joins the
  // watcher that calls it while holding the pod's).
  void MonitorLost(const std::string& pod_id, const std::string& why);
  // The reaper of the pod's shared PID namespace died (the monitor's
  // pod_reaper_exited event, or its hello's reaper -1 on reconnecting): the
  // pod becomes NOTREADY with `why`, so kubelet recreates it and
  // CreateContainer refuses it. Takes transition_mu_.
  void PodReaperExited(const std::string& pod_id, const std::string& why);
  // Stops every container of a pod, tears down its network and monitor.
  absl::Status StopSandbox(kcr::runtime::SandboxRecord& s);
  absl::Status RemoveContainerLocked(const kcr::runtime::ContainerRecord& c);
  // Records a start the monitor reported (container_start.cpp); the caller
  // holds transition_mu_.
  absl::Status RecordStart(kcr::runtime::ContainerRecord& c, const nlohmann::json& started);
  // A record still CREATED whose monitor started the container all the
  // same (a start whose answer was lost, and whose follow-up state query
  // failed too): the monitor's view is recorded — RUNNING with its pid and
  // start time (a STARTED event), or its exit — and returned. Any other
  // record, or a monitor that does not say, is returned as it is. Takes
  // transition_mu_ (container_start.cpp).
  kcr::runtime::ContainerRecord AdoptMonitorState(kcr::runtime::ContainerRecord c, kcr::monitor::MonitorClient& m);

  // Container events (GetContainerEvents): every subscriber has a queue.
  struct EventQueue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<::runtime::v1::ContainerEventResponse> events;
  };
  // `pod_id`: the container's pod, for a DELETED event (its record is gone).
  void Publish(const std::string& container_id, ::runtime::v1::ContainerEventType type,
               const std::string& pod_id = "");
  // One thread per ready pod turns its monitor's exit events into STOPPED
  // events (and up-to-date records) even when nobody asks.
  // Idempotent while the pod's watcher runs; one whose monitor ended is
  // replaced.
  void WatchPod(const std::string& pod_id);
  // Records the starts the monitor made that StartContainer never recorded.
  void AdoptStarts(kcr::monitor::MonitorClient& m, const std::string& pod_id);
  void UnwatchPod(const std::string& pod_id);

  std::mutex events_mu_;
  // Orders a container's STARTED before its STOPPED: the start handler
  // records and announces the start under it; the exit watcher announces
  // the exit under it. MonitorLost declares a pod's containers lost under
  // it, and CreateContainer and StartContainer record their monitor's
  // answer under it from a fresh read, so no answer overwrites a loss.
  std::mutex transition_mu_;
  std::vector<std::shared_ptr<EventQueue>> subscribers_;
  struct Watcher {
    std::shared_ptr<kcr::monitor::MonitorClient> conn;
    std::shared_ptr<std::atomic<bool>> closing;  // set by UnwatchPod: the end is ours, not a lost monitor
    std::shared_ptr<std::atomic<bool>> ended = std::make_shared<std::atomic<bool>>(false);  // the thread is done
    std::thread thread;
  };
  std::mutex watchers_mu_;
  std::map<std::string, Watcher> watchers_;

  RuntimeInfo info_;
  RuntimeDeps d_;
  std::array<std::mutex, 64> locks_;
  std::mutex monitors_mu_;
  std::map<std::string, std::shared_ptr<kcr::monitor::MonitorClient>> monitors_;
  AppArmorLoader apparmor_{"/usr/sbin/apparmor_parser", d_.paths.AppArmorPolicy(kDefaultAppArmorProfile)};
  // CDI devices ([cdi] spec_dirs), refreshed when their files change.
  kcr::runtime::cdi::Registry cdi_{d_.config.cdi_spec_dirs};
};

}  // namespace kcr::cri
