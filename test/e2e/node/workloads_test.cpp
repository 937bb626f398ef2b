// Node Ready, Deployments, Jobs, init containers and restart policies on
// kcr under a real kubelet and control plane.
#include <set>

#include "test/e2e/node/node_cluster.h"

namespace kcr::node {
namespace {

using Json = nlohmann::json;

class NodeWorkloads : public NodeTest {};

TEST_F(NodeWorkloads, NodeIsReadyOnKcr) {
  Json n = Get({"node", TheCluster().node});
  ASSERT_FALSE(n.is_null());
  bool ready = false;
  for (const auto& c : n["status"]["conditions"])
    if (c["type"] == "Ready") ready = c["status"] == "True";
  EXPECT_TRUE(ready) << n["status"]["conditions"].dump(2);
  const Json& info = n["status"]["nodeInfo"];
  EXPECT_EQ(info["containerRuntimeVersion"].get<std::string>().rfind("kcr://", 0), 0u) << info.dump(2);
  EXPECT_EQ(info["kubeletVersion"], "v1.37.2");
  // The node's address is the one in the cluster's own namespace.
  bool addr = false;
  for (const auto& a : n["status"]["addresses"])
    if (a["type"] == "InternalIP") addr = a["address"] == TheCluster().node_ip;
  EXPECT_TRUE(addr) << n["status"]["addresses"].dump();
}

// kubelet shows CRI ContainerStatus' image and image_ref as the pod's
// status image and imageID; it creates containers by image ID, with the pod
// spec's reference beside it (kcr reported the ID as the image, and as the
// digested reference).
TEST_F(NodeWorkloads, PodStatusNamesTheImageAsThePodSpecDoes) {
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "image-names"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j") +
        kBusybox + R"j(", "command": )j" + kSleeper + "}]}}");
  ASSERT_TRUE(Wait("pod/image-names", "condition=Ready"));
  Json c = ContainerStatus("image-names", "c");
  EXPECT_EQ(c["image"], kBusybox) << c.dump(2);
  std::string id = c["imageID"];
  EXPECT_EQ(id.rfind("docker.io/library/busybox@sha256:", 0), 0u) << c.dump(2);
  // The digest is the manifest's, as the registry and ListImages know it.
  Proc img = RunCmd({TheCluster().crictl, "inspecti", "-o", "json", kBusybox}, "", 30);
  EXPECT_NE(img.out.find(id), std::string::npos) << img.out.substr(0, 2000);
}

TEST_F(NodeWorkloads, DeploymentRollsOutAndRollsToNewImage) {
  Apply(std::string(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "roll"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "roll"}},
      "strategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
      "template": {"metadata": {"labels": {"app": "roll"}},
        "spec": {"terminationGracePeriodSeconds": 5, "containers": [{"name": "c", "image": ")") +
        kBusybox + R"(", "imagePullPolicy": "IfNotPresent", "command": )" + kSleeper + "}]}}}}");
  ASSERT_EQ(Kubectl({"rollout", "status", "deployment/roll", "--timeout=180s"}, "", 210).code, 0);
  Json pods = Get({"pods", "-l", "app=roll"});
  ASSERT_EQ(pods["items"].size(), 3u);
  std::set<std::string> old_ids;
  for (const auto& p : pods["items"]) {
    EXPECT_EQ(p["status"]["phase"], "Running");
    old_ids.insert(p["status"]["containerStatuses"][0]["containerID"].get<std::string>());
  }

  // A new image: the web server (another image in the local registry).
  ASSERT_EQ(Kubectl({"set", "image", "deployment/roll", std::string("c=") + kWeb}).code, 0);
  ASSERT_EQ(Kubectl({"rollout", "status", "deployment/roll", "--timeout=180s"}, "", 210).code, 0);
  Json d = Get({"deployment", "roll"});
  EXPECT_EQ(d["status"]["updatedReplicas"], 3);
  EXPECT_EQ(d["status"]["readyReplicas"], 3);
  // Every running pod runs the new image, in a new container.
  ASSERT_TRUE(Eventually([&] {
    Json ps = Get({"pods", "-l", "app=roll", "--field-selector=status.phase=Running"});
    if (ps.is_null() || ps["items"].size() != 3) return false;
    for (const auto& p : ps["items"]) {
      if (p["metadata"].contains("deletionTimestamp")) return false;
      const Json& cs = p["status"]["containerStatuses"][0];
      if (cs["image"].get<std::string>().find("kcr-test/web") == std::string::npos) return false;
      if (old_ids.count(cs["containerID"].get<std::string>())) return false;
    }
    return true;
  })) << Kubectl({"get", "pods", "-o", "wide"}).out;
  EXPECT_EQ(Kubectl({"rollout", "history", "deployment/roll"}).code, 0);
}

TEST_F(NodeWorkloads, JobRunsToCompletion) {
  Apply(std::string(R"({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
    "spec": {"completions": 2, "parallelism": 2, "backoffLimit": 0,
      "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": ")") +
        kBusybox + R"(", "command": ["sh", "-c", "echo job-done-`hostname`"]}]}}}})");
  ASSERT_TRUE(Wait("job/job", "condition=Complete", 180));
  Json j = Get({"job", "job"});
  EXPECT_EQ(j["status"]["succeeded"], 2);
  EXPECT_FALSE(j["status"].contains("failed") && j["status"]["failed"] != 0) << j["status"].dump();
  Json pods = Get({"pods", "-l", "job-name=job"});
  ASSERT_EQ(pods["items"].size(), 2u);
  for (const auto& p : pods["items"]) {
    EXPECT_EQ(p["status"]["phase"], "Succeeded");
    std::string name = p["metadata"]["name"];
    Proc logs = Kubectl({"logs", name});
    EXPECT_EQ(logs.out, "job-done-" + name + "\n");
  }
}

TEST_F(NodeWorkloads, InitContainersRunInOrderBeforeTheApp) {
  Apply(std::string(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "init"},
    "spec": {"terminationGracePeriodSeconds": 1, "volumes": [{"name": "w", "emptyDir": {}}],
      "initContainers": [
        {"name": "one", "image": ")") + kBusybox + R"(", "command": ["sh", "-c", "echo one >> /w/order"],
         "volumeMounts": [{"name": "w", "mountPath": "/w"}]},
        {"name": "two", "image": ")" + kBusybox + R"(",
         "command": ["sh", "-c", "grep -qx one /w/order && echo two >> /w/order"],
         "volumeMounts": [{"name": "w", "mountPath": "/w"}]}],
      "containers": [{"name": "app", "image": ")" + kBusybox + R"(",
        "command": ["sh", "-c", "echo app >> /w/order; cat /w/order; trap 'exit 0' TERM; sleep 3600 & wait"],
        "volumeMounts": [{"name": "w", "mountPath": "/w"}]}]}})");
  ASSERT_TRUE(Wait("pod/init", "condition=Ready"));
  ASSERT_TRUE(Eventually([&] { return Kubectl({"logs", "init", "-c", "app"}).out == "one\ntwo\napp\n"; }, 30))
      << Kubectl({"logs", "init", "-c", "app"}).out;
  Json p = Pod("init");
  ASSERT_EQ(p["status"]["initContainerStatuses"].size(), 2u);
  for (const auto& s : p["status"]["initContainerStatuses"]) {
    EXPECT_EQ(s["state"]["terminated"]["exitCode"], 0) << s.dump();
    EXPECT_EQ(s["state"]["terminated"]["reason"], "Completed") << s.dump();
    EXPECT_EQ(s["restartCount"], 0);
  }
  // Ordered in time too: "two" started after "one" finished.
  const Json& one = p["status"]["initContainerStatuses"][0]["state"]["terminated"];
  const Json& two = p["status"]["initContainerStatuses"][1]["state"]["terminated"];
  EXPECT_LE(one["finishedAt"].get<std::string>(), two["startedAt"].get<std::string>());
}

// A container that exits with `code` under `policy`.
std::string ExitingPod(const std::string& name, const std::string& policy, int code) {
  return std::string(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")") + name +
         R"("}, "spec": {"restartPolicy": ")" + policy + R"(", "terminationGracePeriodSeconds": 1,
    "containers": [{"name": "c", "image": ")" + kBusybox + R"(", "command": ["sh", "-c", "exit )" +
         std::to_string(code) + R"("]}]}})";
}

TEST_F(NodeWorkloads, RestartPolicies) {
  Apply(ExitingPod("rp-always", "Always", 0));
  Apply(ExitingPod("rp-onfailure-fails", "OnFailure", 3));
  Apply(ExitingPod("rp-onfailure-succeeds", "OnFailure", 0));
  Apply(ExitingPod("rp-never", "Never", 3));
  // Never: one run, the pod fails with the container's exit code.
  ASSERT_TRUE(Wait("pod/rp-never", "jsonpath={.status.phase}=Failed"));
  Json c = ContainerStatus("rp-never", "c");
  EXPECT_EQ(c["state"]["terminated"]["exitCode"], 3) << c.dump();
  EXPECT_EQ(c["state"]["terminated"]["reason"], "Error");
  EXPECT_EQ(c["restartCount"], 0);
  // OnFailure and a zero exit: the pod succeeds, nothing restarts.
  ASSERT_TRUE(Wait("pod/rp-onfailure-succeeds", "jsonpath={.status.phase}=Succeeded"));
  EXPECT_EQ(ContainerStatus("rp-onfailure-succeeds", "c")["restartCount"], 0);
  // OnFailure and a failure, Always and a success: restarted by kubelet.
  for (const char* pod : {"rp-onfailure-fails", "rp-always"}) {
    ASSERT_TRUE(Eventually([&] {
      Json s = ContainerStatus(pod, "c");
      return !s.is_null() && s.value("restartCount", 0) >= 1;
    })) << pod << ": " << ContainerStatus(pod, "c").dump(2);
    Json s = ContainerStatus(pod, "c");
    EXPECT_EQ(s["lastState"]["terminated"]["exitCode"], std::string(pod) == "rp-always" ? 0 : 3) << s.dump(2);
    EXPECT_EQ(Pod(pod)["status"]["phase"], "Running") << pod;
  }
}

}  // namespace
}  // namespace kcr::node
