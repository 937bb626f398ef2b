#include "streaming/ws_channel.h"

#include <absl/strings/escaping.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>
#include <absl/strings/ascii.h>

#include "streaming/protocols.h"

namespace kcr::streaming {

std::optional<ChannelProtocol> NegotiateRemoteCommand(std::string_view offered) {
  std::vector<std::string> names = OfferedProtocols(offered);
  for (const std::string& p : names) {
    if (p == "v5.channel.k8s.io") return ChannelProtocol{std::string(p), 5, false};
    if (p == "v5.base64.channel.k8s.io") return ChannelProtocol{std::string(p), 5, true};
    if (p == "v4.channel.k8s.io") return ChannelProtocol{std::string(p), 4, false};
    if (p == "v4.base64.channel.k8s.io") return ChannelProtocol{std::string(p), 4, true};
    if (p == "channel.k8s.io") return ChannelProtocol{std::string(p), 1, false};
    if (p == "base64.channel.k8s.io") return ChannelProtocol{std::string(p), 1, true};
  }
  if (names.empty()) return ChannelProtocol{"", 1, false};
  return std::nullopt;
}

std::string EncodeChannelMessage(const ChannelProtocol& p, uint8_t channel, std::string_view data) {
  std::string out;
  if (p.base64) {
    out.push_back(static_cast<char>('0' + channel));
    out += absl::Base64Escape(absl::string_view(data.data(), data.size()));
  } else {
    out.reserve(data.size() + 1);
    out.push_back(static_cast<char>(channel));
    out.append(data);
  }
  return out;
}

StatusOr<ChannelMessage> DecodeChannelMessage(const ChannelProtocol& p, std::string_view msg) {
  if (msg.empty()) return absl::InvalidArgumentError("empty channel message");
  ChannelMessage m;
  if (!p.base64) {
    m.channel = static_cast<uint8_t>(msg[0]);
    m.data.assign(msg.substr(1));
    return m;
  }
  m.channel = static_cast<uint8_t>(static_cast<uint8_t>(msg[0]) - '0');
  if (m.channel == kCloseChannel) {  // v5's close signal: the channel named by a digit
    if (msg.size() != 2) return absl::InvalidArgumentError("close signal without one channel");
    m.data.assign(1, static_cast<char>(msg[1] - '0'));
    return m;
  }
  if (!absl::Base64Unescape(absl::string_view(msg.data() + 1, msg.size() - 1), &m.data))
    return absl::InvalidArgumentError("channel " + std::to_string(m.channel) + ": bad base64");
  return m;
}

}  // namespace kcr::streaming
