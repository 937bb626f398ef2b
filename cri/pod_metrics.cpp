// ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics:
// cAdvisor-named metrics from the pods' cgroups and network namespaces
// (kubelet's PodAndContainerStatsFromCRI). Only metrics whose unit is an
// exact integer are given: CRI metric values are uint64, so CPU time (in
// seconds for cAdvisor) stays in ContainerStats' usage_core_nano_seconds.
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "runtime/cni/netns.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;

namespace {

struct Desc {
  const char* name;
  const char* help;
  v1::MetricType type;
  bool per_interface;  // pod-level, labelled by interface; else per container
};

const Desc kMetrics[] = {
    {"container_memory_usage_bytes", "Current memory usage, including all memory regardless of when it was accessed",
     v1::GAUGE, false},
    {"container_memory_working_set_bytes", "Current working set (usage minus inactive file cache)", v1::GAUGE, false},
    {"container_memory_rss", "Size of anonymous memory (RSS)", v1::GAUGE, false},
    {"container_processes", "Number of processes running inside the container", v1::GAUGE, false},
    {"container_oom_events_total", "Count of out-of-memory kills in the container's cgroup", v1::COUNTER, false},
    {"container_network_receive_bytes_total", "Cumulative bytes received", v1::COUNTER, true},
    {"container_network_receive_packets_total", "Cumulative packets received", v1::COUNTER, true},
    {"container_network_receive_errors_total", "Cumulative errors while receiving", v1::COUNTER, true},
    {"container_network_receive_packets_dropped_total", "Cumulative packets dropped while receiving", v1::COUNTER,
     true},
    {"container_network_transmit_bytes_total", "Cumulative bytes transmitted", v1::COUNTER, true},
    {"container_network_transmit_packets_total", "Cumulative packets transmitted", v1::COUNTER, true},
    {"container_network_transmit_errors_total", "Cumulative errors while transmitting", v1::COUNTER, true},
    {"container_network_transmit_packets_dropped_total", "Cumulative packets dropped while transmitting", v1::COUNTER,
     true},
};

// Label keys, sorted as the API asks.
const std::vector<std::string> kContainerLabels = {"container", "id", "image"};
const std::vector<std::string> kInterfaceLabels = {"interface"};

void Add(google::protobuf::RepeatedPtrField<v1::Metric>* out, const Desc& d, const std::vector<std::string>& labels,
         uint64_t value) {
  v1::Metric* m = out->Add();
  m->set_name(d.name);
  m->set_metric_type(d.type);
  for (const auto& l : labels) m->add_label_values(l);
  m->mutable_value()->set_value(value);
}

}  // namespace

grpc::Status RuntimeService::ListMetricDescriptors(grpc::ServerContext*, const v1::ListMetricDescriptorsRequest*,
                                                   v1::ListMetricDescriptorsResponse* resp) {
  for (const auto& d : kMetrics) {
    v1::MetricDescriptor* out = resp->add_descriptors();
    out->set_name(d.name);
    out->set_help(d.help);
    for (const auto& k : d.per_interface ? kInterfaceLabels : kContainerLabels) out->add_label_keys(k);
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxMetrics(grpc::ServerContext*, const v1::ListPodSandboxMetricsRequest*,
                                                   v1::ListPodSandboxMetricsResponse* resp) {
  for (const auto& s : d_.store.ListSandboxes()) {
    if (s.state != kcr::runtime::SandboxState::kReady) continue;
    v1::PodSandboxMetrics* pm = resp->add_pod_metrics();
    pm->set_pod_sandbox_id(s.id);
    if (!s.netns_path.empty())
      if (auto net = kcr::runtime::ReadNetCounters(s.netns_path); net.ok())
        for (const auto& i : *net) {
          const uint64_t values[] = {i.rx_bytes, i.rx_packets, i.rx_errors, i.rx_dropped,
                                     i.tx_bytes, i.tx_packets, i.tx_errors, i.tx_dropped};
          size_t k = 0;
          for (const auto& d : kMetrics)
            if (d.per_interface) Add(pm->mutable_metrics(), d, {i.name}, values[k++]);
        }
    for (const auto& c : d_.store.ListContainers(s.id)) {
      if (c.state != kcr::runtime::ContainerState::kRunning) continue;
      auto st = d_.cgroups.Stats(s.cgroup_parent + "/" + c.id);
      if (!st.ok()) continue;
      v1::ContainerMetrics* cm = pm->add_container_metrics();
      cm->set_container_id(c.id);
      std::vector<std::string> labels = {c.name, c.id, c.image};
      const uint64_t values[] = {st->memory_usage, st->memory_working_set, st->memory_rss, st->pids, st->oom_kills};
      size_t k = 0;
      for (const auto& d : kMetrics)
        if (!d.per_interface) Add(cm->mutable_metrics(), d, labels, values[k++]);
    }
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamPodSandboxMetrics(grpc::ServerContext* ctx,
                                                     const v1::StreamPodSandboxMetricsRequest*,
                                                     grpc::ServerWriter<v1::StreamPodSandboxMetricsResponse>* w) {
  v1::ListPodSandboxMetricsResponse all;
  ListPodSandboxMetrics(ctx, nullptr, &all);
  v1::StreamPodSandboxMetricsResponse chunk;
  for (auto& m : *all.mutable_pod_metrics()) {
    *chunk.add_pod_sandbox_metrics() = std::move(m);
    if (chunk.pod_sandbox_metrics_size() == 50) {
      if (!w->Write(chunk)) return grpc::Status::CANCELLED;
      chunk.Clear();
    }
  }
  if (chunk.pod_sandbox_metrics_size() > 0 && !w->Write(chunk)) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

}  // namespace kcr::cri
