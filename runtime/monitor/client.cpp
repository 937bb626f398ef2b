#include "runtime/monitor/client.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common/unix_socket.h"
#include "runtime/monitor/protocol.h"

extern char** environ;

namespace kcr::monitor {

using nlohmann::json;

Status MonitorClient::Spawn(const std::string& binary, const MonitorOptions& o) {
  std::vector<std::string> args{binary, "--detach", "--pod", o.pod_id, "--socket", o.socket,
                                "--containers-dir", o.containers_dir};
  if (!o.netns.empty()) args.insert(args.end(), {"--netns", o.netns});
  if (!o.hostname.empty()) args.insert(args.end(), {"--hostname", o.hostname});
  if (o.host_ipc) args.push_back("--host-ipc");
  if (o.host_uts) args.push_back("--host-uts");
  if (o.share_pid) args.push_back("--share-pid");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  pid_t pid;
  int rc = ::posix_spawn(&pid, binary.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoError("start " + binary, rc);
  err_w.reset();
  // The launcher exits once the detached monitor is ready (or failed); its
  // message is in the pipe by then. The pipe is not read to EOF: a process
  // the monitor started could hold it.
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(err_r.get(), buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return absl::FailedPreconditionError("pod monitor for " + o.pod_id + " failed to start: " +
                                         (msg.empty() ? "exit status " + std::to_string(st) : msg));
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<MonitorClient>> MonitorClient::Connect(const std::string& socket) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (Status st = ConnectUnix(fd.get(), socket); !st.ok())
    return absl::UnavailableError("no pod monitor: " + std::string(st.message()));
  std::unique_ptr<MonitorClient> c(new MonitorClient(std::move(fd)));
  KCR_ASSIGN_OR_RETURN(c->hello_, c->Call({{"op", "hello"}, {"version", kProtocolVersion}}));
  return c;
}

StatusOr<json> MonitorClient::Call(json req) { return Call(std::move(req), nullptr); }

StatusOr<json> MonitorClient::Call(json req, std::vector<UniqueFd>* fds) {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t id = next_id_++;
  req["id"] = id;
  KCR_RETURN_IF_ERROR(WriteFrame(fd_.get(), req));
  for (;;) {
    KCR_ASSIGN_OR_RETURN(json resp, ReadFrame(fd_.get(), reader_));
    if (resp.contains("event")) continue;  // not subscribed here; ignore
    if (resp.value("id", uint64_t{0}) != id) continue;
    size_t nfds = resp.contains("fds") && resp["fds"].is_array() ? resp["fds"].size() : 0;
    KCR_ASSIGN_OR_RETURN(std::vector<UniqueFd> got, reader_.TakeFds(nfds));
    if (!resp.value("ok", false))
      return Status(static_cast<absl::StatusCode>(resp.value("code", 13)), resp.value("error", "monitor error"));
    if (fds) *fds = std::move(got);
    return resp;
  }
}

void MonitorClient::Close() { ::shutdown(fd_.get(), SHUT_RDWR); }

Status MonitorClient::Subscribe() { return Call({{"op", "subscribe"}}).status(); }

StatusOr<json> MonitorClient::NextEvent() {
  for (;;) {
    KCR_ASSIGN_OR_RETURN(json msg, ReadFrame(fd_.get(), reader_));
    if (msg.contains("event")) return msg;
  }
}

}  // namespace kcr::monitor
