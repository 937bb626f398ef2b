#pragma once
// The /metrics endpoint: prometheus-cpp's Exposer (civetweb) on exactly the
// configured address, text exposition format 0.0.4, two worker threads
// (a scrape is a few milliseconds; more threads only add memory). A client
// that sends nothing is dropped after 10 s; a worker busy with one never
// delays CRI, which is served by gRPC's own threads.
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::cri {

class MetricsServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks a free one) and serves
  // `collectables` at /metrics. InvalidArgument for a malformed address,
  // Unavailable naming the address when it cannot listen.
  static StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);
  // The port it listens on.
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;  // kept alive for the exposer's weak_ptrs
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace kcr::cri
