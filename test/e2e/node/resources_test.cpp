// Resource limits in the container's cgroup, OOM kills, graceful deletion
// with a preStop hook, and kubelet's /stats/summary fed by kcr.
#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "test/e2e/node/node_cluster.h"

namespace kcr::node {
namespace {

using Json = nlohmann::json;

class NodeResources : public NodeTest {};

std::string ReadHostFile(const std::string& path) {
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return s;
}

TEST_F(NodeResources, LimitsAreInTheContainersCgroup) {
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "limits"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j") +
        kBusybox + R"j(", "command": )j" + kSleeper + R"j(,
      "resources": {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}]}})j");
  ASSERT_TRUE(Wait("pod/limits", "condition=Ready"));
  Json pod = Pod("limits");
  EXPECT_EQ(pod["status"]["qosClass"], "Burstable");
  // What the container itself sees at /sys/fs/cgroup (its own cgroups).
  bool v2 = Exec("limits", "c", {"test", "-f", "/sys/fs/cgroup/cgroup.controllers"}).code == 0;
  if (v2) {
    EXPECT_EQ(Exec("limits", "c", {"cat", "/sys/fs/cgroup/memory.max"}).out, "67108864\n");
    EXPECT_EQ(Exec("limits", "c", {"cat", "/sys/fs/cgroup/cpu.max"}).out, "50000 100000\n");
  } else {
    EXPECT_EQ(Exec("limits", "c", {"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}).out, "67108864\n");
    EXPECT_EQ(Exec("limits", "c", {"cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"}).out, "50000\n");
    EXPECT_EQ(Exec("limits", "c", {"cat", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"}).out, "100000\n");
    EXPECT_EQ(Exec("limits", "c", {"cat", "/sys/fs/cgroup/cpu/cpu.shares"}).out, "256\n");
  }
  // kubelet's pod cgroup on the host holds the pod's limit, and kcr put the
  // container's cgroup inside it (cgroupfs driver).
  if (TheCluster().cgroup_driver == "cgroupfs" && !v2) {
    std::string pod_cg = "/sys/fs/cgroup/memory" + TheCluster().cgroup_root + "/kubepods/burstable/pod" +
                         pod["metadata"]["uid"].get<std::string>();
    EXPECT_EQ(ReadHostFile(pod_cg + "/memory.limit_in_bytes"), "67108864\n") << pod_cg;
    std::string id = StripScheme(pod["status"]["containerStatuses"][0]["containerID"]);
    bool found = false;
    if (DIR* d = opendir(pod_cg.c_str())) {
      while (dirent* e = readdir(d))
        if (std::string(e->d_name).find(id) != std::string::npos) found = true;
      closedir(d);
    }
    EXPECT_TRUE(found) << "no cgroup of container " << id << " in " << pod_cg;
  }
}

TEST_F(NodeResources, OomKillIsReportedAsOOMKilled) {
  // awk doubles a string until the 32 MiB limit stops it.
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "oom"},
    "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
      "containers": [{"name": "c", "image": ")j") +
        kBusybox + R"j(", "command": ["awk", "BEGIN { s = \"x\"; while (1) s = s s }"],
        "resources": {"limits": {"memory": "32Mi"}}}]}})j");
  ASSERT_TRUE(Wait("pod/oom", "jsonpath={.status.phase}=Failed"));
  Json c = ContainerStatus("oom", "c");
  EXPECT_EQ(c["state"]["terminated"]["reason"], "OOMKilled") << c.dump(2);
  EXPECT_EQ(c["state"]["terminated"]["exitCode"], 137) << c.dump(2);
}

TEST_F(NodeResources, GracefulDeletionRunsPreStopThenSigtermWithinTheGracePeriod) {
  std::string out = TheCluster().dir + "/grace";
  mkdir(out.c_str(), 0755);
  for (const char* f : {"prestop", "term", "prestop-ignorer"}) unlink((out + "/" + f).c_str());
  auto pod = [&](const std::string& name, int grace, const std::string& cmd, const std::string& prestop) {
    return std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")j") + name +
           R"j("}, "spec": {"terminationGracePeriodSeconds": )j" + std::to_string(grace) +
           R"j(, "volumes": [{"name": "out", "hostPath": {"path": ")j" + out +
           R"j(", "type": "Directory"}}],
      "containers": [{"name": "c", "image": ")j" + kBusybox + R"j(", "command": ["sh", "-c", ")j" + cmd +
           R"j("], "volumeMounts": [{"name": "out", "mountPath": "/out"}],
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", ")j" + prestop + R"j("]}}}}]}})j";
  };
  // Traps SIGTERM and records whether preStop ran before it.
  Apply(pod("grace", 30,
            "trap 'if [ -f /out/prestop ]; then echo after-prestop > /out/term; else echo before-prestop > "
            "/out/term; fi; exit 0' TERM; sleep 3600 & wait",
            "echo prestop > /out/prestop"));
  // Ignores SIGTERM: only the SIGKILL at the end of its grace period ends it.
  Apply(pod("grace-ignorer", 4, "trap '' TERM; while true; do sleep 1; done",
            "echo prestop > /out/prestop-ignorer"));
  ASSERT_TRUE(Wait("pod/grace", "condition=Ready"));
  ASSERT_TRUE(Wait("pod/grace-ignorer", "condition=Ready"));

  Proc del = Kubectl({"delete", "pod", "grace", "--wait=true", "--timeout=60s"}, "", 90);
  ASSERT_EQ(del.code, 0) << del.err;
  EXPECT_EQ(ReadHostFile(out + "/prestop"), "prestop\n");
  EXPECT_EQ(ReadHostFile(out + "/term"), "after-prestop\n");

  auto t0 = std::chrono::steady_clock::now();
  del = Kubectl({"delete", "pod", "grace-ignorer", "--wait=true", "--timeout=90s"}, "", 120);
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(del.code, 0) << del.err;
  EXPECT_EQ(ReadHostFile(out + "/prestop-ignorer"), "prestop\n");
  // Not killed before its grace period (4 s, which the preStop hook's time
  // counts against): a lower bound, not a speed check.
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count(), 3500);
}

TEST_F(NodeResources, StatsSummaryHasPodsContainersAndImageFs) {
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stats"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j") +
        kBusybox + R"j(", "command": ["sh", "-c", "head -c 8000000 /dev/urandom | md5sum; echo spun; trap 'exit 0' TERM; sleep 3600 & wait"]}]}})j");
  ASSERT_TRUE(Wait("pod/stats", "condition=Ready"));
  std::string url = "/api/v1/nodes/" + TheCluster().node + "/proxy/stats/summary";
  Json summary, pod_stats, ctr_stats;
  // kubelet samples every few seconds: wait until the pod appears with its
  // own and its container's CPU and memory.
  bool ok = Eventually(
      [&] {
        Proc p = Kubectl({"get", "--raw", url}, "", 60);
        if (p.code != 0) return false;
        summary = Json::parse(p.out, nullptr, false);
        if (summary.is_discarded()) return false;
        // The pod's totals come from cadvisor's look at kubelet's pod
        // cgroup, which starts with an empty sample.
        for (const auto& ps : summary.value("pods", Json::array()))
          if (ps["podRef"]["name"] == "stats" && ps.contains("cpu") && ps.contains("memory") &&
              ps["cpu"].value("usageCoreNanoSeconds", 0ull) > 0 && ps["memory"].value("workingSetBytes", 0ull) > 0)
            for (const auto& c : ps.value("containers", Json::array()))
              if (c["name"] == "c" && c.contains("cpu") && c.contains("memory") &&
                  c["cpu"].value("usageCoreNanoSeconds", 0ull) > 0 &&
                  c["memory"].value("workingSetBytes", 0ull) > 0) {
                pod_stats = ps;
                ctr_stats = c;
                return true;
              }
        return false;
      },
      120);
  ASSERT_TRUE(ok) << summary.dump(1).substr(0, 8000);
  const Json& fs = summary["node"]["runtime"]["imageFs"];
  EXPECT_GT(fs.value("capacityBytes", 0ull), 0u) << fs.dump();
  EXPECT_GT(fs.value("usedBytes", 0ull), 0u) << fs.dump();
  EXPECT_GT(fs.value("availableBytes", 0ull), 0u) << fs.dump();
  // The pod's own totals.
  EXPECT_GT(pod_stats["cpu"].value("usageCoreNanoSeconds", 0ull), 0u) << pod_stats.dump(1);
  EXPECT_GT(pod_stats["memory"].value("workingSetBytes", 0ull), 0u) << pod_stats.dump(1);
  // The container's writable layer and logs.
  EXPECT_TRUE(ctr_stats.contains("rootfs")) << ctr_stats.dump(1);
  EXPECT_TRUE(ctr_stats.contains("logs")) << ctr_stats.dump(1);
}

}  // namespace
}  // namespace kcr::node
