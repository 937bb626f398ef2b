#pragma once
// kcrd's daemon metrics (Prometheus, prometheus-cpp): one registry of
// families fed by the CRI interceptor (cri/metrics_interceptor.h), the image
// puller (through PullImage), CNI (through CniOptions::observe) and the
// pod watchers (lost monitors); scrape-time collectors add pod and
// container states (cri/metrics_collectors.h) and the process
// (cri/metrics_process.h). Per-container resource usage is not here: it
// stays in the CRI stats RPCs with cAdvisor's names.
//
// Label sets are bounded: CRI method and status code, pull result and
// failure reason, CNI plugin type and operation; never a pod, container or
// image ID. Updates take no lock shared between RPCs: counters and gauges
// are atomics, and the series of each method and code are created once and
// then found through an immutable table (Family::Add takes the family's
// mutex, so it runs once per series, never per request).
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kcr::cri {

struct BuildInfo {
  std::string version, git_commit, cri_api_version, cgroup_driver;
};

class Metrics {
 public:
  explicit Metrics(const BuildInfo& build);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // What the exposer serves (with the scrape-time collectors).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // One CRI method's series, made on first use. Thread-safe, lock-free once
  // a method's series for a code exist.
  class Method {
   public:
    // `code`: a gRPC status code (0..16); others count as Unknown.
    void Record(int code, double seconds);
    const std::string& name() const { return name_; }

   private:
    friend class Metrics;
    Method(Metrics& m, std::string name) : m_(m), name_(std::move(name)) {}
    Metrics& m_;
    std::string name_;
    std::atomic<prometheus::Histogram*> duration_{nullptr};
    std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
  };
  // The series of `full_method` ("/runtime.v1.RuntimeService/Version"), or
  // of method "unknown" for a name that is no CRI method. The table is
  // built in the constructor from the CRI services' descriptors and never
  // changes, so the lookup takes no lock.
  Method& ForMethod(std::string_view full_method);

  // One image pull in progress: in-flight gauges while it lives, its
  // result when Finish()ed (a pull destroyed unfinished counts as failed,
  // reason other).
  class Pull {
   public:
    // Blob bytes this pull downloaded (any thread, concurrently).
    void AddBytes(size_t n);
    // Counts the pull once with its result and duration.
    void Finish(const Status& result);
    ~Pull();
    Pull(const Pull&) = delete;
    Pull& operator=(const Pull&) = delete;

   private:
    friend class Metrics;
    explicit Pull(Metrics& m);
    Metrics& m_;
    std::atomic<uint64_t> bytes_{0};
    std::atomic<bool> finished_{false};
    std::chrono::steady_clock::time_point start_;
  };
  std::unique_ptr<Pull> StartPull();

  // The bounded failure reason of a failed pull: not_found, unauthorized,
  // too_large, timeout, digest_mismatch, cancelled or other.
  static const char* PullFailureReason(const Status& s);

  // One CNI plugin call (ADD, DEL, CHECK, ...) and whether it succeeded.
  // Lock-free once the calling thread has seen the plugin and operation.
  void CniCall(const std::string& plugin, const std::string& operation, double seconds, bool ok);

  // A pod's monitor died or stopped answering (the pod became NOTREADY).
  void MonitorLost() { monitors_lost_->Increment(); }

  // gRPC's name of a status code ("OK", "NotFound", ...), as grpc-go prints it.
  static const char* CodeName(int code);

 private:
  uint64_t id_ = 0;  // unique per Metrics in this process (CniCall's per-thread cache key)
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* request_duration_;
  std::map<std::string, std::unique_ptr<Method>, std::less<>> methods_;  // immutable after construction
  std::unique_ptr<Method> unknown_method_;

  prometheus::Counter* pulls_ok_;
  prometheus::Counter* pulls_failed_;
  prometheus::Family<prometheus::Counter>* pull_failures_;
  std::map<std::string, prometheus::Counter*, std::less<>> pull_failure_by_reason_;  // immutable
  prometheus::Counter* pull_bytes_;
  prometheus::Histogram* pull_duration_;
  prometheus::Gauge* pulls_in_flight_;
  prometheus::Gauge* pull_in_flight_bytes_;

  prometheus::Family<prometheus::Histogram>* cni_duration_;
  prometheus::Family<prometheus::Counter>* cni_failures_;

  prometheus::Counter* monitors_lost_;
};

}  // namespace kcr::cri
