#include "runtime/pod/pod_files.h"

#include <gtest/gtest.h>

namespace kcr::runtime {

TEST(PodFiles, ResolvConfFromDnsConfig) {
  auto r = ResolvConf({{"10.96.0.10", "fd00::a"}, {"default.svc.cluster.local", "svc.cluster.local"},
                       {"ndots:5", "timeout:1"}},
                      "nameserver 1.1.1.1\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            "search default.svc.cluster.local svc.cluster.local\n"
            "nameserver 10.96.0.10\nnameserver fd00::a\n"
            "options ndots:5 timeout:1\n");
}

TEST(PodFiles, ResolvConfDefaultsToHost) {
  auto r = ResolvConf({}, "nameserver 192.0.2.1\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "nameserver 192.0.2.1\n");
}

TEST(PodFiles, ResolvConfRejectsBadServer) {
  auto r = ResolvConf({{"not-an-ip"}, {}, {}}, "");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not-an-ip"), absl::string_view::npos);
  EXPECT_FALSE(ResolvConf({{}, {"a b"}, {}}, "").ok());
}

TEST(PodFiles, Hostnames) {
  EXPECT_TRUE(ValidateHostname("web-0").ok());
  EXPECT_TRUE(ValidateHostname("a.b.c").ok());
  EXPECT_FALSE(ValidateHostname("").ok());
  EXPECT_FALSE(ValidateHostname("-a").ok());
  EXPECT_FALSE(ValidateHostname("a..b").ok());
  EXPECT_FALSE(ValidateHostname("a_b").ok());
  EXPECT_FALSE(ValidateHostname(std::string(65, 'a')).ok());
  EXPECT_NE(PodHosts().find("127.0.0.1\tlocalhost"), std::string::npos);
}

}  // namespace kcr::runtime
