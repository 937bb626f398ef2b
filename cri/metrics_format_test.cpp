// Exposition format negotiation and the OpenMetrics serialiser, over a
// real registry of kcr's families.
#include "cri/metrics_format.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "cri/metrics.h"

namespace kcr::cri {
namespace {

// What Prometheus 2.42 (Debian 12) sends with every scrape.
constexpr char kPrometheusAccept[] =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

TEST(MetricsFormatTest, OpenMetricsOnlyWhenTheScraperPrefersIt) {
  EXPECT_EQ(NegotiateFormat(kPrometheusAccept), ExpositionFormat::kOpenMetrics100);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text"), ExpositionFormat::kOpenMetrics100);
  EXPECT_EQ(NegotiateFormat("Application/OpenMetrics-Text; Version=1.0.0; charset=utf-8"),
            ExpositionFormat::kOpenMetrics100);
  EXPECT_EQ(NegotiateFormat(""), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("*/*"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("text/plain;version=0.0.4"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=0"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;version=2.0.0"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=0.5,text/plain;q=0.9"), ExpositionFormat::kText004);
  // Bogus headers fall back to text, whatever they contain.
  EXPECT_EQ(NegotiateFormat("application/x-bogus;q=oops, */*;;;"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=oops"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;q=7"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat(",,,;;;===,"), ExpositionFormat::kText004);
  EXPECT_EQ(NegotiateFormat(std::string(100000, ';')), ExpositionFormat::kText004);
  EXPECT_STREQ(ContentType(ExpositionFormat::kText004), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_STREQ(ContentType(ExpositionFormat::kOpenMetrics100),
               "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(MetricsFormatTest, OpenMetricsNamesUnitsBucketsAndEof) {
  Metrics m(BuildInfo{"1.2.3", "abc\"def", "v0.37.0", "cgroupfs"});
  m.ForMethod("/runtime.v1.RuntimeService/Version").Record(0, 0.002);
  m.ForMethod("/runtime.v1.RuntimeService/Version").Record(5, 0.7);
  std::string om = Serialize(ExpositionFormat::kOpenMetrics100, m.registry()->Collect());

  EXPECT_NE(om.find("# TYPE kcr_cri_requests counter\n"), std::string::npos) << om;
  EXPECT_EQ(om.find("# TYPE kcr_cri_requests_total"), std::string::npos) << om;
  EXPECT_NE(om.find("kcr_cri_requests_total{code=\"OK\",method=\"Version\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("kcr_cri_requests_total{code=\"NotFound\",method=\"Version\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("# TYPE kcr_cri_request_duration_seconds histogram\n"
                    "# UNIT kcr_cri_request_duration_seconds seconds\n"),
            std::string::npos)
      << om;
  EXPECT_NE(om.find("kcr_cri_request_duration_seconds_bucket{method=\"Version\",le=\"0.0025\"} 1\n"),
            std::string::npos)
      << om;
  EXPECT_NE(om.find("kcr_cri_request_duration_seconds_bucket{method=\"Version\",le=\"1.0\"} 2\n"), std::string::npos)
      << om;
  EXPECT_NE(om.find("kcr_cri_request_duration_seconds_bucket{method=\"Version\",le=\"+Inf\"} 2\n"
                    "kcr_cri_request_duration_seconds_count{method=\"Version\"} 2\n"
                    "kcr_cri_request_duration_seconds_sum{method=\"Version\"} 0.702\n"),
            std::string::npos)
      << om;
  EXPECT_NE(om.find("# UNIT kcr_image_pull_bytes bytes\n"), std::string::npos) << om;
  EXPECT_NE(om.find("git_commit=\"abc\\\"def\""), std::string::npos) << om;
  ASSERT_GE(om.size(), 6u);
  EXPECT_EQ(om.substr(om.size() - 6), "# EOF\n");
  EXPECT_EQ(om.find("# EOF"), om.size() - 6) << "one EOF, at the end";

  // Every sample belongs to the family of the # TYPE line above it, with a
  // suffix its type allows, and every family is declared once.
  std::istringstream in(om);
  std::string family, type;
  std::set<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# TYPE ")) {
      std::istringstream t(line.substr(7));
      t >> family >> type;
      EXPECT_TRUE(seen.insert(family).second) << family;
      continue;
    }
    if (line.starts_with("#")) continue;
    std::string name = line.substr(0, line.find_first_of("{ "));
    ASSERT_TRUE(name.starts_with(family)) << line;
    std::string suffix = name.substr(family.size());
    if (type == "counter") {
      EXPECT_EQ(suffix, "_total") << line;
    } else if (type == "histogram") {
      EXPECT_TRUE(suffix == "_bucket" || suffix == "_count" || suffix == "_sum") << line;
    } else {
      EXPECT_EQ(suffix, "") << line;
    }
  }
  EXPECT_GE(seen.size(), 10u);  // families without series (CNI here) are left out
}

TEST(MetricsFormatTest, TextIsPrometheusCppsSerialiser) {
  Metrics m(BuildInfo{"1.2.3", "abcdef", "v0.37.0", "cgroupfs"});
  std::string text = Serialize(ExpositionFormat::kText004, m.registry()->Collect());
  EXPECT_NE(text.find("# TYPE kcr_image_pulls_total counter\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("# EOF"), std::string::npos);
}

}  // namespace
}  // namespace kcr::cri
