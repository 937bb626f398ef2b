// CDI spec parsing, validation, registry priorities and resolution, on
// real files in a temporary directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>

#include "common/fs.h"
#include "runtime/cdi/registry.h"

namespace kcr::runtime::cdi {
namespace {

class CdiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::MakeTempDir("kcr-cdi-test");
    ASSERT_FALSE(root_.empty());  // never /etc and /run themselves
    etc_ = root_ + "/etc";
    run_ = root_ + "/run";
    ASSERT_TRUE(fs::MkdirAll(etc_).ok());
    ASSERT_TRUE(fs::MkdirAll(run_).ok());
  }
  void TearDown() override { fs::RemoveAll(root_).IgnoreError(); }
  void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  std::string root_, etc_, run_;
};

const char kJson[] = R"({
  "cdiVersion": "0.5.0", "kind": "example.com/gpu",
  "devices": [
    {"name": "gpu0", "containerEdits": {
      "env": ["GPU=0"],
      "deviceNodes": [{"path": "/dev/gpu0", "hostPath": "/dev/null", "permissions": "rw"}],
      "mounts": [{"hostPath": "/usr/lib/gpu", "containerPath": "/usr/lib/gpu", "options": ["ro", "bind"]}],
      "hooks": [{"hookName": "createContainer", "path": "/usr/bin/gpu-hook", "args": ["gpu-hook", "x"], "timeout": 5}]
    }},
    {"name": "1", "containerEdits": {"env": ["GPU=1"]}}
  ],
  "containerEdits": {"env": ["GPU_DRIVER=1.0"]}
})";

const char kYaml[] = R"(cdiVersion: "0.7.0"
kind: example.com/fpga
annotations:
  owner: test
devices:
  - name: fpga0
    containerEdits:
      env: ["FPGA=0"]
      deviceNodes:
        - path: /dev/fpga0
          type: c
          major: 1
          minor: 5
          fileMode: 0640
          uid: 7
      additionalGids: [44, 45]
containerEdits:
  hooks:
    - hookName: poststop
      path: /bin/true
)";

TEST_F(CdiTest, ParsesJson) {
  auto s = ParseSpec(kJson, false);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->kind, "example.com/gpu");
  ASSERT_EQ(s->devices.size(), 2u);
  const ContainerEdits& e = s->devices[0].edits;
  EXPECT_EQ(e.env, std::vector<std::string>{"GPU=0"});
  ASSERT_EQ(e.device_nodes.size(), 1u);
  EXPECT_EQ(e.device_nodes[0].host_path, "/dev/null");
  EXPECT_EQ(e.device_nodes[0].permissions, "rw");
  ASSERT_EQ(e.mounts.size(), 1u);
  EXPECT_EQ(e.mounts[0].options, (std::vector<std::string>{"ro", "bind"}));
  ASSERT_EQ(e.hooks.size(), 1u);
  EXPECT_EQ(e.hooks[0].hook_name, "createContainer");
  EXPECT_EQ(e.hooks[0].timeout, 5);
  EXPECT_EQ(s->edits.env, std::vector<std::string>{"GPU_DRIVER=1.0"});
}

TEST_F(CdiTest, ParsesYamlWithOctalModesAndGids) {
  auto s = ParseSpec(kYaml, true);
  ASSERT_TRUE(s.ok()) << s.status();
  const DeviceNode& n = s->devices[0].edits.device_nodes[0];
  EXPECT_EQ(n.type, "c");
  EXPECT_EQ(n.major, 1);
  EXPECT_EQ(n.minor, 5);
  EXPECT_EQ(n.file_mode, 0640u);
  EXPECT_EQ(n.uid, 7u);
  EXPECT_EQ(s->devices[0].edits.additional_gids, (std::vector<uint32_t>{44, 45}));
  EXPECT_EQ(s->edits.hooks[0].hook_name, "poststop");
}

TEST_F(CdiTest, EachSupportedVersionAndTooOldOnes) {
  for (std::string v : {"0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0"}) {
    std::string spec = R"({"cdiVersion": ")" + v + R"(", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"env": ["A=1"]}}]})";
    EXPECT_TRUE(ParseSpec(spec, false).ok()) << v;
    EXPECT_TRUE(ParseSpec(spec, true).ok()) << v << " as YAML";
  }
  auto bad = ParseSpec(R"({"cdiVersion": "0.2.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"env": ["A=1"]}}]})", false);
  EXPECT_NE(bad.status().message().find("cdiVersion \"0.2.0\" is not supported"), std::string::npos) << bad.status();
  // hostPath arrived in 0.5.0, annotations in 0.6.0, additionalGids in 0.7.0.
  auto old = ParseSpec(R"({"cdiVersion": "0.4.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits":
      {"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null"}]}}]})", false);
  EXPECT_NE(old.status().message().find("need 0.5.0"), std::string::npos) << old.status();
  auto gids = ParseSpec(R"({"cdiVersion": "0.6.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits":
      {"additionalGids": [5]}}]})", false);
  EXPECT_NE(gids.status().message().find("need 0.7.0"), std::string::npos) << gids.status();
}

TEST_F(CdiTest, RejectsMalformedSpecsNamingTheField) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {R"({"cdiVersion": "0.5.0", "kind": "nokind", "devices": [{"name": "d", "containerEdits": {"env": ["A=1"]}}]})", "vendor/class"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "-d", "containerEdits": {"env": ["A=1"]}}]})", "must start with"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"env": ["A"]}}]})", "not NAME=value"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"mounts": [{"hostPath": "/x", "containerPath": "/a/../../etc"}]}}]})", "without \"..\""},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"hooks": [{"hookName": "createContainer", "path": "hook"}]}}]})", "must be absolute"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"hooks": [{"hookName": "later", "path": "/hook"}]}}]})", "unknown hookName"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"hooks": [{"hookName": "poststop", "path": "/hook", "timeout": 0}]}}]})", "greater than zero"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"deviceNodes": [{"path": "/dev/x", "permissions": "rwx"}]}}]})", "r, w, m"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"env": ["A=1"]}}, {"name": "d", "containerEdits": {"env": ["A=1"]}}]})", "defined twice"},
      {R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": []})", "at least one device"},
      {R"({"cdiVersion": 5, "kind": "a.com/b"})", "must be a string"},
      {R"({"cdiVersion": "0.5.0", "kind": )", "not JSON"},
  };
  for (const auto& c : cases) {
    auto s = ParseSpec(c.text, false);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.expect), std::string::npos) << s.status() << " for " << c.text;
  }
  EXPECT_FALSE(ParseSpec("cdiVersion: [unclosed", true).ok());
}

TEST_F(CdiTest, QualifiedNamesAndAnnotations) {
  EXPECT_TRUE(ParseQualifiedName("vendor.com/class=dev:0").ok());
  EXPECT_FALSE(ParseQualifiedName("vendor.com/class").ok());
  EXPECT_FALSE(ParseQualifiedName("class=dev").ok());
  auto names = DevicesFromAnnotations({{"cdi.k8s.io/a", "v.com/c=d1,v.com/c=d2"}, {"other", "x"}, {"cdi.k8s.io/b", "v.com/c=d3"}});
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"v.com/c=d1", "v.com/c=d2", "v.com/c=d3"}));
  EXPECT_FALSE(DevicesFromAnnotations({{"cdi.k8s.io/a", "notqualified"}}).ok());
  EXPECT_FALSE(DevicesFromAnnotations({{"cdi.k8s.io/", "v.com/c=d"}}).ok());
}

TEST_F(CdiTest, ResolvesMergingSpecEditsOnceAndFillsNodesFromTheHost) {
  Write(etc_ + "/gpu.json", kJson);
  Registry r({etc_, run_});
  auto e = r.Resolve({"example.com/gpu=gpu0", "example.com/gpu=1"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->env, (std::vector<std::string>{"GPU_DRIVER=1.0", "GPU=0", "GPU=1"}));
  ASSERT_EQ(e->device_nodes.size(), 1u);
  // /dev/gpu0's type and numbers come from its hostPath, /dev/null (1:3).
  EXPECT_EQ(e->device_nodes[0].type, "c");
  EXPECT_EQ(e->device_nodes[0].major, 1);
  EXPECT_EQ(e->device_nodes[0].minor, 3);
  EXPECT_EQ(e->device_nodes[0].file_mode, 0666u);
  EXPECT_EQ(e->device_nodes[0].permissions, "rw");
  EXPECT_TRUE(r.Errors().empty());
}

TEST_F(CdiTest, UnknownDeviceIsNamed) {
  Write(etc_ + "/gpu.json", kJson);
  Registry r({etc_, run_});
  auto e = r.Resolve({"example.com/gpu=gpu9"});
  ASSERT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("example.com/gpu=gpu9"), std::string::npos) << e.status();
  EXPECT_EQ(r.Resolve({"gpu9"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CdiTest, MissingHostNodeFailsNamingIt) {
  Write(etc_ + "/x.json", R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits":
      {"deviceNodes": [{"path": "/dev/nothere-kcr"}]}}]})");
  Registry r({etc_});
  auto e = r.Resolve({"a.com/b=d"});
  EXPECT_EQ(e.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(e.status().message().find("/dev/nothere-kcr"), std::string::npos) << e.status();
}

TEST_F(CdiTest, LaterDirectoryOverridesAndSameDirectoryConflicts) {
  auto spec = [](const std::string& dev, const std::string& val) {
    return R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": ")" + dev +
           R"(", "containerEdits": {"env": ["V=)" + val + R"("]}}]})";
  };
  Write(etc_ + "/one.json", spec("d", "etc"));
  Write(run_ + "/one.json", spec("d", "run"));
  Registry r({etc_, run_});
  auto e = r.Resolve({"a.com/b=d"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->env, std::vector<std::string>{"V=run"});
  // Two files of one directory: neither wins, both are named.
  Write(etc_ + "/two.json", spec("c", "1"));
  Write(etc_ + "/three.json", spec("c", "2"));
  auto c = r.Resolve({"a.com/b=c"});
  ASSERT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_NE(c.status().message().find("three.json"), std::string::npos);
  EXPECT_NE(c.status().message().find("two.json"), std::string::npos);
  // A higher-priority directory settles the conflict.
  Write(run_ + "/c.json", spec("c", "3"));
  auto settled = r.Resolve({"a.com/b=c"});
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(settled->env, std::vector<std::string>{"V=3"});
}

TEST_F(CdiTest, MalformedFileIsRecordedAndOthersStillLoad) {
  Write(etc_ + "/good.yaml", kYaml);
  Write(etc_ + "/bad.json", "{ not json");
  Write(etc_ + "/ignored.txt", "{ not json either");
  Registry r({etc_, run_});
  auto e = r.Resolve({"example.com/fpga=fpga0"});
  ASSERT_TRUE(e.ok()) << e.status();
  auto errs = r.Errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].file, etc_ + "/bad.json");
  EXPECT_NE(errs[0].reason.find("not JSON"), std::string::npos);
  EXPECT_EQ(r.Devices(), std::vector<std::string>{"example.com/fpga=fpga0"});
}

TEST_F(CdiTest, EditsInPlaceAreSeenWithoutARestart) {
  Write(etc_ + "/x.json", R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"env": ["V=1"]}}]})");
  Registry r({etc_});
  ASSERT_EQ(r.Resolve({"a.com/b=d"})->env, std::vector<std::string>{"V=1"});
  // Same file (same inode), new content of another size.
  Write(etc_ + "/x.json", R"({"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "d", "containerEdits": {"env": ["V=22"]}}]})");
  ASSERT_EQ(r.Resolve({"a.com/b=d"})->env, std::vector<std::string>{"V=22"});
  ::unlink((etc_ + "/x.json").c_str());
  EXPECT_EQ(r.Resolve({"a.com/b=d"}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CdiTest, OversizedFileIsAnError) {
  std::string big(kMaxSpecFileBytes + 10, ' ');
  Write(etc_ + "/big.json", big);
  Registry r({etc_});
  auto errs = r.Errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].reason.find("larger than"), std::string::npos) << errs[0].reason;
}

}  // namespace
}  // namespace kcr::runtime::cdi
