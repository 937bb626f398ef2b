// kubelet's probes on kcr: exec probes go through ExecSync, httpGet and
// tcpSocket probes dial the pod's IP from kubelet's network namespace.
#include "test/e2e/node/node_cluster.h"

namespace kcr::node {
namespace {

using Json = nlohmann::json;

class NodeProbes : public NodeTest {
 protected:
  bool Ready(const std::string& pod) {
    Json c = ContainerStatus(pod, "c");
    return !c.is_null() && c.value("ready", false);
  }
  int Restarts(const std::string& pod) {
    Json c = ContainerStatus(pod, "c");
    return c.is_null() ? -1 : c.value("restartCount", 0);
  }
};

std::string PodWith(const std::string& name, const std::string& image, const std::string& probes,
                    const std::string& command = kSleeper) {
  return std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")j") + name +
         R"j("}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j" + image +
         R"j(", "imagePullPolicy": "IfNotPresent", "command": )j" + command + ", " + probes + "}]}}";
}

TEST_F(NodeProbes, ExecReadinessFollowsTheContainerAndExecLivenessRestartsIt) {
  Apply(PodWith("probe-exec", kBusybox,
                R"j("readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]},
                                     "periodSeconds": 1, "failureThreshold": 1},
                  "livenessProbe": {"exec": {"command": ["sh", "-c", "test ! -f /tmp/dead"]},
                                    "periodSeconds": 1, "failureThreshold": 1})j",
                R"j(["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"])j"));
  // Running, alive, not ready: the readiness file is missing.
  ASSERT_TRUE(Wait("pod/probe-exec", "jsonpath={.status.containerStatuses[0].started}=true"));
  EXPECT_FALSE(Ready("probe-exec"));
  ASSERT_EQ(Exec("probe-exec", "c", {"touch", "/tmp/ready"}).code, 0);
  ASSERT_TRUE(Wait("pod/probe-exec", "condition=Ready", 60));
  ASSERT_EQ(Exec("probe-exec", "c", {"rm", "/tmp/ready"}).code, 0);
  ASSERT_TRUE(Wait("pod/probe-exec", "condition=Ready=false", 60));
  EXPECT_EQ(Restarts("probe-exec"), 0);
  // The liveness command fails once /tmp/dead exists: kubelet kills and
  // restarts the container.
  ASSERT_EQ(Exec("probe-exec", "c", {"touch", "/tmp/dead"}).code, 0);
  ASSERT_TRUE(Eventually([&] { return Restarts("probe-exec") >= 1; }, 90)) << ContainerStatus("probe-exec", "c");
  // A fresh container: no /tmp/dead, so it stays.
  ASSERT_TRUE(Wait("pod/probe-exec", "jsonpath={.status.containerStatuses[0].started}=true"));
}

TEST_F(NodeProbes, HttpGetReadinessAndLiveness) {
  // Ready once the web server answers; the liveness probe asks a path the
  // server does not have, so the container is restarted.
  Apply(PodWith("probe-http-ok", kWeb,
                R"j("readinessProbe": {"httpGet": {"path": "/index.html", "port": 80}, "periodSeconds": 1},
                  "livenessProbe": {"httpGet": {"path": "/index.html", "port": 80}, "periodSeconds": 1})j",
                R"j(["httpd", "-f", "-p", "80", "-h", "/var/www"])j"));
  Apply(PodWith("probe-http-404", kWeb,
                R"j("livenessProbe": {"httpGet": {"path": "/missing", "port": 80},
                                      "periodSeconds": 1, "failureThreshold": 1})j",
                R"j(["httpd", "-f", "-p", "80", "-h", "/var/www"])j"));
  ASSERT_TRUE(Wait("pod/probe-http-ok", "condition=Ready"));
  ASSERT_TRUE(Eventually([&] { return Restarts("probe-http-404") >= 1; }, 90))
      << ContainerStatus("probe-http-404", "c");
  EXPECT_EQ(Restarts("probe-http-ok"), 0);
  EXPECT_TRUE(Ready("probe-http-ok"));
}

TEST_F(NodeProbes, TcpSocketReadinessAndLiveness) {
  Apply(PodWith("probe-tcp-ok", kWeb,
                R"j("readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
                  "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1})j",
                R"j(["httpd", "-f", "-p", "80", "-h", "/var/www"])j"));
  // Nothing listens on 8080: liveness fails, the container restarts.
  Apply(PodWith("probe-tcp-closed", kBusybox,
                R"j("livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 1})j"));
  ASSERT_TRUE(Wait("pod/probe-tcp-ok", "condition=Ready"));
  ASSERT_TRUE(Eventually([&] { return Restarts("probe-tcp-closed") >= 1; }, 90))
      << ContainerStatus("probe-tcp-closed", "c");
  EXPECT_EQ(Restarts("probe-tcp-ok"), 0);
}

TEST_F(NodeProbes, StartupProbeHoldsLivenessAndReadiness) {
  // Until the startup probe passes, the container is not started and
  // neither liveness (which would fail and restart it) nor readiness run.
  Apply(PodWith("probe-startup", kBusybox,
                R"j("startupProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]},
                                   "periodSeconds": 1, "failureThreshold": 600},
                  "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]},
                                    "periodSeconds": 1, "failureThreshold": 1},
                  "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1})j"));
  ASSERT_TRUE(Wait("pod/probe-startup", "jsonpath={.status.phase}=Running", 120));
  Json c = ContainerStatus("probe-startup", "c");
  EXPECT_FALSE(c.value("started", true)) << c.dump();
  EXPECT_FALSE(c.value("ready", true)) << c.dump();
  ASSERT_EQ(Exec("probe-startup", "c", {"touch", "/tmp/started"}).code, 0);
  ASSERT_TRUE(Wait("pod/probe-startup", "condition=Ready", 60));
  c = ContainerStatus("probe-startup", "c");
  EXPECT_TRUE(c.value("started", false));
  EXPECT_EQ(c["restartCount"], 0);
}

}  // namespace
}  // namespace kcr::node
