// kcrd as a process: flags, configuration, the root lock, signals, the
// RuntimeService information RPCs.
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

namespace v1 = ::runtime::v1;

using DaemonTest = KcrdFixture;

TEST_F(DaemonTest, VersionStatusAndRuntimeConfig) {
  Start();
  CmdResult r = Crictl({"version"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("RuntimeName:  kcr"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RuntimeApiVersion:  v1"), std::string::npos) << r.out;
  v1::StatusRequest req;
  req.set_verbose(true);
  v1::StatusResponse resp;
  ASSERT_TRUE(Runtime().Status(Ctx().get(), req, &resp).ok());
  bool runtime_ready = false, network_seen = false;
  for (const auto& c : resp.status().conditions()) {
    if (c.type() == "RuntimeReady") runtime_ready = c.status();
    if (c.type() == "NetworkReady") {
      network_seen = true;
      // The built-in default network needs bridge, portmap, loopback and
      // host-local from Debian's containernetworking-plugins.
      EXPECT_TRUE(c.status()) << c.reason() << ": " << c.message();
    }
  }
  EXPECT_TRUE(runtime_ready);
  EXPECT_TRUE(network_seen);
  EXPECT_NE(resp.info().at("config").find("built-in"), std::string::npos) << resp.info().at("config");
  v1::RuntimeConfigRequest rcq;
  v1::RuntimeConfigResponse rcr;
  ASSERT_TRUE(Runtime().RuntimeConfig(Ctx().get(), rcq, &rcr).ok());
  EXPECT_EQ(rcr.linux().cgroup_driver(), v1::CGROUPFS);  // no systemd as init here
  // Later-step RPCs name themselves.
  v1::ListPodSandboxRequest lq;
  v1::ListPodSandboxResponse lr;
  grpc::Status s = Runtime().ListPodSandbox(Ctx().get(), lq, &lr);
  if (!s.ok()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(s.error_message().find("ListPodSandbox"), std::string::npos);
  }
}

TEST_F(DaemonTest, SecondDaemonOnTheSameRootRefuses) {
  Start();
  CmdResult r = e2e::Run({KCR_KCRD_BIN, "--config", config_, "--listen", dir_ + "/other.sock"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("already using this root"), std::string::npos) << r.out;
  // The first one still serves.
  EXPECT_EQ(Crictl({"version"}).exit_code, 0);
}

TEST_F(DaemonTest, SigtermStopsCleanlyAndRemovesTheSocket) {
  Start();
  int st = Stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  EXPECT_NE(access(sock_.c_str(), F_OK), 0);
  Start();  // and it starts again on the same root
  EXPECT_EQ(Crictl({"version"}).exit_code, 0);
}

TEST_F(DaemonTest, ConfigDefaultAndBadConfig) {
  CmdResult r = e2e::Run({KCR_KCRD_BIN, "config", "default"});
  ASSERT_EQ(r.exit_code, 0);
  for (const char* key : {"root =", "state =", "listen =", "log_level =", "[cgroup]", "driver =", "[cni]",
                          "conf_dir =", "bin_dirs =", "[images]", "max_parallel_layers =", "[streaming]",
                          "[metrics]", "registry.mirrors"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
  r = e2e::Run({KCR_KCRD_BIN, "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("kcrd "), std::string::npos);
  ASSERT_TRUE(fs::WriteFileAtomic(config_, "[cgroup]\ndriver = \"lxc\"\n").ok());
  r = e2e::Run({KCR_KCRD_BIN, "--config", config_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("cgroup.driver"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kcr::e2e
