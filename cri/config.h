#pragma once
// kcrd's configuration: the one owner of configuration defaults. Loaded from
// TOML (`--config`), overridden by flags; `kcrd config default` prints
// DefaultConfigToml(), which documents every key.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::cri {

struct RegistryHost {
  std::vector<std::string> mirrors;  // endpoints tried in order before the origin
  std::string server;                 // replaces the origin when set
  bool insecure_skip_verify = false;
  std::string ca_file, cert_file, key_file;
};

struct Config {
  std::string root = "/var/lib/kcr";
  std::string state = "/run/kcr";
  std::string listen;  // empty: <state>/kcr.sock
  std::string log_level = "info";    // [log] level (a top-level log_level is read too)
  std::string log_format = "text";   // [log] format: text | json | logfmt
  std::string path;                  // the file it was loaded from; "" for defaults (SIGHUP re-reads it)

  std::string cgroup_driver = "auto";  // auto | cgroupfs | systemd
  std::string cgroup_parent = "kcr.slice";
  std::string systemd_bus;  // "": systemd's private socket, else the system bus

  std::string cni_conf_dir = "/etc/cni/net.d";
  std::vector<std::string> cni_bin_dirs = {"/opt/cni/bin", "/usr/lib/cni"};

  std::string pause_image = "registry.k8s.io/pause:3.10";  // reported pinned; never needed
  int max_parallel_layers = 3;
  int max_retries = 3;
  std::map<std::string, RegistryHost> registry;  // key: registry host ("docker.io")

  // [images] limits on what a hostile registry can make one pull cost.
  int64_t max_layer_bytes = int64_t{16} << 30;  // uncompressed, per layer (and its declared size)
  int64_t max_image_bytes = int64_t{64} << 30;  // uncompressed, all layers a pull unpacks
  int blob_timeout_s = 3600;                    // all attempts at one blob; 0: none
  int blob_min_bytes_per_s = 1024;              // a blob slower than this ...
  int blob_stall_timeout_s = 60;                // ... for this long is abandoned
  // [image] platform: what an image index resolves to (and which images
  // CreateContainer runs), "os/arch[/variant]"; "": the host's. Checked at load.
  std::string image_platform;

  std::string streaming_address = "127.0.0.1";
  int streaming_port = 0;  // 0: an ephemeral port
  std::string streaming_tls_cert, streaming_tls_key;  // both: https
  int64_t streaming_token_ttl_ms = 60000;  // how long an Exec/Attach/PortForward URL stays valid
  std::string metrics_address = "127.0.0.1:1338";  // Prometheus /metrics; empty: off

  // [cdi] spec_dirs: where CDI spec files are read, in increasing priority.
  std::vector<std::string> cdi_spec_dirs = {"/etc/cdi", "/var/run/cdi"};
};

// Parses TOML text on top of the defaults. InvalidArgument naming the key on
// a wrong type or an unknown value.
StatusOr<Config> ParseConfig(const std::string& toml_text, const std::string& origin);
StatusOr<Config> LoadConfig(const std::string& path);

// Checks "host:port" for the metrics endpoint (IPv6 as "[::1]:port", port
// 0..65535). InvalidArgument naming the address otherwise.
Status CheckMetricsAddress(const std::string& address);

// The complete default configuration, every key commented.
std::string DefaultConfigToml();

}  // namespace kcr::cri
