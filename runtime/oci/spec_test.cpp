#include "runtime/oci/spec.h"

#include <gtest/gtest.h>

namespace kcr::runtime::oci {

Spec Minimal() {
  Spec s;
  s.root_path = "/tmp/rootfs";
  s.process.args = {"/bin/true"};
  s.linux.namespaces = {{"mount", ""}, {"pid", ""}};
  return s;
}

void ExpectField(const Status& st, const std::string& field) {
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find(field), absl::string_view::npos) << st;
}

TEST(Spec, RoundTrip) {
  Spec s = Minimal();
  s.hostname = "h";
  s.process.user = {33, 33, {5}, ""};
  s.process.capabilities = Capabilities{DefaultCapabilities(), DefaultCapabilities(), {}, DefaultCapabilities(), {}};
  s.process.rlimits = {{"RLIMIT_NOFILE", 1024, 1024}};
  s.mounts = DefaultMounts();
  s.linux.resources = Resources{};
  s.linux.resources->memory_limit = 1 << 20;
  s.linux.resources->pids_limit = 10;
  s.linux.seccomp = Seccomp{"SCMP_ACT_ALLOW", {}, {"SCMP_ARCH_X86_64"}, {{{"sethostname"}, "SCMP_ACT_ERRNO", 1, {}}}};
  auto back = ParseSpec(SerializeSpec(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->process.user.additional_gids, std::vector<uint32_t>{5});
  EXPECT_EQ(back->mounts.size(), s.mounts.size());
  EXPECT_EQ(*back->linux.resources->memory_limit, 1 << 20);
  EXPECT_EQ(back->linux.seccomp->syscalls[0].names[0], "sethostname");
  EXPECT_TRUE(ValidateSpec(*back).ok());
}

TEST(Spec, ErrorsNameTheField) {
  ExpectField(ParseSpec(R"({"process":{"args":"notalist"}})").status(), "process.args");
  ExpectField(ParseSpec("[1]").status(), "not a JSON object");
  Spec s = Minimal();
  s.root_path.clear();
  ExpectField(ValidateSpec(s), "root.path");
  s = Minimal();
  s.mounts.push_back({"relative/dir", "tmpfs", "tmpfs", {}});
  ExpectField(ValidateSpec(s), "mounts[].destination");
  s = Minimal();
  s.process.cwd = "work";
  ExpectField(ValidateSpec(s), "process.cwd");
  s = Minimal();
  s.linux.seccomp = Seccomp{"SCMP_ACT_WHATEVER", {}, {}, {}};
  ExpectField(ValidateSpec(s), "linux.seccomp.defaultAction");
  s = Minimal();
  s.linux.namespaces.push_back({"time-travel", ""});
  ExpectField(ValidateSpec(s), "linux.namespaces[].type");
  s = Minimal();
  s.process.rlimits = {{"RLIMIT_NOFILE", 10, 20}};
  ExpectField(ValidateSpec(s), "RLIMIT_NOFILE");
  s = Minimal();
  s.process.args.clear();
  ExpectField(ValidateSpec(s), "process.args");
}

}  // namespace kcr::runtime::oci

namespace kcr::runtime::oci {

TEST(Spec, DevicesHugepagesAndSeccompArgsRoundTrip) {
  Spec s = Minimal();
  s.linux.devices = {{"/dev/fuse", "c", 10, 229, 0666, 0, 0}};
  s.linux.resources = Resources{};
  s.linux.resources->devices = {{false, "a", {}, {}, "rwm"}, {true, "c", 10, 229, "rw"}};
  s.linux.resources->hugepage_limits = {{"2MB", 4 << 20}};
  s.linux.resources->unified = {{"memory.high", "1000000"}};
  s.linux.rootfs_propagation = "rshared";
  SeccompSyscall sc{{"personality"}, "SCMP_ACT_ALLOW", {}, {{0, 8, 0, "SCMP_CMP_EQ"}}};
  s.linux.seccomp = Seccomp{"SCMP_ACT_ERRNO", 1, {"SCMP_ARCH_X86_64"}, {sc}};
  auto back = ParseSpec(SerializeSpec(s));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->linux.devices.size(), 1u);
  EXPECT_EQ(back->linux.devices[0].minor, 229);
  EXPECT_EQ(*back->linux.devices[0].file_mode, 0666u);
  ASSERT_EQ(back->linux.resources->devices.size(), 2u);
  EXPECT_FALSE(back->linux.resources->devices[0].allow);
  EXPECT_EQ(*back->linux.resources->devices[1].major, 10);
  EXPECT_EQ(back->linux.resources->hugepage_limits[0].page_size, "2MB");
  EXPECT_EQ(back->linux.resources->unified.at("memory.high"), "1000000");
  EXPECT_EQ(back->linux.rootfs_propagation, "rshared");
  ASSERT_EQ(back->linux.seccomp->syscalls[0].args.size(), 1u);
  EXPECT_EQ(back->linux.seccomp->syscalls[0].args[0].value, 8u);
  EXPECT_TRUE(ValidateSpec(*back).ok());
}

TEST(Spec, BadDevicesAndSeccompArgsNameTheField) {
  Spec s = Minimal();
  s.linux.devices = {{"/dev/x", "q", 1, 1, {}, {}, {}}};
  ExpectField(ValidateSpec(s), "linux.devices[].type");
  s = Minimal();
  s.linux.resources = Resources{};
  s.linux.resources->devices = {{true, "c", 1, 3, "rwx"}};
  ExpectField(ValidateSpec(s), "linux.resources.devices[].access");
  s = Minimal();
  s.linux.resources = Resources{};
  s.linux.resources->hugepage_limits = {{"../2MB", 1}};
  ExpectField(ValidateSpec(s), "hugepageLimits");
  s = Minimal();
  s.linux.seccomp = Seccomp{"SCMP_ACT_ALLOW", {}, {}, {{{"socket"}, "SCMP_ACT_ERRNO", 1, {{0, 1, 0, "SCMP_CMP_ALMOST"}}}}};
  ExpectField(ValidateSpec(s), "args[].op");
}

TEST(Spec, HooksAndAnnotationsRoundTripAndAreChecked) {
  Spec s = Minimal();
  s.hooks.create_container = {{"/usr/bin/hook", {"hook", "a"}, {"X=1"}, 5}};
  s.hooks.poststop = {{"/bin/true", {}, {}, {}}};
  s.annotations = {{"a", "b"}};
  auto back = ParseSpec(SerializeSpec(s));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->hooks.create_container.size(), 1u);
  EXPECT_EQ(back->hooks.create_container[0].args, (std::vector<std::string>{"hook", "a"}));
  EXPECT_EQ(back->hooks.create_container[0].env, std::vector<std::string>{"X=1"});
  EXPECT_EQ(back->hooks.create_container[0].timeout, 5);
  ASSERT_EQ(back->hooks.poststop.size(), 1u);
  EXPECT_FALSE(back->hooks.poststop[0].timeout);
  EXPECT_EQ(back->annotations.at("a"), "b");
  EXPECT_TRUE(ValidateSpec(*back).ok());
  s.hooks.poststart = {{"relative", {}, {}, {}}};
  ExpectField(ValidateSpec(s), "hooks.poststart[].path");
  s.hooks.poststart = {{"/bin/true", {}, {}, 0}};
  ExpectField(ValidateSpec(s), "hooks.poststart[].timeout");
}

}  // namespace kcr::runtime::oci
