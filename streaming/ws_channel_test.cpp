#include "streaming/ws_channel.h"

#include <gtest/gtest.h>

namespace kcr::streaming {
namespace {

TEST(WsChannelTest, NegotiatesTheClientsFirstSupportedProtocol) {
  auto p = NegotiateRemoteCommand("v5.channel.k8s.io, v4.channel.k8s.io");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "v5.channel.k8s.io");
  EXPECT_EQ(p->version, 5);
  p = NegotiateRemoteCommand("v9.channel.k8s.io,v4.base64.channel.k8s.io");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 4);
  EXPECT_TRUE(p->base64);
  p = NegotiateRemoteCommand("");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 1);
  EXPECT_FALSE(p->base64);
  EXPECT_FALSE(NegotiateRemoteCommand("SPDY/3.1, v9.channel.k8s.io"));
}

TEST(WsChannelTest, BinaryFraming) {
  ChannelProtocol p{"v4.channel.k8s.io", 4, false};
  std::string m = EncodeChannelMessage(p, 1, std::string("a\0b", 3));
  EXPECT_EQ(m, std::string("\x01" "a\0b", 4));
  auto d = DecodeChannelMessage(p, std::string("\x00hi", 3));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->channel, 0);
  EXPECT_EQ(d->data, "hi");
  d = DecodeChannelMessage(p, "\xff\x00");
  ASSERT_TRUE(d.ok());  // v5's close signal decodes as channel 255
  EXPECT_FALSE(DecodeChannelMessage(p, "").ok());
}

TEST(WsChannelTest, Base64Framing) {
  ChannelProtocol p{"base64.channel.k8s.io", 1, true};
  EXPECT_EQ(EncodeChannelMessage(p, 1, "\n"), "1Cg==");
  auto d = DecodeChannelMessage(p, "0Zm9vCg==");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->channel, 0);
  EXPECT_EQ(d->data, "foo\n");
  EXPECT_FALSE(DecodeChannelMessage(p, "0!!!").ok());
}

}  // namespace
}  // namespace kcr::streaming
