// One pod must never hold up the CRI for the others: a command that leaves
// a child holding its output open, a monitor that stops answering, a
// monitor that dies. List* and *Status answer from kcr's store; every call
// to a monitor has a deadline; a lost monitor is reported.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

class AvailabilityTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    Start();
    ASSERT_TRUE(Pull("busybox").ok());
  }
  void TearDown() override {
    for (pid_t p : stopped_) kill(p, SIGCONT);
    KcrdFixture::TearDown();
  }

  // A pod on the host's network (no CNI: these tests are about kcr alone)
  // with one long-running container.
  struct Pod {
    std::string id, ctr;
    v1::PodSandboxConfig config;
  };
  Pod LongRunningPod(const std::string& name) {
    Pod p;
    p.config = PodConfig(name);
    p.config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
    auto id = RunPod(p.config);
    EXPECT_TRUE(id.ok()) << id.status();
    p.id = id.value_or("");
    auto ctr = RunCtr(p.id, p.config, CtrConfig("long", "busybox", {"sleep", "100000"}));
    EXPECT_TRUE(ctr.ok()) << ctr.status();
    p.ctr = ctr.value_or("");
    return p;
  }
  json PodInfo(const std::string& pod) {
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(pod);
    req.set_verbose(true);
    v1::PodSandboxStatusResponse resp;
    grpc::Status st = Runtime().PodSandboxStatus(Ctx(5).get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    json info = json::parse(resp.info().count("info") ? resp.info().at("info") : "{}", nullptr, false);
    info["state"] = resp.status().state();
    return info;
  }
  // The calls kubelet's PLEG and status manager make, each within 2 s.
  void ExpectListsAndStatusesAnswer(const std::vector<std::string>& ctrs, const std::vector<std::string>& pods) {
    v1::ListContainersResponse lc;
    grpc::Status st = Runtime().ListContainers(Ctx(2).get(), {}, &lc);
    EXPECT_TRUE(st.ok()) << "ListContainers: " << st.error_message();
    v1::ListPodSandboxResponse lp;
    st = Runtime().ListPodSandbox(Ctx(2).get(), {}, &lp);
    EXPECT_TRUE(st.ok()) << "ListPodSandbox: " << st.error_message();
    for (const auto& c : ctrs) {
      v1::ContainerStatusRequest req;
      req.set_container_id(c);
      req.set_verbose(true);
      v1::ContainerStatusResponse resp;
      st = Runtime().ContainerStatus(Ctx(2).get(), req, &resp);
      EXPECT_TRUE(st.ok()) << "ContainerStatus: " << st.error_message();
    }
    for (const auto& p : pods) {
      v1::PodSandboxStatusRequest req;
      req.set_pod_sandbox_id(p);
      v1::PodSandboxStatusResponse resp;
      st = Runtime().PodSandboxStatus(Ctx(2).get(), req, &resp);
      EXPECT_TRUE(st.ok()) << "PodSandboxStatus: " << st.error_message();
    }
  }
  std::vector<pid_t> stopped_;  // monitors a test stopped: continued in TearDown
};

TEST_F(AvailabilityTest, ExecSyncWithAnEscapedChildAnswersAndHoldsUpNobody) {
  Pod a = LongRunningPod("a"), b = LongRunningPod("b");
  // A probe-like command that leaves a child holding its output open.
  v1::ExecSyncRequest req;
  req.set_container_id(a.ctr);
  for (const char* arg : {"sh", "-c", "setsid sleep 600 & echo x"}) req.add_cmd(arg);
  req.set_timeout(5);
  v1::ExecSyncResponse resp;
  grpc::Status st = Runtime().ExecSync(Ctx(30).get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.stdout(), "x\n");
  EXPECT_EQ(resp.exit_code(), 0);
  // While a long command runs in pod a, everything else is answered.
  auto slow = std::async(std::launch::async, [&] { return Exec(a.ctr, {"sleep", "4"}, 10).exit_code(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the slow exec is under way
  ExpectListsAndStatusesAnswer({a.ctr, b.ctr}, {a.id, b.id});
  EXPECT_EQ(Exec(a.ctr, {"echo", "hi"}).stdout(), "hi\n");  // the same pod too
  EXPECT_EQ(Exec(b.ctr, {"echo", "hi"}).stdout(), "hi\n");
  EXPECT_EQ(slow.get(), 0);
}

TEST_F(AvailabilityTest, AMonitorThatDoesNotAnswerHoldsUpNobodyAndIsReported) {
  Pod a = LongRunningPod("a"), b = LongRunningPod("b");
  pid_t monitor = PodInfo(a.id).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(kill(monitor, SIGSTOP), 0);
  stopped_.push_back(monitor);
  ExpectListsAndStatusesAnswer({a.ctr, b.ctr}, {a.id, b.id});
  EXPECT_EQ(Exec(b.ctr, {"echo", "hi"}).stdout(), "hi\n");
  // Calls to the stopped monitor end at their deadline with a clear error.
  v1::StopContainerRequest stop;
  stop.set_container_id(a.ctr);
  stop.set_timeout(1);
  v1::StopContainerResponse stop_resp;
  auto t0 = std::chrono::steady_clock::now();
  grpc::Status st = Runtime().StopContainer(Ctx(60).get(), stop, &stop_resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  // A restarted kcrd starts and serves; the pod is reported, not waited for.
  Kill9();
  Start();
  ExpectListsAndStatusesAnswer({a.ctr, b.ctr}, {a.id, b.id});
  json info = PodInfo(a.id);
  EXPECT_EQ(info["state"], v1::SANDBOX_NOTREADY);
  EXPECT_NE(info.value("notReadyReason", "").find("does not answer"), std::string::npos) << info.dump();
  EXPECT_EQ(PodInfo(b.id)["state"], v1::SANDBOX_READY);
  EXPECT_EQ(CtrStatus(a.ctr).state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(CtrStatus(b.ctr).state(), v1::CONTAINER_RUNNING);
  kill(monitor, SIGCONT);
}

TEST_F(AvailabilityTest, AMonitorThatDiesMakesItsPodNotReady) {
  Pod a = LongRunningPod("a"), b = LongRunningPod("b");
  pid_t monitor = PodInfo(a.id).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  ASSERT_EQ(kill(monitor, SIGKILL), 0);
  // Reported as soon as kcrd's watcher sees the monitor's end.
  json info;
  for (int i = 0; i < 250; i++) {
    info = PodInfo(a.id);
    if (info["state"] == v1::SANDBOX_NOTREADY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(info["state"], v1::SANDBOX_NOTREADY);
  EXPECT_NE(info.value("notReadyReason", "").find("exited unexpectedly"), std::string::npos) << info.dump();
  auto c = CtrStatus(a.ctr);
  EXPECT_EQ(c.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(c.reason(), "Unknown");
  EXPECT_EQ(PodInfo(b.id)["state"], v1::SANDBOX_READY);
  EXPECT_EQ(Exec(b.ctr, {"echo", "hi"}).stdout(), "hi\n");
}


// PID 1 of a shared PID namespace pod: the child of the pod's monitor that
// names itself kcr-pod-init. -1 if there is none.
pid_t PodReaperOf(pid_t monitor) {
  std::ifstream children("/proc/" + std::to_string(monitor) + "/task/" + std::to_string(monitor) + "/children");
  for (pid_t p; children >> p;) {
    std::ifstream cmd("/proc/" + std::to_string(p) + "/cmdline");
    std::string name;
    std::getline(cmd, name, '\0');
    if (name == "kcr-pod-init") return p;
  }
  return -1;
}

class SharedPidPodTest : public AvailabilityTest {
 protected:
  // A pod whose containers share one PID namespace, with one container.
  Pod SharedPidPod(const std::string& name) {
    Pod p;
    p.config = PodConfig(name);
    auto* ns = p.config.mutable_linux()->mutable_security_context()->mutable_namespace_options();
    ns->set_network(v1::NODE);
    ns->set_pid(v1::POD);
    auto id = RunPod(p.config);
    EXPECT_TRUE(id.ok()) << id.status();
    p.id = id.value_or("");
    v1::ContainerConfig c = CtrConfig("long", "busybox", {"sleep", "100000"});
    c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::POD);
    auto ctr = RunCtr(p.id, p.config, c);
    EXPECT_TRUE(ctr.ok()) << ctr.status();
    p.ctr = ctr.value_or("");
    return p;
  }
  // The pod's state, once it is no longer READY (bounded wait).
  json WaitNotReady(const std::string& pod) {
    json info;
    for (int i = 0; i < 500; i++) {
      info = PodInfo(pod);
      if (info["state"] == v1::SANDBOX_NOTREADY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return info;
  }
  // What kubelet then sees: the pod NOTREADY naming the reaper, its
  // container exited, and no container created in it any more.
  void ExpectBroken(const Pod& p, const json& info) {
    EXPECT_EQ(info["state"], v1::SANDBOX_NOTREADY) << info.dump();
    EXPECT_NE(info.value("notReadyReason", "").find("reaper"), std::string::npos) << info.dump();
    EXPECT_EQ(CtrStatus(p.ctr).state(), v1::CONTAINER_EXITED);
    v1::ContainerConfig c = CtrConfig("late", "busybox", {"sleep", "100000"});
    c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::POD);
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(p.id);
    *req.mutable_config() = c;
    *req.mutable_sandbox_config() = p.config;
    v1::CreateContainerResponse resp;
    grpc::Status st = Runtime().CreateContainer(Ctx(30).get(), req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
    EXPECT_NE(st.error_message().find(p.id), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find("reaper"), std::string::npos) << st.error_message();
  }
};

// The reaper's death (pod_reaper_exited) breaks the pod: kcrd reports it
// NOTREADY with the reason, so kubelet recreates it, and creates no
// container in it.
TEST_F(SharedPidPodTest, ThePodReapersDeathMakesThePodNotReady) {
  Pod a = SharedPidPod("a"), b = LongRunningPod("b");
  pid_t monitor = PodInfo(a.id).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  pid_t reaper = PodReaperOf(monitor);
  ASSERT_GT(reaper, 0) << "no kcr-pod-init child of monitor " << monitor;
  ASSERT_EQ(kill(reaper, SIGKILL), 0);
  ExpectBroken(a, WaitNotReady(a.id));
  EXPECT_EQ(PodInfo(b.id)["state"], v1::SANDBOX_READY);
  // kubelet's next steps work on the broken pod.
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(a.id);
  v1::StopPodSandboxResponse stopped;
  grpc::Status st = Runtime().StopPodSandbox(Ctx(60).get(), stop, &stopped);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(RemovePod(a.id).ok());
}

// A reaper that died while kcrd was down: the restarted kcrd finds it gone
// when it reconnects.
TEST_F(SharedPidPodTest, AReaperThatDiedWhileKcrdWasDownIsFoundOnRestart) {
  Pod a = SharedPidPod("a");
  pid_t monitor = PodInfo(a.id).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  pid_t reaper = PodReaperOf(monitor);
  ASSERT_GT(reaper, 0);
  Kill9();
  ASSERT_EQ(kill(reaper, SIGKILL), 0);
  // The monitor has reaped it once it says so (its hello's reaper is -1).
  for (int i = 0; i < 500; i++) {
    auto hello = MonitorRequest(a.id, {{"op", "hello"}, {"version", 1}});
    if (hello.ok() && hello->value("reaper", 0) == -1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Start();
  ExpectBroken(a, WaitNotReady(a.id));
}

}  // namespace
}  // namespace kcr::e2e
