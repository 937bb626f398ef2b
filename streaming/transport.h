#pragma once
// A client connection carrying the remotecommand channels (stdin, stdout,
// stderr, error, resize) once its upgrade is done: WebSocket
// (ws_transport.h) or SPDY. Everything runs on the server's event loop
// thread; a transport calls its handler only there.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace kcr::streaming {

// remotecommand's channel numbers (kubelet's numbering; SPDY maps its
// stream types onto them).
enum Channel : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4 };

class Transport {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // The client sent `data` on `channel`. The transport reads nothing
    // more from the client until `done` runs: that is the backpressure
    // from a process that does not read its stdin.
    virtual void OnData(uint8_t channel, std::string data, std::function<void()> done) = 0;
    // The client closed `channel` (its stdin ended).
    virtual void OnClose(uint8_t channel) = 0;
    // The connection ended (the client went away, broke the protocol, idled
    // past the deadline, or Finish completed). No call follows.
    virtual void OnGone(const Status& why) = 0;
  };
  virtual ~Transport() = default;

  // Starts reading; the handler is held weakly (a session that ended gets
  // no calls).
  virtual void Start(std::weak_ptr<Handler> h) = 0;
  // Queues `data` on `channel`; `done` (may be empty) runs when it was
  // written or the connection failed. Callers keep at most one send per
  // channel outstanding, so a slow client slows the process's output.
  virtual void Send(uint8_t channel, std::string data, std::function<void()> done) = 0;
  // What was queued goes out, then the connection closes normally.
  virtual void Finish() = 0;
  // Closes at once.
  virtual void Abort() = 0;
};

}  // namespace kcr::streaming
