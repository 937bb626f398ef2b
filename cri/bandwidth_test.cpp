#include "cri/bandwidth.h"

#include <gtest/gtest.h>

namespace kcr::cri {
namespace {

TEST(ParseQuantity, KubernetesForms) {
  EXPECT_EQ(*ParseQuantity("100"), 100);
  EXPECT_EQ(*ParseQuantity("1M"), 1000000);
  EXPECT_EQ(*ParseQuantity("1.5k"), 1500);
  EXPECT_EQ(*ParseQuantity("10Mi"), 10485760);
  EXPECT_EQ(*ParseQuantity("2e6"), 2000000);
  EXPECT_EQ(*ParseQuantity("1500m"), 2);  // rounded up
  for (const char* bad : {"", "M", "-1M", "1MB", "1..2k", "1 M", "e3", "1e", "1e+"})
    EXPECT_EQ(ParseQuantity(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
}

TEST(PodBandwidth, FromAnnotations) {
  auto none = PodBandwidthFromAnnotations({{"other", "1"}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->ingress_rate, 0);
  EXPECT_EQ(none->egress_rate, 0);
  auto b = PodBandwidthFromAnnotations({{kIngressBandwidthAnnotation, "1M"}, {kEgressBandwidthAnnotation, "2M"}});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ingress_rate, 1000000);
  EXPECT_EQ(b->egress_rate, 2000000);
  EXPECT_GT(b->ingress_burst, 0);
  auto small = PodBandwidthFromAnnotations({{kEgressBandwidthAnnotation, "10"}});
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(small.status().message().find(kEgressBandwidthAnnotation), absl::string_view::npos);
  EXPECT_EQ(PodBandwidthFromAnnotations({{kIngressBandwidthAnnotation, "fast"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kcr::cri
