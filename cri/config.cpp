#include "cri/config.h"

#include <absl/time/time.h>

#include <tuple>
#include <type_traits>

#include <toml++/toml.h>

#include <set>
#include <sstream>

#include "common/fs.h"
#include "images/platform.h"

namespace kcr::cri {

std::string DefaultConfigToml() {
  return R"(# kcrd configuration. Every key is shown with its default value.

# Directory for persistent state: SQLite metadata (kcr.db), content store,
# layer snapshots, pod directories.
root = "/var/lib/kcr"
# Directory for runtime state (tmpfs): monitor sockets, pinned network
# namespaces, container bundles.
state = "/run/kcr"
# CRI gRPC socket (mode 0660). Empty means <state>/kcr.sock.
listen = ""

[log]
# trace | debug | info | warn | error. debug logs every CRI request with
# its method, the pod, container or image it names, and its duration.
# SIGHUP re-reads this key (and format) from the configuration file. The
# older top-level spelling, log_level = "info", is still read; [log] wins.
level = "info"
# text | json (one object per line: ts, level, msg, fields) | logfmt
format = "text"

[cgroup]
# auto (systemd where it is the init system and its bus answers, else
# cgroupfs) | cgroupfs | systemd. systemd: each pod's monitor runs in a
# transient scope "kcr-<pod-id>.scope" (Delegate=yes) in the pod's slice.
driver = "auto"
# Parent of pod cgroups when kubelet gives none. cgroupfs: pods are
# <parent>/<pod-id>; systemd: slice <parent>-<pod-id>.slice.
parent = "kcr.slice"
# sd-bus address of systemd for the systemd driver; empty: systemd's private
# socket (unix:path=/run/systemd/private), else the system bus.
systemd_bus = ""

[cni]
# Network configurations (*.conflist, *.conf, *.json); the first by file name
# is used. With none, kcrd uses a built-in bridge network (kcr0, 10.88.0.0/16).
conf_dir = "/etc/cni/net.d"
# Where CNI plugin binaries are looked up, in order.
bin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]

[images]
# Reported as pinned so kubelet never garbage-collects it; kcr itself needs no
# pause image.
pause_image = "registry.k8s.io/pause:3.10"
# Layers downloaded in parallel per pull.
max_parallel_layers = 3
# Retries (with exponential back-off) of a registry request on a transient error.
max_retries = 3
# What a hostile registry can make one pull cost. Uncompressed bytes of one
# layer (a few KiB of gzip can unpack to terabytes), also the most a layer's
# descriptor may declare; over it the pull fails naming the layer.
max_layer_bytes = 17179869184
# Uncompressed bytes a pull unpacks for one image, all its layers together
# (and the most its descriptors may declare together).
max_image_bytes = 68719476736
# Seconds all attempts at one blob may take together (0: no bound): a blob
# that keeps trickling in fails then.
blob_timeout_s = 3600
# A blob that moves slower than blob_min_bytes_per_s for blob_stall_timeout_s
# seconds is abandoned (and retried).
blob_min_bytes_per_s = 1024
blob_stall_timeout_s = 60

[image]
# The platform ("os/arch[/variant]", e.g. "linux/arm64/v8", "linux/arm/v7")
# an image index resolves to, with containerd's fallbacks (arm/v7 takes v6,
# then v5; arm64 takes arm64 without a variant, then arm/v8..v5; amd64 takes
# 386); CreateContainer refuses images of platforms it does not accept.
# Default: this host's, shown here.
# platform = ")" + images::FormatPlatform(images::HostPlatform()) + R"("

# Per registry host: mirrors tried in order before the origin, and TLS.
# `server` replaces the origin itself (docker.io's is https://registry-1.docker.io).
# [registry.mirrors."docker.io"]
# endpoints = ["http://127.0.0.1:5000"]
# server = ""
# [registry.tls."registry.example.com"]
# insecure_skip_verify = false
# ca_file = ""
# cert_file = ""
# key_file = ""

[streaming]
# The exec/attach/port-forward server whose URLs Exec, Attach and
# PortForward return (kubelet proxies to it, so a node-local address is
# the right default); port 0 picks a free port at start.
address = "127.0.0.1"
port = 0
# PEM certificate chain and key: both set serves https.
tls_cert_file = ""
tls_key_file = ""
# How long a returned URL stays valid (each is good for one connection).
token_ttl = "1m"

[metrics]
# Prometheus endpoint "host:port" serving /metrics (text format 0.0.4);
# empty disables it. IPv6 as "[::1]:1338".
address = "127.0.0.1:1338"

[cdi]
# Directories of CDI spec files (*.json, *.yaml, *.yml) naming the devices
# CreateContainer's cdi_devices and cdi.k8s.io/ annotations ask for. A
# later directory overrides an earlier one; changes are picked up without
# a restart. Malformed files are logged and listed in Status' verbose info.
spec_dirs = ["/etc/cdi", "/var/run/cdi"]
)";
}

namespace {

const std::set<std::string>& spdlog_levels() {
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  return kLevels;
}

template <typename T>
Status Get(const toml::node_view<const toml::node>& n, const std::string& key, T& out) {
  if (!n) return absl::OkStatus();
  // toml++ converts a float to an integer key's type unchecked (undefined
  // for 1.5e300): integer keys take integers only.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    if (!n.is_integer()) return absl::InvalidArgumentError("config key " + key + ": must be an integer");
  auto v = n.value<T>();
  if (!v) return absl::InvalidArgumentError("config key " + key + ": wrong type");
  out = *v;
  return absl::OkStatus();
}

Status GetStrings(const toml::node_view<const toml::node>& n, const std::string& key,
                  std::vector<std::string>& out) {
  if (!n) return absl::OkStatus();
  auto* arr = n.as_array();
  if (!arr) return absl::InvalidArgumentError("config key " + key + ": must be an array of strings");
  out.clear();
  for (auto& e : *arr) {
    auto s = e.value<std::string>();
    if (!s) return absl::InvalidArgumentError("config key " + key + ": must be an array of strings");
    out.push_back(*s);
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<Config> ParseConfig(const std::string& text, const std::string& origin) {
  toml::table t;
  try {
    t = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e.source().begin;
    return absl::InvalidArgumentError("config " + origin + ": " + std::string(e.description()) +
                                      " at " + os.str());
  }
  const toml::table& ct = t;
  toml::node_view<const toml::node> v(ct);
  Config c;
  KCR_RETURN_IF_ERROR(Get(v["root"], "root", c.root));
  KCR_RETURN_IF_ERROR(Get(v["state"], "state", c.state));
  KCR_RETURN_IF_ERROR(Get(v["listen"], "listen", c.listen));
  KCR_RETURN_IF_ERROR(Get(v["log_level"], "log_level", c.log_level));
  KCR_RETURN_IF_ERROR(Get(v["log"]["level"], "log.level", c.log_level));
  KCR_RETURN_IF_ERROR(Get(v["log"]["format"], "log.format", c.log_format));
  if (spdlog_levels().count(c.log_level) == 0)
    return absl::InvalidArgumentError("config key log.level: \"" + c.log_level +
                                      "\" is not trace, debug, info, warn, error, critical or off");
  if (c.log_format != "text" && c.log_format != "json" && c.log_format != "logfmt")
    return absl::InvalidArgumentError("config key log.format: \"" + c.log_format + "\" is not text, json or logfmt");
  KCR_RETURN_IF_ERROR(Get(v["cgroup"]["driver"], "cgroup.driver", c.cgroup_driver));
  KCR_RETURN_IF_ERROR(Get(v["cgroup"]["parent"], "cgroup.parent", c.cgroup_parent));
  KCR_RETURN_IF_ERROR(Get(v["cgroup"]["systemd_bus"], "cgroup.systemd_bus", c.systemd_bus));
  if (c.cgroup_driver != "auto" && c.cgroup_driver != "cgroupfs" && c.cgroup_driver != "systemd")
    return absl::InvalidArgumentError("config key cgroup.driver: \"" + c.cgroup_driver +
                                      "\" is not auto, cgroupfs or systemd");
  KCR_RETURN_IF_ERROR(Get(v["cni"]["conf_dir"], "cni.conf_dir", c.cni_conf_dir));
  KCR_RETURN_IF_ERROR(GetStrings(v["cni"]["bin_dirs"], "cni.bin_dirs", c.cni_bin_dirs));
  KCR_RETURN_IF_ERROR(GetStrings(v["cdi"]["spec_dirs"], "cdi.spec_dirs", c.cdi_spec_dirs));
  for (const auto& d : c.cdi_spec_dirs)
    if (d.empty() || d[0] != '/')
      return absl::InvalidArgumentError("config key cdi.spec_dirs: \"" + d + "\" is not an absolute path");
  KCR_RETURN_IF_ERROR(Get(v["images"]["pause_image"], "images.pause_image", c.pause_image));
  int64_t n = c.max_parallel_layers;
  KCR_RETURN_IF_ERROR(Get(v["images"]["max_parallel_layers"], "images.max_parallel_layers", n));
  if (n < 1 || n > 64) return absl::InvalidArgumentError("config key images.max_parallel_layers: must be 1..64");
  c.max_parallel_layers = static_cast<int>(n);
  n = c.max_retries;
  KCR_RETURN_IF_ERROR(Get(v["images"]["max_retries"], "images.max_retries", n));
  if (n < 0 || n > 20) return absl::InvalidArgumentError("config key images.max_retries: must be 0..20");
  c.max_retries = static_cast<int>(n);

  if (auto* mirrors = v["registry"]["mirrors"].as_table()) {
    for (auto& [host, node] : *mirrors) {
      std::string h(host.str());
      toml::node_view<const toml::node> mv(node);
      KCR_RETURN_IF_ERROR(GetStrings(mv["endpoints"], "registry.mirrors.\"" + h + "\".endpoints",
                                     c.registry[h].mirrors));
      KCR_RETURN_IF_ERROR(Get(mv["server"], "registry.mirrors.\"" + h + "\".server", c.registry[h].server));
    }
  }
  if (auto* tls = v["registry"]["tls"].as_table()) {
    for (auto& [host, node] : *tls) {
      std::string h(host.str());
      std::string k = "registry.tls.\"" + h + "\".";
      toml::node_view<const toml::node> hv(node);
      RegistryHost& r = c.registry[h];
      KCR_RETURN_IF_ERROR(Get(hv["insecure_skip_verify"], k + "insecure_skip_verify", r.insecure_skip_verify));
      KCR_RETURN_IF_ERROR(Get(hv["ca_file"], k + "ca_file", r.ca_file));
      KCR_RETURN_IF_ERROR(Get(hv["cert_file"], k + "cert_file", r.cert_file));
      KCR_RETURN_IF_ERROR(Get(hv["key_file"], k + "key_file", r.key_file));
    }
  }
  // [images] limits on what a hostile registry can make one pull cost.
  KCR_RETURN_IF_ERROR(Get(v["images"]["max_layer_bytes"], "images.max_layer_bytes", c.max_layer_bytes));
  if (c.max_layer_bytes < (1 << 20))
    return absl::InvalidArgumentError("config key images.max_layer_bytes: must be at least 1 MiB");
  KCR_RETURN_IF_ERROR(Get(v["images"]["max_image_bytes"], "images.max_image_bytes", c.max_image_bytes));
  if (c.max_image_bytes < (1 << 20))
    return absl::InvalidArgumentError("config key images.max_image_bytes: must be at least 1 MiB");
  for (auto [key, field, min] : {std::tuple{"blob_timeout_s", &c.blob_timeout_s, 0},
                                 std::tuple{"blob_min_bytes_per_s", &c.blob_min_bytes_per_s, 1},
                                 std::tuple{"blob_stall_timeout_s", &c.blob_stall_timeout_s, 1}}) {
    std::string name = std::string("images.") + key;
    n = *field;
    KCR_RETURN_IF_ERROR(Get(v["images"][key], name, n));
    if (n < min || n > 1000000000)
      return absl::InvalidArgumentError("config key " + name + ": must be " + std::to_string(min) + "..1000000000");
    *field = static_cast<int>(n);
  }

  // [image] platform (the issue's name); [images] platform would be silently
  // ignored, so it is refused with a pointer to the right table.
  if (v["images"]["platform"])
    return absl::InvalidArgumentError("config key images.platform: the platform is set as [image] platform");
  KCR_RETURN_IF_ERROR(Get(v["image"]["platform"], "image.platform", c.image_platform));
  if (v["image"]["platform"]) {
    auto p = images::ParsePlatform(c.image_platform);
    if (!p.ok()) return absl::InvalidArgumentError("config key image.platform: " + std::string(p.status().message()));
  }

  KCR_RETURN_IF_ERROR(Get(v["streaming"]["address"], "streaming.address", c.streaming_address));
  n = c.streaming_port;
  KCR_RETURN_IF_ERROR(Get(v["streaming"]["port"], "streaming.port", n));
  if (n < 0 || n > 65535) return absl::InvalidArgumentError("config key streaming.port: must be 0..65535");
  c.streaming_port = static_cast<int>(n);
  KCR_RETURN_IF_ERROR(Get(v["streaming"]["tls_cert_file"], "streaming.tls_cert_file", c.streaming_tls_cert));
  KCR_RETURN_IF_ERROR(Get(v["streaming"]["tls_key_file"], "streaming.tls_key_file", c.streaming_tls_key));
  if (c.streaming_tls_cert.empty() != c.streaming_tls_key.empty())
    return absl::InvalidArgumentError("config keys streaming.tls_cert_file and streaming.tls_key_file: set both or neither");
  std::string ttl;
  KCR_RETURN_IF_ERROR(Get(v["streaming"]["token_ttl"], "streaming.token_ttl", ttl));
  if (!ttl.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(ttl, &d) || d <= absl::ZeroDuration() || d > absl::Hours(24))
      return absl::InvalidArgumentError("config key streaming.token_ttl: \"" + ttl +
                                        "\" is not a duration between 0 and 24h (e.g. \"1m\", \"30s\")");
    c.streaming_token_ttl_ms = absl::ToInt64Milliseconds(d);
  }
  KCR_RETURN_IF_ERROR(Get(v["metrics"]["address"], "metrics.address", c.metrics_address));
  if (!c.metrics_address.empty()) {
    Status st = CheckMetricsAddress(c.metrics_address);
    if (!st.ok()) return absl::InvalidArgumentError("config key metrics.address: " + std::string(st.message()));
  }
  return c;
}

Status CheckMetricsAddress(const std::string& address) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("metrics address \"" + address + "\": " + why);
  };
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("must be host:port (e.g. 127.0.0.1:1338)");
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.front() == '[' ? host.back() != ']' : host.find(':') != std::string::npos)
    return bad("an IPv6 host must be in brackets ([::1]:1338)");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    return bad("port must be 0..65535");
  return absl::OkStatus();
}

StatusOr<Config> LoadConfig(const std::string& path) {
  auto text = fs::ReadFile(path, 1 << 20);
  if (!text.ok()) return Annotate(text.status(), "config");
  KCR_ASSIGN_OR_RETURN(Config c, ParseConfig(*text, path));
  c.path = path;
  return c;
}

}  // namespace kcr::cri
