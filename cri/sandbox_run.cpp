// RunPodSandbox: pod directory and files, network namespace + CNI, pod
// cgroup, and the pod's monitor (which holds IPC/UTS, and PID when shared).
// Every step is undone if a later one fails: no half-made pod remains.
#include <sys/mount.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "cri/bandwidth.h"
#include "cri/container_userns.h"
#include "cri/grpc_status.h"
#include "cri/runtime_common.h"
#include "cri/runtime_service.h"
#include "cri/validate.h"
#include "runtime/cni/netns.h"
#include "runtime/pod/pod_files.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
using kcr::runtime::SandboxRecord;

namespace {
// Undo actions run in reverse unless the pod came up.
class Undo {
 public:
  void Add(std::function<void()> f) { steps_.push_back(std::move(f)); }
  void Dismiss() { steps_.clear(); }
  ~Undo() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }

 private:
  std::vector<std::function<void()>> steps_;
};

kcr::runtime::PodNetwork PodNet(const SandboxRecord& s, const v1::PodSandboxConfig& c) {
  kcr::runtime::PodNetwork n;
  n.pod_id = s.id;
  n.pod_name = c.metadata().name();
  n.pod_namespace = c.metadata().namespace_();
  n.pod_uid = c.metadata().uid();
  n.netns_path = s.netns_path;
  for (const auto& p : c.port_mappings()) {
    if (p.host_port() == 0) continue;  // only hostPorts are mapped
    std::string proto = p.protocol() == v1::UDP ? "udp" : p.protocol() == v1::SCTP ? "sctp" : "tcp";
    n.port_mappings.push_back({proto, p.container_port(), p.host_port(), p.host_ip()});
  }
  n.dns_servers = {c.dns_config().servers().begin(), c.dns_config().servers().end()};
  n.dns_searches = {c.dns_config().searches().begin(), c.dns_config().searches().end()};
  n.dns_options = {c.dns_config().options().begin(), c.dns_config().options().end()};
  n.cgroup_path = s.cgroup_parent;
  // Validated by RunPodSandbox before anything was made.
  if (auto bw = PodBandwidthFromAnnotations(s.annotations); bw.ok()) {
    n.ingress_rate = bw->ingress_rate;
    n.ingress_burst = bw->ingress_burst;
    n.egress_rate = bw->egress_rate;
    n.egress_burst = bw->egress_burst;
  }
  return n;
}
}  // namespace

kcr::runtime::PodNetwork PodNetworkOf(const SandboxRecord& s) { return PodNet(s, SandboxConfigOf(s)); }

grpc::Status RuntimeService::RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* req,
                                           v1::RunPodSandboxResponse* resp) {
  const v1::PodSandboxConfig& c = req->config();
  if (absl::Status st = ValidateSandboxConfig(c); !st.ok()) return ToGrpc(st);
  if (auto bw = PodBandwidthFromAnnotations({c.annotations().begin(), c.annotations().end()}); !bw.ok())
    return ToGrpc(bw.status(), "RunPodSandbox");
  if (!req->runtime_handler().empty() && req->runtime_handler() != "kcr")
    return ToGrpc(absl::InvalidArgumentError("runtime handler \"" + req->runtime_handler() +
                                             "\" is not configured (kcr has the default handler only)"));
  const auto& ns = c.linux().security_context().namespace_options();
  bool host_net = ns.network() == v1::NODE;

  SandboxRecord s;
  s.id = kcr::runtime::NewId();
  s.name_key = SandboxNameKey(c.metadata());
  s.name = c.metadata().name();
  s.ns = c.metadata().namespace_();
  s.uid = c.metadata().uid();
  s.attempt = c.metadata().attempt();
  s.state = kcr::runtime::SandboxState::kNotReady;
  s.created_ns = NowNs();
  s.labels = {c.labels().begin(), c.labels().end()};
  s.annotations = {c.annotations().begin(), c.annotations().end()};
  s.runtime_handler = req->runtime_handler();
  auto cgroup = PodCgroup(c, s.id, d_.config.cgroup_parent, d_.cgroups.Driver() == "systemd");
  if (!cgroup.ok()) return ToGrpc(cgroup.status(), "RunPodSandbox");
  s.cgroup_parent = *cgroup;
  c.SerializeToString(&s.config);
  std::lock_guard<std::mutex> lock(LockFor(s.id));
  // The name is reserved first: a duplicate fails before anything exists.
  if (absl::Status st = d_.store.AddSandbox(s); !st.ok()) return ToGrpc(st, "RunPodSandbox");
  Undo undo;
  undo.Add([&] { d_.store.RemoveSandbox(s.id).IgnoreError(); });

  // Pod directory: hostname, hosts, resolv.conf, shm.
  std::string dir = d_.paths.PodDir(s.id);
  undo.Add([dir] { fs::RemoveAll(dir).IgnoreError(); });
  std::string hostname = c.hostname();
  if (host_net) {
    char h[256] = {};
    ::gethostname(h, sizeof h - 1);
    hostname = h;
  }
  kcr::runtime::DnsConfig dns{{c.dns_config().servers().begin(), c.dns_config().servers().end()},
                              {c.dns_config().searches().begin(), c.dns_config().searches().end()},
                              {c.dns_config().options().begin(), c.dns_config().options().end()}};
  auto resolv = kcr::runtime::ResolvConf(dns, fs::ReadFile("/etc/resolv.conf").value_or(""));
  if (!resolv.ok()) return ToGrpc(resolv.status());
  std::string hosts = host_net ? fs::ReadFile("/etc/hosts").value_or(kcr::runtime::PodHosts()) : kcr::runtime::PodHosts();
  for (absl::Status st : {fs::MkdirAll(dir, 0755), fs::MkdirAll(dir + "/shm", 01777),
                    fs::WriteFileAtomic(dir + "/hostname", hostname + "\n"), fs::WriteFileAtomic(dir + "/hosts", hosts),
                    fs::WriteFileAtomic(dir + "/resolv.conf", *resolv)})
    if (!st.ok()) return ToGrpc(Annotate(st, "pod directory"), "RunPodSandbox");
  if (ns.ipc() != v1::NODE) {
    if (::mount("shm", (dir + "/shm").c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") != 0)
      return ToGrpc(ErrnoError("mount pod /dev/shm"), "RunPodSandbox");
    undo.Add([dir] { ::umount2((dir + "/shm").c_str(), MNT_DETACH); });
  }

  // Network: a pinned namespace set up by the CNI plugins.
  if (!host_net) {
    s.netns_path = d_.paths.Netns(s.id);
    if (absl::Status st = fs::MkdirAll(d_.paths.NetnsDir(), 0755); !st.ok()) return ToGrpc(st);
    if (absl::Status st = kcr::runtime::PinNewNetns(s.netns_path); !st.ok()) return ToGrpc(st, "RunPodSandbox");
    undo.Add([&] { kcr::runtime::UnpinNetns(s.netns_path).IgnoreError(); });
    auto net = d_.network.Setup(PodNet(s, c));
    if (!net.ok()) return ToGrpc(Annotate(net.status(), "pod network"), "RunPodSandbox");
    undo.Add([&] { d_.network.Teardown(PodNet(s, c)).IgnoreError(); });
    s.ips = net->ips;
  }

  // The pod cgroup, so pod stats work for every pod.
  if (absl::Status st = d_.cgroups.CreatePod(s.cgroup_parent, s.id); !st.ok())
    return ToGrpc(Annotate(st, "pod cgroup"), "RunPodSandbox");
  undo.Add([&] { d_.cgroups.DestroyPod(s.cgroup_parent, s.id).IgnoreError(); });

  // The monitor holds the pod's namespaces from here on.
  kcr::monitor::MonitorOptions mo;
  mo.pod_id = s.id;
  mo.socket = d_.paths.MonitorSocket(s.id);
  mo.containers_dir = d_.paths.Containers();
  mo.netns = s.netns_path;
  mo.hostname = host_net ? "" : hostname;
  mo.host_uts = host_net;
  mo.host_ipc = ns.ipc() == v1::NODE;
  mo.share_pid = ns.pid() == v1::POD;
  mo.uid_mappings = PodUidMappings(c);  // a pod user namespace (KEP-127), validated above
  mo.gid_mappings = PodGidMappings(c);
  if (absl::Status st = fs::MkdirAll(d_.paths.Monitors(), 0700); !st.ok()) return ToGrpc(st);
  if (absl::Status st = kcr::monitor::MonitorClient::Spawn(d_.monitor_binary, mo); !st.ok())
    return ToGrpc(st, "RunPodSandbox");
  undo.Add([&] {
    if (auto m = Monitor(s.id); m.ok()) (*m)->Call({{"op", "shutdown"}}, kShutdown).IgnoreError();
    ForgetMonitor(s.id);
  });
  auto monitor = Monitor(s.id);
  if (!monitor.ok()) return ToGrpc(monitor.status(), "RunPodSandbox");
  std::vector<pid_t> monitor_pids;
  for (const char* k : {"pid", "reaper"})
    if (int pid = (*monitor)->hello().value(k, -1); pid > 0) monitor_pids.push_back(pid);
  if (absl::Status st = d_.cgroups.AdoptMonitor(s.cgroup_parent, s.id, monitor_pids); !st.ok())
    return ToGrpc(Annotate(st, "pod cgroup"), "RunPodSandbox");

  s.state = kcr::runtime::SandboxState::kReady;
  if (absl::Status st = d_.store.UpdateSandbox(s); !st.ok()) return ToGrpc(st, "RunPodSandbox");
  undo.Dismiss();
  WatchPod(s.id);
  spdlog::info("RunPodSandbox {} ({}/{}) ready, ips [{}]", s.id, s.ns, s.name, s.ips.empty() ? "" : s.ips[0]);
  resp->set_pod_sandbox_id(s.id);
  return grpc::Status::OK;
}

StatusOr<std::shared_ptr<kcr::monitor::MonitorClient>> RuntimeService::Monitor(const std::string& pod_id,
                                                                               std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> l(monitors_mu_);
    if (auto it = monitors_.find(pod_id); it != monitors_.end()) {
      if (!it->second->broken()) return it->second;
      monitors_.erase(it);  // reconnect
    }
  }
  KCR_ASSIGN_OR_RETURN(auto c, kcr::monitor::MonitorClient::Connect(d_.paths.MonitorSocket(pod_id), timeout));
  std::shared_ptr<kcr::monitor::MonitorClient> shared(std::move(c));
  // A reconnection (the last connection broke or timed out, maybe in the
  // middle of a start): the monitor's view of what it started is adopted.
  AdoptStarts(*shared, pod_id);
  std::lock_guard<std::mutex> l(monitors_mu_);
  monitors_[pod_id] = shared;
  return shared;
}

void RuntimeService::ForgetMonitor(const std::string& pod_id) {
  std::lock_guard<std::mutex> l(monitors_mu_);
  monitors_.erase(pod_id);
}

}  // namespace kcr::cri
