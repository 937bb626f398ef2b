#include "test/e2e/kcrd_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "common/fs.h"

extern char** environ;

namespace kcr::e2e {

CmdResult Run(const std::vector<std::string>& argv) {
  CmdResult r;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    r.out = "spawn failed: " + std::string(strerror(rc));
    return r;
  }
  char buf[8192];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

bool CgroupV2() {
  struct stat st;
  return ::stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
}

std::string MemoryCgroupDir(const std::string& rel) {
  return std::string(CgroupV2() ? "/sys/fs/cgroup/" : "/sys/fs/cgroup/memory/") + rel;
}

std::string MemoryLimitFile() { return CgroupV2() ? "memory.max" : "memory.limit_in_bytes"; }

int CountEntries(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") n++;
    closedir(d);
  }
  return n;
}

void KcrdFixture::SetUp() {
  dir_ = kcr::fs::MakeTempDir("kcr-e2e");
  root_ = dir_ + "/root";
  state_ = dir_ + "/state";
  sock_ = state_ + "/kcr.sock";
  config_ = dir_ + "/kcr.toml";
  log_ = dir_ + "/kcrd.log";
  setenv("CRI_CONFIG_FILE", "/dev/null", 1);  // crictl: no config file beyond our flags
}

void KcrdFixture::RemoveAllPods() {
  if (pid_ > 0) {
    ::runtime::v1::ListPodSandboxRequest lreq;
    ::runtime::v1::ListPodSandboxResponse lresp;
    if (Runtime().ListPodSandbox(Ctx().get(), lreq, &lresp).ok())
      for (const auto& p : lresp.items()) {
        grpc::Status st = RemovePod(p.id());
        EXPECT_TRUE(st.ok()) << "cleanup of pod " << p.id() << ": " << st.error_message();
      }
  }
}

void KcrdFixture::TearDown() {
  // Pods left by a failing test are removed through kcrd itself, so no
  // monitor, mount, netns or cgroup outlives the test.
  RemoveAllPods();
  if (pid_ > 0) Stop();
  // The pods' parent cgroup is this test's own (pods removed it above), in
  // every hierarchy this host mounts.
  if (DIR* d = ::opendir("/sys/fs/cgroup")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ::rmdir(("/sys/fs/cgroup/" + std::string(e->d_name) + "/" + cgroup_parent_).c_str());
    ::closedir(d);
  }
  ::rmdir(("/sys/fs/cgroup/" + cgroup_parent_).c_str());
  if (HasFailure()) {
    auto log = fs::ReadFile(log_);
    if (log.ok()) std::cerr << "---- kcrd log ----\n" << log->substr(log->size() > 20000 ? log->size() - 20000 : 0);
  }
  ASSERT_TRUE(fs::RemoveAll(dir_).ok());
}

void KcrdFixture::Start(const std::string& extra_arg) {
  WriteConfig(extra_arg);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<std::string> argv = launcher_;
  for (const char* a : {KCR_KCRD_BIN, "--config"}) argv.push_back(a);
  argv.push_back(config_);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ASSERT_EQ(posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  Connect();
}

void KcrdFixture::WriteConfig(const std::string& extra_arg) {
  if (!extra_arg.empty()) extra_toml_ = extra_arg;
  const std::string& extra = extra_toml_;
  cgroup_parent_ = "kcr-e2e-" + std::to_string(getpid()) + ".slice";
  std::string toml = "root = \"" + root_ + "\"\nstate = \"" + state_ + "\"\nlog_level = \"debug\"\n" +
                     "[cgroup]\nparent = \"" + cgroup_parent_ + "\"\n" + extra +
                     // The local registry replaces the origins: tests never reach out.
                     "\n[registry.mirrors.\"docker.io\"]\nserver = \"http://127.0.0.1:5000\"\n"
                     "[registry.mirrors.\"registry.k8s.io\"]\nserver = \"http://127.0.0.1:5000\"\n"
                     "[registry.mirrors.\"gcr.io\"]\nserver = \"http://127.0.0.1:5000\"\n";
  ASSERT_TRUE(fs::WriteFileAtomic(config_, toml).ok());
}

void KcrdFixture::Connect() {
  channel_ = grpc::CreateChannel("unix:" + sock_, grpc::InsecureChannelCredentials());
  images_ = ::runtime::v1::ImageService::NewStub(channel_);
  runtime_ = ::runtime::v1::RuntimeService::NewStub(channel_);
  for (int i = 0; i < 200; i++) {
    int st;
    if (pid_ > 0 && waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "kcrd exited during start-up: " << fs::ReadFile(log_).value_or("");
    }
    if (access(sock_.c_str(), F_OK) == 0) {
      ::runtime::v1::VersionRequest req;
      ::runtime::v1::VersionResponse resp;
      if (Runtime().Version(Ctx(2).get(), req, &resp).ok()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "kcrd did not answer on " << sock_;
}

pid_t KcrdFixture::KcrdPid() const {
  if (pid_ <= 0 || launcher_.empty()) return pid_;
  for (int i = 0; i < 100; i++) {
    std::string p = std::to_string(pid_);
    auto kids = fs::ReadFile("/proc/" + p + "/task/" + p + "/children");
    if (kids.ok() && !kids->empty()) return static_cast<pid_t>(std::stol(*kids));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int KcrdFixture::Stop() {
  if (pid_ <= 0) return -1;
  if (pid_t k = KcrdPid(); k > 0) kill(k, SIGTERM);
  int st = 0;
  for (int i = 0; i < 200; i++) {
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pid_t k = KcrdPid(); k > 0) kill(k, SIGKILL);
  kill(pid_, SIGKILL);
  waitpid(pid_, &st, 0);
  pid_ = -1;
  ADD_FAILURE() << "kcrd did not stop on SIGTERM within 10 s";
  return st;
}

void KcrdFixture::Kill9() {
  if (pid_ <= 0) return;
  if (pid_t k = KcrdPid(); k > 0) kill(k, SIGKILL);
  kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

CmdResult KcrdFixture::Crictl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{KCR_CRICTL_BIN, "--timeout", "60s", "-r", "unix://" + sock_, "-i", "unix://" + sock_};
  argv.insert(argv.end(), args.begin(), args.end());
  return e2e::Run(argv);
}

::runtime::v1::PodSandboxConfig KcrdFixture::PodConfig(const std::string& name) {
  ::runtime::v1::PodSandboxConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_metadata()->set_namespace_("e2e");
  c.mutable_metadata()->set_uid("uid-" + name);
  c.set_hostname(name);
  c.set_log_directory(dir_ + "/logs/" + name);
  c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(::runtime::v1::CONTAINER);
  return c;
}

StatusOr<std::string> KcrdFixture::RunPod(const ::runtime::v1::PodSandboxConfig& c) {
  ::runtime::v1::RunPodSandboxRequest req;
  *req.mutable_config() = c;
  ::runtime::v1::RunPodSandboxResponse resp;
  grpc::Status st = Runtime().RunPodSandbox(Ctx().get(), req, &resp);
  if (!st.ok()) return Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  return resp.pod_sandbox_id();
}

::runtime::v1::ContainerConfig KcrdFixture::CtrConfig(const std::string& name, const std::string& image, std::vector<std::string> cmd) {
  ::runtime::v1::ContainerConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_image()->set_image(image);
  for (auto& a : cmd) c.add_command(a);
  c.set_log_path(name + ".log");
  return c;
}

StatusOr<std::string> KcrdFixture::RunCtr(const std::string& pod, const ::runtime::v1::PodSandboxConfig& pc, const ::runtime::v1::ContainerConfig& c, bool start) {
  ::runtime::v1::CreateContainerRequest req;
  req.set_pod_sandbox_id(pod);
  *req.mutable_config() = c;
  *req.mutable_sandbox_config() = pc;
  ::runtime::v1::CreateContainerResponse resp;
  grpc::Status st = Runtime().CreateContainer(Ctx().get(), req, &resp);
  if (!st.ok()) return Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  if (start) {
    ::runtime::v1::StartContainerRequest sreq;
    sreq.set_container_id(resp.container_id());
    ::runtime::v1::StartContainerResponse sresp;
    st = Runtime().StartContainer(Ctx().get(), sreq, &sresp);
    if (!st.ok()) return Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return resp.container_id();
}

grpc::Status KcrdFixture::Pull(const std::string& image) {
  ::runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image(image);
  ::runtime::v1::PullImageResponse resp;
  return Images().PullImage(Ctx().get(), req, &resp);
}

::runtime::v1::ExecSyncResponse KcrdFixture::Exec(const std::string& ctr, std::vector<std::string> cmd, int timeout) {
  ::runtime::v1::ExecSyncRequest req;
  req.set_container_id(ctr);
  for (auto& a : cmd) req.add_cmd(a);
  req.set_timeout(timeout);
  ::runtime::v1::ExecSyncResponse resp;
  grpc::Status st = Runtime().ExecSync(Ctx().get(), req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return resp;
}

::runtime::v1::ContainerStatus KcrdFixture::CtrStatus(const std::string& id) {
  ::runtime::v1::ContainerStatusRequest req;
  req.set_container_id(id);
  ::runtime::v1::ContainerStatusResponse resp;
  EXPECT_TRUE(Runtime().ContainerStatus(Ctx().get(), req, &resp).ok());
  return resp.status();
}

grpc::Status KcrdFixture::RemovePod(const std::string& id) {
  ::runtime::v1::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(id);
  ::runtime::v1::RemovePodSandboxResponse resp;
  return Runtime().RemovePodSandbox(Ctx().get(), req, &resp);
}

StatusOr<nlohmann::json> KcrdFixture::MonitorRequest(const std::string& pod_id, nlohmann::json req) {
  std::string path = state_ + "/monitors/" + pod_id + ".sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket: " + std::string(strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{30, 0};  // a monitor that does not answer fails the request, not the test run
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return absl::InvalidArgumentError("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return absl::UnavailableError("connect " + path + ": " + strerror(errno));
  // Frames: a 4-byte big-endian length, then that much JSON.
  auto send = [&](const nlohmann::json& j) {
    std::string body = j.dump();
    uint32_t len = htonl(static_cast<uint32_t>(body.size()));
    std::string frame(reinterpret_cast<const char*>(&len), 4);
    frame += body;
    return ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size());
  };
  auto read_exactly = [&](char* p, size_t n) {
    while (n > 0) {
      ssize_t r = ::read(fd, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  };
  int id = 0;
  for (nlohmann::json r : {nlohmann::json{{"op", "hello"}, {"version", 1}}, req}) {
    r["id"] = ++id;
    if (!send(r)) return absl::UnavailableError("send to " + path + ": " + strerror(errno));
    for (;;) {
      uint32_t len = 0;
      if (!read_exactly(reinterpret_cast<char*>(&len), 4)) return absl::UnavailableError("no answer from " + path);
      std::string body(ntohl(len), '\0');
      if (!read_exactly(body.data(), body.size())) return absl::UnavailableError("no answer from " + path);
      nlohmann::json reply = nlohmann::json::parse(body, nullptr, false);
      if (reply.value("id", 0) != id) continue;  // an output chunk or event
      if (!reply.value("ok", false)) return absl::UnknownError(path + ": " + reply.value("error", reply.dump()));
      if (id == 2) return reply;
      break;
    }
  }
  return absl::InternalError("unreachable");
}

std::unique_ptr<grpc::ClientContext> KcrdFixture::Ctx(int timeout_s) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  return c;
}

}  // namespace kcr::e2e
