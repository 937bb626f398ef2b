// CRI calls that kcrd never finished: it was killed in the middle (the
// windows the chaos test found). Each test stops the call at the spot
// deterministically, then checks what a restarted kcrd reports and that
// removal leaves nothing behind.
//
// InterruptedCallTest (a pod on the host's network): a StartContainer whose answer never reached kcr's record
// (kcrd killed after the monitor started the container, or the call's
// deadline passed). The tests play that kcrd by sending the start to the
// monitor themselves. The container must be reported as what it is
// (running, or exited with its own code), never started twice, never
// "failed to start". A StopContainer during which the pod's monitor dies
// ends when the container is known to be gone, not at its deadline. A pod
// whose monitor was killed is removed with its monitor's socket.
//
// KilledInRunPodSandboxTest: kcrd killed while a CNI plugin is adding the
// pod to its network (held there by a gate plugin).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

namespace v1 = ::runtime::v1;

class InterruptedCallTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    Start();
    ASSERT_TRUE(Pull("busybox").ok());
    pc_ = PodConfig("p");
    pc_.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
    auto pod = RunPod(pc_);
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_ = *pod;
  }
  // A created container that the monitor then starts behind kcrd's back.
  std::string CreatedThenStartedByTheMonitor(const std::string& name, const std::string& script) {
    auto id = RunCtr(pod_, pc_, CtrConfig(name, "busybox", {"sh", "-c", script}), /*start=*/false);
    EXPECT_TRUE(id.ok()) << id.status();
    auto r = MonitorRequest(pod_, {{"op", "start"}, {"container", id.value_or("")}});
    EXPECT_TRUE(r.ok()) << r.status();
    return id.value_or("");
  }
  // CRI log lines of container `name` holding `text`, once there is one (bounded).
  int LogLines(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/logs/p/" + name + ".log";
    int n = 0;
    for (int i = 0; i < 250 && n == 0; i++) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::string log = fs::ReadFile(path).value_or("");
      n = 0;
      for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) n++;
    }
    return n;
  }
  grpc::Status StartCtr(const std::string& id) {
    v1::StartContainerRequest req;
    req.set_container_id(id);
    v1::StartContainerResponse resp;
    return Runtime().StartContainer(Ctx().get(), req, &resp);
  }
  v1::PodSandboxConfig pc_;
  std::string pod_;
};

TEST_F(InterruptedCallTest, AStartAgainIsRefusedAndTheRunningContainerReported) {
  std::string id = CreatedThenStartedByTheMonitor("c", "echo run; exec sleep 100000");
  ASSERT_EQ(LogLines("c", "run"), 1);
  grpc::Status st = StartCtr(id);  // a kubelet or crictl trying again
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("already started"), std::string::npos) << st.error_message();
  auto s = CtrStatus(id);
  EXPECT_EQ(s.state(), v1::CONTAINER_RUNNING) << s.reason() << ": " << s.message();
  EXPECT_GT(s.started_at(), 0);
  EXPECT_EQ(Exec(id, {"echo", "ok"}).stdout(), "ok\n");
  EXPECT_EQ(LogLines("c", "run"), 1);  // started once
}

TEST_F(InterruptedCallTest, AStartAgainAfterTheContainerExitedReportsItsExit) {
  std::string id = CreatedThenStartedByTheMonitor("c", "echo run; exit 5");
  // The exit is recorded (the monitor writes the record before anything else).
  std::string rec = state_ + "/containers/" + id + "/exit.json";
  for (int i = 0; i < 250 && access(rec.c_str(), F_OK) != 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(access(rec.c_str(), F_OK), 0);
  grpc::Status st = StartCtr(id);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  auto s = CtrStatus(id);
  EXPECT_EQ(s.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(s.exit_code(), 5) << s.reason() << ": " << s.message();
  EXPECT_EQ(s.reason(), "Error");
  EXPECT_EQ(LogLines("c", "run"), 1);
}

TEST_F(InterruptedCallTest, ARestartedKcrdReportsTheContainerRunning) {
  std::string id = CreatedThenStartedByTheMonitor("c", "echo run; exec sleep 100000");
  ASSERT_EQ(LogLines("c", "run"), 1);
  Kill9();
  Start();
  auto s = CtrStatus(id);
  EXPECT_EQ(s.state(), v1::CONTAINER_RUNNING) << s.reason() << ": " << s.message();
  v1::ListContainersRequest lreq;
  lreq.mutable_filter()->mutable_state()->set_state(v1::CONTAINER_RUNNING);
  v1::ListContainersResponse lresp;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), lreq, &lresp).ok());
  ASSERT_EQ(lresp.containers_size(), 1);
  EXPECT_EQ(lresp.containers(0).id(), id);
  EXPECT_EQ(Exec(id, {"echo", "ok"}).stdout(), "ok\n");
  // And it is stopped like any running container.
  v1::StopContainerRequest stop;
  stop.set_container_id(id);
  stop.set_timeout(1);
  v1::StopContainerResponse stop_resp;
  ASSERT_TRUE(Runtime().StopContainer(Ctx().get(), stop, &stop_resp).ok());
  EXPECT_EQ(CtrStatus(id).exit_code(), 137);
}

// A CNI plugin for the test, after bridge in the chain: it holds ADD until
// released, then passes the previous result on.
constexpr char kGatePlugin[] = R"(#!/bin/sh
d=$(dirname "$0")
case "$CNI_COMMAND" in
ADD)
  conf=$(cat)
  echo "$CNI_CONTAINERID" > "$d/entered"
  i=0
  while [ ! -e "$d/release" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
  printf '%s' "$conf" | python3 -c 'import json,sys; c=json.load(sys.stdin); r=c.get("prevResult",{}); r["cniVersion"]=c["cniVersion"]; print(json.dumps(r))'
  ;;
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
*) cat >/dev/null ;;
esac
)";

class KilledInRunPodSandboxTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    bridge_ = "kcrgt" + std::to_string(getpid() % 100000);
    net_ = "kcr-gate-" + std::to_string(getpid());
    bin_ = dir_ + "/cni-bin";
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/net.d").ok());
    ASSERT_TRUE(fs::MkdirAll(bin_).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(bin_ + "/kcr-e2e-gate", kGatePlugin, 0755).ok());
    nlohmann::json conf = {
        {"cniVersion", "1.0.0"}, {"name", net_},
        {"plugins", {{{"type", "bridge"}, {"bridge", bridge_}, {"isGateway", true}, {"ipMasq", true},
                      {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.81.0.0/16"}}}}}}}},
                     {{"type", "kcr-e2e-gate"}}}}};
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/net.d/10-gate.conflist", conf.dump()).ok());
    Start("[cni]\nconf_dir = \"" + dir_ + "/net.d\"\nbin_dirs = [\"" + bin_ + "\", \"/usr/lib/cni\"]\n");
  }
  void TearDown() override {
    ::close(::open((bin_ + "/release").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));  // a held plugin ends
    KcrdFixture::TearDown();
    e2e::Run({"/sbin/ip", "link", "del", bridge_});
    fs::RemoveAll("/var/lib/cni/networks/" + net_).IgnoreError();
    e2e::Run({"/bin/sh", "-c",
              "iptables -t nat -S | grep -- '" + net_ + "' | sed 's/^-A/-D/' | "
              "while read -r rule; do eval iptables -t nat $rule; done"});
  }
  // Addresses host-local holds for the test's network (a file named by
  // each address, beside its lock and last_reserved_ip files).
  int Allocations() {
    int n = 0;
    std::string dir = "/var/lib/cni/networks/" + net_;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        n += std::isdigit(static_cast<unsigned char>(name[0])) && name.find_first_not_of("0123456789.") == std::string::npos;
      }
      ::closedir(d);
    }
    return n;
  }
  std::string bridge_, net_, bin_;
};

TEST_F(KilledInRunPodSandboxTest, RemovingThePodTearsDownItsNetwork) {
  std::thread run([this, c = PodConfig("p")] {
    ::runtime::v1::RunPodSandboxRequest req;
    *req.mutable_config() = c;
    ::runtime::v1::RunPodSandboxResponse resp;
    Runtime().RunPodSandbox(Ctx().get(), req, &resp);  // fails: kcrd is killed meanwhile
  });
  // The pod is in its network namespace with an address (bridge's ADD has
  // run) when the gate holds the chain: then kcrd dies.
  std::string entered = bin_ + "/entered";
  for (int i = 0; i < 500 && access(entered.c_str(), F_OK) != 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(access(entered.c_str(), F_OK), 0) << "the gate plugin never ran";
  Kill9();
  run.join();
  std::string pod = fs::ReadFile(entered).value_or("");
  pod = pod.substr(0, pod.find('\n'));
  EXPECT_EQ(Allocations(), 1) << e2e::Run({"/bin/sh", "-c", "grep -r . /var/lib/cni/networks/" + net_}).out;
  ::close(::open((bin_ + "/release").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  Start();
  ::runtime::v1::ListPodSandboxResponse pods;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), {}, &pods).ok());
  ASSERT_EQ(pods.items_size(), 1);
  EXPECT_EQ(pods.items(0).id(), pod);
  EXPECT_EQ(pods.items(0).state(), ::runtime::v1::SANDBOX_NOTREADY);
  grpc::Status st = RemovePod(pod);
  ASSERT_TRUE(st.ok()) << st.error_message();
  // Nothing of it is left: the pin, the address, the NAT rules, the
  // monitor's socket.
  auto mounts = fs::ReadFile("/proc/self/mountinfo").value_or("");
  EXPECT_EQ(mounts.find(state_ + "/netns/"), std::string::npos) << "netns pin still mounted";
  EXPECT_EQ(CountEntries(state_ + "/netns"), 0);
  EXPECT_EQ(Allocations(), 0) << "the pod's address is still allocated";
  std::string nat = e2e::Run({"/bin/sh", "-c", "iptables-save -t nat"}).out;
  EXPECT_EQ(nat.find(pod), std::string::npos) << "NAT rules of the pod are left";
  EXPECT_EQ(CountEntries(state_ + "/monitors"), 0);
}

// The monitor dies after it has sent the stop signal and before its
// SIGKILL timer: the container dies with it (parent-death signal), the
// pod's watcher records it EXITED (Unknown), and the stop ends with that.
TEST_F(InterruptedCallTest, AStopDuringWhichTheMonitorDiesEnds) {
  auto id = RunCtr(pod_, pc_, CtrConfig("c", "busybox", {"sh", "-c", "trap 'echo term' TERM; echo run; while :; do sleep 0.1; done"}));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(LogLines("c", "run"), 1);  // the trap is set
  ::runtime::v1::PodSandboxStatusRequest req;
  req.set_pod_sandbox_id(pod_);
  req.set_verbose(true);
  ::runtime::v1::PodSandboxStatusResponse resp;
  ASSERT_TRUE(Runtime().PodSandboxStatus(Ctx().get(), req, &resp).ok());
  int monitor = nlohmann::json::parse(resp.info().at("info")).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  grpc::Status stopped;
  std::thread stop([&] {
    ::runtime::v1::StopContainerRequest sreq;
    sreq.set_container_id(*id);
    sreq.set_timeout(30);
    ::runtime::v1::StopContainerResponse sresp;
    stopped = Runtime().StopContainer(Ctx(120).get(), sreq, &sresp);
  });
  EXPECT_EQ(LogLines("c", "term"), 1);  // the stop signal arrived: the SIGKILL timer runs
  kill(monitor, SIGKILL);
  stop.join();
  EXPECT_TRUE(stopped.ok()) << stopped.error_message();
  auto s = CtrStatus(*id);
  EXPECT_EQ(s.state(), ::runtime::v1::CONTAINER_EXITED);
  EXPECT_EQ(s.reason(), "Unknown");
}

// kcrd killed while declaring a dead monitor's pod lost, after the pod was
// recorded NOTREADY and before its containers were (the order before the
// fix): a restarted kcrd re-checks the containers of every pod whose
// monitor is gone, not only READY pods', and declares them lost.
TEST_F(InterruptedCallTest, ARestartedKcrdDeclaresLostTheContainersOfANotReadyPodWhoseMonitorIsGone) {
  auto id = RunCtr(pod_, pc_, CtrConfig("c", "busybox", {"sh", "-c", "echo run; exec sleep 100000"}));
  ASSERT_TRUE(id.ok()) << id.status();
  ::runtime::v1::PodSandboxStatusRequest req;
  req.set_pod_sandbox_id(pod_);
  req.set_verbose(true);
  ::runtime::v1::PodSandboxStatusResponse resp;
  ASSERT_TRUE(Runtime().PodSandboxStatus(Ctx().get(), req, &resp).ok());
  int monitor = nlohmann::json::parse(resp.info().at("info")).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  Kill9();
  ASSERT_EQ(kill(monitor, SIGKILL), 0);
  for (int i = 0; i < 250 && kill(monitor, 0) == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // What the killed kcrd had written: the pod NOTREADY, its container not yet.
  auto db = e2e::Run({"/usr/bin/sqlite3", root_ + "/kcr.db",
                 "UPDATE pod_sandboxes SET body = json_set(body, '$.state', 'notready') WHERE id = '" + pod_ + "';"});
  ASSERT_EQ(db.exit_code, 0) << db.out;
  Start();
  auto s = CtrStatus(*id);
  EXPECT_EQ(s.state(), ::runtime::v1::CONTAINER_EXITED);
  EXPECT_EQ(s.reason(), "Unknown") << s.message();
  EXPECT_EQ(s.exit_code(), 255);
}

// A monitor killed -9 cannot remove its socket: the pod's removal does.
TEST_F(InterruptedCallTest, RemovingAPodWhoseMonitorWasKilledLeavesNoSocket) {
  ::runtime::v1::PodSandboxStatusRequest req;
  req.set_pod_sandbox_id(pod_);
  req.set_verbose(true);
  ::runtime::v1::PodSandboxStatusResponse resp;
  ASSERT_TRUE(Runtime().PodSandboxStatus(Ctx().get(), req, &resp).ok());
  int monitor = nlohmann::json::parse(resp.info().at("info")).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(kill(monitor, SIGKILL), 0);
  for (int i = 0; i < 250 && kill(monitor, 0) == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  grpc::Status st = RemovePod(pod_);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(CountEntries(state_ + "/monitors"), 0);
}


// A start whose answer never reached the record, with no restart and no
// reconnection to correct it: the record says CREATED while the monitor
// runs the container. RemoveContainer asks the monitor, kills what runs
// and removes it; it neither fails nor leaves the process running.
TEST_F(InterruptedCallTest, RemovingACreatedContainerItsMonitorStartedKillsIt) {
  std::string id = CreatedThenStartedByTheMonitor("c", "echo run; exec sleep 100000");
  ASSERT_EQ(LogLines("c", "run"), 1);
  auto before = MonitorRequest(pod_, {{"op", "state"}, {"container", id}});
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ((*before)["containers"][0]["status"], "running");
  pid_t pid = (*before)["containers"][0]["pid"];
  v1::RemoveContainerRequest req;
  req.set_container_id(id);
  v1::RemoveContainerResponse resp;
  grpc::Status st = Runtime().RemoveContainer(Ctx().get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto after = MonitorRequest(pod_, {{"op", "state"}, {"container", id}});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE((*after)["containers"].empty()) << after->dump();
  EXPECT_NE(kill(pid, 0), 0) << "container process " << pid << " still runs";
  v1::ContainerStatusRequest sreq;
  sreq.set_container_id(id);
  v1::ContainerStatusResponse sresp;
  EXPECT_EQ(Runtime().ContainerStatus(Ctx().get(), sreq, &sresp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// The same for StopContainer: the running container is recorded as such
// (its start adopted) and stopped.
TEST_F(InterruptedCallTest, StoppingACreatedContainerItsMonitorStartedStopsIt) {
  std::string id = CreatedThenStartedByTheMonitor("c", "echo run; exec sleep 100000");
  ASSERT_EQ(LogLines("c", "run"), 1);
  v1::StopContainerRequest stop;
  stop.set_container_id(id);
  stop.set_timeout(1);
  v1::StopContainerResponse stop_resp;
  grpc::Status st = Runtime().StopContainer(Ctx().get(), stop, &stop_resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto s = CtrStatus(id);
  EXPECT_EQ(s.state(), v1::CONTAINER_EXITED) << s.reason() << ": " << s.message();
  EXPECT_EQ(s.exit_code(), 137);
  EXPECT_GT(s.started_at(), 0);
  auto mon = MonitorRequest(pod_, {{"op", "state"}, {"container", id}});
  ASSERT_TRUE(mon.ok()) << mon.status();
  EXPECT_EQ((*mon)["containers"][0]["status"], "exited");
}

}  // namespace
}  // namespace kcr::e2e
