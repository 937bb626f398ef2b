#pragma once
// The node tests' view of the single-node cluster test/e2e/node/cluster.sh
// makes (etcd, the control plane, kubelet and a fresh kcrd in a network
// namespace of their own): a gtest environment that finds it up (ctest's
// fixture test `node_cluster_up` made it) or brings it up and down itself,
// and helpers that drive kubectl as a subprocess and read its JSON.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kcr::node {

struct Proc {
  int code = -1;  // exit status, 128+signal, or -1 if it could not run
  std::string out, err;
  bool timed_out = false;
};

// Runs argv (no shell) with `in` on its stdin, killing it (SIGKILL, by PID)
// after timeout_s. `env` entries are added to this process's environment.
Proc RunCmd(const std::vector<std::string>& argv, const std::string& in = "", int timeout_s = 120,
         const std::map<std::string, std::string>& env = {});

// A long-running child (kubectl port-forward, attach) whose stdout and
// stderr are read until a line appears; killed by PID when destroyed.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  // Reads output until it contains `needle` (true) or timeout_s passes or
  // the child's output ends (false). Everything read is in Output().
  bool WaitFor(const std::string& needle, int timeout_s);
  const std::string& Output() const { return out_; }

 private:
  int pid_ = -1, fd_ = -1;
  std::string out_;
};

// What `cluster.sh env DIR` prints.
struct Cluster {
  std::string dir, netns, node, node_ip, cgroup_root, cgroup_driver, kubectl, crictl, script;
};
const Cluster& TheCluster();

// Runs `cluster.sh CMD DIR [args]`, its output on failure in the message.
::testing::AssertionResult ClusterScript(const std::string& cmd, const std::vector<std::string>& args = {});

class NodeTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // kubectl against the cluster (inside its network namespace).
  Proc Kubectl(std::vector<std::string> args, const std::string& in = "", int timeout_s = 120,
               const std::map<std::string, std::string>& env = {});
  // kubectl get ARGS -o json, parsed; a failure is a test failure and null.
  nlohmann::json Get(std::vector<std::string> args);
  // kubectl apply of a manifest (YAML or JSON); remembered for TearDown's
  // delete (without waiting: the next test need not wait for it).
  void Apply(const std::string& manifest);
  // kubectl wait --for=FOR KIND/NAME (event-driven on the server side).
  ::testing::AssertionResult Wait(const std::string& what, const std::string& for_, int timeout_s = 120);
  // Polls `pred` every 250 ms until true or timeout_s; false on timeout.
  // For conditions kubectl wait cannot express (a count reaching a value).
  static bool Eventually(const std::function<bool()>& pred, int timeout_s = 120);
  // The pod's JSON, null if it does not exist.
  nlohmann::json Pod(const std::string& name);
  // A container's status by name (containerStatuses or initContainerStatuses).
  nlohmann::json ContainerStatus(const std::string& pod, const std::string& ctr);
  // kubectl exec POD -c CTR -- cmd..., its output.
  Proc Exec(const std::string& pod, const std::string& ctr, std::vector<std::string> cmd);
  // The kcr container ID of a kubelet container ID ("kcr://<id>" -> "<id>").
  static std::string StripScheme(const std::string& id);

  std::vector<std::string> applied_;  // manifests' files, deleted in TearDown
};

// Images from the local registry (hack/test_images.py), by the names a pod
// spec uses; kcr mirrors docker.io to 127.0.0.1:5000.
inline constexpr const char* kBusybox = "busybox:1.36";
inline constexpr const char* kWeb = "kcr-test/web:latest";  // httpd -f -p 80 -h /var/www
// A command for a container that lives until deleted and exits at once on
// SIGTERM (busybox sleep as PID 1 would ignore it and cost the grace period).
inline constexpr const char* kSleeper = R"(["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"])";

}  // namespace kcr::node
