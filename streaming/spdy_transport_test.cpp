#include "streaming/spdy_transport.h"

#include <gtest/gtest.h>

namespace kcr::streaming {
namespace {

TEST(SpdyTransportTest, NegotiatesInTheClientsOrder) {
  auto p = NegotiateSpdy(false, "v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "v4.channel.k8s.io");
  EXPECT_EQ(p->version, 4);
  p = NegotiateSpdy(false, "v9.channel.k8s.io, v2.channel.k8s.io");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->version, 2);
  EXPECT_FALSE(NegotiateSpdy(false, "portforward.k8s.io").ok());
  p = NegotiateSpdy(true, "portforward.k8s.io");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->portforward);
  EXPECT_FALSE(NegotiateSpdy(true, "v4.channel.k8s.io").ok());
}

}  // namespace
}  // namespace kcr::streaming
