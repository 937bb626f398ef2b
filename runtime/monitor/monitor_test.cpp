// A real kcr-monitor process holding a pod: containers sharing its
// namespaces, CRI logs, exec, stop with timeout, durable exit records,
// surviving its client, shutting down without leftovers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.h"
#include "runtime/cni/netns.h"
#include "runtime/linux/testing_rootfs.h"
#include "runtime/monitor/client.h"

namespace kcr::monitor {
namespace {

using nlohmann::json;

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kcr::fs::MakeTempDir("kcr-monitor-test");
    rootfs_ = runtime::testing::MakeBusyboxRootfs();
    ASSERT_FALSE(rootfs_.empty());
    opts_.pod_id = "pod" + std::to_string(getpid());
    opts_.socket = dir_ + "/monitor.sock";
    opts_.containers_dir = dir_ + "/containers";
    opts_.netns = dir_ + "/netns";
    opts_.hostname = "podhost";
    ASSERT_TRUE(runtime::PinNewNetns(opts_.netns).ok());
    ASSERT_TRUE(MonitorClient::Spawn(KCR_MONITOR_BIN, opts_).ok());
    auto c = MonitorClient::Connect(opts_.socket);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    cgroup_ = "kcr-test/" + opts_.pod_id;
  }
  void TearDown() override {
    if (client_) client_->Call({{"op", "shutdown"}}).IgnoreError();
    pid_t mon = hello_pid();
    for (int i = 0; i < 100 && mon > 0 && Alive(mon); i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(Alive(mon)) << "monitor still running";
    // Container cgroups are the monitor's to remove; the pod's (created here
    // by MkdirAll, by kcrd in production) is the test's.
    for (const char* c : {"c1", "c2"}) {
      struct stat st;
      EXPECT_NE(stat(runtime::testing::MemoryCgroupDir(cgroup_ + "/" + c).c_str(), &st), 0) << "cgroup of " << c << " left";
    }
    for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "hugetlb", ""}) {
      rmdir((std::string("/sys/fs/cgroup/") + c + "/" + cgroup_).c_str());  // "": the v2 hierarchy
      rmdir((std::string("/sys/fs/cgroup/") + c + "/kcr-test").c_str());
    }
    runtime::UnpinNetns(opts_.netns).IgnoreError();
    fs::RemoveAll(rootfs_).IgnoreError();
    fs::RemoveAll(dir_).IgnoreError();
  }
  // Running, not a zombie waiting for init to reap it.
  static bool Alive(pid_t p) {
    auto st = fs::ReadFile("/proc/" + std::to_string(p) + "/stat");
    if (!st.ok()) return false;
    auto close = st->rfind(')');
    return close != std::string::npos && close + 2 < st->size() && (*st)[close + 2] != 'Z';
  }
  pid_t hello_pid() { return client_ ? client_->hello().value("pid", -1) : -1; }

  json CreateReq(const std::string& id, std::vector<std::string> args) {
    auto spec = runtime::testing::BusyboxSpec(rootfs_, std::move(args));
    spec.linux.namespaces = {{"pid", ""}, {"mount", ""}, {"ipc", "pod"}, {"uts", "pod"}, {"network", "pod"}};
    spec.linux.cgroups_path = cgroup_ + "/" + id;
    return {{"op", "create"}, {"container", id}, {"spec", json::parse(runtime::oci::SerializeSpec(spec))},
            {"log_path", dir_ + "/" + id + ".log"}};
  }
  void Run(const std::string& id, std::vector<std::string> args) {
    auto r = client_->Call(CreateReq(id, std::move(args)));
    ASSERT_TRUE(r.ok()) << r.status();
    r = client_->Call({{"op", "start"}, {"container", id}});
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::string WaitLog(const std::string& id, const std::string& needle) {
    std::string log;
    for (int i = 0; i < 200; i++) {
      log = fs::ReadFile(dir_ + "/" + id + ".log").value_or("");
      if (log.find(needle) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return log;
  }

  std::string dir_, rootfs_, cgroup_;
  MonitorOptions opts_;
  std::unique_ptr<MonitorClient> client_;
};

TEST_F(MonitorTest, ContainersShareThePodAndLogInCriFormat) {
  Run("c1", {"sh", "-c", "echo out; echo err >&2; hostname; exec sleep 100"});
  std::string log = WaitLog("c1", "podhost");
  EXPECT_NE(log.find(" stdout F out\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" stderr F err\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" stdout F podhost\n"), std::string::npos) << log;
  Run("c2", {"sleep", "100"});
  auto st = client_->Call({{"op", "state"}});
  ASSERT_TRUE(st.ok());
  ASSERT_EQ((*st)["containers"].size(), 2u);
  pid_t p1 = (*st)["containers"][0]["pid"], p2 = (*st)["containers"][1]["pid"];
  auto ns = [](pid_t p, const char* n) {
    char buf[64] = {};
    readlink(("/proc/" + std::to_string(p) + "/ns/" + n).c_str(), buf, sizeof buf - 1);
    return std::string(buf);
  };
  for (const char* n : {"net", "ipc", "uts"}) EXPECT_EQ(ns(p1, n), ns(p2, n)) << n;
  EXPECT_NE(ns(p1, "pid"), ns(p2, "pid"));  // kubelet's default: a PID namespace per container
  EXPECT_NE(ns(p1, "net"), ns(getpid(), "net"));
}

TEST_F(MonitorTest, ExecSyncRunsInsideTheContainer) {
  Run("c1", {"sleep", "100"});
  auto r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"sh", "-c", "hostname; echo $$; exit 7"}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["exit_code"], 7);
  EXPECT_EQ((*r)["stdout"].get<std::string>().substr(0, 8), "podhost\n");
  EXPECT_FALSE((*r)["timed_out"].get<bool>());
  auto t0 = std::chrono::steady_clock::now();
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"sleep", "30"}}, {"timeout_ms", 300}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)["timed_out"].get<bool>());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"no-such-command"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["exit_code"], 127);
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"sh", "-c", "head -c 100000 /dev/zero"}},
                     {"max_output", 1000}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["stdout"].get<std::string>().size(), 1000u);  // capped
}

// Everything readable from `fd` until EOF (or EIO: a pty's hang-up).
std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

bool WriteStr(int fd, const std::string& s) { return ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }

TEST_F(MonitorTest, InteractiveExecHandsOverItsStdio) {
  Run("c1", {"sleep", "30"});
  auto conn = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::vector<UniqueFd> fds;
  auto r = (*conn)->Call({{"op", "exec"}, {"container", "c1"}, {"stdin", true},
                          {"args", {"sh", "-c", "read x; echo got:$x; hostname; echo oops >&2; exit 5"}}},
                         &fds);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["fds"], json({"stdin", "stdout", "stderr"}));
  ASSERT_EQ(fds.size(), 3u);
  ASSERT_TRUE(WriteStr(fds[0].get(), "hello\n"));
  fds[0].reset();
  EXPECT_EQ(Drain(fds[1].get()), "got:hello\npodhost\n");  // the pod's UTS namespace
  EXPECT_EQ(Drain(fds[2].get()), "oops\n");
  auto ev = (*conn)->NextEvent();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ((*ev)["event"], "exec_exited");
  EXPECT_EQ((*ev)["exec"], (*r)["exec"]);
  EXPECT_EQ((*ev)["exit_code"], 5);
}

TEST_F(MonitorTest, InteractiveExecWithATerminal) {
  Run("c1", {"sleep", "30"});
  auto conn = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::vector<UniqueFd> fds;
  auto r = (*conn)->Call({{"op", "exec"}, {"container", "c1"}, {"tty", true},
                          {"args", {"sh", "-c", "read x; stty size; tty; test -t 0 && echo is-a-tty"}}},
                         &fds);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(fds.size(), 1u);
  // The client resizes through the master it holds, then types a line.
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 100;
  ASSERT_EQ(::ioctl(fds[0].get(), TIOCSWINSZ, &ws), 0);
  ASSERT_TRUE(WriteStr(fds[0].get(), "go\n"));
  std::string out = Drain(fds[0].get());
  EXPECT_NE(out.find("40 100"), std::string::npos) << out;
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("is-a-tty"), std::string::npos) << out;
  auto ev = (*conn)->NextEvent();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ((*ev)["exit_code"], 0);
  // Bad requests name the problem.
  r = (*conn)->Call({{"op", "exec"}, {"container", "nope"}, {"args", {"true"}}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
}

TEST_F(MonitorTest, AttachSharesTheContainersStreams) {
  // stdin_once: the session's end is the container's end of input.
  auto req = CreateReq("c1", {"sh", "-c", "while read l; do echo out:$l; echo err:$l >&2; done; echo bye"});
  req["stdin"] = true;
  req["stdin_once"] = true;
  ASSERT_TRUE(client_->Call(req).ok());
  ASSERT_TRUE(client_->Call({{"op", "start"}, {"container", "c1"}}).ok());
  std::vector<UniqueFd> fds;
  auto r = client_->Call({{"op", "attach"}, {"container", "c1"}}, &fds);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["fds"], json({"stdin", "stdout", "stderr"}));
  ASSERT_EQ(fds.size(), 3u);
  ASSERT_TRUE(WriteStr(fds[0].get(), "ping\n"));
  fds[0].reset();  // EOF: the loop ends
  EXPECT_EQ(Drain(fds[1].get()), "out:ping\nbye\n");
  EXPECT_EQ(Drain(fds[2].get()), "err:ping\n");
  std::string log = WaitLog("c1", "bye");
  EXPECT_NE(log.find(" stdout F out:ping"), std::string::npos) << log;
  EXPECT_NE(log.find(" stderr F err:ping"), std::string::npos) << log;
  // Attaching to a container that is gone says so.
  r = client_->Call({{"op", "attach"}, {"container", "c1"}});
  EXPECT_FALSE(r.ok());
}

TEST_F(MonitorTest, AttachToATerminalContainer) {
  auto req = CreateReq("c1", {"sh", "-c", "read x; echo said:$x"});
  req["spec"]["process"]["terminal"] = true;
  ASSERT_TRUE(client_->Call(req).ok());
  ASSERT_TRUE(client_->Call({{"op", "start"}, {"container", "c1"}}).ok());
  std::vector<UniqueFd> fds;
  auto r = client_->Call({{"op", "attach"}, {"container", "c1"}}, &fds);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["fds"], json({"tty", "stdout"}));
  ASSERT_EQ(fds.size(), 2u);
  ASSERT_TRUE(WriteStr(fds[0].get(), "hi\n"));
  std::string out = Drain(fds[1].get());
  EXPECT_NE(out.find("said:hi"), std::string::npos) << out;
  EXPECT_NE(WaitLog("c1", "said:hi").find("said:hi"), std::string::npos);
}

TEST_F(MonitorTest, StopEscalatesAndExitIsRecordedBeforeItIsReported) {
  auto events = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE((*events)->Subscribe().ok());
  // PID 1 of its namespace ignores SIGTERM without a handler: stop must kill.
  Run("c1", {"sleep", "100"});
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(client_->Call({{"op", "stop"}, {"container", "c1"}, {"signal", SIGTERM}, {"timeout_s", 1}}).ok());
  auto ev = (*events)->NextEvent();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ((*ev)["container"], "c1");
  EXPECT_EQ((*ev)["exit_code"], 137);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  auto rec = fs::ReadFile(opts_.containers_dir + "/c1/exit.json");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(json::parse(*rec)["exit_code"], 137);
  // Stopping a stopped container succeeds; removing it frees its cgroup.
  EXPECT_TRUE(client_->Call({{"op", "stop"}, {"container", "c1"}, {"timeout_s", 1}}).ok());
  EXPECT_TRUE(client_->Call({{"op", "remove"}, {"container", "c1"}}).ok());
  struct stat st;
  EXPECT_NE(stat(runtime::testing::MemoryCgroupDir(cgroup_ + "/c1").c_str(), &st), 0);
}

// Containers must not inherit the monitor's blocked signals (signalfd).
TEST_F(MonitorTest, ContainersGetSignalsDelivered) {
  auto events = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE((*events)->Subscribe().ok());
  Run("c1", {"sh", "-c", "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done"});
  WaitLog("c1", "ready");
  ASSERT_TRUE(client_->Call({{"op", "stop"}, {"container", "c1"}, {"signal", SIGTERM}, {"timeout_s", 10}}).ok());
  auto ev = (*events)->NextEvent();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ((*ev)["exit_code"], 42);
}

TEST_F(MonitorTest, SurvivesItsClientAndRefusesBadSpecs) {
  Run("c1", {"sleep", "100"});
  client_.reset();  // kcrd goes away
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto c = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(c.ok()) << c.status();
  client_ = std::move(*c);
  auto st = client_->Call({{"op", "state"}, {"container", "c1"}});
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["containers"][0]["status"], "running");
  json bad = CreateReq("c2", {"true"});
  bad["spec"]["mounts"].push_back({{"destination", "relative"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
  auto r = client_->Call(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mounts[].destination"), absl::string_view::npos) << r.status();
  r = client_->Call(CreateReq("c1", {"true"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists);
  r = client_->Call({{"op", "start"}, {"container", "nope"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kcr::monitor
