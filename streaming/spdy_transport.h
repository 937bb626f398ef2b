#pragma once
// Transport over a SPDY/3.1 session (streaming/spdy/session.h, sans I/O)
// after `Upgrade: SPDY/3.1`, or tunneled in WebSocket binary messages
// (client-go's port-forward dialer). The client opens one stream per
// channel: remotecommand names it with a "streamtype" header (stdin,
// stdout, stderr, error, resize); port-forward with "streamtype" (data,
// error), "port" and "requestid", mapped to channels 2k and 2k+1 for the
// k-th request ID. Every stream is answered (SYN_REPLY) as it opens; data
// for a channel not opened yet waits for it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "streaming/transport.h"

namespace kcr::streaming {

struct SpdyProtocol {
  std::string name;  // for X-Stream-Protocol-Version ("" when the client offered none)
  int version = 1;   // remotecommand 1..4
  bool portforward = false;
};

// The client's X-Stream-Protocol-Version values (comma-joined, its order of
// preference) against what kubelet serves: v4/v3/v2/channel.k8s.io for
// exec and attach, portforward.k8s.io for port-forward. InvalidArgument
// naming the offer when none is supported.
StatusOr<SpdyProtocol> NegotiateSpdy(bool portforward, std::string_view offered);

// Bytes in and out: the upgraded TCP/TLS stream, or WebSocket messages.
class ByteIo {
 public:
  using ReadHandler = std::function<void(boost::system::error_code, size_t)>;
  using WriteHandler = std::function<void(boost::system::error_code)>;
  virtual ~ByteIo() = default;
  virtual void ReadSome(boost::asio::mutable_buffer b, ReadHandler h) = 0;
  virtual void Write(std::shared_ptr<std::string> data, WriteHandler h) = 0;
  // Ends our sending side (the peer then sees EOF); reads go on.
  virtual void CloseSend() = 0;
  virtual void Close() = 0;
};

struct SpdyTimeouts {
  std::chrono::milliseconds idle{std::chrono::hours(4)};  // no bytes from the client this long: closed
  // A frame the client began must be complete this long after we started
  // waiting for its rest (a frame header whose payload never comes, or a
  // payload trickled byte by byte, would otherwise hold the connection
  // and its exec until the idle deadline). Not counted while the server
  // itself stops reading (backpressure). Generous: spdystream's frames are
  // at most 32 KiB of a 64 KiB write.
  std::chrono::milliseconds frame{std::chrono::seconds(15)};
};

// `early`: bytes the client sent right behind its upgrade request.
std::shared_ptr<Transport> NewSpdyTransport(boost::asio::io_context& io, std::shared_ptr<ByteIo> bytes,
                                            std::string early, SpdyProtocol p, SpdyTimeouts t);

}  // namespace kcr::streaming
