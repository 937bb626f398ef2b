// A real kcr-monitor process holding a pod: containers sharing its
// namespaces, CRI logs, exec, stop with timeout, durable exit records,
// surviving its client, shutting down without leftovers.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "common/fs.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/cni/netns.h"
#include "runtime/linux/testing_rootfs.h"
#include "common/unix_socket.h"
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

  // Waits for the monitor's own word that `id` exited (its exit event, or
  // its state when that was already so).
  Status WaitExited(const std::string& id) {
    auto events = MonitorClient::Connect(opts_.socket);
    if (!events.ok()) return events.status();
    KCR_RETURN_IF_ERROR((*events)->Subscribe());
    auto st = client_->Call({{"op", "state"}, {"container", id}});
    if (!st.ok()) return st.status();
    if ((*st)["containers"][0]["status"] == "exited") return absl::OkStatus();
    for (;;) {
      auto ev = (*events)->NextEvent();
      if (!ev.ok()) return ev.status();
      if ((*ev)["container"] == id) return absl::OkStatus();
    }
  }
  static MonitorClient::CallOptions Within(int seconds) {
    MonitorClient::CallOptions o;
    o.timeout = std::chrono::seconds(seconds);
    return o;
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

// The client's terminal size reaches the pty before the command starts
// (the streaming server sends the first resize it gets within its grace
// period as rows/cols).
TEST_F(MonitorTest, InteractiveExecStartsWithTheRequestedTerminalSize) {
  Run("c1", {"sleep", "30"});
  auto conn = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::vector<UniqueFd> fds;
  auto r = (*conn)->Call({{"op", "exec"}, {"container", "c1"}, {"tty", true}, {"rows", 33}, {"cols", 111},
                          {"args", {"stty", "size"}}},
                         &fds);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_NE(Drain(fds[0].get()).find("33 111"), std::string::npos);
}

// A client that goes away (kcrd closes the exec's connection) leaves no
// process behind: neither the command nor what it started in another
// session.
TEST_F(MonitorTest, InteractiveExecIsKilledWhenItsConnectionCloses) {
  Run("c1", {"sleep", "30"});
  auto conn = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::vector<UniqueFd> fds;
  auto r = (*conn)->Call({{"op", "exec"}, {"container", "c1"}, {"tty", true},
                          {"args", {"sh", "-c", "setsid sleep 4711 & echo started; sleep 4712"}}},
                         &fds);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string seen;
  char buf[256];
  while (seen.find("started") == std::string::npos) {
    ssize_t n = ::read(fds[0].get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    seen.append(buf, static_cast<size_t>(n));
  }
  auto sleepers = [] {
    int found = 0;
    DIR* d = ::opendir("/proc");
    while (dirent* e = d ? ::readdir(d) : nullptr) {
      auto cmd = kcr::fs::ReadFile(std::string("/proc/") + e->d_name + "/cmdline");
      if (cmd.ok() && cmd->rfind("sleep", 0) == 0 &&
          (cmd->find("4711") != std::string::npos || cmd->find("4712") != std::string::npos))
        found++;
    }
    if (d) ::closedir(d);
    return found;
  };
  // "started" comes before the shell's own sleep (and maybe the setsid'd
  // one) has exec'd: wait for both (bounded).
  for (int i = 0; i < 250 && sleepers() < 2; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(sleepers(), 2);
  pid_t exec = (*r)["exec"];
  (*conn)->Close();
  conn->reset();
  // Its first child is reaped by the monitor once killed: wait for that
  // (bounded), then nothing of it may remain.
  for (int i = 0; i < 500 && ::kill(exec, 0) == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(::kill(exec, 0), 0) << "exec " << exec << " still runs";
  for (int i = 0; i < 100 && sleepers() > 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sleepers(), 0);
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
  // Attaching to a container that is gone says so (once its exit is known:
  // "bye" in the log comes before the exit is reaped).
  ASSERT_TRUE(WaitExited("c1").ok());
  r = client_->Call({{"op", "attach"}, {"container", "c1"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
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

// A container whose init stalls in its set-up must not stall its pod's
// monitor: the create answers when the init is ready, fails or runs out
// of time, and every other call is served meanwhile. The stall here is
// real: the init opens a namespace path that is a FIFO nobody writes (an
// image's files could make it block the same way, a slow disk too).
TEST_F(MonitorTest, ACreateWhoseInitStallsHoldsUpNoOtherCall) {
  Run("c1", {"sleep", "100"});
  auto children = [&] {
    std::string c = fs::ReadFile("/proc/" + std::to_string(hello_pid()) + "/task/" + std::to_string(hello_pid()) +
                                 "/children").value_or("");
    return std::count(c.begin(), c.end(), ' ');
  };
  long before = children();
  std::string fifo = dir_ + "/stall";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  json req = CreateReq("c2", {"true"});
  for (auto& n : req["spec"]["linux"]["namespaces"])
    if (n["type"] == "network") n["path"] = fifo;
  StatusOr<json> created = absl::UnknownError("no answer");
  std::atomic<bool> answered{false};
  std::thread create([&] {
    created = client_->Call(req, Within(90));
    answered = true;
  });
  // Meanwhile (checked, then the init is released, whatever the outcome).
  [&] {
    // The monitor has taken the create once the init is its child.
    for (int i = 0; i < 500 && children() == before; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GT(children(), before) << "no init was spawned";
    auto other = MonitorClient::Connect(opts_.socket, std::chrono::seconds(30));
    ASSERT_TRUE(other.ok()) << other.status();
    auto st = (*other)->Call({{"op", "state"}, {"container", "c1"}}, Within(30));
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ((*st)["containers"][0]["status"], "running");
    auto ex = (*other)->Call(
        {{"op", "exec_sync"}, {"container", "c1"}, {"args", {"echo", "served"}}, {"timeout_ms", 10000}}, Within(30));
    ASSERT_TRUE(ex.ok()) << ex.status();
    EXPECT_EQ((*ex)["stdout"], "served\n");
    EXPECT_FALSE(answered.load());  // still setting up
  }();
  // A writer releases the init's open once it waits there; setns on a FIFO fails.
  int w = -1;
  for (int i = 0; i < 500 && w < 0; i++) {
    w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(w, 0) << "the init never opened the FIFO";
  create.join();
  if (w >= 0) ::close(w);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("join network namespace"), absl::string_view::npos) << created.status();
  // The failed create left nothing: c2 is unknown.
  auto st = client_->Call({{"op", "state"}, {"container", "c2"}});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE((*st)["containers"].empty());
  EXPECT_EQ(children(), before);
}

// A command that leaves a process holding its output open (or that never
// ends) must not hold up its answer, nor any other call on the monitor.
TEST_F(MonitorTest, ExecSyncAnswersThoughAnEscapedChildKeepsItsOutputOpen) {
  Run("c1", {"sleep", "100"});
  auto r = client_->Call({{"op", "exec_sync"}, {"container", "c1"},
                          {"args", {"sh", "-c", "setsid sleep 601 & echo x"}}, {"timeout_ms", 5000}, {"drain_ms", 200}},
                         Within(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["stdout"], "x\n");
  EXPECT_EQ((*r)["exit_code"], 0);
  EXPECT_FALSE((*r)["timed_out"].get<bool>());
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"},
                     {"args", {"sh", "-c", "setsid sleep 602 & exec sleep 603"}}, {"timeout_ms", 300}},
                    Within(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)["timed_out"].get<bool>());
  // The timeout killed everything the command started, in whatever
  // session; a command that ended by itself keeps what it left running
  // (as with containerd and runc).
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"},
                     {"args", {"sh", "-c", "ps -o args | grep '^[s]leep 60'"}}}, Within(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["stdout"], "sleep 601\n");
  auto st = client_->Call({{"op", "state"}, {"container", "c1"}}, Within(5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)["containers"][0]["status"], "running");
}

// Output of any size and any bytes comes back exactly (in chunks: more
// than a frame holds), or capped and said to be.
TEST_F(MonitorTest, ExecSyncReturnsAnyOutputExactly) {
  Run("c1", {"sleep", "100"});
  const size_t kBig = 20 << 20;
  auto r = client_->Call({{"op", "exec_sync"}, {"container", "c1"},
                          {"args", {"sh", "-c", "head -c 20971520 /dev/zero | tr '\\000' '\\377'; printf 'e\\377' >&2"}},
                          {"max_output", 32 << 20}},
                         Within(60));
  ASSERT_TRUE(r.ok()) << r.status();
  std::string out = (*r)["stdout"];
  EXPECT_EQ(out.size(), kBig);
  EXPECT_EQ(out.find_first_not_of('\xff'), std::string::npos);
  EXPECT_EQ((*r)["stderr"].get<std::string>(), "e\xff");
  EXPECT_FALSE((*r)["stdout_truncated"].get<bool>());
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"head", "-c", "100000", "/dev/zero"}},
                     {"max_output", 1000}},
                    Within(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["stdout"].get<std::string>().size(), 1000u);
  EXPECT_TRUE((*r)["stdout_truncated"].get<bool>());
}

// A client that asks for a large answer and never reads it holds up
// nobody else: replies queue per connection.
TEST_F(MonitorTest, AClientThatDoesNotReadHoldsUpNobody) {
  Run("c1", {"sleep", "100"});
  UniqueFd raw(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(ConnectUnix(raw.get(), opts_.socket).ok());
  ASSERT_TRUE(WriteFrame(raw.get(), {{"op", "exec_sync"}, {"id", 1}, {"container", "c1"},
                                     {"args", {"head", "-c", "8388608", "/dev/zero"}}, {"max_output", 16 << 20}})
                  .ok());
  for (int i = 0; i < 3; i++) {
    auto r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"echo", "hi"}}}, Within(10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)["stdout"], "hi\n");
  }
}

// Fields of the wrong type are refused; the monitor (holding every
// container of the pod) lives on.
TEST_F(MonitorTest, MalformedRequestsAreRefusedNotFatal) {
  Run("c1", {"sleep", "100"});
  auto r = client_->Call({{"op", "kill"}, {"container", "c1"}, {"signal", "nine"}}, Within(5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", "not-a-list"}}, Within(5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  auto st = client_->Call({{"op", "state"}, {"container", "c1"}}, Within(5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)["containers"][0]["status"], "running");
}

std::string StatusField(pid_t pid, const std::string& key) {
  auto st = fs::ReadFile("/proc/" + std::to_string(pid) + "/status").value_or("");
  size_t p = st.find("\n" + key + ":");
  if (p == std::string::npos) return "";
  p = st.find_first_not_of(" \t", p + key.size() + 2);
  return st.substr(p, st.find('\n', p) - p);
}

int CountFds(pid_t pid) {
  int n = 0;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') n++;
    closedir(d);
  }
  return n;
}

// Processes whose parent is `pid` (host PIDs).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
      if (p > 0 && std::atoi(StatusField(p, "PPid").c_str()) == pid) out.push_back(p);
    }
    closedir(d);
  }
  return out;
}


// PID 1 of a shared PID namespace: less privileged than a pause container,
// naming nothing of the host, and it reaps what is reparented to it.
TEST_F(MonitorTest, SharedPidReaperIsUnprivilegedAndReapsOrphans) {
  MonitorOptions o = opts_;
  o.pod_id += "-shared";
  o.socket = dir_ + "/shared.sock";
  o.share_pid = true;
  ASSERT_TRUE(MonitorClient::Spawn(KCR_MONITOR_BIN, o).ok());
  auto shared = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(shared.ok()) << shared.status();
  pid_t reaper = (*shared)->hello().value("reaper", -1);
  ASSERT_GT(reaper, 0);
  EXPECT_EQ(StatusField(reaper, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(StatusField(reaper, "Groups"), "");
  for (const char* caps : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
    EXPECT_EQ(StatusField(reaper, caps), "0000000000000000") << caps;
  EXPECT_EQ(StatusField(reaper, "NoNewPrivs"), "1");
  EXPECT_EQ(StatusField(reaper, "Seccomp"), "2");
  std::string cmdline = fs::ReadFile("/proc/" + std::to_string(reaper) + "/cmdline").value_or("?");
  EXPECT_EQ(cmdline.substr(0, cmdline.find('\0')), "kcr-pod-init");
  EXPECT_EQ(cmdline.find_first_not_of('\0', cmdline.find('\0')), std::string::npos) << cmdline;
  EXPECT_EQ(CountFds(reaper), 0);
  // An orphan in the pod's PID namespace is reparented to the reaper.
  auto spec = runtime::testing::BusyboxSpec(rootfs_, {"sh", "-c", "(sleep 0.2 &); echo ready; exec sleep 100"});
  spec.linux.namespaces = {{"pid", "pod"}, {"mount", ""}, {"ipc", "pod"}, {"uts", "pod"}, {"network", "pod"}};
  spec.linux.cgroups_path = cgroup_ + "/c2";
  auto r = (*shared)->Call({{"op", "create"}, {"container", "c2"}, {"spec", json::parse(runtime::oci::SerializeSpec(spec))},
                            {"log_path", dir_ + "/c2.log"}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*shared)->Call({{"op", "start"}, {"container", "c2"}}).ok());
  WaitLog("c2", "ready");
  // Children of the reaper that are zombies: none once the orphan has ended.
  auto zombies = [&] {
    int n = 0, children = 0;
    for (pid_t p : ChildrenOf(reaper)) {
      children++;
      auto st = fs::ReadFile("/proc/" + std::to_string(p) + "/stat").value_or("");
      if (st.find(") Z ") != std::string::npos) n++;
    }
    return std::make_pair(n, children);
  };
  bool reparented = false;
  for (int i = 0; i < 500; i++) {  // the orphan's whole life: reparented, then gone
    auto [z, children] = zombies();
    if (children > 0) reparented = true;
    if (reparented && children == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(reparented);
  EXPECT_EQ(zombies().second, 0) << "the reaper left a zombie";
  pid_t mon = (*shared)->hello().value("pid", -1);
  EXPECT_TRUE((*shared)->Call({{"op", "shutdown"}}).ok());
  for (int i = 0; i < 500 && Alive(mon); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(mon));
}


// An exec'd process gets the container's rlimits and oom_score_adj, as its
// init did (it is forked from the monitor, whose own values differ).
TEST_F(MonitorTest, ExecSyncGetsTheContainersLimitsAndOomScoreAdj) {
  json req = CreateReq("c1", {"sleep", "100"});
  req["spec"]["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 512}, {"hard", 768}},
                                       {{"type", "RLIMIT_CORE"}, {"soft", 4096}, {"hard", 8192}}};
  req["spec"]["process"]["oomScoreAdj"] = 500;
  auto r = client_->Call(req);
  ASSERT_TRUE(r.ok()) << r.status();
  r = client_->Call({{"op", "start"}, {"container", "c1"}});
  ASSERT_TRUE(r.ok()) << r.status();
  std::string init = "/proc/" + std::to_string((*r)["pid"].get<int>());
  std::string init_limits = fs::ReadFile(init + "/limits").value_or("?");
  std::string init_oom = fs::ReadFile(init + "/oom_score_adj").value_or("?");
  ASSERT_EQ(init_oom, "500\n");
  ASSERT_NE(init_limits.find("Max open files            512                  768"), std::string::npos) << init_limits;
  r = client_->Call({{"op", "exec_sync"}, {"container", "c1"},
                     {"args", {"sh", "-c", "cat /proc/self/limits; echo oom=$(cat /proc/self/oom_score_adj)"}}},
                    Within(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["stdout"].get<std::string>(), init_limits + "oom=500\n");
}


// The death of a shared PID namespace's reaper is reported (its containers
// died with it), and nothing can join that namespace afterwards: it was
// held by descriptor, never found again through a PID that may be reused.
TEST_F(MonitorTest, ThePodReapersDeathIsReportedAndItsNamespaceNotReused) {
  MonitorOptions o = opts_;
  o.pod_id += "-reaper";
  o.socket = dir_ + "/reaper.sock";
  o.share_pid = true;
  ASSERT_TRUE(MonitorClient::Spawn(KCR_MONITOR_BIN, o).ok());
  auto shared = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(shared.ok()) << shared.status();
  auto events = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_TRUE((*events)->Subscribe().ok());
  pid_t reaper = (*shared)->hello().value("reaper", -1);
  pid_t mon = (*shared)->hello().value("pid", -1);
  ASSERT_GT(reaper, 0);
  auto create = [&](const std::string& id) {
    auto spec = runtime::testing::BusyboxSpec(rootfs_, {"sleep", "100"});
    spec.linux.namespaces = {{"pid", "pod"}, {"mount", ""}, {"ipc", "pod"}, {"uts", "pod"}, {"network", "pod"}};
    spec.linux.cgroups_path = cgroup_ + "/" + id;
    return (*shared)->Call({{"op", "create"}, {"container", id},
                            {"spec", json::parse(runtime::oci::SerializeSpec(spec))}, {"log_path", dir_ + "/" + id + ".log"}});
  };
  ASSERT_TRUE(create("c2").ok());
  ASSERT_TRUE((*shared)->Call({{"op", "start"}, {"container", "c2"}}).ok());
  ASSERT_EQ(::kill(reaper, SIGKILL), 0);
  // Bounds the wait for an event that may never come (the failure).
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1500 && !done; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!done) (*events)->Close();
  });
  bool c2_exited = false, reaper_exited = false;
  while (!reaper_exited) {
    auto ev = (*events)->NextEvent();
    if (!ev.ok()) break;
    if ((*ev)["event"] == "exited" && (*ev)["container"] == "c2") c2_exited = true;
    if ((*ev)["event"] == "pod_reaper_exited") {
      reaper_exited = true;
      EXPECT_EQ((*ev)["pod"], o.pod_id);
      EXPECT_EQ((*ev)["exit_code"], 128 + SIGKILL);
    }
  }
  done = true;
  watchdog.join();
  EXPECT_TRUE(reaper_exited) << "no pod_reaper_exited event";
  EXPECT_TRUE(c2_exited) << "the container in the reaper's namespace was not reported exited";
  auto again = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->hello().value("reaper", 0), -1);
  auto r = create("c3");
  EXPECT_FALSE(r.ok()) << "a container joined the dead reaper's PID namespace";
  EXPECT_TRUE((*shared)->Call({{"op", "shutdown"}}).ok());
  for (int i = 0; i < 500 && Alive(mon); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(mon));
}


// The exec_sync timeout's kill never waits in the monitor's loop for
// processes to die: a tracking cgroup whose process cannot die yet (frozen
// by a v1 freezer, where SIGKILL waits for the thaw) is killed again from a
// timer and removed once it is empty, after the reply went out.
TEST_F(MonitorTest, ExecTimeoutRemovesItsTrackingCgroupOnceItsProcessesDie) {
  if (runtime::DetectCgroupLayout() == runtime::CgroupLayout::kV2) GTEST_SKIP() << "v2 kills frozen processes";
  struct stat st;
  if (stat("/sys/fs/cgroup/freezer/cgroup.procs", &st) != 0) GTEST_SKIP() << "no v1 freezer";
  Run("c1", {"sleep", "100"});
  std::string freezer = "/sys/fs/cgroup/freezer/kcr-test-freeze-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(freezer.c_str(), 0755), 0);
  struct Rmdir {
    std::string d;
    ~Rmdir() {
      fs::WriteFileAtomic(d + "/freezer.state", "THAWED").IgnoreError();
      for (int i = 0; i < 500 && rmdir(d.c_str()) != 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } cleanup{freezer};
  auto exec_client = MonitorClient::Connect(opts_.socket);
  ASSERT_TRUE(exec_client.ok()) << exec_client.status();
  StatusOr<json> reply = absl::UnknownError("no reply");
  std::thread exec([&] {
    reply = (*exec_client)->Call({{"op", "exec_sync"}, {"container", "c1"}, {"args", {"sleep", "604"}}, {"timeout_ms", 3000}},
                                 Within(30));
  });
  // The command's host PID, frozen before its timeout.
  pid_t sleeper = -1;
  for (int i = 0; i < 2000 && sleeper < 0; i++) {
    if (DIR* d = opendir("/proc")) {
      while (dirent* e = readdir(d)) {
        pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
        if (p > 0 && fs::ReadFile("/proc/" + std::to_string(p) + "/cmdline").value_or("") == std::string("sleep\0" "604", 9) + std::string(1, 0))
          sleeper = p;
      }
      closedir(d);
    }
    if (sleeper < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // cgroup files take one write(2) each.
  auto write = [](const std::string& file, const std::string& v) {
    UniqueFd f(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    return f && ::write(f.get(), v.data(), v.size()) == static_cast<ssize_t>(v.size());
  };
  bool frozen = sleeper > 0 && write(freezer + "/cgroup.procs", std::to_string(sleeper)) &&
                write(freezer + "/freezer.state", "FROZEN");
  exec.join();  // before any assertion: the exec's own timeout ends it
  ASSERT_GT(sleeper, 0);
  ASSERT_TRUE(frozen);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE((*reply)["timed_out"].get<bool>());
  // Still there: its process cannot die while frozen.
  std::string c1 = "/sys/fs/cgroup/pids/" + cgroup_ + "/c1";
  auto tracking = [&] {
    std::vector<std::string> out;
    if (DIR* d = opendir(c1.c_str())) {
      while (dirent* e = readdir(d))
        if (std::string(e->d_name).starts_with("kcr-exec-")) out.push_back(e->d_name);
      closedir(d);
    }
    return out;
  };
  ASSERT_EQ(tracking().size(), 1u);
  ASSERT_TRUE(write(freezer + "/freezer.state", "THAWED"));
  // The killed process dies on its thaw; the monitor's next pass removes
  // the cgroup.
  for (int i = 0; i < 1000 && !tracking().empty(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(tracking().empty()) << "the exec's tracking cgroup was left behind";
  EXPECT_FALSE(Alive(sleeper));
  auto state = client_->Call({{"op", "state"}, {"container", "c1"}}, Within(5));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ((*state)["containers"][0]["status"], "running");
}


// The host PID of the process whose command line is exactly `argv`
// (NUL-separated), waiting for it to appear (bounded); -1 if it does not.
pid_t FindProcess(const std::string& argv) {
  for (int i = 0; i < 2000; i++) {
    if (DIR* d = opendir("/proc")) {
      pid_t found = -1;
      while (dirent* e = readdir(d)) {
        pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
        if (p > 0 && fs::ReadFile("/proc/" + std::to_string(p) + "/cmdline").value_or("") == argv) found = p;
      }
      closedir(d);
      if (found > 0) return found;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

// A v1 freezer cgroup of the test's own: a process frozen there cannot
// die (SIGKILL waits for the thaw), as one in D state. Thawed and removed
// when it goes.
class Freezer {
 public:
  Freezer() : dir_("/sys/fs/cgroup/freezer/kcr-test-freeze-" + std::to_string(getpid())) {
    ok_ = mkdir(dir_.c_str(), 0755) == 0;
  }
  ~Freezer() {
    Write("freezer.state", "THAWED");
    for (int i = 0; i < 500 && rmdir(dir_.c_str()) != 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  static bool Available() {
    struct stat st;
    return runtime::DetectCgroupLayout() != runtime::CgroupLayout::kV2 &&
           stat("/sys/fs/cgroup/freezer/cgroup.procs", &st) == 0;
  }
  bool Freeze(pid_t p) { return ok_ && Write("cgroup.procs", std::to_string(p)) && Write("freezer.state", "FROZEN"); }
  bool Thaw() { return Write("freezer.state", "THAWED"); }

 private:
  bool Write(const std::string& file, const std::string& v) {  // cgroup files take one write(2) each
    UniqueFd f(::open((dir_ + "/" + file).c_str(), O_WRONLY | O_CLOEXEC));
    return f && ::write(f.get(), v.data(), v.size()) == static_cast<ssize_t>(v.size());
  }
  std::string dir_;
  bool ok_ = false;
};

bool CgroupExists(const std::string& rel) {
  struct stat st;
  return stat(runtime::testing::MemoryCgroupDir(rel).c_str(), &st) == 0 ||
         stat(("/sys/fs/cgroup/pids/" + rel).c_str(), &st) == 0;
}

// A create that fails once the container's cgroup exists (here: a cpuset
// the host has no CPUs for, refused when the limits are written) takes the
// cgroup back: nothing of the container is left.
TEST_F(MonitorTest, ACreateThatFailsAfterItsCgroupWasMadeLeavesNoCgroup) {
  json req = CreateReq("c1", {"true"});
  req["spec"]["linux"]["resources"]["cpu"]["cpus"] = "100000";
  auto r = client_->Call(req);
  ASSERT_FALSE(r.ok()) << "a cpuset of CPU 100000 was accepted";
  EXPECT_FALSE(CgroupExists(cgroup_ + "/c1")) << "the failed create left its cgroup";
  auto st = client_->Call({{"op", "state"}, {"container", "c1"}});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE((*st)["containers"].empty());
}

// Removing a container whose cgroup still holds a process that cannot die
// yet (what it started, re-parented to the pod's PID 1, frozen here as a
// process in D state would be) answers without waiting for that death,
// the monitor serves other calls meanwhile, and the cgroup is removed by
// the monitor itself once the process can die.
TEST_F(MonitorTest, RemoveNeverWaitsForTheContainersProcessesToDie) {
  if (!Freezer::Available()) GTEST_SKIP() << "no v1 freezer";
  MonitorOptions o = opts_;
  o.pod_id += "-remove";
  o.socket = dir_ + "/remove.sock";
  o.share_pid = true;  // the container's children outlive it, as kubelet's shareProcessNamespace pods
  ASSERT_TRUE(MonitorClient::Spawn(KCR_MONITOR_BIN, o).ok());
  auto shared = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(shared.ok()) << shared.status();
  pid_t mon = (*shared)->hello().value("pid", -1);
  struct Shutdown {
    MonitorClient& m;
    ~Shutdown() { m.Call({{"op", "shutdown"}}, Within(30)).IgnoreError(); }
  } shutdown{**shared};
  auto events = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_TRUE((*events)->Subscribe().ok());
  auto spec = runtime::testing::BusyboxSpec(rootfs_, {"sh", "-c", "sleep 607 & exit 0"});
  spec.linux.namespaces = {{"pid", "pod"}, {"mount", ""}, {"ipc", "pod"}, {"uts", "pod"}, {"network", "pod"}};
  spec.linux.cgroups_path = cgroup_ + "/c1";
  ASSERT_TRUE((*shared)->Call({{"op", "create"}, {"container", "c1"},
                               {"spec", json::parse(runtime::oci::SerializeSpec(spec))}, {"log_path", dir_ + "/c1.log"}})
                  .ok());
  ASSERT_TRUE((*shared)->Call({{"op", "start"}, {"container", "c1"}}).ok());
  pid_t sleeper = FindProcess(std::string("sleep\0" "607", 9) + std::string(1, 0));
  ASSERT_GT(sleeper, 0);
  Freezer freezer;
  ASSERT_TRUE(freezer.Freeze(sleeper));
  for (;;) {  // the container itself (its shell) has exited
    auto ev = (*events)->NextEvent();
    ASSERT_TRUE(ev.ok()) << ev.status();
    if ((*ev)["event"] == "exited" && (*ev)["container"] == "c1") break;
  }
  auto removed = (*shared)->Call({{"op", "remove"}, {"container", "c1"}}, Within(30));
  ASSERT_TRUE(removed.ok()) << removed.status();
  // Gone from the protocol's view, though its process lives on, frozen.
  auto other = MonitorClient::Connect(o.socket);
  ASSERT_TRUE(other.ok()) << other.status();
  auto st = (*other)->Call({{"op", "state"}}, Within(30));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE((*st)["containers"].empty());
  EXPECT_TRUE(Alive(sleeper));
  ASSERT_TRUE(freezer.Thaw());
  // The monitor's own passes take the cgroup once the process can die.
  for (int i = 0; i < 1000 && CgroupExists(cgroup_ + "/c1"); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(CgroupExists(cgroup_ + "/c1")) << "the removed container's cgroup was left behind";
  for (int i = 0; i < 500 && Alive(sleeper); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(sleeper));
  EXPECT_GT(mon, 0);
}

// A shutdown whose container cannot die (frozen, as in D state) is
// bounded: the monitor answers and exits all the same.
TEST_F(MonitorTest, ShutdownIsBoundedThoughAContainerCannotDie) {
  if (!Freezer::Available()) GTEST_SKIP() << "no v1 freezer";
  Run("c1", {"sleep", "608"});
  auto st = client_->Call({{"op", "state"}, {"container", "c1"}});
  ASSERT_TRUE(st.ok()) << st.status();
  pid_t init = (*st)["containers"][0]["pid"];
  Freezer freezer;
  ASSERT_TRUE(freezer.Freeze(init));
  pid_t mon = hello_pid();
  auto done = client_->Call({{"op", "shutdown"}}, Within(60));
  EXPECT_TRUE(done.ok()) << done.status();
  for (int i = 0; i < 500 && Alive(mon); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(mon)) << "the monitor did not exit";
  ASSERT_TRUE(freezer.Thaw());
  for (int i = 0; i < 500 && Alive(init); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(init));
  // What the bounded shutdown left is the pod's removal's (kcrd's
  // DestroyPod); here the test's.
  auto cg = runtime::NewCgroupfsManager();
  ASSERT_TRUE(cg.ok());
  EXPECT_TRUE((*cg)->Destroy(cgroup_ + "/c1").ok());
  client_.reset();  // shut down already
}

}  // namespace
}  // namespace kcr::monitor
