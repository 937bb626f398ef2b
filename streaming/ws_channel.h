#pragma once
// The Kubernetes channel protocols over WebSocket (apimachinery's
// util/httpstream/wsstream): every message starts with its channel number,
// one byte (binary codecs) or one ASCII digit followed by base64 of the
// data (base64 codecs). remotecommand numbers its channels stdin 0,
// stdout 1, stderr 2, error 3, resize 4; v5 adds channel 255, whose one
// data byte names a channel the client closes (its stdin EOF).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kcr::streaming {

struct ChannelProtocol {
  std::string name;  // as negotiated ("" when the client offered none)
  int version = 1;   // 1 (channel.k8s.io and ""), 4 or 5
  bool base64 = false;
  // Port-forward: SPDY/3.1 frames carried in binary messages
  // ("SPDY/3.1+portforward.k8s.io", client-go's tunneling dialer).
  bool spdy_tunnel = false;
};

inline constexpr uint8_t kCloseChannel = 255;

// The first protocol of the client's Sec-WebSocket-Protocol list (comma
// separated, in its order of preference) that remotecommand supports;
// nullopt when it offered some and none is supported. An empty offer is
// the binary version 1 protocol.
std::optional<ChannelProtocol> NegotiateRemoteCommand(std::string_view offered);

// One message for `channel`.
std::string EncodeChannelMessage(const ChannelProtocol& p, uint8_t channel, std::string_view data);

struct ChannelMessage {
  uint8_t channel = 0;
  std::string data;
};
// A received message. InvalidArgument for an empty message, a bad channel
// digit or bad base64.
StatusOr<ChannelMessage> DecodeChannelMessage(const ChannelProtocol& p, std::string_view msg);

}  // namespace kcr::streaming
