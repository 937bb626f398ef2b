// kubectl logs (and --previous), exec, attach, port-forward and cp through
// the API server, kubelet and kcr's streaming server, over WebSocket
// (kubectl's default since 1.31) and SPDY.
#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "test/e2e/node/node_cluster.h"

namespace kcr::node {
namespace {

using Json = nlohmann::json;

// kubectl's switches back to SPDY for exec/attach/cp and port-forward.
const std::map<std::string, std::string> kSpdy = {{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"},
                                                  {"KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"}};
const std::map<std::string, std::string> kWebSocket = {};

class NodeStreaming : public NodeTest {
 protected:
  void SleeperPod(const std::string& name, const std::string& image = kBusybox) {
    Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")j") + name +
          R"j("}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j" + image +
          R"j(", "imagePullPolicy": "IfNotPresent", "command": )j" + kSleeper + "}]}}");
  }
};

TEST_F(NodeStreaming, LogsAndPreviousLogs) {
  // Each run counts itself in an emptyDir; the first fails, the second stays.
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "logs"},
    "spec": {"terminationGracePeriodSeconds": 1, "volumes": [{"name": "n", "emptyDir": {}}],
      "containers": [{"name": "c", "image": ")j") +
        kBusybox + R"j(", "volumeMounts": [{"name": "n", "mountPath": "/n"}],
        "command": ["sh", "-c",
          "n=$(( $(cat /n/count 2>/dev/null || echo 0) + 1 )); echo $n > /n/count; echo run $n out; echo run $n err >&2; [ $n -ge 2 ] || exit 1; trap 'exit 0' TERM; sleep 3600 & wait"]}]}})j");
  ASSERT_TRUE(Eventually([&] {
    Json c = ContainerStatus("logs", "c");
    return !c.is_null() && c.value("restartCount", 0) == 1 && c["state"].contains("running");
  })) << ContainerStatus("logs", "c");
  Proc cur = Kubectl({"logs", "logs"});
  ASSERT_EQ(cur.code, 0) << cur.err;
  // stdout and stderr are both in the log (two pipes: their relative order
  // is not defined).
  auto sorted = [](std::string s) {
    std::vector<std::string> lines;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    std::sort(lines.begin(), lines.end());
    return lines;
  };
  EXPECT_EQ(sorted(cur.out), (std::vector<std::string>{"run 2 err", "run 2 out"})) << cur.out;
  Proc prev = Kubectl({"logs", "logs", "--previous"});
  ASSERT_EQ(prev.code, 0) << prev.err;
  EXPECT_EQ(sorted(prev.out), (std::vector<std::string>{"run 1 err", "run 1 out"})) << prev.out;
  // Timestamps come from kcr's CRI log lines.
  Proc ts = Kubectl({"logs", "logs", "--timestamps", "--tail=1"});
  EXPECT_NE(ts.out.find("Z run 2 "), std::string::npos) << ts.out;
  // The pod's logs are in kubelet's podLogsDir, under DIR.
  Json p = Pod("logs");
  std::string dir = TheCluster().dir + "/pod-logs/default_logs_" + p["metadata"]["uid"].get<std::string>() + "/c";
  EXPECT_EQ(access((dir + "/0.log").c_str(), R_OK), 0) << dir;
  EXPECT_EQ(access((dir + "/1.log").c_str(), R_OK), 0) << dir;
}

TEST_F(NodeStreaming, ExecOverWebSocketAndSpdy) {
  SleeperPod("exec");
  ASSERT_TRUE(Wait("pod/exec", "condition=Ready"));
  for (const auto* env : {&kWebSocket, &kSpdy}) {
    const char* transport = env == &kSpdy ? "SPDY" : "WebSocket";
    Proc p = Kubectl({"exec", "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7"}, "", 60, *env);
    EXPECT_EQ(p.code, 7) << transport << ": " << p.err;
    EXPECT_EQ(p.out, "out\n") << transport;
    EXPECT_NE(p.err.find("err\n"), std::string::npos) << transport << ": " << p.err;
    // stdin reaches the process and its end ends it.
    std::string in(200000, 'x');
    for (size_t i = 0; i < in.size(); i += 1000) in[i] = '\n';
    p = Kubectl({"exec", "-i", "exec", "--", "wc", "-c"}, in, 60, *env);
    EXPECT_EQ(p.code, 0) << transport << ": " << p.err;
    EXPECT_EQ(p.out.substr(std::min(p.out.size(), p.out.find_first_not_of(' '))), "200000\n") << transport;
    // A tty: kubectl needs a terminal of its own for -t (script gives it
    // one); the process then sees a terminal too.
    std::string cmd = TheCluster().kubectl + " exec -i -t exec -- sh -c 'test -t 0 && echo is-a-tty'";
    p = RunCmd({"/usr/bin/script", "-qec", cmd, "/dev/null"}, "", 60, *env);
    EXPECT_EQ(p.code, 0) << transport << ": " << p.out << p.err;
    EXPECT_NE(p.out.find("is-a-tty"), std::string::npos) << transport << ": " << p.out;
  }
}

TEST_F(NodeStreaming, AttachOverWebSocketAndSpdy) {
  for (const auto* env : {&kWebSocket, &kSpdy}) {
    std::string name = env == &kSpdy ? "attach-spdy" : "attach-ws";
    Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ")j") + name +
          R"j("}, "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": ")j" + kBusybox +
          R"j(", "stdin": true, "stdinOnce": true,
              "command": ["sh", "-c", "read line; echo got $line; echo bye >&2"]}]}})j");
    ASSERT_TRUE(Wait("pod/" + name, "jsonpath={.status.phase}=Running"));
    Proc p = Kubectl({"attach", "-i", name, "-c", "c"}, "hello\n", 60, *env);
    EXPECT_EQ(p.code, 0) << name << ": " << p.err;
    EXPECT_NE(p.out.find("got hello\n"), std::string::npos) << name << ": " << p.out << p.err;
    ASSERT_TRUE(Wait("pod/" + name, "jsonpath={.status.phase}=Succeeded"));
    std::string logs = Kubectl({"logs", name}).out;
    EXPECT_NE(logs.find("got hello\n"), std::string::npos) << logs;
    EXPECT_NE(logs.find("bye\n"), std::string::npos) << logs;
  }
}

TEST_F(NodeStreaming, PortForwardOverWebSocketAndSpdy) {
  // The web image's own command serves /var/www on :80.
  Apply(std::string(R"j({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pf-web"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": ")j") +
        kWeb + R"j(", "imagePullPolicy": "IfNotPresent",
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1}}]}})j");
  ASSERT_TRUE(Wait("pod/pf-web", "condition=Ready"));
  int port = 18080;
  for (const auto* env : {&kWebSocket, &kSpdy}) {
    const char* transport = env == &kSpdy ? "SPDY" : "WebSocket";
    std::string local = std::to_string(port++);
    Background pf({TheCluster().kubectl, "port-forward", "pod/pf-web", local + ":80"}, *env);
    ASSERT_TRUE(pf.WaitFor("Forwarding from 127.0.0.1:" + local, 60)) << transport << ": " << pf.Output();
    // Two requests: each is a new stream over the one connection.
    for (int i = 0; i < 2; i++) {
      Proc get = RunCmd({"/usr/bin/nsenter", "--net=/run/netns/" + TheCluster().netns, "curl", "-sS", "--max-time",
                      "30", "http://127.0.0.1:" + local + "/index.html"},
                     "", 60);
      EXPECT_EQ(get.code, 0) << transport << ": " << get.err << "\n" << pf.Output();
      EXPECT_EQ(get.out, "kcr test web server\n") << transport;
    }
  }
}

TEST_F(NodeStreaming, CopyBothWays) {
  SleeperPod("cp");
  ASSERT_TRUE(Wait("pod/cp", "condition=Ready"));
  std::string src = TheCluster().dir + "/cp-in.bin", back = TheCluster().dir + "/cp-back.bin";
  std::string data(300000, '\0');
  std::mt19937 rng(7);
  for (auto& ch : data) ch = static_cast<char>(rng());
  std::ofstream(src, std::ios::binary) << data;
  for (const auto* env : {&kWebSocket, &kSpdy}) {
    const char* transport = env == &kSpdy ? "SPDY" : "WebSocket";
    // Into the container, then back out again; the bytes survive both ways.
    Proc in = Kubectl({"cp", src, "default/cp:/tmp/in.bin", "-c", "c"}, "", 60, *env);
    ASSERT_EQ(in.code, 0) << transport << ": " << in.out << in.err;
    EXPECT_EQ(Exec("cp", "c", {"stat", "-c", "%s", "/tmp/in.bin"}).out, "300000\n") << transport;
    unlink(back.c_str());
    Proc out = Kubectl({"cp", "default/cp:/tmp/in.bin", back, "-c", "c"}, "", 60, *env);
    ASSERT_EQ(out.code, 0) << transport << ": " << out.out << out.err;
    std::ifstream f(back, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(got == data) << transport << ": " << got.size() << " bytes back";
  }
}

}  // namespace
}  // namespace kcr::node
