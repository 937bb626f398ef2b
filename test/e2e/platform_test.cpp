// Platform choice end to end (issue 12, "Every architecture"): kcrd with
// each `[image] platform` value pulls an image index from the local
// registry and must choose the manifest containerd would; a foreign
// single-manifest image pulls but does not become a container. The images
// come from hack/multiarch_images.py: each platform's manifest carries the
// annotation org.kcr.test.platform naming its platform, which ImageStatus
// reports in the image spec's annotations.
#include <nlohmann/json.hpp>

#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

constexpr const char* kAnnotation = "org.kcr.test.platform";

class PlatformTest : public KcrdFixture {
 protected:
  // Restarts kcrd on the same root with `platform` ("" = the host's).
  void StartWith(const std::string& platform) {
    if (pid_ > 0) Stop();
    Start(platform.empty() ? "\n" : "[image]\nplatform = \"" + platform + "\"\n");
  }
  v1::ImageStatusResponse Status(const std::string& image) {
    v1::ImageStatusRequest req;
    req.mutable_image()->set_image(image);
    req.set_verbose(true);
    v1::ImageStatusResponse resp;
    EXPECT_TRUE(Images().ImageStatus(Ctx().get(), req, &resp).ok());
    return resp;
  }
  // The platform the chosen manifest was built for, by its annotation.
  std::string Chosen(const std::string& image) {
    v1::ImageStatusResponse st = Status(image);
    if (!st.has_image()) return "(no image)";
    const auto& a = st.image().spec().annotations();
    auto it = a.find(kAnnotation);
    return it == a.end() ? "(no annotation)" : it->second;
  }
};

// For each architecture of the issue, the manifest chosen from an index that
// also lists its fallbacks (386 before amd64, arm/v6 before arm/v7) and a
// windows/amd64 entry first; then an index without arm/v7.
TEST_F(PlatformTest, EachPlatformPullsItsOwnManifest) {
  struct Case {
    std::string platform, image, chosen;
  } cases[] = {
      {"linux/amd64", "kcr-test/platforms", "linux/amd64"},
      {"linux/arm64/v8", "kcr-test/platforms", "linux/arm64/v8"},
      {"linux/arm/v7", "kcr-test/platforms", "linux/arm/v7"},
      {"linux/arm/v6", "kcr-test/platforms", "linux/arm/v6"},
      {"linux/386", "kcr-test/platforms", "linux/386"},
      {"linux/ppc64le", "kcr-test/platforms", "linux/ppc64le"},
      {"linux/s390x", "kcr-test/platforms", "linux/s390x"},
      {"linux/riscv64", "kcr-test/platforms", "linux/riscv64"},
      {"armhf", "kcr-test/platforms-nov7", "linux/arm/v6"},  // arm/v7: v6 before v5
      {"linux/arm64", "kcr-test/platforms-nov7", "linux/arm/v6"},  // arm64 runs 32-bit arm
      {"linux/arm/v5", "kcr-test/platforms-nov7", "linux/arm/v5"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("[image] platform = " + c.platform + ", " + c.image);
    StartWith(c.platform);
    grpc::Status s = Pull(c.image);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(Chosen(c.image), c.chosen);
    v1::ImageStatusResponse st = Status(c.image);
    json info = json::parse(st.info().at("info"));
    std::string want = c.chosen.substr(c.chosen.find('/') + 1);
    std::string arch = want.substr(0, want.find('/'));
    EXPECT_EQ(info["imageSpec"]["architecture"], arch);
    std::string variant = want.find('/') == std::string::npos ? "" : want.substr(want.find('/') + 1);
    EXPECT_EQ(info["imageSpec"].value("variant", ""), variant);
    EXPECT_EQ(info["manifestDigest"].get<std::string>().rfind("sha256:", 0), 0u);
  }
  // The default is this host's platform (the test hosts are amd64).
  StartWith("");
  ASSERT_TRUE(Pull("kcr-test/platforms").ok());
  EXPECT_EQ(Chosen("kcr-test/platforms"), "linux/amd64");
}

TEST_F(PlatformTest, NoMatchingPlatformFailsNamingWhatTheIndexOffers) {
  StartWith("linux/mips64le");
  grpc::Status s = Pull("kcr-test/platforms");
  ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_message().find("linux/mips64le"), std::string::npos) << s.error_message();
  for (const char* offered : {"windows/amd64", "linux/386", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8",
                              "linux/amd64", "linux/ppc64le", "linux/s390x", "linux/riscv64"})
    EXPECT_NE(s.error_message().find(offered), std::string::npos) << offered << " in " << s.error_message();
  EXPECT_FALSE(Status("kcr-test/platforms").has_image());
  StartWith("linux/s390x");
  s = Pull("kcr-test/platforms-nov7");
  ASSERT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_message().find("linux/arm/v5, linux/arm/v6, linux/amd64"), std::string::npos) << s.error_message();
}

// A single-manifest image for another architecture: PullImage takes it (as
// containerd does: there is nothing to choose from), CreateContainer refuses
// it naming both platforms, and leaves no container behind.
TEST_F(PlatformTest, ForeignImageFailsAtCreateNamingBothArchitectures) {
  StartWith("");
  grpc::Status s = Pull("kcr-test/arm64-only");
  ASSERT_TRUE(s.ok()) << s.error_message();
  json info = json::parse(Status("kcr-test/arm64-only").info().at("info"));
  EXPECT_EQ(info["imageSpec"]["architecture"], "arm64");
  EXPECT_EQ(info["imageSpec"]["variant"], "v8");

  v1::PodSandboxConfig pc = PodConfig("foreign");
  pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("arm", "kcr-test/arm64-only", {"/arch.txt"}), false);
  ASSERT_EQ(ctr.status().code(), absl::StatusCode::kFailedPrecondition) << ctr.status();
  std::string msg(ctr.status().message());
  EXPECT_NE(msg.find("linux/arm64/v8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("linux/amd64"), std::string::npos) << msg;
  v1::ListContainersRequest lreq;
  v1::ListContainersResponse lresp;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), lreq, &lresp).ok());
  EXPECT_EQ(lresp.containers_size(), 0);
  // An image of this node's platform in the same pod still is created.
  ASSERT_TRUE(Pull("busybox").ok());
  auto ok = RunCtr(*pod, pc, CtrConfig("native", "busybox", {"true"}), false);
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(PlatformTest, InvalidPlatformStopsKcrdAndDefaultShowsTheHosts) {
  WriteConfig("[image]\nplatform = \"linux/amd46\"\n");
  CmdResult r = e2e::Run({KCR_KCRD_BIN, "--config", config_});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("image.platform"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("amd46"), std::string::npos) << r.out;
  r = e2e::Run({KCR_KCRD_BIN, "config", "default"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("[image]\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# platform = \"linux/amd64\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kcr::e2e
