#pragma once
// MonitorClient: how kcrd talks to a pod's kcr-monitor (PROTOCOL.md).
// Thread-safe: one request at a time per connection. Events arrive on a
// connection of their own (Subscribe). Every call has a deadline: a monitor
// that does not answer in time costs its caller that long, never more, and
// the connection is then closed (a late reply could not be matched).
#include <atomic>
#include <chrono>
#include <functional>
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

inline constexpr std::chrono::milliseconds kDefaultMonitorTimeout{10000};

struct MonitorCallOptions {
  std::chrono::milliseconds timeout = kDefaultMonitorTimeout;
  // Polled while waiting: true abandons the call (Cancelled).
  std::function<bool()> cancelled;
};

class MonitorClient {
 public:
  // Starts `binary` (kcr-monitor) detached for the pod in `o` with
  // posix_spawn (kcrd is multithreaded) and waits until it is ready. The
  // monitor's own error (e.g. a bad hostname) comes back in the status.
  // The monitor gets stdio and no other descriptor; a `binary` named
  // /proc/self/fd/N (kcrd's sealed copy, close-on-exec) is run from fd N.
  static Status Spawn(const std::string& binary, const MonitorOptions& o);

  // Connects to a running monitor and negotiates the protocol version
  // within `timeout`. Unavailable when nothing listens (e.g. after a
  // reboot), DeadlineExceeded when the monitor does not answer.
  static StatusOr<std::unique_ptr<MonitorClient>> Connect(const std::string& socket,
                                                          std::chrono::milliseconds timeout = kDefaultMonitorTimeout);

  using CallOptions = MonitorCallOptions;
  static constexpr std::chrono::milliseconds kDefaultTimeout = kDefaultMonitorTimeout;

  // Sends `req` (an "op" and its fields) and waits for its reply. A reply
  // with ok=false becomes a status with the monitor's code and message;
  // no reply in time is DeadlineExceeded naming the operation. exec_sync's
  // output chunks come back joined, as the reply's "stdout" and "stderr".
  StatusOr<nlohmann::json> Call(nlohmann::json req) { return Call(std::move(req), nullptr, CallOptions{}); }
  StatusOr<nlohmann::json> Call(nlohmann::json req, const CallOptions& o) { return Call(std::move(req), nullptr, o); }
  // As Call, for replies that pass descriptors ("fds": [names]): they are
  // returned in that order.
  StatusOr<nlohmann::json> Call(nlohmann::json req, std::vector<UniqueFd>* fds, const CallOptions& o = {});

  // Turns this connection into an event stream; then use NextEvent only.
  Status Subscribe();
  StatusOr<nlohmann::json> NextEvent();

  const nlohmann::json& hello() const { return hello_; }

  // Unblocks a NextEvent()/Call() in another thread (they then fail).
  void Close();
  // Closed, timed out or failed: a new connection is needed.
  bool broken() const { return broken_.load(); }

 private:
  explicit MonitorClient(UniqueFd fd) : fd_(std::move(fd)) {}
  // The next frame, waiting until `deadline` at the most.
  StatusOr<nlohmann::json> ReadUntil(std::chrono::steady_clock::time_point deadline, const CallOptions& o,
                                     const std::string& op);
  std::timed_mutex mu_;
  std::atomic<bool> broken_{false};
  UniqueFd fd_;
  FrameReader reader_;
  uint64_t next_id_ = 1;
  nlohmann::json hello_;
};

}  // namespace kcr::monitor
