// The systemd cgroup driver end to end: Debian's systemd runs as PID 1 of
// namespaces of its own (systemd_host.sh; this project's hosts do not boot
// systemd), kcrd runs inside them with cgroup.driver = "systemd", and pods
// come up in transient scopes that systemd really manages.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

namespace v1 = ::runtime::v1;

const std::string kHostScript = KCR_SOURCE_DIR "/test/e2e/systemd_host.sh";

class SystemdDriverTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    host_dir_ = fs::MakeTempDir("kcr-systemd-host");  // outlives dir_: stop needs it
    ASSERT_FALSE(host_dir_.empty());
    CmdResult r = e2e::Run({"/bin/bash", kHostScript, "start", host_dir_});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    sd_pid_ = std::stoi(r.out);
    cgroup_root_ = fs::ReadFile(host_dir_ + "/cgroup").value_or("");
    while (!cgroup_root_.empty() && cgroup_root_.back() == '\n') cgroup_root_.pop_back();
    ASSERT_FALSE(cgroup_root_.empty());
    launcher_ = {"/usr/bin/nsenter", "-t", std::to_string(sd_pid_), "-m", "-p", "-C", "-u", "--"};
    Start("driver = \"systemd\"\n");
    ASSERT_TRUE(Pull("busybox").ok());
  }

  void TearDown() override {
    KcrdFixture::TearDown();  // pods removed through kcrd, kcrd stopped
    CmdResult r = e2e::Run({"/bin/bash", kHostScript, "stop", host_dir_});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    if (HasFailure()) std::cerr << "---- systemd ----\n" << fs::ReadFile(host_dir_ + "/systemd.log").value_or("");
    fs::RemoveAll(host_dir_).IgnoreError();
  }

  // `systemctl show` of a unit inside the systemd host: property -> value.
  std::map<std::string, std::string> Show(const std::string& unit) {
    CmdResult r = e2e::Run({"/usr/bin/nsenter", "-t", std::to_string(sd_pid_), "-m", "-p", "--", "/bin/systemctl", "show",
                       unit, "-p", "LoadState", "-p", "ActiveState", "-p", "Slice", "-p", "Delegate", "-p",
                       "ControlGroup"});
    std::map<std::string, std::string> m;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (auto eq = line.find('='); eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
    return m;
  }

  // Host path of systemd-host cgroup `rel` in the v1 controller `ctrl`
  // ("" for the unified hierarchy on a cgroup v2 host).
  std::string HostCgroup(const std::string& ctrl, const std::string& rel) {
    return "/sys/fs/cgroup/" + (ctrl.empty() ? "" : ctrl + "/") + cgroup_root_ + "/" + rel;
  }
  std::string MemoryDir(const std::string& rel) { return HostCgroup(CgroupV2() ? "" : "memory", rel); }

  // The memory cgroup (host view) of `pid` in the systemd host's PID namespace.
  std::string MemoryCgroupOf(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(sd_pid_) + "/root/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);) {
      auto a = line.find(':'), b = line.find(':', a + 1);
      std::string ctrls = line.substr(a + 1, b - a - 1);
      if (CgroupV2() ? ctrls.empty() : (ctrls == "memory" || ctrls.find("memory,") == 0)) return line.substr(b + 1);
    }
    return "";
  }

  // systemctl inside the systemd host.
  CmdResult Systemctl(std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/nsenter", "-t", std::to_string(sd_pid_), "-m", "-p", "--",
                                  "/bin/systemctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv);
  }

  std::string host_dir_, cgroup_root_;
  pid_t sd_pid_ = -1;
};

TEST_F(SystemdDriverTest, PodMonitorRunsInADelegatedScopeInKubeletsSlice) {
  v1::RuntimeConfigRequest rreq;
  v1::RuntimeConfigResponse rresp;
  ASSERT_TRUE(Runtime().RuntimeConfig(Ctx().get(), rreq, &rresp).ok());
  EXPECT_EQ(rresp.linux().cgroup_driver(), v1::SYSTEMD);

  const std::string slice = "kubepods-besteffort-pod" + std::to_string(getpid()) + ".slice";
  const std::string slice_path = "kubepods.slice/kubepods-besteffort.slice/" + slice;
  v1::PodSandboxConfig pc = PodConfig("sd");
  pc.mutable_linux()->set_cgroup_parent(slice);
  pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  const std::string scope = "kcr-" + *pod + ".scope";
  auto unit = Show(scope);
  EXPECT_EQ(unit["ActiveState"], "active");
  EXPECT_EQ(unit["Delegate"], "yes");
  EXPECT_EQ(unit["Slice"], slice);
  EXPECT_EQ(unit["ControlGroup"], "/" + slice_path + "/" + scope);

  // A container with a memory limit: its cgroup is kcr's, inside the scope.
  v1::ContainerConfig cc = CtrConfig("sleeper", "busybox", {"sleep", "300"});
  cc.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(64 << 20);
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  const std::string ctr_cgroup = slice_path + "/" + scope + "/" + *ctr;
  auto limit = fs::ReadFile(MemoryDir(ctr_cgroup) + "/" + MemoryLimitFile());
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(std::stoull(*limit), 64ull << 20);
  // The monitor left the scope's own cgroup for the kcr-monitor leaf.
  auto procs = fs::ReadFile(MemoryDir(slice_path + "/" + scope + "/kcr-monitor") + "/cgroup.procs");
  ASSERT_TRUE(procs.ok()) << procs.status();
  EXPECT_FALSE(procs->empty()) << "no monitor in the kcr-monitor cgroup";
  EXPECT_EQ(fs::ReadFile(MemoryDir(slice_path + "/" + scope) + "/cgroup.procs").value_or("?"), "");
  // The container's process, seen from the systemd host's cgroup namespace.
  v1::ContainerStatusRequest csreq;
  csreq.set_container_id(*ctr);
  csreq.set_verbose(true);
  v1::ContainerStatusResponse csresp;
  ASSERT_TRUE(Runtime().ContainerStatus(Ctx().get(), csreq, &csresp).ok());
  auto info = nlohmann::json::parse(csresp.info().at("info"), nullptr, false);
  ASSERT_TRUE(info.is_object()) << csresp.info().at("info");
  pid_t cpid = info.value("pid", -1);
  ASSERT_GT(cpid, 0);
  EXPECT_EQ(MemoryCgroupOf(cpid), "/" + cgroup_root_ + "/" + ctr_cgroup);

  // Stats come from those cgroups, for the container and for the pod.
  v1::ContainerStatsRequest sreq;
  sreq.set_container_id(*ctr);
  v1::ContainerStatsResponse sresp;
  ASSERT_TRUE(Runtime().ContainerStats(Ctx().get(), sreq, &sresp).ok());
  EXPECT_GT(sresp.stats().memory().working_set_bytes().value(), 0u);
  v1::PodSandboxStatsRequest preq;
  preq.set_pod_sandbox_id(*pod);
  v1::PodSandboxStatsResponse presp;
  ASSERT_TRUE(Runtime().PodSandboxStats(Ctx().get(), preq, &presp).ok());
  EXPECT_GT(presp.stats().linux().memory().working_set_bytes().value(), 0u);

  // Removal stops the scope; no cgroup of kcr's stays in the pod's slice.
  ASSERT_TRUE(RemovePod(*pod).ok());
  EXPECT_EQ(Show(scope)["LoadState"], "not-found");
  struct stat st;
  for (const char* ctrl : {"memory", "cpu", "cpuacct", "pids", "cpuset", "devices", ""})
    EXPECT_NE(::stat(HostCgroup(CgroupV2() ? "" : ctrl, slice_path + "/" + scope).c_str(), &st), 0)
        << "scope cgroup left in " << ctrl;
}

TEST_F(SystemdDriverTest, PodsWithoutParentGetASliceOfTheirOwn) {
  v1::PodSandboxConfig pc = PodConfig("own");
  pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  // The fixture's parent "kcr-e2e-<pid>.slice": pods get "kcr-e2e-<pid>-<id>.slice".
  std::string base = cgroup_parent_.substr(0, cgroup_parent_.size() - 6);
  std::string slice = base + "-" + *pod + ".slice";
  auto unit = Show("kcr-" + *pod + ".scope");
  EXPECT_EQ(unit["Slice"], slice);
  EXPECT_EQ(unit["ActiveState"], "active");
  EXPECT_EQ(Show(slice)["ActiveState"], "active");
  ASSERT_TRUE(RemovePod(*pod).ok());
  EXPECT_NE(Show(slice)["ActiveState"], "active");  // kcr's own slice goes with its pod
  EXPECT_EQ(Show("kcr-" + *pod + ".scope")["LoadState"], "not-found");
}

TEST_F(SystemdDriverTest, KcrdCrashLeavesScopeMonitorAndContainerRunning) {
  v1::PodSandboxConfig pc = PodConfig("crash");
  pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("sleeper", "busybox", {"sleep", "300"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  Kill9();
  // The monitor lives in its scope, not in kcrd's cgroup: nothing went with kcrd.
  EXPECT_EQ(Show("kcr-" + *pod + ".scope")["ActiveState"], "active");
  Start();
  EXPECT_EQ(CtrStatus(*ctr).state(), v1::CONTAINER_RUNNING);
  EXPECT_EQ(Exec(*ctr, {"echo", "still here"}).stdout(), "still here\n");
  ASSERT_TRUE(RemovePod(*pod).ok());
  EXPECT_EQ(Show("kcr-" + *pod + ".scope")["LoadState"], "not-found");
}

// The shipped unit (hack/kcrd.service): Type=notify start, and with
// KillMode=process a restart keeps the pods' monitors and containers, here
// under the cgroupfs driver, where the monitors stay in kcrd's own cgroup.
TEST_F(SystemdDriverTest, ShippedUnitRestartKeepsPods) {
  Stop();  // the fixture's kcrd; systemd runs the next ones
  WriteConfig("driver = \"cgroupfs\"\n");
  auto unit = fs::ReadFile(KCR_SOURCE_DIR "/hack/kcrd.service");
  ASSERT_TRUE(unit.ok()) << unit.status();
  size_t exec = unit->find("\nExecStart=");
  ASSERT_NE(exec, std::string::npos);
  unit->replace(exec + 1, unit->find('\n', exec + 1) - exec - 1,
                std::string("ExecStart=") + KCR_KCRD_BIN + " --config " + config_);
  ASSERT_TRUE(fs::WriteFileAtomic(host_dir_ + "/units/kcrd-test.service", *unit).ok());
  ASSERT_EQ(Systemctl({"daemon-reload"}).exit_code, 0);
  CmdResult r = Systemctl({"start", "kcrd-test.service"});  // returns once kcrd said READY=1
  ASSERT_EQ(r.exit_code, 0) << r.out << Systemctl({"status", "kcrd-test.service"}).out;
  Connect();
  v1::PodSandboxConfig pc = PodConfig("svc");
  pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("sleeper", "busybox", {"sleep", "300"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  // The container's init and its start time (clock ticks since boot).
  const std::vector<std::string> started = {"sh", "-c", "cut -d' ' -f22 /proc/1/stat"};
  std::string before = Exec(*ctr, started).stdout();
  ASSERT_FALSE(before.empty());
  r = Systemctl({"restart", "kcrd-test.service"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  Connect();
  EXPECT_EQ(CtrStatus(*ctr).state(), v1::CONTAINER_RUNNING);
  EXPECT_EQ(Exec(*ctr, started).stdout(), before);  // the same process, never restarted
  EXPECT_TRUE(RemovePod(*pod).ok());
  EXPECT_EQ(Systemctl({"stop", "kcrd-test.service"}).exit_code, 0);
}

TEST_F(SystemdDriverTest, CgroupfsStyleParentIsRefusedAndNothingIsLeft) {
  v1::PodSandboxConfig pc = PodConfig("bad");
  pc.mutable_linux()->set_cgroup_parent("/kubepods/burstable/pod1");
  auto pod = RunPod(pc);
  ASSERT_EQ(pod.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(pod.status().message().find("must be a slice name"), absl::string_view::npos) << pod.status();
  v1::ListPodSandboxRequest lreq;
  v1::ListPodSandboxResponse lresp;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), lreq, &lresp).ok());
  EXPECT_EQ(lresp.items_size(), 0);
}

}  // namespace
}  // namespace kcr::e2e
