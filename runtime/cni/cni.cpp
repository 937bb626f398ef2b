// The CNI NetworkPlugin: libcni-compatible conflist loading, plugin
// execution, result caching. Spec: CNI SPEC.md (v1.1.0), "Execution
// protocol", "Network configuration lists", "Deriving execution
// configuration from plugin configuration".
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <mutex>
#include <set>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/log.h"
#include "common/paths.h"
#include "runtime/cni/network.h"
#include "runtime/cni/plugin_exec.h"
#include "runtime/cni/result.h"

namespace kcr::runtime {

using nlohmann::json;

std::string DefaultConflist(const std::string& name, const std::string& bridge, const std::string& subnet) {
  json j = {
      {"cniVersion", "1.0.0"},
      {"name", name},
      {"plugins",
       json::array({
           {{"type", "bridge"}, {"bridge", bridge}, {"isGateway", true}, {"ipMasq", true},
            {"hairpinMode", true},
            {"ipam", {{"type", "host-local"}, {"ranges", json::array({json::array({{{"subnet", subnet}}})})},
                      {"routes", json::array({{{"dst", "0.0.0.0/0"}}})}}}},
           {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}},
           {{"type", "loopback"}},
       })},
  };
  return j.dump(2);
}

namespace {

// "1.0.0" >= "0.4.0"
bool VersionAtLeast(const std::string& v, int major, int minor) {
  int a = 0, b = 0;
  if (std::sscanf(v.c_str(), "%d.%d", &a, &b) < 1) return false;
  return a > major || (a == major && b >= minor);
}

struct NetConf {
  json list;           // normalised to a conflist
  std::string origin;  // file, or "built-in"
  std::string name() const { return list.value("name", ""); }
  std::string version() const { return list.value("cniVersion", "0.2.0"); }
};

StatusOr<NetConf> ParseConf(const std::string& text, const std::string& origin, bool is_list) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(origin + ": not a JSON object");
  NetConf c;
  c.origin = origin;
  if (is_list || j.contains("plugins")) {
    c.list = j;
  } else {
    c.list = {{"cniVersion", j.value("cniVersion", "0.2.0")}, {"name", j.value("name", "")},
              {"plugins", json::array({j})}};
  }
  if (!c.list["name"].is_string() || c.list["name"].get<std::string>().empty())
    return absl::InvalidArgumentError(origin + ": network has no name");
  if (!c.list["plugins"].is_array() || c.list["plugins"].empty())
    return absl::InvalidArgumentError(origin + ": network has no plugins");
  for (auto& p : c.list["plugins"])
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
      return absl::InvalidArgumentError(origin + ": a plugin has no type");
  return c;
}

class CniNetwork final : public NetworkPlugin {
 public:
  explicit CniNetwork(CniOptions o) : opt_(std::move(o)) {}

  std::string Describe() const override {
    std::lock_guard<std::mutex> l(mu_);
    return conf_ ? conf_->name() + " (" + conf_->origin + ")" : "no network";
  }

  Status Ready() override {
    KCR_ASSIGN_OR_RETURN(NetConf conf, Load());
    for (auto& p : conf.list["plugins"]) KCR_RETURN_IF_ERROR(FindPlugin(p["type"]).status());
    if (!VersionAtLeast(conf.version(), 1, 1)) return absl::OkStatus();  // STATUS arrived in 1.1.0
    for (auto& p : conf.list["plugins"]) {
      Status st = RunGlobal("STATUS", conf, p, json());
      if (!st.ok()) return absl::FailedPreconditionError("network " + conf.name() + " not ready: " + std::string(st.message()));
    }
    return absl::OkStatus();
  }

  Status SetPodCidr(const std::string& cidr) override {
    if (cidr.empty()) return absl::OkStatus();
    // IPv4 a.b.c.d/n or an IPv6 prefix; inet_pton checks the address part.
    auto slash = cidr.find('/');
    if (slash == std::string::npos) return absl::InvalidArgumentError("pod CIDR \"" + cidr + "\" has no prefix length");
    std::string addr = cidr.substr(0, slash), len = cidr.substr(slash + 1);
    unsigned char buf[16];
    bool v6 = addr.find(':') != std::string::npos;
    int max = v6 ? 128 : 32;
    char* end = nullptr;
    long n = std::strtol(len.c_str(), &end, 10);
    if (::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1 || len.empty() || *end || n < 1 || n > max)
      return absl::InvalidArgumentError("pod CIDR \"" + cidr + "\" is not an address/prefix");
    std::lock_guard<std::mutex> l(mu_);
    pod_cidr_ = cidr;
    if (opt_.default_conflist.empty()) return absl::OkStatus();
    json j = json::parse(opt_.default_conflist, nullptr, false);
    if (!j.is_object()) return absl::InternalError("built-in network configuration is not JSON");
    for (auto& p : j["plugins"])
      if (p.contains("ipam")) p["ipam"]["ranges"] = json::array({json::array({{{"subnet", cidr}}})});
    opt_.default_conflist = j.dump(2);
    spdlog::info("built-in network: pods get addresses from {} (kubelet's pod CIDR)", cidr);
    return absl::OkStatus();
  }

  Status GarbageCollect(const std::vector<PodNetwork>& valid) override {
    KCR_ASSIGN_OR_RETURN(NetConf conf, Load());
    std::set<std::string> keep;
    json attachments = json::array();
    for (const auto& p : valid) {
      keep.insert("-" + p.pod_id + "-" + p.ifname + ".json");
      attachments.push_back({{"containerID", p.pod_id}, {"ifname", p.ifname}});
    }
    Status first;
    if (VersionAtLeast(conf.version(), 1, 1))
      for (auto& p : conf.list["plugins"]) {
        Status st = RunGlobal("GC", conf, p, attachments);
        if (!st.ok() && first.ok()) first = st;
      }
    // Cached results of attachments that no longer exist, and writes of
    // them cut short (a kcrd killed between a temporary file's creation
    // and its rename).
    if (DIR* d = ::opendir(opt_.cache_dir.c_str())) {
      std::vector<std::string> stale;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        std::string base = CacheBaseName(n);
        if (!base.ends_with(".json")) continue;
        bool live = false;
        for (const auto& k : keep) live = live || base.ends_with(k);
        if (!live) stale.push_back(n);
      }
      ::closedir(d);
      for (const auto& n : stale) {
        spdlog::info("CNI GC: removing the cached result {} of a pod that no longer exists", n);
        ::unlink(JoinPath(opt_.cache_dir, n).c_str());
      }
    }
    return first;
  }

  StatusOr<PodNetworkStatus> Setup(const PodNetwork& pod) override {
    KCR_ASSIGN_OR_RETURN(NetConf conf, Load());
    json prev;
    for (auto& plugin : conf.list["plugins"]) {
      auto r = Run("ADD", conf, plugin, pod, prev);
      if (!r.ok()) {
        Status del = RunChainDel(conf, pod, json());
        if (!del.ok()) spdlog::warn("CNI DEL after failed ADD of pod {}: {}", pod.pod_id, del);
        return r.status();
      }
      prev = std::move(*r);
    }
    json cache = {{"kind", "cniCacheV1"}, {"containerId", pod.pod_id}, {"ifName", pod.ifname},
                  {"networkName", conf.name()}, {"config", conf.list}, {"result", prev}};
    KCR_RETURN_IF_ERROR(fs::MkdirAll(opt_.cache_dir, 0700));
    KCR_RETURN_IF_ERROR(fs::WriteFileAtomic(CachePath(conf.name(), pod), cache.dump(), 0600));
    PodNetworkStatus st;
    st.result_json = prev.dump();
    st.ips = ResultIps(prev);
    return st;
  }

  Status Teardown(const PodNetwork& pod) override {
    auto cached = LoadCache(pod);
    NetConf conf;
    json prev;
    if (cached.ok()) {
      conf.list = (*cached)["config"];
      conf.origin = "cache";
      prev = (*cached)["result"];
    } else {
      KCR_ASSIGN_OR_RETURN(conf, Load());
    }
    KCR_RETURN_IF_ERROR(RunChainDel(conf, pod, prev));
    if (::unlink(CachePath(conf.name(), pod).c_str()) != 0 && errno != ENOENT)
      return ErrnoError("remove CNI cache of pod " + pod.pod_id);
    // A write of this pod's cache that a crash cut short, under whichever
    // network name: nothing reads it, and nothing else would remove it
    // while the pod lives on in kcr's store.
    std::string suffix = "-" + pod.pod_id + "-" + pod.ifname + ".json";
    if (DIR* d = ::opendir(opt_.cache_dir.c_str())) {
      std::vector<std::string> partial;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != CacheBaseName(n) && CacheBaseName(n).ends_with(suffix)) partial.push_back(n);
      }
      ::closedir(d);
      for (const auto& n : partial)
        if (::unlink(JoinPath(opt_.cache_dir, n).c_str()) != 0 && errno != ENOENT)
          return ErrnoError("remove partial CNI cache " + n + " of pod " + pod.pod_id);
    }
    return absl::OkStatus();
  }

  Status Check(const PodNetwork& pod) override {
    KCR_ASSIGN_OR_RETURN(json cached, LoadCache(pod));
    NetConf conf;
    conf.list = cached["config"];
    if (!VersionAtLeast(conf.version(), 0, 4)) return absl::OkStatus();  // CHECK arrived in 0.4.0
    for (auto& plugin : conf.list["plugins"])
      KCR_RETURN_IF_ERROR(Run("CHECK", conf, plugin, pod, cached["result"]).status());
    return absl::OkStatus();
  }

 private:
  StatusOr<NetConf> Load() {
    std::vector<std::string> files;
    if (DIR* d = ::opendir(opt_.conf_dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        auto ends = [&](const std::string& s) { return n.size() > s.size() && n.ends_with(s); };
        if (ends(".conflist") || ends(".conf") || ends(".json")) files.push_back(n);
      }
      ::closedir(d);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string path = JoinPath(opt_.conf_dir, f);
      auto text = fs::ReadFile(path, 1 << 20);
      if (!text.ok()) continue;
      auto conf = ParseConf(*text, path, f.ends_with(".conflist"));
      if (!conf.ok()) {
        spdlog::warn("skipping CNI config {}: {}", path, conf.status().message());
        continue;
      }
      return Remember(std::move(*conf));
    }
    if (std::lock_guard<std::mutex> l(mu_); opt_.default_conflist.empty())
      return absl::FailedPreconditionError("no CNI network configuration in " + opt_.conf_dir);
    std::string builtin;
    {
      std::lock_guard<std::mutex> l(mu_);
      builtin = opt_.default_conflist;
    }
    KCR_ASSIGN_OR_RETURN(NetConf c, ParseConf(builtin, "built-in default network", true));
    return Remember(std::move(c));
  }

  NetConf Remember(NetConf c) {
    std::lock_guard<std::mutex> l(mu_);
    if (!conf_ || conf_->origin != c.origin) spdlog::info("CNI network {} from {}", c.name(), c.origin);
    conf_ = c;
    return c;
  }

  StatusOr<std::string> FindPlugin(const json& type) {
    std::string t = type.get<std::string>();
    if (t.empty() || t.find('/') != std::string::npos || t == "." || t == "..")
      return absl::InvalidArgumentError("invalid CNI plugin type \"" + t + "\"");
    for (const auto& dir : opt_.bin_dirs) {
      std::string p = JoinPath(dir, t);
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
    std::string dirs;
    for (const auto& d : opt_.bin_dirs) dirs += (dirs.empty() ? "" : ":") + d;
    return absl::FailedPreconditionError("CNI plugin \"" + t + "\" not found in " + dirs);
  }

  std::vector<std::string> Env(const std::string& cmd, const PodNetwork& pod) {
    std::string path;
    for (const auto& d : opt_.bin_dirs) path += (path.empty() ? "" : ":") + d;
    return {
        "CNI_COMMAND=" + cmd,
        "CNI_CONTAINERID=" + pod.pod_id,
        "CNI_NETNS=" + pod.netns_path,
        "CNI_IFNAME=" + pod.ifname,
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod.pod_namespace + ";K8S_POD_NAME=" + pod.pod_name +
            ";K8S_POD_INFRA_CONTAINER_ID=" + pod.pod_id + ";K8S_POD_UID=" + pod.pod_uid,
        "CNI_PATH=" + path,
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    };
  }

  // The runtimeConfig a plugin asked for through its "capabilities".
  json RuntimeConfig(const json& plugin, const PodNetwork& pod) {
    json rc = json::object();
    if (!plugin.contains("capabilities") || !plugin["capabilities"].is_object()) return rc;
    const json& caps = plugin["capabilities"];
    auto wants = [&](const char* c) { return caps.contains(c) && caps[c].is_boolean() && caps[c].get<bool>(); };
    if (wants("portMappings") && !pod.port_mappings.empty()) {
      json pm = json::array();
      for (const auto& p : pod.port_mappings) {
        json e = {{"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", p.protocol}};
        if (!p.host_ip.empty()) e["hostIP"] = p.host_ip;
        pm.push_back(e);
      }
      rc["portMappings"] = pm;
    }
    if (wants("bandwidth") && (pod.ingress_rate || pod.egress_rate)) {
      rc["bandwidth"] = {{"ingressRate", pod.ingress_rate}, {"ingressBurst", pod.ingress_burst},
                         {"egressRate", pod.egress_rate}, {"egressBurst", pod.egress_burst}};
    }
    if (wants("dns") && (!pod.dns_servers.empty() || !pod.dns_searches.empty()))
      rc["dns"] = {{"servers", pod.dns_servers}, {"searches", pod.dns_searches}, {"options", pod.dns_options}};
    if (wants("cgroupPath") && !pod.cgroup_path.empty()) rc["cgroupPath"] = pod.cgroup_path;
    if (wants("ipRanges")) {  // kubelet's pod CIDR (UpdateRuntimeConfig), for IPAM that takes it
      std::lock_guard<std::mutex> l(mu_);
      if (!pod_cidr_.empty()) rc["ipRanges"] = json::array({json::array({{{"subnet", pod_cidr_}}})});
    }
    return rc;
  }

  StatusOr<json> Run(const std::string& cmd, const NetConf& conf, const json& plugin, const PodNetwork& pod,
                     const json& prev) {
    if (!opt_.observe) return RunPlugin(cmd, conf, plugin, pod, prev);
    auto start = std::chrono::steady_clock::now();
    StatusOr<json> r = RunPlugin(cmd, conf, plugin, pod, prev);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    opt_.observe(plugin.value("type", std::string("unknown")), cmd, took.count(), r.ok());
    return r;
  }

  StatusOr<json> RunPlugin(const std::string& cmd, const NetConf& conf, const json& plugin, const PodNetwork& pod,
                           const json& prev) {
    KCR_ASSIGN_OR_RETURN(std::string bin, FindPlugin(plugin["type"]));
    json in = plugin;
    in["name"] = conf.name();
    in["cniVersion"] = conf.version();
    json rc = RuntimeConfig(plugin, pod);
    if (!rc.empty()) in["runtimeConfig"] = rc;
    if (!prev.is_null() && !prev.empty()) in["prevResult"] = prev;
    KCR_ASSIGN_OR_RETURN(PluginOutput out, ExecPlugin(bin, Env(cmd, pod), in.dump()));
    if (out.exit_code != 0)
      return absl::UnavailableError(PluginErrorText(plugin["type"].get<std::string>(), out) + " on " + cmd +
                                    " for pod " + pod.pod_id);
    if (cmd != "ADD") return json();
    return ParseAddResult(plugin["type"].get<std::string>(), out.out);
  }

  // STATUS and GC: no container, namespace or interface; GC gets the
  // attachments that are still valid.
  Status RunGlobal(const std::string& cmd, const NetConf& conf, const json& plugin, const json& valid) {
    KCR_ASSIGN_OR_RETURN(std::string bin, FindPlugin(plugin["type"]));
    json in = plugin;
    in["name"] = conf.name();
    in["cniVersion"] = conf.version();
    if (cmd == "GC") in["cni.dev/valid-attachments"] = valid;
    std::string path;
    for (const auto& d : opt_.bin_dirs) path += (path.empty() ? "" : ":") + d;
    KCR_ASSIGN_OR_RETURN(PluginOutput out,
                         ExecPlugin(bin, {"CNI_COMMAND=" + cmd, "CNI_PATH=" + path,
                                          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                                    in.dump()));
    if (out.exit_code != 0) return absl::UnavailableError(PluginErrorText(plugin["type"].get<std::string>(), out) + " on " + cmd);
    return absl::OkStatus();
  }

  Status RunChainDel(const NetConf& conf, const PodNetwork& pod, const json& prev) {
    const json& plugins = conf.list["plugins"];
    Status first;
    for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
      // prevResult on DEL exists since 0.4.0.
      auto r = Run("DEL", conf, *it, pod, VersionAtLeast(conf.version(), 0, 4) ? prev : json());
      if (!r.ok() && first.ok()) first = r.status();
    }
    return first;
  }

  // The cache file a name in the cache directory is or was being written
  // as: fs::WriteFileAtomic writes "<path>.tmp.<n>" and renames it.
  static std::string CacheBaseName(const std::string& n) {
    size_t t = n.rfind(".tmp.");
    if (t == std::string::npos || t + 5 == n.size()) return n;
    for (size_t i = t + 5; i < n.size(); i++)
      if (n[i] < '0' || n[i] > '9') return n;
    return n.substr(0, t);
  }

  std::string CachePath(const std::string& net, const PodNetwork& pod) const {
    return JoinPath(opt_.cache_dir, net + "-" + pod.pod_id + "-" + pod.ifname + ".json");
  }

  StatusOr<json> LoadCache(const PodNetwork& pod) {
    // The cache names the network; find it whatever network is configured now.
    std::string suffix = "-" + pod.pod_id + "-" + pod.ifname + ".json";
    if (DIR* d = ::opendir(opt_.cache_dir.c_str())) {
      std::string found;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > suffix.size() && n.ends_with(suffix)) found = n;
      }
      ::closedir(d);
      if (!found.empty()) {
        KCR_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(JoinPath(opt_.cache_dir, found)));
        json j = json::parse(text, nullptr, false);
        if (j.is_object() && j.contains("config") && j.contains("result")) return j;
        return absl::DataLossError("corrupt CNI cache " + found);
      }
    }
    return absl::NotFoundError("no CNI result cached for pod " + pod.pod_id);
  }

  CniOptions opt_;
  mutable std::mutex mu_;
  std::optional<NetConf> conf_;
  std::string pod_cidr_;  // from UpdateRuntimeConfig; guarded by mu_
};

}  // namespace

std::unique_ptr<NetworkPlugin> NewCniNetwork(CniOptions options) {
  return std::make_unique<CniNetwork>(std::move(options));
}

}  // namespace kcr::runtime
