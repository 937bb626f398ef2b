// OCI hooks in kcr's runtime: each point runs where the runtime-spec puts
// it (before pivot_root for createRuntime/createContainer, inside the
// container at start for startContainer), with the state on stdin; a
// failing or hung hook fails the create naming it.
#include "runtime/linux/hooks.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "runtime/linux/container.h"
#include "runtime/linux/testing_rootfs.h"

namespace kcr::runtime {
namespace {

class HooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rootfs_ = testing::MakeBusyboxRootfs();
    ASSERT_FALSE(rootfs_.empty());
    marks_ = fs::MakeTempDir("kcr-hooks-test");
    ASSERT_FALSE(marks_.empty());
  }
  void TearDown() override {
    fs::RemoveAll(rootfs_).IgnoreError();
    fs::RemoveAll(marks_).IgnoreError();
  }
  // A hook running the host's /bin/sh with `script`.
  static oci::Hook Sh(const std::string& script, std::optional<int> timeout = {}) {
    return {"/bin/sh", {"sh", "-c", script}, {"PATH=/usr/bin:/bin"}, timeout};
  }
  std::string rootfs_, marks_;
};

TEST_F(HooksTest, EachPointRunsWhereTheSpecSaysWithTheState) {
  oci::Spec s = testing::BusyboxSpec(rootfs_, {"true"});
  s.annotations = {{"k", "v"}};
  // createRuntime: the host's mounts (the rootfs is not mounted yet: no
  // marker inside it); createContainer: the rootfs is there, not yet the root.
  s.hooks.create_runtime = {Sh("cat > " + marks_ + "/runtime.json")};
  s.hooks.create_container = {Sh("cat > " + marks_ + "/container.json; test -e " + rootfs_ + "/bin/busybox && touch " +
                                 marks_ + "/rootfs-seen")};
  // startContainer runs inside the container: its /bin/sh, its root.
  s.hooks.start_container = {{"/bin/sh", {"sh", "-c", "cat > /start.json"}, {}, {}}};
  CreateOptions o;
  o.container_id = "ctr1";
  auto c = Container::Create(s, o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto state = nlohmann::json::parse(fs::ReadFile(marks_ + "/runtime.json").value_or("{}"));
  EXPECT_EQ(state.value("id", ""), "ctr1");
  EXPECT_EQ(state.value("status", ""), "creating");
  EXPECT_EQ(state.value("pid", 0), (*c)->pid());
  EXPECT_EQ(state.value("bundle", ""), rootfs_.substr(0, rootfs_.rfind('/')));  // the rootfs's directory
  EXPECT_EQ(state["annotations"].value("k", ""), "v");
  EXPECT_TRUE(fs::ReadFile(marks_ + "/container.json").ok());
  EXPECT_TRUE(fs::ReadFile(marks_ + "/rootfs-seen").ok());
  EXPECT_FALSE(fs::ReadFile(rootfs_ + "/start.json").ok()) << "startContainer ran before Start";
  ASSERT_TRUE((*c)->Start().ok());
  auto st = (*c)->Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(ExitCodeOf(*st), 0);
  auto start = nlohmann::json::parse(fs::ReadFile(rootfs_ + "/start.json").value_or("{}"));
  EXPECT_EQ(start.value("status", ""), "created");
  EXPECT_EQ(start.value("id", ""), "ctr1");
}

TEST_F(HooksTest, FailingHookFailsTheCreateNamingIt) {
  oci::Spec s = testing::BusyboxSpec(rootfs_, {"true"});
  s.hooks.create_container = {Sh("echo no device here >&2; exit 3")};
  auto c = Container::Create(s, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("createContainer hook /bin/sh: exited with 3: no device here"),
            std::string::npos)
      << c.status();
}

TEST_F(HooksTest, HungHookIsKilledAtItsTimeout) {
  oci::Spec s = testing::BusyboxSpec(rootfs_, {"true"});
  s.hooks.create_runtime = {Sh("sleep 30", 1)};
  auto c = Container::Create(s, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("createRuntime hook /bin/sh: did not finish within 1s"), std::string::npos)
      << c.status();
}

TEST_F(HooksTest, RunHooksDirectly) {
  std::string out = marks_ + "/direct";
  EXPECT_TRUE(RunHooks({Sh("cat > " + out)}, "poststop", HookState("x", "stopped", 0, "/b", {})).ok());
  auto state = nlohmann::json::parse(fs::ReadFile(out).value_or("{}"));
  EXPECT_EQ(state.value("status", ""), "stopped");
  EXPECT_FALSE(state.contains("pid"));
  Status missing = RunHooks({{"/nonexistent/hook", {}, {}, {}}}, "poststart", "{}");
  EXPECT_NE(missing.message().find("poststart hook /nonexistent/hook"), std::string::npos) << missing;
}

}  // namespace
}  // namespace kcr::runtime
