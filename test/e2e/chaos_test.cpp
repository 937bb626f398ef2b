// Chaos: 20 pods whose containers start, exit and are stopped and removed
// from several CRI client threads while kcrd is killed (-9) and restarted
// on the same root and state, and random pods' kcr-monitors are killed (-9).
// Afterwards every pod and container is reported as what happened to it,
// nothing was started twice, and once everything is removed nothing of the
// test is left on the host (mounts, cgroups, netns, IPs, NAT rules,
// processes).
//
// The schedule is drawn from a seeded PRNG: the seed is printed, and
// KCR_CHAOS_SEED=<n> replays that schedule (the threads' interleaving still
// varies). KCR_CHAOS_SECONDS sets the chaos phase's length (default 60).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;
using Clock = std::chrono::steady_clock;

constexpr int kPods = 20;
constexpr int kWorkers = 3;
constexpr int kMaxKcrdKills = 3;
constexpr int kMaxMonitorKills = 4;
constexpr int kMaxCtrsPerPod = 6;  // besides the long-running one
constexpr int kListDeadlineS = 5;  // what a hung List call is
constexpr int kCallDeadlineS = 60;

// Field 22 of /proc/<pid>/stat: when the process started, in ticks since boot.
std::string StartTime(pid_t pid) {
  auto stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return "";
  std::istringstream in(stat->substr(stat->rfind(')') + 2));
  std::string f;
  for (int i = 3; i <= 22 && in >> f; i++) {
  }
  return f;
}

// Lines of a CRI log file that hold `text`.
int LogLines(const std::string& path, const std::string& text) {
  std::istringstream in(fs::ReadFile(path).value_or(""));
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find(text) != std::string::npos) n++;
  return n;
}

struct ChaosPod {
  std::string name, id, long_ctr;
  v1::PodSandboxConfig config;
  pid_t monitor = -1, long_pid = -1;
  std::string long_start;           // start time of the long-running container's process
  std::atomic<bool> killed{false};  // its monitor is killed (set before the kill)
};

// A container the workers made: one that exits by itself with `expected`,
// or one that runs until it is stopped (then 137: sleep is its PID 1 and
// ignores SIGTERM).
struct CtrRecord {
  std::string name, id;  // id empty while CreateContainer's answer is unknown
  int pod = 0;
  bool exits = true;
  int expected = 0;
  bool created = false, started = false, stop_tried = false, stopped = false, removed = false;
  // A RemoveContainer was sent (before the call): once set, the container
  // may be gone even when no answer said so (the answer was still on its
  // way, or a kcrd kill lost it).
  bool remove_tried = false;
  bool seen_exited = false;  // a status reported its exit: it may never change
  int seen_code = 0;
  std::string seen_reason;
};

class ChaosTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    const char* seed = std::getenv("KCR_CHAOS_SEED");
    seed_ = seed ? std::strtoull(seed, nullptr, 10) : std::random_device{}();
    std::cout << "chaos seed " << seed_ << " (replay with KCR_CHAOS_SEED=" << seed_ << ")" << std::endl;
    RecordProperty("chaos_seed", std::to_string(seed_));
    const char* secs = std::getenv("KCR_CHAOS_SECONDS");
    chaos_s_ = secs ? std::atoi(secs) : 60;
    // A network of the test's own: its bridge, subnet and IPAM store are
    // checked for leaks and removed in TearDown.
    bridge_ = "kcrch" + std::to_string(getpid() % 100000);
    net_ = "kcr-chaos-" + std::to_string(getpid());
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/net.d").ok());
    json conf = {{"cniVersion", "1.0.0"}, {"name", net_},
                 {"plugins", {{{"type", "bridge"}, {"bridge", bridge_}, {"isGateway", true}, {"ipMasq", true},
                               {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.79.0.0/16"}}}}},
                                         {"routes", {{{"dst", "0.0.0.0/0"}}}}}}},
                              {{"type", "loopback"}}}}};
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/net.d/10-chaos.conflist", conf.dump()).ok());
    Start("[cni]\nconf_dir = \"" + dir_ + "/net.d\"\n");
    ASSERT_TRUE(Pull("busybox").ok());
    image_snapshots_ = CountEntries(root_ + "/snapshots");  // the image's layers
  }

  void TearDown() override {
    stop_ = true;
    for (auto& t : threads_) t.join();
    // The whole kcrd log of a failed run, for the report (the fixture
    // prints its end only).
    if (HasFailure()) {
      std::string keep = "/tmp/kcr-chaos-" + std::to_string(seed_) + ".log";
      if (fs::WriteFileAtomic(keep, fs::ReadFile(log_).value_or("")).ok()) std::cout << "kcrd log kept in " << keep << std::endl;
    }
    KcrdFixture::TearDown();
    e2e::Run({"/sbin/ip", "link", "del", bridge_});
    fs::RemoveAll("/var/lib/cni/networks/" + net_).IgnoreError();
    // NAT rules a leak left behind (asserted on before): the host keeps none.
    e2e::Run({"/bin/sh", "-c",
              "iptables -t nat -S | grep -- '" + net_ + "' | sed 's/^-A/-D/' | "
              "while read -r rule; do eval iptables -t nat $rule; done"});
  }

  // A channel of a client thread's own, reconnecting quickly after a kcrd
  // restart (gRPC's default backoff grows to two minutes).
  std::unique_ptr<v1::RuntimeService::Stub> NewStub() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    return v1::RuntimeService::NewStub(
        grpc::CreateCustomChannel("unix:" + sock_, grpc::InsecureChannelCredentials(), args));
  }
  // Calls wait for a restarting kcrd (wait_for_ready) up to their deadline.
  static std::unique_ptr<grpc::ClientContext> Call(int deadline_s) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_s));
    c->set_wait_for_ready(true);
    return c;
  }

  // kcrd generations: even while one serves, odd while it is killed and
  // restarting. A call whose start and end saw the same even generation
  // overlapped no kill.
  int Epoch() const { return epoch_.load(); }
  bool Stable(int since) const { return since % 2 == 0 && epoch_.load() == since; }
  // A call's outcome. It may fail when it overlapped a kcrd kill or
  // concerns a pod whose monitor was killed; otherwise it must succeed.
  // A call that exceeded its deadline hung: always a failure unless kcrd
  // was down meanwhile.
  bool Check(const std::string& what, const grpc::Status& st, int since, const ChaosPod* pod) {
    if (st.ok()) return true;
    bool stable = Stable(since);
    if (stable && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      Fail(what + " hung (deadline exceeded) while kcrd was up: " + st.error_message());
    else if (stable && !(pod && pod->killed.load()))
      Fail(what + " failed while kcrd was up and the pod's monitor alive: " + std::to_string(st.error_code()) +
           " " + st.error_message());
    else
      excused_errors_++;
    return false;
  }
  void Fail(const std::string& msg) {
    std::lock_guard<std::mutex> l(mu_);
    failures_.push_back(msg);
  }

  // --- setup ---------------------------------------------------------------
  void MakePods() {
    std::vector<std::thread> t;
    for (int w = 0; w < 4; w++)
      t.emplace_back([&, w] {
        auto stub = NewStub();
        for (int i = w; i < kPods; i += 4) MakePod(*stub, i);
      });
    for (auto& th : t) th.join();
  }
  void MakePod(v1::RuntimeService::Stub& rt, int i) {
    ChaosPod& p = pods_[i];
    p.name = "chaos-" + std::to_string(i);
    p.config = PodConfig(p.name);
    v1::RunPodSandboxRequest rreq;
    *rreq.mutable_config() = p.config;
    v1::RunPodSandboxResponse rresp;
    grpc::Status st = rt.RunPodSandbox(Call(kCallDeadlineS).get(), rreq, &rresp);
    if (!st.ok()) return Fail("RunPodSandbox " + p.name + ": " + st.error_message());
    p.id = rresp.pod_sandbox_id();
    auto c = CtrConfig("long", "busybox", {"sh", "-c", "echo long-started; exec sleep 100000"});
    auto id = CreateAndStart(rt, p, c);
    if (!id.ok()) return Fail("long container of " + p.name + ": " + std::string(id.status().message()));
    p.long_ctr = *id;
    v1::PodSandboxStatusRequest sreq;
    sreq.set_pod_sandbox_id(p.id);
    sreq.set_verbose(true);
    v1::PodSandboxStatusResponse sresp;
    if (rt.PodSandboxStatus(Call(kCallDeadlineS).get(), sreq, &sresp).ok() && sresp.info().count("info"))
      p.monitor = json::parse(sresp.info().at("info"), nullptr, false).value("monitorPid", -1);
    v1::ContainerStatusRequest creq;
    creq.set_container_id(p.long_ctr);
    creq.set_verbose(true);
    v1::ContainerStatusResponse cresp;
    if (rt.ContainerStatus(Call(kCallDeadlineS).get(), creq, &cresp).ok() && cresp.info().count("info"))
      p.long_pid = json::parse(cresp.info().at("info"), nullptr, false).value("pid", -1);
    p.long_start = p.long_pid > 0 ? StartTime(p.long_pid) : "";
  }
  StatusOr<std::string> CreateAndStart(v1::RuntimeService::Stub& rt, const ChaosPod& p, const v1::ContainerConfig& c) {
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(p.id);
    *req.mutable_config() = c;
    *req.mutable_sandbox_config() = p.config;
    v1::CreateContainerResponse resp;
    grpc::Status st = rt.CreateContainer(Call(kCallDeadlineS).get(), req, &resp);
    if (!st.ok()) return absl::InternalError("CreateContainer: " + st.error_message());
    v1::StartContainerRequest sreq;
    sreq.set_container_id(resp.container_id());
    v1::StartContainerResponse sresp;
    st = rt.StartContainer(Call(kCallDeadlineS).get(), sreq, &sresp);
    if (!st.ok()) return absl::InternalError("StartContainer: " + st.error_message());
    return resp.container_id();
  }

  // --- the client threads ---------------------------------------------------
  // ListPodSandbox and ListContainers, as kubelet's PLEG polls them: each
  // answers within its deadline throughout.
  void Lister() {
    auto rt = NewStub();
    while (!stop_) {
      int since = Epoch();
      v1::ListPodSandboxResponse pods;
      Check("ListPodSandbox", rt->ListPodSandbox(Call(kListDeadlineS).get(), {}, &pods), since, nullptr);
      since = Epoch();
      v1::ListContainersResponse ctrs;
      Check("ListContainers", rt->ListContainers(Call(kListDeadlineS).get(), {}, &ctrs), since, nullptr);
      lists_++;
    }
  }

  void Worker(uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto rt = NewStub();
    while (!stop_) {
      int op = static_cast<int>(rng() % 100);
      ChaosPod& pod = pods_[rng() % kPods];
      if (op < 35) NewContainer(*rt, rng, pod, true);
      else if (op < 45) NewContainer(*rt, rng, pod, false);
      else if (op < 60) StopOne(*rt, rng);
      else if (op < 70) RemoveOne(*rt, rng);
      else if (op < 85) StatusOfOne(*rt, rng);
      else ExecIn(*rt, pod);
      ops_++;
    }
  }

  // Pods that come and go: RunPodSandbox, a container that exits,
  // RemovePodSandbox. A pod whose removal a kcrd kill interrupted is
  // removed at the end with everything else.
  void Churner() {
    auto rt = NewStub();
    for (int n = 0; !stop_; n++) {
      ChaosPod p;
      p.name = "churn-" + std::to_string(n);
      p.config = PodConfig(p.name);
      v1::RunPodSandboxRequest req;
      *req.mutable_config() = p.config;
      v1::RunPodSandboxResponse resp;
      int since = Epoch();
      if (!Check("RunPodSandbox " + p.name, rt->RunPodSandbox(Call(kCallDeadlineS).get(), req, &resp), since, nullptr))
        continue;
      p.id = resp.pod_sandbox_id();
      since = Epoch();
      auto c = CreateAndStart(*rt, p, CtrConfig("c", "busybox", {"sh", "-c", "exit 7"}));
      if (!c.ok() && Stable(since)) Fail(p.name + ": " + std::string(c.status().message()));
      v1::RemovePodSandboxRequest rreq;
      rreq.set_pod_sandbox_id(p.id);
      v1::RemovePodSandboxResponse rresp;
      since = Epoch();
      Check("RemovePodSandbox " + p.name, rt->RemovePodSandbox(Call(kCallDeadlineS).get(), rreq, &rresp), since,
            nullptr);
      churned_++;
    }
  }

  // Waits for a kcrd to serve again (the restart is the event).
  void AwaitKcrd() {
    while (!stop_ && Epoch() % 2 != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  void NewContainer(v1::RuntimeService::Stub& rt, std::mt19937_64& rng, ChaosPod& pod, bool exits) {
    CtrRecord rec;
    rec.pod = static_cast<int>(&pod - pods_.data());
    rec.exits = exits;
    rec.expected = exits ? static_cast<int>(rng() % 120) : 137;
    {
      std::lock_guard<std::mutex> l(mu_);
      int live = 0;
      for (const auto& [n, r] : ctrs_) live += r.pod == rec.pod && !r.removed;
      if (live >= kMaxCtrsPerPod) return;
      rec.name = std::string(exits ? "x" : "m") + std::to_string(seq_++);
      ctrs_[rec.name] = rec;
    }
    // The "run" line counts starts: a container started twice has two.
    std::string script = "echo run " + rec.name + "; " +
                         (exits ? "exit " + std::to_string(rec.expected) : std::string("exec sleep 100000"));
    v1::CreateContainerRequest req;
    req.set_pod_sandbox_id(pod.id);
    *req.mutable_config() = CtrConfig(rec.name, "busybox", {"sh", "-c", script});
    *req.mutable_sandbox_config() = pod.config;
    v1::CreateContainerResponse resp;
    int since = Epoch();
    if (!Check("CreateContainer " + rec.name, rt.CreateContainer(Call(kCallDeadlineS).get(), req, &resp), since, &pod))
      return;
    Update(rec.name, [&](CtrRecord& r) {
      r.id = resp.container_id();
      r.created = true;
    });
    v1::StartContainerRequest sreq;
    sreq.set_container_id(resp.container_id());
    v1::StartContainerResponse sresp;
    since = Epoch();
    grpc::Status st = rt.StartContainer(Call(kCallDeadlineS).get(), sreq, &sresp);
    if (Check("StartContainer " + rec.name, st, since, &pod)) {
      Update(rec.name, [](CtrRecord& r) { r.started = true; });
      return;
    }
    if (Stable(since) || pod.killed) return;
    // kcrd died during the start: whether the monitor started the
    // container is unknown. A kubelet may well try again; the container
    // must not start twice (its log would say so).
    AwaitKcrd();
    since = Epoch();
    st = rt.StartContainer(Call(kCallDeadlineS).get(), sreq, &sresp);
    if (st.ok()) Update(rec.name, [](CtrRecord& r) { r.started = true; });
    else if (st.error_code() != grpc::StatusCode::FAILED_PRECONDITION)  // "already started" is the other answer
      Check("StartContainer (again) " + rec.name, st, since, &pod);
  }

  // Stops a running stop-only container (timeout 1 s).
  void StopOne(v1::RuntimeService::Stub& rt, std::mt19937_64& rng) {
    std::string name = Pick(rng, [](const CtrRecord& r) { return !r.exits && r.started && !r.stop_tried; });
    if (name.empty()) return;
    CtrRecord rec = Update(name, [](CtrRecord& r) { r.stop_tried = true; });
    v1::StopContainerRequest req;
    req.set_container_id(rec.id);
    req.set_timeout(1);
    v1::StopContainerResponse resp;
    int since = Epoch();
    ChaosPod& pod = pods_[rec.pod];
    // Once its monitor is killed, a stop may find the container already
    // declared lost: only a stop with the monitor alive knows the exit.
    if (Check("StopContainer " + name, rt.StopContainer(Call(kCallDeadlineS).get(), req, &resp), since, &pod) &&
        !pod.killed)
      Update(name, [](CtrRecord& r) { r.stopped = true; });
  }

  // Removes a container whose exit a status has shown.
  void RemoveOne(v1::RuntimeService::Stub& rt, std::mt19937_64& rng) {
    std::string name = Pick(rng, [](const CtrRecord& r) { return r.seen_exited && !r.removed; });
    if (name.empty()) return;
    CtrRecord rec = Update(name, [](CtrRecord& r) { r.remove_tried = true; });
    v1::RemoveContainerRequest req;
    req.set_container_id(rec.id);
    v1::RemoveContainerResponse resp;
    int since = Epoch();
    if (Check("RemoveContainer " + name, rt.RemoveContainer(Call(kCallDeadlineS).get(), req, &resp), since,
              &pods_[rec.pod]))
      Update(name, [](CtrRecord& r) { r.removed = true; });
  }

  // A container's status; an exit, once reported, may never change.
  void StatusOfOne(v1::RuntimeService::Stub& rt, std::mt19937_64& rng) {
    std::string name = Pick(rng, [](const CtrRecord& r) { return r.created && !r.removed; });
    if (name.empty()) return;
    CtrRecord rec = Update(name, [](CtrRecord&) {});
    v1::ContainerStatusRequest req;
    req.set_container_id(rec.id);
    v1::ContainerStatusResponse resp;
    int since = Epoch();
    grpc::Status st = rt.ContainerStatus(Call(kCallDeadlineS).get(), req, &resp);
    // Another worker may have removed it meanwhile: its RemoveContainer was
    // sent before kcrd could answer NOT_FOUND, so remove_tried is set by
    // now (its answer may still be on the way). Then it is gone for good.
    if (st.error_code() == grpc::StatusCode::NOT_FOUND && Update(name, [](CtrRecord& r) {
          if (r.remove_tried) r.removed = true;
        }).remove_tried)
      return;
    if (!Check("ContainerStatus " + name, st, since, &pods_[rec.pod])) return;
    if (resp.status().state() != v1::CONTAINER_EXITED) return;
    Update(name, [&](CtrRecord& r) {
      if (!r.seen_exited) {
        r.seen_exited = true;
        r.seen_code = resp.status().exit_code();
        r.seen_reason = resp.status().reason();
      } else if (r.seen_code != resp.status().exit_code() || r.seen_reason != resp.status().reason()) {
        failures_.push_back(name + ": exit changed from " + std::to_string(r.seen_code) + "/" + r.seen_reason +
                            " to " + std::to_string(resp.status().exit_code()) + "/" + resp.status().reason());
      }
    });
  }

  // ExecSync in a pod's long-running container, as a probe would.
  void ExecIn(v1::RuntimeService::Stub& rt, ChaosPod& pod) {
    v1::ExecSyncRequest req;
    req.set_container_id(pod.long_ctr);
    for (const char* a : {"echo", "ok"}) req.add_cmd(a);
    req.set_timeout(10);
    v1::ExecSyncResponse resp;
    int since = Epoch();
    if (Check("ExecSync in " + pod.name, rt.ExecSync(Call(kCallDeadlineS).get(), req, &resp), since, &pod) &&
        (resp.exit_code() != 0 || resp.stdout() != "ok\n"))
      Fail("ExecSync in " + pod.name + ": exit " + std::to_string(resp.exit_code()) + ", stdout \"" +
           resp.stdout() + "\", stderr \"" + resp.stderr() + "\"");
  }

  // A random record matching `pred`; "" if none.
  template <typename Pred>
  std::string Pick(std::mt19937_64& rng, Pred pred) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> names;
    for (const auto& [n, r] : ctrs_)
      if (!r.id.empty() && pred(r)) names.push_back(n);
    return names.empty() ? "" : names[rng() % names.size()];
  }
  template <typename F>
  CtrRecord Update(const std::string& name, F f) {
    std::lock_guard<std::mutex> l(mu_);
    f(ctrs_[name]);
    return ctrs_[name];
  }

  // --- chaos --------------------------------------------------------------
  void KillKcrd() {
    epoch_++;
    Kill9();
    kcrd_kills_++;
  }
  void RestartKcrd() {
    Start();
    epoch_++;
  }
  void KillMonitor(ChaosPod& p) {
    p.killed = true;
    if (p.monitor > 0) {
      EXPECT_EQ(kill(p.monitor, SIGKILL), 0) << p.name << " monitor " << p.monitor;
    }
    monitor_kills_++;
  }

  // --- afterwards -----------------------------------------------------------
  json PodInfo(const std::string& id, v1::PodSandboxState* state) {
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(id);
    req.set_verbose(true);
    v1::PodSandboxStatusResponse resp;
    grpc::Status st = Runtime().PodSandboxStatus(Ctx(10).get(), req, &resp);
    EXPECT_TRUE(st.ok()) << id << ": " << st.error_message();
    *state = resp.status().state();
    return json::parse(resp.info().count("info") ? resp.info().at("info") : "{}", nullptr, false);
  }

  // Every container the workers asked for, against what the chaos did to
  // it and its pod.
  void CheckContainers(std::map<std::string, v1::Container>& by_name) {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [name, c] : by_name)
      EXPECT_TRUE(ctrs_.count(name)) << "container " << name << " (" << c.id() << ") was never asked for";
    int checked = 0;
    for (const auto& [name, r] : ctrs_) {
      const ChaosPod& pod = pods_[r.pod];
      bool listed_now = by_name.count(name) > 0;
      if (r.removed) {
        EXPECT_FALSE(listed_now) << name << " was removed but is listed";
        continue;
      }
      // A removal whose answer a kcrd kill lost may or may not have happened.
      if (r.created && !r.remove_tried) {
        EXPECT_TRUE(listed_now) << name << " was created but is not listed";
      }
      if (!listed_now) continue;
      checked++;
      const std::string id = by_name[name].id();
      auto st = CtrStatus(id);
      std::string what = name + " in " + pod.name + (pod.killed ? " (monitor killed)" : "") + ": state " +
                         std::to_string(st.state()) + " exit " + std::to_string(st.exit_code()) + " reason " +
                         st.reason() + " " + st.message();
      int runs = LogLines(dir_ + "/logs/" + pod.name + "/" + name + ".log", "run " + name);
      EXPECT_LE(runs, 1) << what << ": started " << runs << " times";
      if (r.seen_exited) {
        EXPECT_TRUE(st.exit_code() == r.seen_code && st.reason() == r.seen_reason)
            << what << ": was reported as " << r.seen_code << "/" << r.seen_reason;
      }
      if (r.started) {
        EXPECT_NE(st.state(), v1::CONTAINER_CREATED) << what << ": it was started";
      }
      switch (st.state()) {
        case v1::CONTAINER_CREATED:
          EXPECT_EQ(runs, 0) << what << ": reported CREATED, but it ran";
          EXPECT_FALSE(pod.killed) << what;
          break;
        case v1::CONTAINER_RUNNING:
          EXPECT_FALSE(r.exits) << what << ": still running";
          EXPECT_FALSE(r.stopped) << what << ": StopContainer succeeded, yet it runs";
          EXPECT_FALSE(pod.killed) << what << ": its monitor is dead";
          break;
        case v1::CONTAINER_EXITED: {
          EXPECT_FALSE(st.reason().empty()) << what;
          bool unknown = st.exit_code() == 255 && st.reason() == "Unknown";
          // Only a dead monitor loses an exit; a stop that succeeded has
          // recorded its exit already.
          if (unknown && pod.killed && !r.stopped) break;
          if (!r.exits) {
            EXPECT_TRUE(r.stop_tried) << what << ": exited without a stop";
          }
          EXPECT_EQ(st.exit_code(), r.expected) << what;
          EXPECT_EQ(st.reason(), r.expected == 0 ? "Completed" : "Error") << what;
          if (r.exits) {
            EXPECT_EQ(runs, 1) << what << ": exited with its code, yet its log shows no run";
          }
          break;
        }
        default: ADD_FAILURE() << what;
      }
    }
    std::cout << ctrs_.size() << " containers asked for, " << checked << " listed and checked" << std::endl;
  }

  // PIDs of processes of this test's kcrd: monitors (their command line
  // names the state dir) and anything in the test's cgroup parent.
  std::vector<std::string> ProcessesOfThisTest() {
    std::vector<std::string> found;
    DIR* d = ::opendir("/proc");
    if (!d) return found;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::string pid = e->d_name;
      if (pid_ > 0 && pid == std::to_string(pid_)) continue;  // kcrd itself
      std::string cmd = fs::ReadFile("/proc/" + pid + "/cmdline").value_or("");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      std::string cg = fs::ReadFile("/proc/" + pid + "/cgroup").value_or("");
      if (cmd.find(state_) != std::string::npos || cg.find(cgroup_parent_) != std::string::npos)
        found.push_back(pid + " " + cmd);
    }
    ::closedir(d);
    return found;
  }
  // The test's kcr-monitor processes by pod ID: those whose parent is not
  // a kcr-monitor of the same pod (its forks run its image until they exec).
  std::map<std::string, std::set<pid_t>> MonitorsByPod() {
    std::map<pid_t, std::string> pod_of;  // every process with a monitor's command line
    for (const auto& p : ProcessesOfThisTest()) {
      auto at = p.find("--pod ");
      if (at == std::string::npos || p.find("kcr-monitor") == std::string::npos) continue;
      pod_of[std::stoi(p.substr(0, p.find(' ')))] = p.substr(at + 6, 64);
    }
    std::map<std::string, std::set<pid_t>> by_pod;
    for (const auto& [pid, pod] : pod_of) {
      std::string st = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat").value_or("");
      if (st.rfind(')') == std::string::npos) continue;  // exited meanwhile
      std::istringstream in(st.substr(st.rfind(')') + 1));  // state, then the parent's PID
      std::string state;
      pid_t ppid = 0;
      if (!(in >> state >> ppid)) continue;
      auto parent = pod_of.find(ppid);
      if (parent == pod_of.end() || parent->second != pod) by_pod[pod].insert(pid);
    }
    return by_pod;
  }

  // Cgroups left below the test's parent, in every hierarchy.
  std::vector<std::string> CgroupsOfThisTest() {
    std::vector<std::string> left;
    std::vector<std::string> roots{"/sys/fs/cgroup"};
    if (DIR* d = ::opendir("/sys/fs/cgroup")) {
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') roots.push_back("/sys/fs/cgroup/" + std::string(e->d_name));
      ::closedir(d);
    }
    for (const auto& r : roots) {
      std::string parent = r + "/" + cgroup_parent_;
      if (DIR* d = ::opendir(parent.c_str())) {
        while (dirent* e = ::readdir(d)) {
          struct stat st;
          if (e->d_name[0] != '.' && ::stat((parent + "/" + e->d_name).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            left.push_back(parent + "/" + e->d_name);
        }
        ::closedir(d);
      }
    }
    return left;
  }

  uint64_t seed_ = 0;
  int chaos_s_ = 60;
  int image_snapshots_ = 0;
  std::string bridge_, net_;
  std::array<ChaosPod, kPods> pods_;
  std::atomic<int> epoch_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> excused_errors_{0}, ops_{0}, lists_{0}, churned_{0}, kcrd_kills_{0}, monitor_kills_{0};
  std::vector<std::thread> threads_;
  std::mutex mu_;  // guards the following
  std::map<std::string, CtrRecord> ctrs_;
  std::vector<std::string> failures_;
  int seq_ = 0;
};

TEST_F(ChaosTest, KillsOfKcrdAndMonitorsLoseNothingAndLeakNothing) {
  MakePods();
  for (const auto& p : pods_) {
    ASSERT_FALSE(p.long_ctr.empty()) << p.name << " was not set up";
    ASSERT_GT(p.monitor, 0) << p.name;
    ASSERT_FALSE(p.long_start.empty()) << p.name << ": no process for its long-running container";
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    ASSERT_TRUE(failures_.empty()) << failures_[0];
  }

  // The schedule: kcrd kills and monitor kills at random moments of the
  // chaos phase, in order.
  std::mt19937_64 rng(seed_);
  auto phase = std::chrono::milliseconds(chaos_s_ * 1000);
  struct Event {
    Clock::duration at;
    int pod;  // -1: kcrd
  };
  std::vector<Event> events;
  int kcrd_kills = 1 + static_cast<int>(rng() % kMaxKcrdKills);
  int monitor_kills = 1 + static_cast<int>(rng() % kMaxMonitorKills);
  for (int i = 0; i < kcrd_kills; i++) events.push_back({phase * static_cast<int>(rng() % 900 + 50) / 1000, -1});
  std::vector<int> order(kPods);
  for (int i = 0; i < kPods; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (int i = 0; i < monitor_kills; i++) events.push_back({phase * static_cast<int>(rng() % 900 + 50) / 1000, order[i]});
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
  std::vector<uint64_t> down_ms;  // how long each killed kcrd stays down
  for (int i = 0; i < kcrd_kills; i++) down_ms.push_back(rng() % 1500);

  threads_.emplace_back([this] { Lister(); });
  threads_.emplace_back([this] { Churner(); });
  for (int w = 0; w < kWorkers; w++) threads_.emplace_back([this, s = seed_ + 1 + w] { Worker(s); });
  auto t0 = Clock::now();
  size_t k = 0;
  for (const auto& ev : events) {
    std::this_thread::sleep_until(t0 + ev.at);  // a random moment, not a wait for an assertion
    if (ev.pod >= 0) {
      std::cout << "t+" << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
                << "ms kill -9 monitor of " << pods_[ev.pod].name << " (pid " << pods_[ev.pod].monitor << ")"
                << std::endl;
      KillMonitor(pods_[ev.pod]);
      continue;
    }
    std::cout << "t+" << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
              << "ms kill -9 kcrd, restart after " << down_ms[k] << "ms" << std::endl;
    KillKcrd();
    std::this_thread::sleep_for(std::chrono::milliseconds(down_ms[k++]));  // exits happen while it is down
    RestartKcrd();
    ASSERT_FALSE(HasFatalFailure()) << "kcrd did not restart";
  }
  std::this_thread::sleep_until(t0 + phase);
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::cout << ops_ << " worker operations, " << lists_ << " list rounds, " << churned_ << " churn pods, " << kcrd_kills_ << " kcrd kills, "
            << monitor_kills_ << " monitor kills, " << excused_errors_ << " calls failed during a kill" << std::endl;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& f : failures_) ADD_FAILURE() << f;
    failures_.clear();
  }

  // Nothing runs twice: at most one monitor per pod, and the monitors of
  // the pods that were not killed are the ones they started with, with
  // the PIDs recorded then. A monitor's own forks (an exec's helpers, a
  // container's init before its exec) show its command line too: they are
  // its descendants, not monitors.
  std::map<std::string, std::set<pid_t>> monitors = MonitorsByPod();
  for (const auto& [pod, pids] : monitors) EXPECT_EQ(pids.size(), 1u) << "monitors of pod " << pod;
  for (const auto& p : pods_) {
    std::set<pid_t> expected;
    if (!p.killed) expected.insert(p.monitor);
    EXPECT_EQ(monitors[p.id], expected) << p.name << ": its monitor was " << p.monitor;
    EXPECT_TRUE(p.killed || !StartTime(p.monitor).empty()) << p.name << ": its monitor " << p.monitor << " is gone";
  }

  // The killed pods are reported once kcrd's watchers have seen their
  // monitors end (the event): wait for it, bounded.
  for (const auto& p : pods_) {
    if (!p.killed) continue;
    v1::PodSandboxState state = v1::SANDBOX_READY;
    json info;
    for (int i = 0; i < 500 && state != v1::SANDBOX_NOTREADY; i++) {
      info = PodInfo(p.id, &state);
      if (state != v1::SANDBOX_NOTREADY) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(state, v1::SANDBOX_NOTREADY) << p.name;
    EXPECT_FALSE(info.value("notReadyReason", "").empty()) << p.name << ": " << info.dump();
  }
  // Containers that exit by themselves and were started have exited (the
  // event each waits for), bounded.
  auto running_exiters = [&] {
    v1::ListContainersRequest req;
    req.mutable_filter()->mutable_state()->set_state(v1::CONTAINER_RUNNING);
    v1::ListContainersResponse resp;
    EXPECT_TRUE(Runtime().ListContainers(Ctx(kListDeadlineS).get(), req, &resp).ok());
    int n = 0;
    for (const auto& c : resp.containers()) n += c.metadata().name()[0] == 'x';
    return n;
  };
  for (int i = 0; i < 500 && running_exiters() > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(running_exiters(), 0) << "containers that only exit still run";

  // Every pod as it should be.
  v1::ListPodSandboxResponse listed_pods;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx(kListDeadlineS).get(), {}, &listed_pods).ok());
  std::map<std::string, v1::PodSandboxState> pod_state;
  for (const auto& p : listed_pods.items()) pod_state[p.id()] = p.state();
  for (const auto& p : pods_) {
    ASSERT_TRUE(pod_state.count(p.id)) << p.name << " is not listed";
    EXPECT_EQ(pod_state[p.id], p.killed ? v1::SANDBOX_NOTREADY : v1::SANDBOX_READY) << p.name;
    auto st = CtrStatus(p.long_ctr);
    std::string log = dir_ + "/logs/" + p.name + "/long.log";
    EXPECT_EQ(LogLines(log, "long-started"), 1) << p.name << ": its long-running container started more than once";
    if (p.killed) {
      EXPECT_EQ(st.state(), v1::CONTAINER_EXITED) << p.name;
      EXPECT_FALSE(st.reason().empty()) << p.name;
      continue;
    }
    EXPECT_EQ(st.state(), v1::CONTAINER_RUNNING) << p.name;
    // The same process as before the chaos: same PID, same start time.
    EXPECT_EQ(StartTime(p.long_pid), p.long_start) << p.name << ": long-running container's process " << p.long_pid;
  }

  // Every container as it should be.
  v1::ListContainersResponse listed;
  ASSERT_TRUE(Runtime().ListContainers(Ctx(kListDeadlineS).get(), {}, &listed).ok());
  std::map<std::string, v1::Container> by_name;
  std::set<std::string> long_ids;
  for (const auto& p : pods_) long_ids.insert(p.long_ctr);
  std::set<std::string> ours;
  for (const auto& p : pods_) ours.insert(p.id);
  for (const auto& c : listed.containers()) {
    if (long_ids.count(c.id()) || !ours.count(c.pod_sandbox_id())) continue;  // churn pods' are not tracked
    EXPECT_FALSE(by_name.count(c.metadata().name())) << "two containers named " << c.metadata().name();
    by_name[c.metadata().name()] = c;
  }
  CheckContainers(by_name);

  // Everything removed, nothing left.
  std::set<std::string> pod_ids;
  for (const auto& p : listed_pods.items()) pod_ids.insert(p.id());
  for (const auto& id : pod_ids) {
    grpc::Status st = RemovePod(id);
    EXPECT_TRUE(st.ok()) << "RemovePodSandbox " << id << ": " << st.error_message();
  }
  v1::ListPodSandboxResponse after;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), {}, &after).ok());
  EXPECT_EQ(after.items_size(), 0);
  v1::ListContainersResponse ctrs_after;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), {}, &ctrs_after).ok());
  EXPECT_EQ(ctrs_after.containers_size(), 0);
  auto mounts = e2e::Run({"/usr/bin/findmnt", "-rn", "-o", "TARGET"}).out;
  std::istringstream mi(mounts);
  for (std::string m; std::getline(mi, m);) EXPECT_EQ(m.find(dir_), std::string::npos) << "mount left: " << m;
  EXPECT_EQ(CountEntries(state_ + "/netns"), 0) << "netns pins left";
  EXPECT_EQ(CountEntries(state_ + "/monitors"), 0) << "monitor sockets left";
  EXPECT_EQ(CountEntries(root_ + "/pods"), 0) << "pod directories left";
  EXPECT_EQ(CountEntries(state_ + "/containers"), 0) << "container directories left";
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), image_snapshots_) << "container snapshots left";
  EXPECT_EQ(CountEntries(root_ + "/cni/results"), 0) << "CNI result caches left";
  std::string netns = e2e::Run({"/sbin/ip", "netns", "list"}).out;
  for (const auto& id : pod_ids) EXPECT_EQ(netns.find(id), std::string::npos) << "ip netns names pod " << id;
  // host-local keeps one file per allocated address beside its lock and
  // last_reserved_ip files.
  std::string ipam = "/var/lib/cni/networks/" + net_;
  if (DIR* d = ::opendir(ipam.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n != "lock" && n.rfind("last_reserved_ip", 0) != 0)
        ADD_FAILURE() << "IP allocation left: " << n << " " << fs::ReadFile(ipam + "/" + n).value_or("");
    }
    ::closedir(d);
  }
  std::string nat = e2e::Run({"/bin/sh", "-c", "iptables-save -t nat"}).out;
  std::istringstream ni(nat);
  for (std::string rule; std::getline(ni, rule);)
    EXPECT_EQ(rule.find(net_), std::string::npos) << "NAT rule left: " << rule;
  for (const auto& c : CgroupsOfThisTest()) ADD_FAILURE() << "cgroup left: " << c;
  // Processes end with their monitor; wait for the exits (bounded).
  std::vector<std::string> procs = ProcessesOfThisTest();
  for (int i = 0; i < 250 && !procs.empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    procs = ProcessesOfThisTest();
  }
  for (const auto& p : procs) ADD_FAILURE() << "process left: " << p;
}

}  // namespace
}  // namespace kcr::e2e
