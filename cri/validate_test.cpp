#include "cri/validate.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

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


// KEP-127 pod user namespaces: what critest's refusal cases send and what
// kubelet sends.
TEST(Validate, UserNamespaceOptions) {
  using ::runtime::v1::NamespaceMode;
  auto pod = [](NamespaceMode mode, std::vector<std::array<uint32_t, 3>> uids,
                std::vector<std::array<uint32_t, 3>> gids) {
    ::runtime::v1::PodSandboxConfig c = GoodPod();
    auto* u = c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->mutable_userns_options();
    u->set_mode(mode);
    for (auto [list, out] : {std::pair{&uids, u->mutable_uids()}, std::pair{&gids, u->mutable_gids()}})
      for (auto [cid, hid, len] : *list) {
        auto* m = out->Add();
        m->set_container_id(cid);
        m->set_host_id(hid);
        m->set_length(len);
      }
    return c;
  };
  std::vector<std::array<uint32_t, 3>> one = {{0, 65536 * 30, 65536}};
  EXPECT_TRUE(ValidateSandboxConfig(pod(NamespaceMode::POD, one, one)).ok());
  EXPECT_TRUE(ValidateSandboxConfig(pod(NamespaceMode::POD, {{0, 1000, 100000}}, {{0, 1000, 100000}})).ok());
  EXPECT_TRUE(ValidateSandboxConfig(pod(NamespaceMode::NODE, {}, {})).ok());
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::NODE, one, one)), "mode NODE");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::CONTAINER, {}, {})), "mode CONTAINER");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::TARGET, {}, {})), "mode TARGET");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, {{0, 1000, 100000}, {0, 2000, 100000}},
                                          {{0, 1000, 100000}, {0, 2000, 100000}})),
                "2 mappings given");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, {}, one)), "uids: 0 mappings");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, {{1, 1000, 100000}}, {{1, 1000, 100000}})),
                "container id 0 is not mapped");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, one, {{0, 65536 * 30, 1000}})), "differs");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, {{0, 0, 65536}}, {{0, 0, 65536}})), "host id 0");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, {{0, 4294967295u, 2}}, {{0, 4294967295u, 2}})),
                "go past");
  ExpectInvalid(ValidateSandboxConfig(pod(NamespaceMode::POD, {{0, 1000, 0}}, {{0, 1000, 0}})), "length is 0");
  auto hostnet = pod(NamespaceMode::POD, one, one);
  hostnet.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(NamespaceMode::NODE);
  ExpectInvalid(ValidateSandboxConfig(hostnet), "host's network");
  // A container repeats its pod's options (kubelet, critest): checked alike.
  ::runtime::v1::ContainerConfig c = GoodContainer();
  *c.mutable_linux()->mutable_security_context()->mutable_namespace_options() =
      pod(NamespaceMode::TARGET, {}, {}).linux().security_context().namespace_options();
  ExpectInvalid(ValidateContainerConfig(c), "mode TARGET");
}

}  // namespace
}  // namespace kcr::cri
