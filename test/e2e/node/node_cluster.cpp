#include "test/e2e/node/node_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace kcr::node {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> Environ(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; e++) {
    std::string s(*e);
    if (!extra.count(s.substr(0, s.find('=')))) env.push_back(s);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> Ptrs(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// posix_spawn with stdin from `in_fd` (-1: /dev/null) and stdout/stderr to
// the given pipe ends; returns the PID or -1.
pid_t Spawn(std::vector<std::string> argv, const std::map<std::string, std::string>& env, int in_fd, int out_fd,
            int err_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  std::vector<std::string> envs = Environ(env);
  auto args = Ptrs(argv);
  auto envp = Ptrs(envs);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int ExitCode(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

std::string ClusterDir() {
  const char* d = getenv("KCR_NODE_CLUSTER_DIR");
  return d && *d ? d : KCR_NODE_CLUSTER_DIR_DEFAULT;
}

Cluster g_cluster;

// Finds the cluster ctest's fixture made, or makes one and takes it down
// at the end.
class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    // A child that exits before reading all its stdin must not kill us.
    signal(SIGPIPE, SIG_IGN);
    setenv("KCR_BUILD_DIR", KCR_BUILD_DIR, 0);
    setenv("CRI_CONFIG_FILE", "/dev/null", 1);
    g_cluster.script = KCR_NODE_CLUSTER_SH;
    std::string dir = ClusterDir();
    if (!ReadEnv(dir) || !NodeReady()) {
      auto t0 = Clock::now();
      Proc up = RunCmd({g_cluster.script, "up", dir}, "", 600);
      ASSERT_EQ(up.code, 0) << "cluster.sh up " << dir << ":\n" << up.out << up.err;
      owned_ = true;
      ASSERT_TRUE(ReadEnv(dir));
      std::cerr << "[cluster up in "
                << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count() << " s]\n";
    }
  }
  void TearDown() override {
    if (!owned_) return;
    Proc down = RunCmd({g_cluster.script, "down", g_cluster.dir}, "", 300);
    EXPECT_EQ(down.code, 0) << "cluster.sh down:\n" << down.out << down.err;
  }

 private:
  static bool ReadEnv(const std::string& dir) {
    Proc env = RunCmd({KCR_NODE_CLUSTER_SH, "env", dir}, "", 30);
    if (env.code != 0) return false;
    std::istringstream in(env.out);
    std::map<std::string, std::string> kv;
    for (std::string line; std::getline(in, line);)
      if (auto eq = line.find('='); eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    g_cluster.dir = kv["KCR_NODE_DIR"];
    g_cluster.netns = kv["KCR_NODE_NETNS"];
    g_cluster.node = kv["KCR_NODE_NAME"];
    g_cluster.node_ip = kv["KCR_NODE_IP"];
    g_cluster.cgroup_root = kv["KCR_NODE_CGROUP_ROOT"];
    g_cluster.cgroup_driver = kv["KCR_NODE_CGROUP_DRIVER"];
    g_cluster.kubectl = kv["KCR_NODE_KUBECTL"];
    g_cluster.crictl = kv["KCR_NODE_CRICTL"];
    return access(g_cluster.kubectl.c_str(), X_OK) == 0;
  }
  static bool NodeReady() {
    Proc p = RunCmd({g_cluster.kubectl, "get", "node", g_cluster.node, "-o",
                  "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"},
                 "", 30);
    return p.code == 0 && p.out == "True";
  }
  bool owned_ = false;
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

}  // namespace

Proc RunCmd(const std::vector<std::string>& argv, const std::string& in, int timeout_s,
         const std::map<std::string, std::string>& env) {
  Proc r;
  int ip[2], op[2], ep[2];
  if (pipe2(ip, O_CLOEXEC) != 0) return r;
  if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) return r;
  pid_t pid = Spawn(argv, env, ip[0], op[1], ep[1]);
  close(ip[0]);
  close(op[1]);
  close(ep[1]);
  if (pid < 0) {
    for (int fd : {ip[1], op[0], ep[0]}) close(fd);
    r.err = "spawn of " + argv[0] + " failed";
    return r;
  }
  fcntl(ip[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  int in_fd = ip[1];
  if (in.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  int open_outs = 2;
  while (open_outs > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(fds, in_fd >= 0 ? 3 : 2, static_cast<int>(std::min<long>(left, 1000))) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[16384];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        (i == 0 ? op[0] : ep[0]) = -1;
        open_outs--;
      }
    }
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(in_fd, in.data() + written, in.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == in.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  for (int fd : {in_fd, op[0], ep[0]})
    if (fd >= 0) close(fd);
  int st = 0;
  waitpid(pid, &st, 0);
  r.code = ExitCode(st);
  return r;
}

Background::Background(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return;
  pid_ = Spawn(argv, env, -1, p[1], p[1]);
  close(p[1]);
  fd_ = p[0];
}

Background::~Background() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

bool Background::WaitFor(const std::string& needle, int timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (out_.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || fd_ < 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) {
      close(fd_);
      fd_ = -1;
      return out_.find(needle) != std::string::npos;
    }
    out_.append(buf, static_cast<size_t>(n));
  }
  return true;
}

const Cluster& TheCluster() { return g_cluster; }

::testing::AssertionResult ClusterScript(const std::string& cmd, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {g_cluster.script, cmd, g_cluster.dir};
  argv.insert(argv.end(), args.begin(), args.end());
  Proc p = RunCmd(argv, "", 300);
  if (p.code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "cluster.sh " << cmd << " exited " << p.code << ":\n" << p.out << p.err;
}

void NodeTest::TearDown() {
  for (const auto& f : applied_) {
    if (HasFailure()) {
      Proc d = Kubectl({"describe", "-f", f}, "", 60);
      std::cerr << "---- kubectl describe -f " << f << " ----\n" << d.out.substr(0, 12000) << d.err;
    }
    Kubectl({"delete", "-f", f, "--wait=false", "--ignore-not-found"}, "", 60);
  }
}

Proc NodeTest::Kubectl(std::vector<std::string> args, const std::string& in, int timeout_s,
                       const std::map<std::string, std::string>& env) {
  args.insert(args.begin(), g_cluster.kubectl);
  return RunCmd(args, in, timeout_s, env);
}

nlohmann::json NodeTest::Get(std::vector<std::string> args) {
  args.insert(args.begin(), "get");
  args.push_back("-o");
  args.push_back("json");
  Proc p = Kubectl(args, "", 60);
  if (p.code != 0) {
    ADD_FAILURE() << "kubectl " << ::testing::PrintToString(args) << ": " << p.err;
    return nullptr;
  }
  auto j = nlohmann::json::parse(p.out, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << "kubectl output is not JSON: " << p.out.substr(0, 500);
  return j.is_discarded() ? nlohmann::json() : j;
}

void NodeTest::Apply(const std::string& manifest) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = g_cluster.dir + "/manifests";
  mkdir(dir.c_str(), 0755);
  std::string f = dir + "/" + info->test_suite_name() + "." + info->name() + "-" + std::to_string(applied_.size()) +
                  ".yaml";
  std::ofstream(f) << manifest;
  Proc p = Kubectl({"apply", "-f", f}, "", 60);
  ASSERT_EQ(p.code, 0) << "kubectl apply -f " << f << ": " << p.out << p.err;
  applied_.push_back(f);
}

::testing::AssertionResult NodeTest::Wait(const std::string& what, const std::string& for_, int timeout_s) {
  Proc p = Kubectl({"wait", what, "--for=" + for_, "--timeout=" + std::to_string(timeout_s) + "s"}, "",
                   timeout_s + 30);
  if (p.code == 0) return ::testing::AssertionSuccess();
  Proc st = Kubectl({"get", what, "-o", "yaml"}, "", 30);
  return ::testing::AssertionFailure() << "kubectl wait " << what << " --for=" << for_ << ": " << p.out << p.err
                                       << "\n" << st.out.substr(0, 6000);
}

bool NodeTest::Eventually(const std::function<bool()>& pred, int timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

nlohmann::json NodeTest::Pod(const std::string& name) {
  Proc p = Kubectl({"get", "pod", name, "-o", "json", "--ignore-not-found"}, "", 60);
  if (p.code != 0 || p.out.empty()) return nullptr;
  auto j = nlohmann::json::parse(p.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

nlohmann::json NodeTest::ContainerStatus(const std::string& pod, const std::string& ctr) {
  auto p = Pod(pod);
  if (p.is_null()) return nullptr;
  for (const char* list : {"containerStatuses", "initContainerStatuses"})
    for (const auto& c : p["status"].value(list, nlohmann::json::array()))
      if (c.value("name", "") == ctr) return c;
  return nullptr;
}

Proc NodeTest::Exec(const std::string& pod, const std::string& ctr, std::vector<std::string> cmd) {
  std::vector<std::string> args = {"exec", pod, "-c", ctr, "--"};
  args.insert(args.end(), cmd.begin(), cmd.end());
  return Kubectl(args, "", 60);
}

std::string NodeTest::StripScheme(const std::string& id) {
  auto p = id.find("://");
  return p == std::string::npos ? id : id.substr(p + 3);
}

}  // namespace kcr::node
