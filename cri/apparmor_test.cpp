// kcr's AppArmor profile against Debian's apparmor_parser (compiled only,
// never loaded: -Q), and which profile a container's spec names.
#include "cri/apparmor.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "cri/container_spec.h"
#include "runtime/cni/plugin_exec.h"

namespace kcr::cri {
namespace {

namespace v1 = ::runtime::v1;

// apparmor_parser's exit code and complaint for `policy`.
std::pair<int, std::string> Compile(const std::string& policy) {
  std::string dir = fs::MakeTempDir("kcr-apparmor-test");
  EXPECT_TRUE(fs::WriteFileAtomic(dir + "/policy", policy).ok());
  auto out = runtime::ExecProgram("/usr/sbin/apparmor_parser", {"-Q", "-K", dir + "/policy"}, {}, "");
  fs::RemoveAll(dir).IgnoreError();
  if (!out.ok()) return {-1, std::string(out.status().message())};
  return {out->exit_code, out->err};
}

TEST(AppArmorPolicy, DebiansParserCompilesIt) {
  auto [code, err] = Compile(DefaultAppArmorPolicy());
  EXPECT_EQ(code, 0) << err;
  // The same check refuses a broken rule, so the one above means something.
  std::string broken = DefaultAppArmorPolicy();
  broken.replace(broken.find("deny mount,"), 11, "frobnicate mount,");
  EXPECT_NE(Compile(broken).first, 0);
  EXPECT_NE(DefaultAppArmorPolicy("other").find("profile other "), std::string::npos);
}

class SpecAppArmor : public ::testing::Test {
 protected:
  StatusOr<std::string> Profile(bool host_apparmor) {
    ContainerSpecInput in{config_, pod_, sandbox_, image_, "c1", "/nonexistent/rootfs", "/nonexistent/pod", "kcr/c1",
                          {}, host_apparmor};
    auto spec = BuildContainerSpec(in);
    if (!spec.ok()) return spec.status();
    return spec->process.apparmor_profile;
  }
  v1::ContainerConfig config_;
  v1::PodSandboxConfig pod_;
  kcr::runtime::SandboxRecord sandbox_;
  images::Image image_;
  v1::LinuxContainerSecurityContext* sc() { return config_.mutable_linux()->mutable_security_context(); }
};

TEST_F(SpecAppArmor, DefaultProfileUnlessUnconfinedPrivilegedOrNoAppArmor) {
  config_.mutable_metadata()->set_name("c");
  config_.add_command("true");
  EXPECT_EQ(*Profile(true), kDefaultAppArmorProfile);  // nothing asked: the runtime's default
  EXPECT_EQ(*Profile(false), "");                       // host without AppArmor
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  EXPECT_EQ(*Profile(true), kDefaultAppArmorProfile);
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::Unconfined);
  EXPECT_EQ(*Profile(true), "");
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::Localhost);
  sc()->mutable_apparmor()->set_localhost_ref("my-profile");
  EXPECT_EQ(*Profile(true), "my-profile");
  EXPECT_EQ(Profile(false).status().code(), absl::StatusCode::kFailedPrecondition);
  sc()->set_privileged(true);
  EXPECT_EQ(*Profile(true), "");
}

}  // namespace
}  // namespace kcr::cri
