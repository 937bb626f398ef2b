#pragma once
// The /metrics endpoint: civetweb (the HTTP server prometheus-cpp's Exposer
// wraps) on exactly the configured address, serving the collectables'
// families in the format the scraper asks for (cri/metrics_format.h: text
// 0.0.4, or OpenMetrics 1.0.0 when the Accept header prefers it, as
// Prometheus's does). Not the Exposer itself: it labels every answer
// "text/plain; charset=utf-8", without the format's version, and cannot
// serve OpenMetrics. Two worker threads (a scrape is a few milliseconds;
// more threads only add memory). A client that sends nothing is dropped
// after 10 s; a worker busy with one never delays CRI, which is served by
// gRPC's own threads.
#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

class CivetServer;

namespace kcr::cri {

class MetricsServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks a free one) and serves
  // `collectables` at /metrics. InvalidArgument for a malformed address,
  // Unavailable naming the address when it cannot listen.
  static StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);
  // Stops listening and waits for the scrapes in progress.
  ~MetricsServer();
  // The port it listens on.
  int port() const { return port_; }

 private:
  class Handler;
  MetricsServer();
  std::unique_ptr<Handler> handler_;  // outlives server_, which calls it
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace kcr::cri
