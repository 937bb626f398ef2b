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
  s.linux.seccomp = Seccomp{"SCMP_ACT_ALLOW", {}, {"SCMP_ARCH_X86_64"}, {{{"sethostname"}, "SCMP_ACT_ERRNO", 1}}};
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
