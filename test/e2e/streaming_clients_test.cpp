// kubectl's streaming clients against a real kcrd: kcr-streamclient
// (test/e2e/streamclient, built by hack/go-tools.sh) runs client-go's
// remotecommand and portforward code, exactly as kubectl and kubelet's
// proxy use it, on the URLs kcrd's Exec, Attach and PortForward return:
// SPDY, WebSocket v5 and v4, kubectl's fallback executor and dialer, the
// SPDY-over-WebSocket port-forward tunnel, kubelet's WebSocket
// port-forward. hack/streaming-peer.sh runs the same checks on containerd,
// which needs -lenient-initial-size and -ws-max-message there; kcr must
// pass them strictly.
#include <unistd.h>

#include <string>
#include <vector>

#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

namespace v1 = ::runtime::v1;

class StreamingClientsTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    ASSERT_EQ(::access(KCR_STREAMCLIENT_BIN, X_OK), 0)
        << KCR_STREAMCLIENT_BIN << " is missing: run hack/go-tools.sh (hack/install-deps.sh does)";
    Start();
    ASSERT_TRUE(Pull("busybox").ok());
  }

  // `kcr-streamclient server-cmd KIND`: the command its target containers run.
  static std::string ServerCmd(const std::string& kind) {
    CmdResult r = e2e::Run({KCR_STREAMCLIENT_BIN, "server-cmd", kind});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  // A pod with the server container and an attach container (created with
  // stdin, and a tty when `attach_tty`); waits until the servers listen.
  void MakePod(bool attach_tty = false) {
    pod_config_ = PodConfig(attach_tty ? "stream-tty" : "stream");
    auto pod = RunPod(pod_config_);
    ASSERT_TRUE(pod.ok()) << pod.status();
    pod_ = *pod;
    auto ctr = RunCtr(pod_, pod_config_, CtrConfig("srv", "busybox", {"sh", "-c", ServerCmd("exec")}));
    ASSERT_TRUE(ctr.ok()) << ctr.status();
    ctr_ = *ctr;
    v1::ContainerConfig att = CtrConfig("att", "busybox", {"sh", "-c", ServerCmd("attach")});
    att.set_stdin(true);
    att.set_tty(attach_tty);
    attach_tty_ = attach_tty;
    auto actr = RunCtr(pod_, pod_config_, att);
    ASSERT_TRUE(actr.ok()) << actr.status();
    attach_ctr_ = *actr;
    // The servers start after the container does: ask until all three
    // ports listen (each answer is an event; bounded at 10 s).
    for (int i = 0; i < 100; ++i) {
      v1::ExecSyncResponse r = Exec(ctr_, {"netstat", "-ltn"});
      int listening = 0;
      for (const char* port : {":8080 ", ":9000 ", ":9001 "})
        if (r.stdout().find(port) != std::string::npos) ++listening;
      if (listening == 3) return;
      ::usleep(100 * 1000);
    }
    FAIL() << "the servers in container " << ctr_ << " did not start";
  }

  // Runs the checks whose names start with one of `prefixes` (comma-separated);
  // every check must pass.
  void Checks(const std::string& prefixes) {
    std::vector<std::string> argv = {KCR_STREAMCLIENT_BIN, "check", "-r", "unix://" + sock_, "-pod", pod_,
                                     "-container", ctr_, "-attach-container", attach_ctr_, "-checks", prefixes};
    if (attach_tty_) argv.push_back("-attach-tty");
    CmdResult r = e2e::Run(argv);
    EXPECT_TRUE(r.exit_code == 0 && r.out.find("PASS ") != std::string::npos &&
                r.out.find("FAIL ") == std::string::npos)
        << "exit " << r.exit_code << "\n" << r.out;
  }

  // No exec'd process outlives its session: the container runs its servers
  // and nothing the checks started.
  void NoExecLeft() {
    v1::ExecSyncResponse r = Exec(ctr_, {"ps", "-o", "args"});
    // (Markers of the checks' commands; the servers' own have none.)
    for (const char* leftover : {"stty", "cat; echo eof", "read -r l"})
      EXPECT_EQ(r.stdout().find(leftover), std::string::npos) << "left running: " << r.stdout();
  }

  v1::PodSandboxConfig pod_config_;
  std::string pod_, ctr_, attach_ctr_;
  bool attach_tty_ = false;
};

// Separate stdout and stderr, stdin EOF, exit codes as exec.CodeExitError,
// a tty whose first size is the client's from the start and follows a
// resize, over each transport kubectl uses.
TEST_F(StreamingClientsTest, ExecSpdy) {
  ASSERT_NO_FATAL_FAILURE(MakePod());
  Checks("exec-spdy-");
  NoExecLeft();
}

TEST_F(StreamingClientsTest, ExecWebSocketV5) {
  ASSERT_NO_FATAL_FAILURE(MakePod());
  Checks("exec-ws-stdio,exec-ws-exit0,exec-ws-tty,exec-ws-stdin-eof");
  NoExecLeft();
}

TEST_F(StreamingClientsTest, ExecWebSocketV4) {
  ASSERT_NO_FATAL_FAILURE(MakePod());
  Checks("exec-ws-v4-");
  NoExecLeft();
}

// What `kubectl exec` builds: WebSocket, SPDY if the upgrade is refused.
TEST_F(StreamingClientsTest, ExecKubectlFallback) {
  ASSERT_NO_FATAL_FAILURE(MakePod());
  Checks("exec-fallback-");
  NoExecLeft();
}

// Attach over each transport, detach by leaving, and two attachers at once.
TEST_F(StreamingClientsTest, Attach) {
  ASSERT_NO_FATAL_FAILURE(MakePod());
  Checks("attach-");
}

TEST_F(StreamingClientsTest, AttachTty) {
  ASSERT_NO_FATAL_FAILURE(MakePod(/*attach_tty=*/true));
  Checks("attach-spdy,attach-ws,attach-fallback");
}

// Two ports, concurrent HTTP and echo connections: SPDY, the WebSocket
// tunnel kubectl 1.31+ dials, kubectl's fallback, kubelet's WebSocket
// protocol.
TEST_F(StreamingClientsTest, PortForward) {
  ASSERT_NO_FATAL_FAILURE(MakePod());
  Checks("portforward-");
}

}  // namespace
}  // namespace kcr::e2e
