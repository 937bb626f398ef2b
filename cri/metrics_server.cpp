#include "cri/metrics_server.h"

#include "cri/config.h"

namespace kcr::cri {

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  KCR_RETURN_IF_ERROR(CheckMetricsAddress(address));
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->collectables_ = collectables;
  try {
    // civetweb options: listening_ports binds the given host only;
    // request_timeout_ms bounds a client that holds a connection silent.
    s->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", "2", "request_timeout_ms", "10000",
        "enable_keep_alive", "no"});
  } catch (const std::exception& e) {
    return absl::UnavailableError("metrics endpoint: cannot listen on " + address + ": " + e.what());
  }
  for (const auto& c : s->collectables_) s->exposer_->RegisterCollectable(c);
  std::vector<int> ports = s->exposer_->GetListeningPorts();
  if (!ports.empty()) s->port_ = ports.front();
  return s;
}

}  // namespace kcr::cri
