// How kcrd starts a monitor: from a sealed copy of its binary, with stdio
// and no other descriptor of the launcher's, even one it holds without
// close-on-exec.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.h"
#include "runtime/monitor/client.h"
#include "runtime/monitor/sealed_binary.h"

namespace kcr::monitor {
namespace {

std::string Link(const std::string& path) {
  char buf[512] = {};
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(MonitorSpawn, FromASealedCopyWithStdioOnly) {
  std::string dir = fs::MakeTempDir("kcr-spawn-test");
  MonitorOptions o;
  o.pod_id = "spawn" + std::to_string(getpid());
  o.socket = dir + "/monitor.sock";
  o.containers_dir = dir + "/containers";
  // A descriptor the launcher holds without close-on-exec.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  UniqueFd held_r(p[0]), held_w(p[1]);
  std::string held = Link("/proc/self/fd/" + std::to_string(p[0]));
  auto copy = SealedCopy(KCR_MONITOR_BIN, "kcr-monitor");
  ASSERT_TRUE(copy.ok()) << copy.status();
  std::string mem = Link("/proc/self/fd/" + std::to_string(copy->get()));
  ASSERT_TRUE(MonitorClient::Spawn("/proc/self/fd/" + std::to_string(copy->get()), o).ok());
  auto c = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(c.ok()) << c.status();
  pid_t pid = (*c)->hello().value("pid", -1);
  ASSERT_GT(pid, 0);
  std::string proc = "/proc/" + std::to_string(pid);
  EXPECT_TRUE(Link(proc + "/exe").starts_with("/memfd:kcr-monitor")) << Link(proc + "/exe");
  EXPECT_EQ(fs::ReadFile(proc + "/cmdline").value_or("").substr(0, 12), std::string("kcr-monitor\0", 12));
  std::string fds;
  if (DIR* d = ::opendir((proc + "/fd").c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') fds += std::string(e->d_name) + " -> " + Link(proc + "/fd/" + e->d_name) + "\n";
    ::closedir(d);
  }
  EXPECT_EQ(fds.find(held + "\n"), std::string::npos) << "the launcher's pipe reached the monitor:\n" << fds;
  EXPECT_EQ(fds.find(mem + "\n"), std::string::npos) << "the sealed copy's descriptor reached the monitor:\n" << fds;
  EXPECT_NE(fds.find("0 -> /dev/null"), std::string::npos) << fds;
  (*c)->Call({{"op", "shutdown"}}).IgnoreError();
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  fs::RemoveAll(dir).IgnoreError();
}

}  // namespace
}  // namespace kcr::monitor
