#include "runtime/cni/result.h"

#include <gtest/gtest.h>

namespace kcr::runtime {
namespace {

TEST(CniResult, AddResultMustBeAnObject) {
  EXPECT_TRUE(ParseAddResult("bridge", R"({"cniVersion":"1.0.0","ips":[]})").ok());
  for (const char* bad : {"", "not json", "[]", "5", R"("text")", "null"}) {
    auto r = ParseAddResult("bridge", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("bridge"), std::string::npos) << r.status();
  }
}

TEST(CniResult, IpsInOrderV4First) {
  auto r = ParseAddResult("bridge", R"({"ips":[{"address":"fd00::5/64"},{"address":"10.88.0.5/16"}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ResultIps(*r), (std::vector<std::string>{"10.88.0.5", "fd00::5"}));
  auto v020 = ParseAddResult("bridge", R"({"cniVersion":"0.2.0","ip4":{"ip":"10.1.2.3/24"}})");
  ASSERT_TRUE(v020.ok());
  EXPECT_EQ(ResultIps(*v020), (std::vector<std::string>{"10.1.2.3"}));
}

// Found while adding fuzz_cni_result: a plugin's result whose address fields are not
// strings threw nlohmann::json::type_error out of Setup, through kcrd's
// RunPodSandbox handler (std::terminate).
TEST(CniResult, WrongTypesAreSkippedNotThrown) {
  for (const char* text : {R"({"ip4":{"ip":5},"ip6":{"ip":[1]}})", R"({"ips":[{"address":7},"x",null]})",
                           R"({"ip4":"10.0.0.1/8","ips":{"address":"1.2.3.4"}})"}) {
    auto r = ParseAddResult("bridge", text);
    ASSERT_TRUE(r.ok()) << text;
    EXPECT_TRUE(ResultIps(*r).empty()) << text;
  }
}

TEST(CniResult, ErrorTextFromErrorObjectOrStderr) {
  PluginOutput out{.exit_code = 1, .out = R"({"code":7,"msg":"no IP","details":"range full"})", .err = ""};
  EXPECT_EQ(PluginErrorText("host-local", out), "CNI plugin host-local failed (exit 1): no IP (range full) [code 7]");
  out.out = "garbage";
  out.err = "panic: oops";
  EXPECT_EQ(PluginErrorText("host-local", out), "CNI plugin host-local failed (exit 1): panic: oops");
}

// Found while adding fuzz_cni_result: an error object whose "msg" is not a string
// threw from json::value() while kcrd formatted the plugin's failure.
TEST(CniResult, ErrorObjectWithWrongTypes) {
  PluginOutput out{.exit_code = 2, .out = R"({"code":"x","msg":5,"details":{}})", .err = ""};
  EXPECT_EQ(PluginErrorText("bridge", out), R"(CNI plugin bridge failed (exit 2):  [code "x"])");
}

// Found while adding fuzz_cni_result: a result nested some ten thousand levels deep
// was accepted, then copied into the next plugin's prevResult and dumped
// into the cache, recursing once per level until kcrd's stack overflowed.
TEST(CniResult, DeeplyNestedOutputIsRefused) {
  std::string deep = "{\"ips\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  auto r = ParseAddResult("bridge", deep);
  if (r.ok()) (void)r->dump();  // the crash without the bound
  EXPECT_FALSE(r.ok());
  PluginOutput out{.exit_code = 1, .out = "{\"msg\":\"m\",\"code\":" + std::string(200000, '[') +
                                         std::string(200000, ']') + "}", .err = "stderr text"};
  EXPECT_EQ(PluginErrorText("bridge", out), "CNI plugin bridge failed (exit 1): stderr text");
}

}  // namespace
}  // namespace kcr::runtime
