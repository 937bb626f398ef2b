#pragma once
// KcrdFixture: a real kcrd on a private root, state dir and socket, with its
// registry mirrors pointed at the local test registry (127.0.0.1:5000), and
// helpers to drive it through gRPC and crictl. Every process it starts is
// stopped by PID and every directory removed in TearDown.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api.grpc.pb.h"
#include "common/status.h"

namespace kcr::e2e {

struct CmdResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// Runs argv (no shell), capturing output.
CmdResult Run(const std::vector<std::string>& argv);

class KcrdFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts kcrd and waits until it answers Version. Extra TOML is appended
  // to the generated config; a restart (no argument) keeps the last one.
  void Start(const std::string& extra_toml = "");
  // Start's parts: the config file (extra TOML as for Start), and the
  // gRPC connection to a kcrd some other way started (waits for Version).
  void WriteConfig(const std::string& extra_toml = "");
  void Connect();
  std::string extra_toml_;
  // SIGTERM, then SIGKILL after 10 s. Returns the exit status.
  int Stop();
  // SIGKILL, as a crash.
  void Kill9();
  // Removes every pod through kcrd (as TearDown does).
  void RemoveAllPods();
  // kcrd's PID (the launcher's child when there is a launcher), -1 if none.
  pid_t KcrdPid() const;

  CmdResult Crictl(const std::vector<std::string>& args);

  // Request helpers; a failed RPC comes back as its status code and message.
  ::runtime::v1::PodSandboxConfig PodConfig(const std::string& name);  // pod "e2e/<name>", own log dir
  StatusOr<std::string> RunPod(const ::runtime::v1::PodSandboxConfig& c);
  ::runtime::v1::ContainerConfig CtrConfig(const std::string& name, const std::string& image,
                                           std::vector<std::string> cmd);
  // CreateContainer, then StartContainer when `start`.
  StatusOr<std::string> RunCtr(const std::string& pod, const ::runtime::v1::PodSandboxConfig& pc,
                               const ::runtime::v1::ContainerConfig& c, bool start = true);
  // PullImage of `image` (as the user names it), no credentials.
  grpc::Status Pull(const std::string& image);
  ::runtime::v1::ExecSyncResponse Exec(const std::string& ctr, std::vector<std::string> cmd, int timeout = 10);
  ::runtime::v1::ContainerStatus CtrStatus(const std::string& id);
  grpc::Status RemovePod(const std::string& id);
  // One request straight to a pod's kcr-monitor over its control socket
  // (runtime/monitor/PROTOCOL.md), as kcrd would send it: for tests that
  // play a kcrd that never saw the answer. The reply, or a status.
  StatusOr<nlohmann::json> MonitorRequest(const std::string& pod_id, nlohmann::json req);

  ::runtime::v1::ImageService::Stub& Images() { return *images_; }
  ::runtime::v1::RuntimeService::Stub& Runtime() { return *runtime_; }
  std::unique_ptr<grpc::ClientContext> Ctx(int timeout_s = 60);

  std::string dir_, root_, state_, sock_, config_, log_, cgroup_parent_;
  pid_t pid_ = -1;  // kcrd, or its launcher
  // A command kcrd runs under (e.g. nsenter into other namespaces); signals
  // then go to the launcher's child, kcrd itself.
  std::vector<std::string> launcher_;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::runtime::v1::ImageService::Stub> images_;
  std::unique_ptr<::runtime::v1::RuntimeService::Stub> runtime_;
};

// Where cgroup `rel` accounts memory: the v1 memory hierarchy, or the
// unified one on a cgroup v2 host; and its memory limit file's name.
bool CgroupV2();
std::string MemoryCgroupDir(const std::string& rel);
std::string MemoryLimitFile();

// Files directly inside `dir` (not recursive), 0 if it does not exist.
int CountEntries(const std::string& dir);

}  // namespace kcr::e2e
