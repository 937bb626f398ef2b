#include "streaming/portforward.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace kcr::streaming {
namespace {

TEST(PortForwardTest, PortsComeFromTheQuery) {
  auto p = PortsFromQuery("/portforward/tok?port=80&x=1&port=8080");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (std::vector<int>{80, 8080}));
  EXPECT_FALSE(PortsFromQuery("/portforward/tok").ok());
  EXPECT_FALSE(PortsFromQuery("/portforward/tok?port=0").ok());
  EXPECT_FALSE(PortsFromQuery("/portforward/tok?port=65536").ok());
  EXPECT_FALSE(PortsFromQuery("/portforward/tok?port=http").ok());
}

TEST(PortForwardTest, NegotiatesKubeletsWebSocketProtocols) {
  auto p = NegotiatePortForward("v4.channel.k8s.io");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->base64);
  p = NegotiatePortForward("v9.x, v4.base64.channel.k8s.io");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->base64);
  EXPECT_FALSE(NegotiatePortForward("v5.channel.k8s.io"));
}

TEST(PortForwardTest, ConnectsToLocalhostOrSaysWhyNot) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 1), 0);
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  auto fd = ConnectInPod("", port);
  ASSERT_TRUE(fd.ok()) << fd.status();
  close(l);
  // Our own network namespace through its path, as a pod's would be given.
  auto again = ConnectInPod("/proc/self/ns/net", port);
  EXPECT_TRUE(absl::IsUnavailable(again.status())) << again.status();
  EXPECT_NE(again.status().message().find(std::to_string(port)), absl::string_view::npos);
  EXPECT_FALSE(ConnectInPod("/nonexistent/netns", port).ok());
}

}  // namespace
}  // namespace kcr::streaming
