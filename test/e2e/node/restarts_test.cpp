// kubelet and kcrd restarts keep running pods, and kubelet's image garbage
// collection removes an unused image through kcr.
#include <fstream>
#include <sstream>

#include "test/e2e/node/node_cluster.h"

namespace kcr::node {
namespace {

using Json = nlohmann::json;

class NodeRestarts : public NodeTest {
 protected:
  struct Snapshot {
    std::string uid, container_id;
    int restarts = -1;
  };
  Snapshot Take(const std::string& pod) {
    Json p = Pod(pod);
    Snapshot s;
    if (p.is_null()) return s;
    s.uid = p["metadata"]["uid"];
    const Json& c = p["status"]["containerStatuses"][0];
    s.container_id = c.value("containerID", "");
    s.restarts = c.value("restartCount", -1);
    return s;
  }
  std::string ReadyTransition() {
    Json n = Get({"node", TheCluster().node});
    for (const auto& c : n["status"]["conditions"])
      if (c["type"] == "Ready") return c["status"].get<std::string>() + "@" + c["lastTransitionTime"].get<std::string>();
    return "";
  }
  void Sleeper(const std::string& name) {
    Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")j") + name +
          R"j("}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j" + kBusybox +
          R"j(", "imagePullPolicy": "IfNotPresent", "command": )j" + kSleeper + "}]}}");
  }
  // After a restart: a new pod runs (kubelet, its runtime connection and
  // its relisting work again), then the old pod is as it was.
  void ExpectSurvived(const std::string& pod, const Snapshot& before, const std::string& ready_before,
                      const std::string& probe_pod) {
    Sleeper(probe_pod);
    ASSERT_TRUE(Wait("pod/" + probe_pod, "condition=Ready", 180));
    ASSERT_TRUE(Wait("pod/" + pod, "condition=Ready", 60));
    Snapshot after = Take(pod);
    EXPECT_EQ(after.uid, before.uid);
    EXPECT_EQ(after.container_id, before.container_id);
    EXPECT_EQ(after.restarts, before.restarts);
    // Node Ready throughout: its Ready condition never changed.
    EXPECT_EQ(ReadyTransition(), ready_before);
    // And kcr still runs that very container.
    Proc ps = RunCmd({TheCluster().crictl, "ps", "-q", "--state", "Running"}, "", 30);
    EXPECT_NE(ps.out.find(StripScheme(before.container_id)), std::string::npos) << ps.out << ps.err;
  }
};

TEST_F(NodeRestarts, KubeletRestartKeepsRunningPods) {
  Sleeper("survives-kubelet");
  ASSERT_TRUE(Wait("pod/survives-kubelet", "condition=Ready"));
  Snapshot before = Take("survives-kubelet");
  std::string ready = ReadyTransition();
  ASSERT_EQ(ready.rfind("True@", 0), 0u) << ready;
  ASSERT_TRUE(ClusterScript("restart-kubelet"));
  ExpectSurvived("survives-kubelet", before, ready, "after-kubelet-restart");
}

TEST_F(NodeRestarts, KcrdRestartKeepsRunningPods) {
  Sleeper("survives-kcrd");
  ASSERT_TRUE(Wait("pod/survives-kcrd", "condition=Ready"));
  Snapshot before = Take("survives-kcrd");
  std::string ready = ReadyTransition();
  ASSERT_EQ(ready.rfind("True@", 0), 0u) << ready;
  ASSERT_TRUE(ClusterScript("restart-kcrd"));
  ExpectSurvived("survives-kcrd", before, ready, "after-kcrd-restart");
  // An exec through the restarted kcrd reaches the old container.
  EXPECT_EQ(Exec("survives-kcrd", "c", {"echo", "still-here"}).out, "still-here\n");
}

bool HasImage(const std::string& ref) {
  Proc p = RunCmd({TheCluster().crictl, "images", "-q", ref}, "", 30);
  return p.code == 0 && !p.out.empty();
}

TEST_F(NodeRestarts, ImageGarbageCollectionRemovesAnUnusedImage) {
  // An image nothing uses, and the pause image kcr reports as pinned.
  const std::string unused = "docker.io/kcr-test/distinct-2:latest";
  const std::string pinned = "registry.k8s.io/pause:3.10";
  for (const auto& ref : {unused, pinned}) {
    Proc pull = RunCmd({TheCluster().crictl, "pull", ref}, "", 120);
    ASSERT_EQ(pull.code, 0) << ref << ": " << pull.out << pull.err;
  }
  ASSERT_TRUE(HasImage(unused));

  // kubelet's periodic image GC runs every 5 minutes (ImageGCPeriod, not
  // configurable) and its pass at start-up fails ("invalid capacity 0 on
  // image filesystem": cadvisor has no filesystem stats yet). Its eviction
  // manager checks every 10 s and, when imagefs.available crosses its
  // threshold, reclaims through the same image GC manager
  // (DeleteUnusedImages) before evicting anything: restart kubelet with a
  // threshold any disk crosses and a minimum image age of 1 s (0 means
  // kubelet's default, 2 minutes). No pod of this
  // test runs, so the eviction that follows has nothing to evict.
  std::ifstream in(TheCluster().dir + "/kubelet.yaml");
  std::stringstream cfg;
  cfg << in.rdbuf();
  std::string c = cfg.str();
  auto at = c.find("evictionHard:");
  ASSERT_NE(at, std::string::npos);
  c = c.substr(0, at) + "evictionHard: {imagefs.available: \"99%\"}\nimageMinimumGCAge: 1s\n" +
      c.substr(c.find('\n', at) + 1);
  std::string gc_cfg = TheCluster().dir + "/kubelet-gc.yaml";
  std::ofstream(gc_cfg) << c;
  ASSERT_TRUE(ClusterScript("restart-kubelet", {gc_cfg}));
  bool removed = Eventually([&] { return !HasImage(unused); }, 120);
  bool pinned_kept = HasImage(pinned);
  // Back to the cluster's own configuration, whatever happened; a fresh
  // kubelet reports no disk pressure.
  EXPECT_TRUE(ClusterScript("restart-kubelet"));
  EXPECT_TRUE(Wait("node/" + TheCluster().node, "condition=DiskPressure=false", 120));
  EXPECT_TRUE(Wait("node/" + TheCluster().node, "condition=Ready", 120));
  ASSERT_TRUE(removed) << "kubelet did not remove " << unused << "; kubelet log: "
                       << RunCmd({"/usr/bin/grep", "-i", "-e", "image", "-e", "evict",
                                  TheCluster().dir + "/log/kubelet.log"},
                                 "", 10)
                              .out.substr(0, 8000);
  EXPECT_TRUE(pinned_kept) << pinned << " is pinned (kcr's pause image) and must stay";
}

}  // namespace
}  // namespace kcr::node
