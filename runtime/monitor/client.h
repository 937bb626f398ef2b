#pragma once
// MonitorClient: how kcrd talks to a pod's kcr-monitor (PROTOCOL.md).
// Thread-safe: one request at a time per connection. Events arrive on a
// connection of their own (Subscribe).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"
#include "runtime/monitor/monitor.h"
#include "runtime/monitor/protocol.h"

namespace kcr::monitor {

class MonitorClient {
 public:
  // Starts `binary` (kcr-monitor) detached for the pod in `o` with
  // posix_spawn (kcrd is multithreaded) and waits until it is ready. The
  // monitor's own error (e.g. a bad hostname) comes back in the status.
  static Status Spawn(const std::string& binary, const MonitorOptions& o);

  // Connects to a running monitor and negotiates the protocol version.
  // Unavailable when nothing listens (e.g. after a reboot).
  static StatusOr<std::unique_ptr<MonitorClient>> Connect(const std::string& socket);

  // Sends `req` (an "op" and its fields) and waits for its reply. A reply
  // with ok=false becomes a status with the monitor's code and message.
  StatusOr<nlohmann::json> Call(nlohmann::json req);
  // As Call, for replies that pass descriptors ("fds": [names]): they are
  // returned in that order.
  StatusOr<nlohmann::json> Call(nlohmann::json req, std::vector<UniqueFd>* fds);

  // Turns this connection into an event stream; then use NextEvent only.
  Status Subscribe();
  StatusOr<nlohmann::json> NextEvent();

  const nlohmann::json& hello() const { return hello_; }

  // Unblocks a NextEvent()/Call() in another thread (they then fail).
  void Close();

 private:
  explicit MonitorClient(UniqueFd fd) : fd_(std::move(fd)) {}
  std::mutex mu_;
  UniqueFd fd_;
  FrameReader reader_;
  uint64_t next_id_ = 1;
  nlohmann::json hello_;
};

}  // namespace kcr::monitor
