// ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats
// and their Stream variants, from the cgroups (CPU, memory) and the
// snapshotter (writable layer).
#include "cri/grpc_status.h"
#include "cri/stream_chunks.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "runtime/cni/netns.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
using kcr::runtime::ContainerRecord;

namespace {

void FillCpuMem(const kcr::runtime::CgroupStats& s, int64_t now, v1::CpuUsage* cpu, v1::MemoryUsage* mem) {
  cpu->set_timestamp(now);
  cpu->mutable_usage_core_nano_seconds()->set_value(s.cpu_usage_ns);
  mem->set_timestamp(now);
  mem->mutable_working_set_bytes()->set_value(s.memory_working_set);
  mem->mutable_usage_bytes()->set_value(s.memory_usage);
  mem->mutable_rss_bytes()->set_value(s.memory_rss);
  mem->mutable_page_faults()->set_value(s.pgfault);
  mem->mutable_major_page_faults()->set_value(s.pgmajfault);
  // What the cgroup may still use before its limit; absent without a limit,
  // as cAdvisor and containerd leave it (kubelet's summary then reports
  // none, and its eviction manager does not read it for containers).
  if (s.memory_limit != 0)
    mem->mutable_available_bytes()->set_value(s.memory_limit > s.memory_working_set ? s.memory_limit - s.memory_working_set : 0);
}

}  // namespace

// usage_nano_cores needs two samples: the previous one per cgroup is kept,
// and samples nobody asked for in ten minutes (removed containers and pods)
// are dropped, so the map does not grow with every container ever run.
static uint64_t NanoCores(std::mutex& mu, std::map<std::string, std::pair<int64_t, uint64_t>>& prev,
                          const std::string& key, int64_t now, uint64_t cpu) {
  constexpr int64_t kMinute = 60'000'000'000;
  std::lock_guard<std::mutex> l(mu);
  static int64_t last_prune = 0;
  if (now - last_prune > kMinute) {
    std::erase_if(prev, [&](const auto& e) { return now - e.second.first > 10 * kMinute; });
    last_prune = now;
  }
  auto it = prev.find(key);
  uint64_t cores = 0;
  if (it != prev.end() && now > it->second.first && cpu >= it->second.second)
    cores = (cpu - it->second.second) * 1000000000ull / static_cast<uint64_t>(now - it->second.first);
  prev[key] = {now, cpu};
  return cores;
}

static std::mutex g_prev_mu;
static std::map<std::string, std::pair<int64_t, uint64_t>> g_prev;

static bool FillContainerStats(RuntimeDeps& d, const ContainerRecord& r, const kcr::runtime::SandboxRecord* pod,
                               v1::ContainerStats* out) {
  v1::ContainerConfig c = ContainerConfigOf(r);
  auto* a = out->mutable_attributes();
  a->set_id(r.id);
  *a->mutable_metadata() = c.metadata();
  a->mutable_labels()->insert(r.labels.begin(), r.labels.end());
  a->mutable_annotations()->insert(r.annotations.begin(), r.annotations.end());
  int64_t now = NowNs();
  if (pod) {
    auto s = d.cgroups.Stats(ContainerCgroup(d.cgroups, *pod, r.id));
    if (s.ok()) {
      FillCpuMem(*s, now, out->mutable_cpu(), out->mutable_memory());
      out->mutable_cpu()->mutable_usage_nano_cores()->set_value(NanoCores(g_prev_mu, g_prev, r.id, now, s->cpu_usage_ns));
    }
  }
  auto* w = out->mutable_writable_layer();
  w->set_timestamp(now);
  w->mutable_fs_id()->set_mountpoint(d.paths.Snapshots());
  if (auto u = d.snapshots.Usage(r.id); u.ok()) {
    w->mutable_used_bytes()->set_value(u->bytes);
    w->mutable_inodes_used()->set_value(u->inodes);
  }
  return true;
}

grpc::Status RuntimeService::ContainerStats(grpc::ServerContext*, const v1::ContainerStatsRequest* req,
                                            v1::ContainerStatsResponse* resp) {
  auto r = d_.store.GetContainer(req->container_id());
  if (!r.ok()) return ToGrpc(r.status());
  auto pod = d_.store.GetSandbox(r->sandbox_id);
  FillContainerStats(d_, *r, pod.ok() ? &*pod : nullptr, resp->mutable_stats());
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainerStats(grpc::ServerContext*, const v1::ListContainerStatsRequest* req,
                                                v1::ListContainerStatsResponse* resp) {
  const auto& f = req->filter();
  for (const auto& r : d_.store.ListContainers()) {
    if (!f.id().empty() && r.id.rfind(f.id(), 0) != 0) continue;
    if (!f.pod_sandbox_id().empty() && r.sandbox_id.rfind(f.pod_sandbox_id(), 0) != 0) continue;
    if (!LabelsMatch(f.label_selector(), r.labels)) continue;
    if (r.state != kcr::runtime::ContainerState::kRunning) continue;
    auto pod = d_.store.GetSandbox(r.sandbox_id);
    FillContainerStats(d_, r, pod.ok() ? &*pod : nullptr, resp->add_stats());
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamContainerStats(grpc::ServerContext* ctx, const v1::StreamContainerStatsRequest* req,
                                                  grpc::ServerWriter<v1::StreamContainerStatsResponse>* w) {
  v1::ListContainerStatsRequest lreq;
  *lreq.mutable_filter() = req->filter();
  v1::ListContainerStatsResponse all;
  ListContainerStats(ctx, &lreq, &all);
  return WriteChunked<v1::StreamContainerStatsResponse>(
      ctx, w, *all.mutable_stats(), 100, [](v1::StreamContainerStatsResponse& m, auto& s) {
    *m.add_container_stats() = std::move(s);
    return true;
  });
}

static void FillPodStats(RuntimeDeps& d, const kcr::runtime::SandboxRecord& s, v1::PodSandboxStats* out) {
  auto* a = out->mutable_attributes();
  a->set_id(s.id);
  a->mutable_metadata()->set_name(s.name);
  a->mutable_metadata()->set_namespace_(s.ns);
  a->mutable_metadata()->set_uid(s.uid);
  a->mutable_metadata()->set_attempt(s.attempt);
  a->mutable_labels()->insert(s.labels.begin(), s.labels.end());
  a->mutable_annotations()->insert(s.annotations.begin(), s.annotations.end());
  int64_t now = NowNs();
  auto* l = out->mutable_linux();
  if (auto st = d.cgroups.Stats(s.cgroup_parent); st.ok()) {
    FillCpuMem(*st, now, l->mutable_cpu(), l->mutable_memory());
    l->mutable_cpu()->mutable_usage_nano_cores()->set_value(NanoCores(g_prev_mu, g_prev, s.id, now, st->cpu_usage_ns));
    l->mutable_process()->set_timestamp(now);
    l->mutable_process()->mutable_process_count()->set_value(st->pids);
  }
  // Network: the pod's namespace, its first interface (eth0) as the default.
  if (!s.netns_path.empty())
    if (auto net = kcr::runtime::ReadNetCounters(s.netns_path); net.ok() && !net->empty()) {
      auto* n = l->mutable_network();
      n->set_timestamp(now);
      size_t def = 0;  // eth0, or the first interface
      for (size_t k = 0; k < net->size(); k++)
        if ((*net)[k].name == "eth0") def = k;
      for (size_t k = 0; k < net->size(); k++) {
        const auto& i = (*net)[k];
        v1::NetworkInterfaceUsage* u = k == def ? n->mutable_default_interface() : n->add_interfaces();
        u->set_name(i.name);
        u->mutable_rx_bytes()->set_value(i.rx_bytes);
        u->mutable_rx_errors()->set_value(i.rx_errors);
        u->mutable_tx_bytes()->set_value(i.tx_bytes);
        u->mutable_tx_errors()->set_value(i.tx_errors);
      }
    }
  for (const auto& c : d.store.ListContainers(s.id))
    if (c.state == kcr::runtime::ContainerState::kRunning) FillContainerStats(d, c, &s, l->add_containers());
}

grpc::Status RuntimeService::PodSandboxStats(grpc::ServerContext*, const v1::PodSandboxStatsRequest* req,
                                             v1::PodSandboxStatsResponse* resp) {
  auto s = d_.store.GetSandbox(req->pod_sandbox_id());
  if (!s.ok()) return ToGrpc(s.status());
  FillPodStats(d_, *s, resp->mutable_stats());
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxStats(grpc::ServerContext*, const v1::ListPodSandboxStatsRequest* req,
                                                 v1::ListPodSandboxStatsResponse* resp) {
  const auto& f = req->filter();
  for (const auto& s : d_.store.ListSandboxes()) {
    if (!f.id().empty() && s.id.rfind(f.id(), 0) != 0) continue;
    if (!LabelsMatch(f.label_selector(), s.labels)) continue;
    if (s.state != kcr::runtime::SandboxState::kReady) continue;
    FillPodStats(d_, s, resp->add_stats());
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StreamPodSandboxStats(grpc::ServerContext* ctx, const v1::StreamPodSandboxStatsRequest* req,
                                                   grpc::ServerWriter<v1::StreamPodSandboxStatsResponse>* w) {
  v1::ListPodSandboxStatsRequest lreq;
  *lreq.mutable_filter() = req->filter();
  v1::ListPodSandboxStatsResponse all;
  ListPodSandboxStats(ctx, &lreq, &all);
  return WriteChunked<v1::StreamPodSandboxStatsResponse>(
      ctx, w, *all.mutable_stats(), 100, [](v1::StreamPodSandboxStatsResponse& m, auto& s) {
    *m.add_pod_sandbox_stats() = std::move(s);
    return true;
  });
}

}  // namespace kcr::cri
