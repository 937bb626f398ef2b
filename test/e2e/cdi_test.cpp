// CDI devices through a real kcrd: a spec in a temp dir ([cdi] spec_dirs)
// with a fake device (a character node this test makes), a mount, an env
// variable and a createContainer hook; asked for by cdi_devices and by the
// cdi.k8s.io/ annotation; unknown devices fail CreateContainer naming them;
// a malformed spec is reported (Status verbose info, the log) without
// breaking the good one; an edited spec is seen without a restart.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

class CdiDevicesTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    cdi_ = dir_ + "/cdi";
    ASSERT_TRUE(fs::MkdirAll(cdi_).ok());
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/share").ok());
    std::ofstream(dir_ + "/share/hello") << "from the host\n";
    // The fake device: a node of its own name with /dev/zero's numbers.
    ASSERT_EQ(::mknod((dir_ + "/fakezero").c_str(), S_IFCHR | 0666, makedev(1, 5)), 0);
    WriteSpec("yes");
    Start("[cdi]\nspec_dirs = [\"" + cdi_ + "\"]\n");
    ASSERT_TRUE(Pull("busybox").ok());
  }
  void WriteSpec(const std::string& env_value) {
    json spec = {
        {"cdiVersion", "0.6.0"},
        {"kind", "kcr.test/fake"},
        {"devices",
         {{{"name", "dev0"},
           {"containerEdits",
            {{"env", {"FAKE_DEV=" + env_value}},
             {"deviceNodes", {{{"path", "/dev/kcrfake"}, {"hostPath", dir_ + "/fakezero"}, {"permissions", "rw"}}}},
             {"mounts", {{{"hostPath", dir_ + "/share"}, {"containerPath", "/mnt/cdi"}, {"options", {"ro", "bind"}}}}},
             {"hooks",
              {{{"hookName", "createContainer"},
                {"path", "/bin/sh"},
                {"args", {"sh", "-c", "cat > " + dir_ + "/hook-ran"}}}}}}}}}}};
    // Written beside, then renamed: kcrd never reads half a file.
    std::ofstream(cdi_ + "/fake.json.tmp") << spec.dump(2);
    ASSERT_EQ(::rename((cdi_ + "/fake.json.tmp").c_str(), (cdi_ + "/fake.json").c_str()), 0);
  }
  StatusOr<std::string> RunWith(const std::string& pod, const v1::PodSandboxConfig& pc, const std::string& name,
                                const std::string& device, bool annotation = false) {
    auto cc = CtrConfig(name, "busybox", {"sleep", "1000"});
    if (annotation) (*cc.mutable_annotations())["cdi.k8s.io/e2e"] = device;
    else cc.add_cdi_devices()->set_name(device);
    return RunCtr(pod, pc, cc);
  }
  json StatusCdi() {
    v1::StatusRequest req;
    req.set_verbose(true);
    v1::StatusResponse resp;
    EXPECT_TRUE(Runtime().Status(Ctx().get(), req, &resp).ok());
    return json::parse(resp.info().count("cdi") ? resp.info().at("cdi") : "{}", nullptr, false);
  }
  std::string cdi_;
};

TEST_F(CdiDevicesTest, DeviceMountEnvAndHookReachTheContainer) {
  auto pc = PodConfig("cdi");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunWith(*pod, pc, "dev", "kcr.test/fake=dev0");
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  // The node reads as /dev/zero and takes writes (the device cgroup allows it).
  auto r = Exec(*ctr, {"sh", "-c", "head -c1 /dev/kcrfake | od -An -tx1 && echo x > /dev/kcrfake && cat /mnt/cdi/hello && echo $FAKE_DEV"});
  EXPECT_EQ(r.exit_code(), 0) << r.stderr();
  EXPECT_EQ(r.stdout(), " 00\nfrom the host\nyes\n");
  // The mount is read-only, as the spec asked.
  EXPECT_NE(Exec(*ctr, {"sh", "-c", "echo x > /mnt/cdi/new"}).exit_code(), 0);
  // The createContainer hook ran with the container's state.
  json state = json::parse(fs::ReadFile(dir_ + "/hook-ran").value_or("{}"), nullptr, false);
  EXPECT_EQ(state.value("id", ""), *ctr);
  EXPECT_EQ(state.value("status", ""), "creating");

  // The annotation form (containerd's): the same device.
  ::unlink((dir_ + "/hook-ran").c_str());
  auto ann = RunWith(*pod, pc, "ann", "kcr.test/fake=dev0", true);
  ASSERT_TRUE(ann.ok()) << ann.status();
  EXPECT_EQ(Exec(*ann, {"sh", "-c", "echo $FAKE_DEV; test -c /dev/kcrfake"}).stdout(), "yes\n");
  EXPECT_TRUE(fs::ReadFile(dir_ + "/hook-ran").ok());
}

TEST_F(CdiDevicesTest, UnknownDeviceFailsAndMalformedSpecIsReported) {
  auto pc = PodConfig("cdi-bad");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto unknown = RunWith(*pod, pc, "unknown", "kcr.test/fake=nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kFailedPrecondition) << unknown.status();
  EXPECT_NE(unknown.status().message().find("kcr.test/fake=nope"), std::string::npos) << unknown.status();
  auto by_annotation = RunWith(*pod, pc, "unknown2", "kcr.test/fake=gone", true);
  ASSERT_FALSE(by_annotation.ok());
  EXPECT_NE(by_annotation.status().message().find("kcr.test/fake=gone"), std::string::npos) << by_annotation.status();

  std::ofstream(cdi_ + "/broken.yaml") << "cdiVersion: \"0.6.0\"\nkind: nokind\ndevices: []\n";
  json info = StatusCdi();
  ASSERT_TRUE(info.is_object()) << info;
  EXPECT_EQ(info["specDirs"], json::array({cdi_}));
  ASSERT_EQ(info["errors"].size(), 1u) << info;
  EXPECT_EQ(info["errors"][0].value("file", ""), cdi_ + "/broken.yaml");
  EXPECT_NE(info["errors"][0].value("reason", "").find("vendor/class"), std::string::npos) << info;
  EXPECT_EQ(info["devices"], json::array({"kcr.test/fake=dev0"}));
  EXPECT_NE(fs::ReadFile(log_).value_or("").find("CDI spec " + cdi_ + "/broken.yaml"), std::string::npos);
  // The good spec still works beside it.
  auto ok = RunWith(*pod, pc, "good", "kcr.test/fake=dev0");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(Exec(*ok, {"sh", "-c", "echo $FAKE_DEV"}).stdout(), "yes\n");
}

TEST_F(CdiDevicesTest, EditedSpecIsSeenWithoutARestart) {
  auto pc = PodConfig("cdi-edit");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto before = RunWith(*pod, pc, "before", "kcr.test/fake=dev0");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(Exec(*before, {"sh", "-c", "echo $FAKE_DEV"}).stdout(), "yes\n");
  WriteSpec("edited");
  auto after = RunWith(*pod, pc, "after", "kcr.test/fake=dev0");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Exec(*after, {"sh", "-c", "echo $FAKE_DEV"}).stdout(), "edited\n");
}

}  // namespace
}  // namespace kcr::e2e
