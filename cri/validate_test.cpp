#include "cri/validate.h"

#include <gtest/gtest.h>

namespace kcr::cri {
namespace {

::runtime::v1::PodSandboxConfig GoodPod() {
  ::runtime::v1::PodSandboxConfig c;
  c.mutable_metadata()->set_name("web");
  c.mutable_metadata()->set_namespace_("default");
  c.mutable_metadata()->set_uid("u1");
  return c;
}

::runtime::v1::ContainerConfig GoodContainer() {
  ::runtime::v1::ContainerConfig c;
  c.mutable_metadata()->set_name("app");
  c.mutable_image()->set_image("busybox");
  return c;
}

void ExpectInvalid(const Status& st, const std::string& needle) {
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find(needle), absl::string_view::npos) << st;
}

TEST(Validate, SandboxMetadata) {
  EXPECT_TRUE(ValidateSandboxConfig(GoodPod()).ok());
  ::runtime::v1::PodSandboxConfig c;
  ExpectInvalid(ValidateSandboxConfig(c), "metadata is missing");
  c = GoodPod();
  c.mutable_metadata()->clear_name();
  ExpectInvalid(ValidateSandboxConfig(c), "metadata.name");
  c = GoodPod();
  c.mutable_metadata()->clear_uid();
  ExpectInvalid(ValidateSandboxConfig(c), "metadata.uid");
  c = GoodPod();
  c.set_hostname("bad_host");
  ExpectInvalid(ValidateSandboxConfig(c), "hostname");
  c = GoodPod();
  c.mutable_dns_config()->add_servers("nope");
  ExpectInvalid(ValidateSandboxConfig(c), "nope");
  c = GoodPod();
  c.add_port_mappings()->set_container_port(70000);
  ExpectInvalid(ValidateSandboxConfig(c), "container_port");
}

TEST(Validate, Sysctls) {
  auto c = GoodPod();
  (*c.mutable_linux()->mutable_sysctls())["net.ipv4.ip_forward"] = "1";
  (*c.mutable_linux()->mutable_sysctls())["kernel.shm_rmid_forced"] = "1";
  EXPECT_TRUE(ValidateSandboxConfig(c).ok());
  (*c.mutable_linux()->mutable_sysctls())["vm.swappiness"] = "1";
  ExpectInvalid(ValidateSandboxConfig(c), "vm.swappiness");
  c = GoodPod();
  (*c.mutable_linux()->mutable_sysctls())["net.core.somaxconn"] = "1";
  c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
      ::runtime::v1::NamespaceMode::NODE);
  ExpectInvalid(ValidateSandboxConfig(c), "host network");
}

TEST(Validate, Container) {
  EXPECT_TRUE(ValidateContainerConfig(GoodContainer()).ok());
  auto c = GoodContainer();
  c.clear_image();
  ExpectInvalid(ValidateContainerConfig(c), "image");
  c = GoodContainer();
  auto* m = c.add_mounts();
  m->set_container_path("relative/path");
  m->set_host_path("/tmp");
  ExpectInvalid(ValidateContainerConfig(c), "relative/path");
  c = GoodContainer();
  c.set_log_path("../../etc/x");
  ExpectInvalid(ValidateContainerConfig(c), "log_path");
  c = GoodContainer();
  c.mutable_metadata()->clear_name();
  ExpectInvalid(ValidateContainerConfig(c), "metadata.name");
}

TEST(Validate, NameKeys) {
  auto p = GoodPod();
  p.mutable_metadata()->set_attempt(2);
  EXPECT_EQ(SandboxNameKey(p.metadata()), "web_default_u1_2");
  auto c = GoodContainer();
  EXPECT_EQ(ContainerNameKey(c.metadata(), p.metadata()), "app_web_default_u1_0");
}

}  // namespace
}  // namespace kcr::cri
