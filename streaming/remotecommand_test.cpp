#include "streaming/remotecommand.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kcr::streaming {
namespace {

using nlohmann::json;

TEST(RemoteCommandTest, ExitStatusIsKubeletsStatusObject) {
  json ok = json::parse(ExitStatusJson(0, ""));
  EXPECT_EQ(ok["status"], "Success");
  json bad = json::parse(ExitStatusJson(3, ""));
  EXPECT_EQ(bad["status"], "Failure");
  EXPECT_EQ(bad["reason"], "NonZeroExitCode");
  EXPECT_EQ(bad["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(bad["details"]["causes"][0]["message"], "3");
  json err = json::parse(ExitStatusJson(-1, "no monitor"));
  EXPECT_EQ(err["status"], "Failure");
  EXPECT_EQ(err["message"], "no monitor");
}

}  // namespace
}  // namespace kcr::streaming
