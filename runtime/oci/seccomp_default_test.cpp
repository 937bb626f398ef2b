#include "runtime/oci/seccomp_default.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kcr::runtime::oci {
namespace {

bool Allows(const Seccomp& s, const std::string& call) {
  for (const auto& r : s.syscalls)
    if (r.action == "SCMP_ACT_ALLOW" && std::count(r.names.begin(), r.names.end(), call)) return true;
  return false;
}

TEST(RuntimeDefault, AllowListWithCapabilityAdditions) {
  Seccomp plain = RuntimeDefaultSeccomp(DefaultCapabilities());
  EXPECT_EQ(plain.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(*plain.default_errno_ret, 1u);
  EXPECT_TRUE(Allows(plain, "read"));
  EXPECT_TRUE(Allows(plain, "chroot"));  // CAP_SYS_CHROOT is a default capability
  for (const char* denied : {"mount", "sethostname", "unshare", "setns", "reboot", "ptrace", "init_module",
                             "kexec_load", "bpf", "keyctl", "add_key"})
    EXPECT_FALSE(Allows(plain, denied)) << denied;
  Seccomp admin = RuntimeDefaultSeccomp({"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"});
  EXPECT_TRUE(Allows(admin, "mount"));
  EXPECT_TRUE(Allows(admin, "ptrace"));
  EXPECT_FALSE(Allows(admin, "reboot"));
  EXPECT_FALSE(Allows(admin, "chroot"));
  // Without CAP_SYS_ADMIN clone is conditional and clone3 answers ENOSYS.
  bool conditional_clone = false, clone3_enosys = false;
  for (const auto& r : plain.syscalls) {
    if (r.names == std::vector<std::string>{"clone"} && r.args.size() == 1 && r.args[0].op == "SCMP_CMP_MASKED_EQ")
      conditional_clone = true;
    if (r.names == std::vector<std::string>{"clone3"} && r.errno_ret == 38u) clone3_enosys = true;
  }
  EXPECT_TRUE(conditional_clone);
  EXPECT_TRUE(clone3_enosys);
}

TEST(LocalhostProfile, DockerFormatWithIncludesAndExcludes) {
  const char* profile = R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [
      {"name": "read", "action": "SCMP_ACT_ALLOW"},
      {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
    ]})";
  auto plain = ParseSeccompProfile(profile, DefaultCapabilities());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->architectures, (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}));
  EXPECT_TRUE(Allows(*plain, "read"));
  EXPECT_FALSE(Allows(*plain, "mount"));
  EXPECT_TRUE(Allows(*plain, "ptrace"));
  ASSERT_EQ(plain->syscalls.back().args.size(), 1u);
  auto admin = ParseSeccompProfile(profile, {"CAP_SYS_ADMIN"});
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_TRUE(Allows(*admin, "mount"));
  EXPECT_FALSE(Allows(*admin, "ptrace"));
}

TEST(LocalhostProfile, BadProfilesNameTheProblem) {
  EXPECT_EQ(ParseSeccompProfile("{not json", {}).status().code(), absl::StatusCode::kInvalidArgument);
  auto st = ParseSeccompProfile(R"({"syscalls": []})", {}).status();
  EXPECT_NE(st.message().find("defaultAction"), absl::string_view::npos) << st;
  st = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO",
      "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})", {}).status();
  EXPECT_NE(st.message().find("args[].index"), absl::string_view::npos) << st;
  st = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": 3})", {}).status();
  EXPECT_NE(st.message().find("syscalls"), absl::string_view::npos) << st;
}

}  // namespace
}  // namespace kcr::runtime::oci
