// ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics:
// cAdvisor's container metrics (the set critest's conformance expects),
// from the containers' cgroups, their processes, the snapshot filesystem
// and the pod's network namespace, for kubelet's PodAndContainerStatsFromCRI.
//
// CRI metric values are uint64: "_seconds" metrics are whole seconds (the
// precise CPU time is ContainerStats' usage_core_nano_seconds).
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <functional>

#include "cri/grpc_status.h"
#include "cri/stream_chunks.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "runtime/cni/netns.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

namespace {

enum class Labels { kContainer, kInterface, kFailure, kDevice };

struct Desc {
  const char* name;
  const char* help;
  v1::MetricType type;
  Labels labels;
};

// Label keys, sorted as the API asks (values follow the same order).
const std::vector<std::string>& Keys(Labels l) {
  static const std::vector<std::string> container = {"container", "id", "image"};
  static const std::vector<std::string> iface = {"interface"};
  static const std::vector<std::string> failure = {"container", "failure_type", "id", "image", "scope"};
  static const std::vector<std::string> device = {"container", "device", "id", "image", "major", "minor", "operation"};
  switch (l) {
    case Labels::kInterface: return iface;
    case Labels::kFailure: return failure;
    case Labels::kDevice: return device;
    default: return container;
  }
}

constexpr auto C = v1::COUNTER;
constexpr auto G = v1::GAUGE;

const Desc kMetrics[] = {
    {"container_blkio_device_usage_total", "Blkio device bytes usage", C, Labels::kDevice},
    {"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals", C, Labels::kContainer},
    {"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals", C, Labels::kContainer},
    {"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled (whole seconds)", C, Labels::kContainer},
    {"container_cpu_system_seconds_total", "Cumulative system cpu time consumed (whole seconds)", C, Labels::kContainer},
    {"container_cpu_usage_seconds_total", "Cumulative cpu time consumed (whole seconds)", C, Labels::kContainer},
    {"container_cpu_user_seconds_total", "Cumulative user cpu time consumed (whole seconds)", C, Labels::kContainer},
    {"container_file_descriptors", "Number of open file descriptors for the container", G, Labels::kContainer},
    {"container_fs_inodes_free", "Number of available inodes on the container's filesystem", G, Labels::kContainer},
    {"container_fs_inodes_total", "Number of inodes on the container's filesystem", G, Labels::kContainer},
    {"container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem", G, Labels::kContainer},
    {"container_fs_reads_bytes_total", "Cumulative count of bytes read", C, Labels::kContainer},
    {"container_fs_reads_total", "Cumulative count of reads completed", C, Labels::kContainer},
    {"container_fs_usage_bytes", "Number of bytes consumed by the container's writable layer", G, Labels::kContainer},
    {"container_fs_writes_bytes_total", "Cumulative count of bytes written", C, Labels::kContainer},
    {"container_fs_writes_total", "Cumulative count of writes completed", C, Labels::kContainer},
    {"container_last_seen", "Last time the container was seen by the runtime (seconds since the epoch)", G, Labels::kContainer},
    {"container_memory_cache", "Number of bytes of page cache memory", G, Labels::kContainer},
    {"container_memory_failcnt", "Number of memory usage hits limits", C, Labels::kContainer},
    {"container_memory_failures_total", "Cumulative count of memory allocation failures", C, Labels::kFailure},
    {"container_memory_kernel_usage", "Size of kernel memory allocated to the container", G, Labels::kContainer},
    {"container_memory_mapped_file", "Size of memory mapped files in bytes", G, Labels::kContainer},
    {"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", G, Labels::kContainer},
    {"container_memory_rss", "Size of RSS in bytes", G, Labels::kContainer},
    {"container_memory_swap", "Container swap usage in bytes", G, Labels::kContainer},
    {"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", G, Labels::kContainer},
    {"container_memory_working_set_bytes", "Current working set in bytes", G, Labels::kContainer},
    {"container_network_receive_bytes_total", "Cumulative count of bytes received", C, Labels::kInterface},
    {"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", C, Labels::kInterface},
    {"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", C, Labels::kInterface},
    {"container_network_receive_packets_total", "Cumulative count of packets received", C, Labels::kInterface},
    {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", C, Labels::kInterface},
    {"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", C, Labels::kInterface},
    {"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", C, Labels::kInterface},
    {"container_network_transmit_packets_total", "Cumulative count of packets transmitted", C, Labels::kInterface},
    {"container_oom_events_total", "Count of out of memory events observed for the container", C, Labels::kContainer},
    {"container_processes", "Number of processes running inside the container", G, Labels::kContainer},
    {"container_sockets", "Number of open sockets for the container", G, Labels::kContainer},
    {"container_spec_cpu_period", "CPU period of the container (microseconds)", G, Labels::kContainer},
    {"container_spec_cpu_shares", "CPU share of the container", G, Labels::kContainer},
    {"container_spec_memory_limit_bytes", "Memory limit for the container (0: none)", G, Labels::kContainer},
    {"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container (0: none)", G, Labels::kContainer},
    {"container_start_time_seconds", "Start time of the container since unix epoch in seconds", G, Labels::kContainer},
    {"container_threads", "Number of threads running inside the container", G, Labels::kContainer},
    {"container_threads_max", "Maximum number of threads allowed inside the container (0: no limit)", G, Labels::kContainer},
};

const Desc& Find(const std::string& name) {
  for (const auto& d : kMetrics)
    if (name == d.name) return d;
  std::abort();  // a name missing from the table is a programming error
}

class Emitter {
 public:
  explicit Emitter(google::protobuf::RepeatedPtrField<v1::Metric>* out) : out_(out) {}
  void operator()(const std::string& name, std::vector<std::string> labels, uint64_t value) {
    const Desc& d = Find(name);
    v1::Metric* m = out_->Add();
    m->set_name(d.name);
    m->set_metric_type(d.type);
    for (auto& l : labels) m->add_label_values(std::move(l));
    m->mutable_value()->set_value(value);
  }

 private:
  google::protobuf::RepeatedPtrField<v1::Metric>* out_;
};

// Open descriptors and sockets of the processes in a cgroup.
std::pair<uint64_t, uint64_t> Fds(const std::vector<pid_t>& procs) {
  uint64_t fds = 0, sockets = 0;
  for (pid_t p : procs) {
    std::string dir = "/proc/" + std::to_string(p) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      fds++;
      char target[64];
      ssize_t n = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target - 1);
      if (n > 0 && std::string(target, static_cast<size_t>(n)).rfind("socket:", 0) == 0) sockets++;
    }
    ::closedir(d);
  }
  return {fds, sockets};
}

constexpr uint64_t kSec = 1000000000ull;

}  // namespace

grpc::Status RuntimeService::ListMetricDescriptors(grpc::ServerContext*, const v1::ListMetricDescriptorsRequest*,
                                                   v1::ListMetricDescriptorsResponse* resp) {
  for (const auto& d : kMetrics) {
    v1::MetricDescriptor* out = resp->add_descriptors();
    out->set_name(d.name);
    out->set_help(d.help);
    for (const auto& k : Keys(d.labels)) out->add_label_keys(k);
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxMetrics(grpc::ServerContext*, const v1::ListPodSandboxMetricsRequest*,
                                                   v1::ListPodSandboxMetricsResponse* resp) {
  struct statvfs fsst {};
  bool have_fs = ::statvfs(d_.paths.Snapshots().c_str(), &fsst) == 0;
  uint64_t now_s = static_cast<uint64_t>(NowNs()) / kSec;
  for (const auto& s : d_.store.ListSandboxes()) {
    if (s.state != kcr::runtime::SandboxState::kReady) continue;
    v1::PodSandboxMetrics* pm = resp->add_pod_metrics();
    pm->set_pod_sandbox_id(s.id);
    if (!s.netns_path.empty())
      if (auto net = kcr::runtime::ReadNetCounters(s.netns_path); net.ok()) {
        Emitter emit(pm->mutable_metrics());
        for (const auto& i : *net) {
          emit("container_network_receive_bytes_total", {i.name}, i.rx_bytes);
          emit("container_network_receive_packets_total", {i.name}, i.rx_packets);
          emit("container_network_receive_errors_total", {i.name}, i.rx_errors);
          emit("container_network_receive_packets_dropped_total", {i.name}, i.rx_dropped);
          emit("container_network_transmit_bytes_total", {i.name}, i.tx_bytes);
          emit("container_network_transmit_packets_total", {i.name}, i.tx_packets);
          emit("container_network_transmit_errors_total", {i.name}, i.tx_errors);
          emit("container_network_transmit_packets_dropped_total", {i.name}, i.tx_dropped);
        }
      }
    for (const auto& c : d_.store.ListContainers(s.id)) {
      if (c.state != kcr::runtime::ContainerState::kRunning) continue;
      auto st = d_.cgroups.Stats(ContainerCgroup(d_.cgroups, s, c.id));
      if (!st.ok()) continue;
      v1::ContainerMetrics* cm = pm->add_container_metrics();
      cm->set_container_id(c.id);
      Emitter emit(cm->mutable_metrics());
      std::vector<std::string> l = {c.name, c.id, c.image};  // container, id, image
      emit("container_cpu_cfs_periods_total", l, st->cfs_periods);
      emit("container_cpu_cfs_throttled_periods_total", l, st->cfs_throttled_periods);
      emit("container_cpu_cfs_throttled_seconds_total", l, st->cfs_throttled_ns / kSec);
      emit("container_cpu_system_seconds_total", l, st->cpu_system_ns / kSec);
      emit("container_cpu_usage_seconds_total", l, st->cpu_usage_ns / kSec);
      emit("container_cpu_user_seconds_total", l, st->cpu_user_ns / kSec);
      auto [fds, sockets] = Fds(st->procs);
      emit("container_file_descriptors", l, fds);
      emit("container_sockets", l, sockets);
      if (have_fs) {
        emit("container_fs_inodes_free", l, fsst.f_favail);
        emit("container_fs_inodes_total", l, fsst.f_files);
        emit("container_fs_limit_bytes", l, static_cast<uint64_t>(fsst.f_blocks) * fsst.f_frsize);
      }
      if (auto u = d_.snapshots.Usage(c.id); u.ok()) emit("container_fs_usage_bytes", l, u->bytes);
      emit("container_last_seen", l, now_s);
      emit("container_memory_cache", l, st->memory_cache);
      emit("container_memory_failcnt", l, st->memory_failcnt);
      emit("container_memory_failures_total", {c.name, "pgfault", c.id, c.image, "container"}, st->pgfault);
      emit("container_memory_failures_total", {c.name, "pgmajfault", c.id, c.image, "container"}, st->pgmajfault);
      emit("container_memory_kernel_usage", l, st->memory_kernel);
      emit("container_memory_mapped_file", l, st->memory_mapped_file);
      emit("container_memory_max_usage_bytes", l, st->memory_max_usage);
      emit("container_memory_rss", l, st->memory_rss);
      emit("container_memory_swap", l, st->memory_swap);
      emit("container_memory_usage_bytes", l, st->memory_usage);
      emit("container_memory_working_set_bytes", l, st->memory_working_set);
      emit("container_oom_events_total", l, st->oom_kills);
      emit("container_processes", l, st->procs.size());
      emit("container_spec_cpu_period", l, st->cpu_period);
      emit("container_spec_cpu_shares", l, st->cpu_shares);
      emit("container_spec_memory_limit_bytes", l, st->memory_limit);
      emit("container_spec_memory_swap_limit_bytes", l, st->swap_limit);
      emit("container_start_time_seconds", l, static_cast<uint64_t>(c.started_ns) / kSec);
      emit("container_threads", l, st->threads);
      emit("container_threads_max", l, st->pids_max);
    }
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamPodSandboxMetrics(grpc::ServerContext* ctx,
                                                     const v1::StreamPodSandboxMetricsRequest*,
                                                     grpc::ServerWriter<v1::StreamPodSandboxMetricsResponse>* w) {
  v1::ListPodSandboxMetricsResponse all;
  ListPodSandboxMetrics(ctx, nullptr, &all);
  return WriteChunked<v1::StreamPodSandboxMetricsResponse>(
      ctx, w, *all.mutable_pod_metrics(), 50, [](v1::StreamPodSandboxMetricsResponse& msg, auto& m) {
    *msg.add_pod_sandbox_metrics() = std::move(m);
    return true;
  });
}

}  // namespace kcr::cri
