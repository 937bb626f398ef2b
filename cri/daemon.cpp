#include "cri/daemon.h"

#include <grpcpp/grpcpp.h>
#include <systemd/sd-daemon.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/fs.h"
#include "common/log_format.h"
#include "common/paths.h"
#include "common/sqlite.h"
#include "cri/image_service.h"
#include "cri/metrics.h"
#include "cri/metrics_collectors.h"
#include "cri/metrics_interceptor.h"
#include "cri/metrics_server.h"
#include "cri/root_lock.h"
#include "cri/runtime_service.h"
#include "cri/version.h"
#include "images/image_store_impl.h"
#include "images/snapshot/layer_store.h"
#include "runtime/cgroups/systemd.h"
#include "runtime/monitor/sealed_binary.h"

namespace kcr::cri {

StatusOr<std::unique_ptr<runtime::CgroupManager>> NewCgroupDriver(const std::string& configured,
                                                                   const runtime::SystemdOptions& o) {
  if (configured == "cgroupfs") return runtime::NewCgroupfsManager(o.mount_root);
  if (configured == "systemd") return runtime::NewSystemdCgroupManager(o);
  if (configured != "auto") return absl::InvalidArgumentError("unknown cgroup driver \"" + configured + "\"");
  if (sd_booted() > 0) {
    auto m = runtime::NewSystemdCgroupManager(o);
    if (m.ok()) return m;
    spdlog::warn("systemd is this host's init but kcr cannot use it ({}); using cgroupfs", m.status().message());
  }
  return runtime::NewCgroupfsManager(o.mount_root);
}

namespace {

images::ImageStoreOptions ImageOptions(const Config& c) {
  images::ImageStoreOptions o;
  o.max_parallel_layers = c.max_parallel_layers;
  o.max_retries = c.max_retries;
  for (const auto& [host, r] : c.registry) {
    auto& h = o.hosts[host];
    h.mirrors = r.mirrors;
    h.server = r.server;
    h.insecure_skip_verify = r.insecure_skip_verify;
    h.ca_file = r.ca_file;
    h.cert_file = r.cert_file;
    h.key_file = r.key_file;
  }
  o.pinned_refs = {c.pause_image};
  o.max_layer_bytes = c.max_layer_bytes;
  o.max_image_bytes = c.max_image_bytes;
  o.blob_timeout_s = c.blob_timeout_s;
  o.blob_min_bytes_per_s = c.blob_min_bytes_per_s;
  o.blob_stall_timeout_s = c.blob_stall_timeout_s;
  // [image] platform was checked when the config was loaded.
  if (!c.image_platform.empty())
    if (auto p = images::ParsePlatform(c.image_platform); p.ok()) o.platform = *p;
  spdlog::info("image platform: {}", images::PlatformMatcher(o.platform).Describe());
  return o;
}

std::unique_ptr<runtime::NetworkPlugin> Network(const Config& c, const Paths& paths, Metrics& metrics) {
  runtime::CniOptions o;
  o.observe = [&metrics](const std::string& plugin, const std::string& cmd, double seconds, bool ok) {
    metrics.CniCall(plugin, cmd, seconds, ok);
  };
  o.conf_dir = c.cni_conf_dir;
  o.bin_dirs = c.cni_bin_dirs;
  o.cache_dir = paths.CniResults();
  o.default_conflist = runtime::DefaultConflist();
  return runtime::NewCniNetwork(std::move(o));
}

// Waits for signals on a dedicated thread: SIGTERM/SIGINT shut the server
// down; SIGHUP re-reads the configuration file's [log] level and format
// (nothing else changes without a restart).
class SignalWaiter {
 public:
  SignalWaiter(grpc::Server& server, std::string config_path)
      : thread_([&server, path = std::move(config_path)] {
          sigset_t set;
          sigemptyset(&set);
          sigaddset(&set, SIGTERM);
          sigaddset(&set, SIGINT);
          sigaddset(&set, SIGHUP);
          int sig = 0;
          while (sigwait(&set, &sig) == 0 && sig == SIGHUP) ReloadLogging(path);
          spdlog::info("received signal {}, shutting down", sig);
          sd_notify(0, "STOPPING=1");
          // In-flight unary RPCs get a second to finish; streams are cancelled.
          server.Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
        }) {}
  ~SignalWaiter() { thread_.detach(); }

 private:
  static void ReloadLogging(const std::string& path) {
    if (path.empty()) {
      spdlog::warn("SIGHUP: kcrd runs without a configuration file (--config); nothing to re-read");
      return;
    }
    StatusOr<Config> c = LoadConfig(path);
    if (!c.ok()) {
      spdlog::error("SIGHUP: logging unchanged: {}", c.status().message());
      return;
    }
    if (Status st = SetLogFormat(c->log_format); !st.ok()) spdlog::error("SIGHUP: {}", st.message());
    if (Status st = SetLogLevel(c->log_level); !st.ok()) spdlog::error("SIGHUP: {}", st.message());
    spdlog::info("SIGHUP: log level {}, format {} (from {})", c->log_level, c->log_format, path);
  }
  std::thread thread_;
};

}  // namespace

// kcr-monitor is installed beside kcrd.
std::string MonitorBinary() {
  char buf[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "/usr/local/bin/kcrd";
  return self.substr(0, self.rfind('/') + 1) + "kcr-monitor";
}

// What kcrd spawns monitors from: one sealed memfd copy of kcr-monitor,
// made once per kcrd (a restarted kcrd makes a new one; running monitors
// keep theirs), so that /proc/<pid>/exe of a monitor, a container init or
// an exec child reaches no host binary. `copy` holds the memfd.
std::string SealedMonitorBinary(UniqueFd* copy) {
  std::string path = MonitorBinary();
  StatusOr<UniqueFd> mem = monitor::SealedCopy(path, "kcr-monitor");
  if (!mem.ok()) {
    spdlog::warn("pod monitors run from {} itself, not from a sealed copy: {}", path, mem.status().message());
    return path;
  }
  *copy = std::move(*mem);
  return "/proc/self/fd/" + std::to_string(copy->get());
}

Status RunDaemon(const Config& config) {
  // Descriptors kcrd inherited (its launcher's pipes, say) become
  // close-on-exec: no child of kcrd (monitor, CNI plugin, helper) and so no
  // container inherits one. kcrd's own are opened close-on-exec.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  UniqueFd monitor_copy;
  std::string monitor_binary = SealedMonitorBinary(&monitor_copy);
  Paths paths(config.root, config.state);
  KCR_RETURN_IF_ERROR(fs::MkdirAll(paths.root(), 0700));
  KCR_RETURN_IF_ERROR(fs::MkdirAll(paths.state(), 0711));
  KCR_ASSIGN_OR_RETURN(RootLock lock, RootLock::Acquire(paths.LockFile()));
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(paths.Database()));
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<images::LayerStore> layers, images::NewOverlayLayerStore(paths, *db));
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<images::ImageStore> image_store,
                       images::NewImageStore(paths, *db, *layers, ImageOptions(config)));

  KCR_ASSIGN_OR_RETURN(std::unique_ptr<runtime::CgroupManager> cgroups,
                       NewCgroupDriver(config.cgroup_driver, runtime::SystemdOptions{config.systemd_bus}));
  std::string driver = cgroups->Driver();
  Metrics metrics(BuildInfo{kVersion, kGitCommit, kCriApiVersion, driver});
  std::unique_ptr<runtime::NetworkPlugin> network = Network(config, paths, metrics);
  if (Status ready = network->Ready(); !ready.ok()) spdlog::warn("network not ready: {}", ready.message());
  spdlog::info("pod network: {}", network->Describe());
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<runtime::PodStore> pods, runtime::PodStore::Open(*db));
  KCR_RETURN_IF_ERROR(fs::MkdirAll(paths.Containers(), 0700));
  streaming::ServerOptions so;
  so.address = config.streaming_address;
  so.port = config.streaming_port;
  so.tls_cert_file = config.streaming_tls_cert;
  so.tls_key_file = config.streaming_tls_key;
  so.token_ttl = std::chrono::milliseconds(config.streaming_token_ttl_ms);
  KCR_ASSIGN_OR_RETURN(std::unique_ptr<streaming::Server> streaming, streaming::Server::Start(so));
  spdlog::info("streaming server on {}:{}{}", config.streaming_address, streaming->port(),
               config.streaming_tls_cert.empty() ? "" : " (TLS)");
  RuntimeDeps deps{paths, config, *pods, *network, *image_store, *layers, *cgroups, monitor_binary};
  deps.streaming = streaming.get();
  deps.metrics = &metrics;
  RuntimeService runtime_service(RuntimeInfo{driver}, std::move(deps));
  runtime_service.Recover();
  // CNI GC: plugins free what they hold for pods that no longer exist
  // (e.g. removed while kcrd was down after a crash); stale caches go too.
  std::vector<runtime::PodNetwork> attachments;
  for (const auto& s : pods->ListSandboxes())
    if (!s.netns_path.empty()) {
      runtime::PodNetwork p;
      p.pod_id = s.id;
      attachments.push_back(p);
    }
  if (Status gc = network->GarbageCollect(attachments); !gc.ok()) spdlog::warn("CNI GC: {}", gc.message());
  ImageService image_service(*image_store, &metrics);

  // The metrics endpoint is an aid, not a duty: a kcrd that cannot listen
  // on its address (taken by another process) still serves CRI, and says so.
  std::unique_ptr<MetricsServer> metrics_server;
  if (!config.metrics_address.empty()) {
    auto ms = MetricsServer::Start(config.metrics_address,
                                   {metrics.registry(), std::make_shared<StateCollector>(*db),
                                    std::make_shared<ProcessCollector>()});
    if (ms.ok()) {
      metrics_server = std::move(*ms);
      spdlog::info("metrics on http://{}/metrics", config.metrics_address);
    } else {
      spdlog::error("no metrics endpoint: {}", ms.status().message());
    }
  }

  std::string sock = config.listen.empty() ? paths.DefaultSocket() : config.listen;
  auto slash = sock.rfind('/');
  if (slash != std::string::npos && slash > 0) KCR_RETURN_IF_ERROR(fs::MkdirAll(sock.substr(0, slash), 0711));
  // We hold the root lock, so a socket file left here is a dead daemon's.
  if (::unlink(sock.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove stale socket " + sock);

  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + sock, grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  builder.RegisterService(&runtime_service);
  builder.RegisterService(&image_service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return absl::UnavailableError("cannot listen on unix:" + sock);
  if (::chmod(sock.c_str(), 0660) != 0) return ErrnoError("chmod " + sock);
  spdlog::info("kcrd {} (CRI {}) serving on {}, root {}, state {}, cgroup driver {}", kVersion, kCriApiVersion,
               sock, paths.root(), paths.state(), driver);

  // Under systemd (Type=notify, hack/kcrd.service) the unit is started once
  // the socket answers; elsewhere NOTIFY_SOCKET is unset and this does nothing.
  sd_notify(0, ("READY=1\nSTATUS=serving CRI on " + sock).c_str());
  SignalWaiter waiter(*server, config.path);
  server->Wait();
  ::unlink(sock.c_str());
  spdlog::info("kcrd stopped");
  return absl::OkStatus();
}

}  // namespace kcr::cri
