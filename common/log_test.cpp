// The log formats' shapes: one JSON object or logfmt line per record, with
// the record's fields; text with " key=value" after the message.
#include "common/log_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "spdlog/sinks/ostream_sink.h"

namespace kcr {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  void TearDown() override {
    SetLogFormat("text").IgnoreError();
    spdlog::set_default_logger(saved_);
    SetLogLevel("info").IgnoreError();
  }
  std::vector<std::string> Lines() {
    std::vector<std::string> v;
    std::istringstream in(out_.str());
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> saved_;
};

TEST_F(LogTest, JsonIsOneObjectPerRecordWithFields) {
  ASSERT_TRUE(SetLogFormat("json").ok());
  ASSERT_TRUE(SetLogLevel("debug").ok());
  LogFields(spdlog::level::debug, "CRI request",
            {{"method", "StartContainer"}, {"container_id", "abc"}, {"pod_id", ""}, {"error", "a \"quoted\"\nline"}});
  spdlog::warn("plain {} message", 42);
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["msg"], "CRI request");
  EXPECT_EQ(j["method"], "StartContainer");
  EXPECT_EQ(j["container_id"], "abc");
  EXPECT_FALSE(j.contains("pod_id"));  // empty fields are left out
  EXPECT_EQ(j["error"], "a \"quoted\"\nline");
  EXPECT_TRUE(j["ts"].get<std::string>().ends_with("Z")) << j["ts"];
  EXPECT_EQ(j["ts"].get<std::string>().size(), std::string("2026-01-02T03:04:05.123456Z").size());
  auto k = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(k["level"], "warning");
  EXPECT_EQ(k["msg"], "plain 42 message");
  EXPECT_EQ(k.size(), 3u);  // no fields leak from the previous record
}

TEST_F(LogTest, LogfmtQuotesWhatNeedsIt) {
  ASSERT_TRUE(SetLogFormat("logfmt").ok());
  LogFields(spdlog::level::info, "pulled", {{"image", "busybox:1.36"}, {"error", "not found"}});
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" level=info msg=\"pulled\" image=busybox:1.36 error=\"not found\""), std::string::npos)
      << lines[0];
  EXPECT_TRUE(lines[0].starts_with("ts=")) << lines[0];
}

TEST_F(LogTest, TextAppendsFieldsAndLevelsFilter) {
  ASSERT_TRUE(SetLogFormat("text").ok());
  ASSERT_TRUE(SetLogLevel("info").ok());
  LogFields(spdlog::level::debug, "hidden", {{"method", "Version"}});
  LogFields(spdlog::level::info, "shown", {{"method", "Version"}});
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u) << out_.str();
  EXPECT_TRUE(lines[0].ends_with(" info shown method=Version")) << lines[0];
  EXPECT_FALSE(SetLogFormat("xml").ok());
  EXPECT_FALSE(SetLogLevel("loud").ok());
}

}  // namespace
}  // namespace kcr
