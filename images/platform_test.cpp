#include "images/platform.h"

#include <gtest/gtest.h>

namespace kcr::images {
namespace {

Platform P(const std::string& spec) {
  auto p = ParsePlatform(spec);
  EXPECT_TRUE(p.ok()) << spec << ": " << p.status();
  return p.value_or(Platform{});
}

std::vector<std::string> Order(const std::string& spec, bool strict = false) {
  std::vector<std::string> out;
  PlatformMatcher m(P(spec), strict);
  for (const auto& p : m.order()) out.push_back(FormatPlatform(p));
  return out;
}

TEST(Platform, ParseAndNormalizeAliases) {
  struct Case {
    std::string in, out;
  } cases[] = {
      {"linux/amd64", "linux/amd64"},       {"linux/x86_64", "linux/amd64"},     {"linux/x86-64", "linux/amd64"},
      {"Linux/AMD64", "linux/amd64"},       {"linux/amd64/v1", "linux/amd64"},   {"linux/amd64/v3", "linux/amd64/v3"},
      {"linux/i386", "linux/386"},          {"linux/i686", "linux/386"},         {"linux/i586", "linux/386"},
      {"linux/i486", "linux/386"},          {"linux/386", "linux/386"},          {"linux/aarch64", "linux/arm64"},
      {"linux/arm64", "linux/arm64"},       {"linux/arm64/v8", "linux/arm64/v8"}, {"linux/aarch64/8", "linux/arm64/v8"},
      {"linux/arm64/v8.0", "linux/arm64/v8"}, {"linux/arm64/v8.2", "linux/arm64/v8.2"},
      {"linux/arm64/9", "linux/arm64/v9"},  {"linux/arm", "linux/arm/v7"},      {"linux/arm/7", "linux/arm/v7"},
      {"linux/arm/v6", "linux/arm/v6"},     {"linux/arm/5", "linux/arm/v5"},    {"linux/armhf", "linux/arm/v7"},
      {"linux/armel", "linux/arm/v6"},      {"linux/ppc64le", "linux/ppc64le"}, {"linux/ppc64el", "linux/ppc64le"},
      {"linux/s390x", "linux/s390x"},       {"linux/riscv64", "linux/riscv64"}, {"linux/mips64el", "linux/mips64le"},
      {"arm64", "linux/arm64"},             {"armhf", "linux/arm/v7"},          {"macos/arm64", "darwin/arm64"},
  };
  for (const auto& c : cases) EXPECT_EQ(FormatPlatform(P(c.in)), c.out) << c.in;
  // One part naming an OS: the host's architecture.
  EXPECT_EQ(P("linux").architecture, HostPlatform().architecture);
}

TEST(Platform, ParseRejectsWhatCannotBeAPlatform) {
  for (const char* bad : {"", "/", "linux/", "/amd64", "linux/amd64/v8/x", "linux//v7", "linux/amd 64",
                          "linux/amd46", "linus/amd64", "amd46", "linux/*", "linux/arm64/v8\n"}) {
    auto p = ParsePlatform(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(std::string("\"") + bad + "\""), absl::string_view::npos)
        << p.status().message();
  }
}

// containerd's platforms.Only order, architecture by architecture.
TEST(Platform, PreferenceOrderPerArchitecture) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Order("linux/amd64"), (V{"linux/amd64", "linux/386"}));
  EXPECT_EQ(Order("linux/amd64/v3"), (V{"linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"}));
  EXPECT_EQ(Order("linux/386"), (V{"linux/386"}));
  EXPECT_EQ(Order("linux/arm64/v8"), (V{"linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  EXPECT_EQ(Order("linux/arm64"), Order("linux/arm64/v8"));
  EXPECT_EQ(Order("linux/arm64/v8.2"), (V{"linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64", "linux/arm/v8",
                                          "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  V v91 = Order("linux/arm64/v9.1");
  ASSERT_GE(v91.size(), 4u);
  EXPECT_EQ((V{v91.begin(), v91.begin() + 4}), (V{"linux/arm64/v9.1", "linux/arm64/v9", "linux/arm64/v8.6",
                                                 "linux/arm64/v8.5"}));
  EXPECT_EQ(Order("linux/arm/v8"), (V{"linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  EXPECT_EQ(Order("linux/arm/v7"), (V{"linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  EXPECT_EQ(Order("linux/arm"), Order("linux/arm/v7"));
  EXPECT_EQ(Order("linux/arm/v6"), (V{"linux/arm/v6", "linux/arm/v5"}));
  EXPECT_EQ(Order("linux/arm/v5"), (V{"linux/arm/v5"}));
  for (const char* only : {"linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/arm64/v10"})
    EXPECT_EQ(Order(only), (V{only})) << only;
  EXPECT_EQ(Order("linux/amd64/v3", true), (V{"linux/amd64/v3"}));
  EXPECT_EQ(Order("linux/arm/v7", true), (V{"linux/arm/v7"}));
}

TEST(Platform, MatchesIndexEntriesInEveryForm) {
  PlatformMatcher arm64(P("linux/arm64/v8"));
  // arm64 accepts arm64/v8 in every spelling and an unspecified variant.
  for (Platform p : {Platform{"linux", "arm64", ""}, Platform{"linux", "arm64", "v8"}, Platform{"linux", "arm64", "8"},
                     Platform{"linux", "aarch64", ""}, Platform{"", "arm64", "v8.0"}, Platform{"LINUX", "ARM64", "V8"}})
    EXPECT_EQ(arm64.Rank(p), 0u) << FormatPlatform(p);
  EXPECT_FALSE(arm64.Matches({"linux", "arm64", "v8.1"}));  // needs a newer core than v8
  EXPECT_FALSE(arm64.Matches({"windows", "arm64", "v8"}));  // OS must match
  EXPECT_FALSE(arm64.Matches({"linux", "amd64", ""}));
  EXPECT_EQ(arm64.Rank({"linux", "arm", "v7"}), 2u);
  EXPECT_EQ(arm64.Rank({"linux", "arm", ""}), 2u);  // arm without a variant is arm/v7

  PlatformMatcher amd64(P("linux/amd64"));
  EXPECT_EQ(amd64.Rank({"linux", "amd64", "v1"}), 0u);
  EXPECT_EQ(amd64.Rank({"linux", "x86_64", ""}), 0u);
  EXPECT_EQ(amd64.Rank({"linux", "i386", ""}), 1u);
  EXPECT_FALSE(amd64.Matches({"linux", "amd64", "v2"}));  // as containerd: the host is not known to be v2
  EXPECT_FALSE(amd64.Matches({"windows", "amd64", ""}));

  PlatformMatcher armv7(P("linux/arm/v7"));
  EXPECT_EQ(armv7.Rank({"linux", "armhf", ""}), 0u);
  EXPECT_EQ(armv7.Rank({"linux", "arm", "v6"}), 1u);
  EXPECT_EQ(armv7.Rank({"linux", "armel", ""}), 1u);
  EXPECT_EQ(armv7.Rank({"linux", "arm", "5"}), 2u);
  EXPECT_FALSE(armv7.Matches({"linux", "arm", "v8"}));
  EXPECT_FALSE(armv7.Matches({"linux", "arm64", ""}));
}

TEST(Platform, DescribeNamesTheOrder) {
  EXPECT_EQ(PlatformMatcher(P("linux/arm/v7")).Describe(), "linux/arm/v7 (then linux/arm/v6, linux/arm/v5)");
  EXPECT_EQ(PlatformMatcher(P("linux/s390x")).Describe(), "linux/s390x");
}

TEST(Platform, HostFromBuildTargetUnameAndCpuinfo) {
  const char* rpi4 = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd\nCPU architecture: 8\n";
  const char* rpi2 = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 5 (v7l)\nCPU architecture: 7\n";
  const char* rpi1 = "processor\t: 0\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n";
  const char* qemu = "processor\t: 0\n";  // user-mode emulation: no CPU architecture line
  struct Case {
    std::string build;
    int arm;
    std::string machine, cpuinfo, want;
  } cases[] = {
      {"amd64", 0, "x86_64", "flags : fpu sse2\n", "linux/amd64"},
      {"386", 0, "i686", "", "linux/386"},
      {"", 0, "i686", "", "linux/386"},  // an unknown build target: uname decides
      {"arm64", 8, "aarch64", rpi4, "linux/arm64/v8"},
      {"arm64", 8, "aarch64", "", "linux/arm64/v8"},
      {"arm", 7, "armv7l", rpi2, "linux/arm/v7"},
      {"arm", 6, "armv6l", rpi1, "linux/arm/v6"},  // the Raspberry Pi 1 quirk
      {"arm", 7, "armv7l", qemu, "linux/arm/v7"},  // from uname
      {"arm", 6, "", qemu, "linux/arm/v6"},        // from the build target
      {"arm", 7, "aarch64", rpi4, "linux/arm/v8"},  // a 32-bit build on an arm64 kernel
      {"ppc64le", 0, "ppc64le", "", "linux/ppc64le"},
      {"s390x", 0, "s390x", "", "linux/s390x"},
      {"riscv64", 0, "riscv64", "", "linux/riscv64"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(FormatPlatform(HostPlatformFrom(c.build, c.arm, c.machine, c.cpuinfo)), c.want) << c.build << " " << c.machine;
  // This machine: an amd64 build (the test hosts are x86_64).
  Platform host = HostPlatform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_FALSE(host.architecture.empty());
  EXPECT_TRUE(ParsePlatform(FormatPlatform(host)).ok()) << FormatPlatform(host);
}

}  // namespace
}  // namespace kcr::images
