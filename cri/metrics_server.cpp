#include "cri/metrics_server.h"

#include <CivetServer.h>
#include <civetweb.h>

#include "cri/config.h"
#include "cri/metrics_format.h"

namespace kcr::cri {

class MetricsServer::Handler final : public CivetHandler {
 public:
  explicit Handler(std::vector<std::shared_ptr<prometheus::Collectable>> c) : collectables_(std::move(c)) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const char* accept = mg_get_header(conn, "Accept");
    ExpositionFormat format = NegotiateFormat(accept ? accept : "");
    std::vector<prometheus::MetricFamily> families;
    for (const auto& c : collectables_) {
      auto f = c->Collect();
      families.insert(families.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
    }
    std::string body = Serialize(format, families);
    mg_send_http_ok(conn, ContentType(format), static_cast<long long>(body.size()));
    mg_write(conn, body.data(), body.size());
    return true;
  }

 private:
  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

MetricsServer::MetricsServer() = default;
MetricsServer::~MetricsServer() = default;  // server_ (declared last) stops first

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  KCR_RETURN_IF_ERROR(CheckMetricsAddress(address));
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->handler_ = std::make_unique<Handler>(collectables);
  try {
    // civetweb options: listening_ports binds the given host only;
    // request_timeout_ms bounds a client that holds a connection silent.
    s->server_ = std::make_unique<CivetServer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", "2", "request_timeout_ms", "10000", "enable_keep_alive", "no"});
  } catch (const std::exception& e) {
    return absl::UnavailableError("metrics endpoint: cannot listen on " + address + ": " + e.what());
  }
  s->server_->addHandler("/metrics", s->handler_.get());
  std::vector<int> ports = s->server_->getListeningPorts();
  if (!ports.empty()) s->port_ = ports.front();
  return s;
}

}  // namespace kcr::cri
