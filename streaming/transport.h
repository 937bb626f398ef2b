#pragma once
// A client connection carrying the remotecommand channels (stdin, stdout,
// stderr, error, resize) once its upgrade is done: WebSocket
// (ws_transport.h) or SPDY. Everything runs on the server's event loop
// thread; a transport calls its handler only there.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace kcr::streaming {

// remotecommand's channel numbers (kubelet's numbering; SPDY maps its
// stream types onto them).
// Port-forward numbers its channels per request: data 2k, error 2k+1.
enum Channel : uint32_t { kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4 };

class Transport {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // The client sent `data` on `channel`. The transport reads nothing
    // more from the client until `done` runs: that is the backpressure
    // from a process that does not read its stdin.
    virtual void OnData(uint32_t channel, std::string data, std::function<void()> done) = 0;
    // The client closed `channel` (its stdin ended, or it reset the stream).
    virtual void OnClose(uint32_t channel) = 0;
    // The client reset `channel` (SPDY RST_STREAM): nothing more goes
    // either way on it; what is sent to it is dropped.
    virtual void OnReset(uint32_t channel) { OnClose(channel); }
    // SPDY port-forward: the client opened `channel` with these headers
    // (lower-case names: "port", "requestid", "streamtype").
    virtual void OnOpen(uint32_t channel, const std::map<std::string, std::string>& headers) {}
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
  // Data for a channel the client has not opened yet (SPDY) waits for it.
  virtual void Send(uint32_t channel, std::string data, std::function<void()> done) = 0;
  // The server's side of `channel` ends (SPDY FIN; nothing on WebSocket).
  virtual void CloseChannel(uint32_t channel) {}
  // The client opens each channel itself (SPDY streams, announced by
  // Handler::OnOpen) rather than having them all from the start
  // (WebSocket).
  virtual bool ClientOpensChannels() const { return false; }
  // What was queued goes out, then the connection closes normally.
  virtual void Finish() = 0;
  // Closes at once.
  virtual void Abort() = 0;
};

}  // namespace kcr::streaming
