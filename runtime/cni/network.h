#pragma once
// NetworkPlugin: pod networking behind one small interface. The CNI
// implementation executes standard plugins exactly as the CNI spec says
// (https://github.com/containernetworking/cni/blob/main/SPEC.md), like libcni:
// the first network configuration in the conf dir by file name, plugins
// looked up in the bin dirs, results cached for DEL and CHECK.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::runtime {

struct PortMapping {
  std::string protocol = "tcp";  // tcp | udp | sctp
  int32_t container_port = 0;
  int32_t host_port = 0;
  std::string host_ip;
};

struct PodNetwork {
  std::string pod_id;         // K8S_POD_INFRA_CONTAINER_ID and CNI_CONTAINERID
  std::string pod_name;       // K8S_POD_NAME
  std::string pod_namespace;  // K8S_POD_NAMESPACE
  std::string pod_uid;        // K8S_POD_UID
  std::string netns_path;     // pinned namespace
  std::string ifname = "eth0";
  std::vector<PortMapping> port_mappings;  // runtimeConfig.portMappings
  std::vector<std::string> dns_servers, dns_searches, dns_options;  // runtimeConfig.dns
  int64_t ingress_rate = 0, ingress_burst = 0, egress_rate = 0, egress_burst = 0;  // bandwidth
  std::string cgroup_path;    // runtimeConfig.cgroupPath
};

struct PodNetworkStatus {
  std::vector<std::string> ips;  // first is the primary, IPv4 before IPv6
  std::string result_json;       // the chain's final CNI result
};

class NetworkPlugin {
 public:
  virtual ~NetworkPlugin() = default;

  // Network name and where its configuration came from (for logs, Status).
  virtual std::string Describe() const = 0;

  // OK when the network can set up pods: configuration parsed, every plugin
  // binary found, and (CNI >= 1.1) STATUS succeeded. FailedPrecondition
  // naming what is missing otherwise.
  virtual Status Ready() = 0;

  // ADD: runs the plugin chain in order, caches the result. On failure runs
  // DEL for the chain (best effort) and returns the plugin's error.
  virtual StatusOr<PodNetworkStatus> Setup(const PodNetwork& pod) = 0;

  // DEL: runs the chain in reverse with the cached result. Idempotent: OK
  // when nothing was set up; removes the cache entry on success.
  virtual Status Teardown(const PodNetwork& pod) = 0;

  // CHECK with the cached result (CNI >= 0.4.0). NotFound with no cache.
  virtual Status Check(const PodNetwork& pod) = 0;

  // CNI GC (CNI >= 1.1): every plugin of the chain is told which
  // attachments (`valid`: pod ID and interface) still exist, so it frees
  // what it holds for any other; cached results of attachments not in
  // `valid` are removed. A no-op for older configuration versions, whose
  // plugins have no GC.
  virtual Status GarbageCollect(const std::vector<PodNetwork>& valid) = 0;

  // kubelet's pod CIDR (UpdateRuntimeConfig): the built-in network
  // allocates from it for pods set up from now on; configured plugins that
  // declare the "ipRanges" capability get it as runtimeConfig.ipRanges.
  // InvalidArgument naming a malformed CIDR.
  virtual Status SetPodCidr(const std::string& cidr) = 0;
};

struct CniOptions {
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> bin_dirs = {"/opt/cni/bin", "/usr/lib/cni"};
  std::string cache_dir;  // result cache (Paths owns it)
  // Used when conf_dir has no network; empty: none (Ready fails).
  std::string default_conflist;
  // Told of every plugin call for a pod (ADD, DEL, CHECK): the plugin's
  // type, the command, seconds taken, success (cri/'s metrics). Called from
  // the calling thread; must be thread-safe.
  std::function<void(const std::string& plugin, const std::string& command, double seconds, bool ok)> observe;
};

// Loads the network configuration now (and on every Ready(): a config
// dropped into conf_dir later is picked up, as kubelet expects).
std::unique_ptr<NetworkPlugin> NewCniNetwork(CniOptions options);

// kcr's built-in network `name`: bridge `bridge_name`, host-local IPAM in
// `subnet`, portmap, loopback.
std::string DefaultConflist(const std::string& name = "kcr", const std::string& bridge_name = "kcr0",
                            const std::string& subnet = "10.88.0.0/16");

}  // namespace kcr::runtime
