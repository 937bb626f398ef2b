// Attach through kcrd's streaming server: stdin and stdin_once, and several
// attachers at once.

#include "test/e2e/streaming_helpers.h"

namespace kcr::e2e {
namespace {

TEST_F(StreamingTest, AttachSeesOutputAndSendsStdin) {
  for (std::string transport : {"websocket", "spdy"}) {
    SCOPED_TRACE(transport);
    auto cfg = CtrConfig("echoer-" + transport, "busybox",
                         {"sh", "-c", "echo attached-ready; while read l; do echo got:$l; done; echo bye"});
    cfg.set_stdin(true);
    cfg.set_stdin_once(true);
    auto ctr = RunCtr(pod_, pc_, cfg);
    ASSERT_TRUE(ctr.ok()) << ctr.status();
    Child c = Spawn(CrictlArgv({"attach", "-i", "--transport", transport, *ctr}));
    c.Write("line-one\n");
    ASSERT_TRUE(c.ReadUntil("got:line-one")) << c.output;
    // stdin_once: the client's EOF is the container's; it says bye and ends.
    EXPECT_EQ(c.Wait(), 0) << c.output;
    EXPECT_NE(c.output.find("bye"), std::string::npos) << c.output;
  }
}

// Several clients attached to one container at once each get all of its
// output from the moment they attached.
TEST_F(StreamingTest, SeveralAttachersAllSeeTheOutput) {
  auto ctr = RunCtr(pod_, pc_, CtrConfig("ticker", "busybox",
                                         {"sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  std::vector<Child> attached;
  for (std::string transport : {"websocket", "spdy", "websocket"})
    attached.push_back(Spawn(CrictlArgv({"attach", "--transport", transport, *ctr})));
  for (auto& c : attached) ASSERT_TRUE(c.ReadUntil("tick-")) << c.output;
  // A tick after all of them attached: every one sees it.
  const std::string& o = attached[0].output;
  size_t last = o.rfind("tick-");
  int n = std::stoi(o.substr(last + 5));
  std::string later = "tick-" + std::to_string(n + 3) + "\n";
  for (auto& c : attached) EXPECT_TRUE(c.ReadUntil(later)) << c.output;
  for (auto& c : attached) {
    kill(c.pid, SIGKILL);  // crictl attach outlives SIGTERM
    c.Wait();
  }
}

}  // namespace
}  // namespace kcr::e2e
