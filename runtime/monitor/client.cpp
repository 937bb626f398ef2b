#include "runtime/monitor/client.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "common/unix_socket.h"
#include "runtime/linux/userns.h"
#include "runtime/monitor/protocol.h"

extern char** environ;

namespace kcr::monitor {

using nlohmann::json;

Status MonitorClient::Spawn(const std::string& binary, const MonitorOptions& o) {
  // kcrd's sealed copy of the monitor is a descriptor, named through
  // /proc/self/fd: it stays open in the child until the exec (which closes
  // it: it is close-on-exec), and argv[0] names the program, not the fd.
  int exec_fd = -1;
  if (binary.rfind("/proc/self/fd/", 0) == 0) exec_fd = std::atoi(binary.c_str() + 14);
  std::vector<std::string> args{exec_fd >= 0 ? "kcr-monitor" : binary, "--detach", "--pod", o.pod_id, "--socket",
                                o.socket, "--containers-dir", o.containers_dir};
  if (!o.netns.empty()) args.insert(args.end(), {"--netns", o.netns});
  if (!o.hostname.empty()) args.insert(args.end(), {"--hostname", o.hostname});
  if (o.host_ipc) args.push_back("--host-ipc");
  if (o.host_uts) args.push_back("--host-uts");
  if (o.share_pid) args.push_back("--share-pid");
  for (const auto& m : o.uid_mappings) args.insert(args.end(), {"--uid-map", runtime::FormatIdMapping(m)});
  for (const auto& m : o.gid_mappings) args.insert(args.end(), {"--gid-map", runtime::FormatIdMapping(m)});
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
  // An explicit descriptor list: stdio and nothing else, whatever kcrd
  // holds without close-on-exec (the monitor outlives kcrd, and every
  // container is forked from it).
  if (exec_fd >= 3) {
    for (int fd = 3; fd < exec_fd; fd++) posix_spawn_file_actions_addclose(&fa, fd);
    posix_spawn_file_actions_addclosefrom_np(&fa, exec_fd + 1);
  } else {
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  }
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

StatusOr<std::unique_ptr<MonitorClient>> MonitorClient::Connect(const std::string& socket,
                                                                std::chrono::milliseconds timeout) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (Status st = ConnectUnix(fd.get(), socket); !st.ok())
    return absl::UnavailableError("no pod monitor: " + std::string(st.message()));
  std::unique_ptr<MonitorClient> c(new MonitorClient(std::move(fd)));
  CallOptions o;
  o.timeout = timeout;
  KCR_ASSIGN_OR_RETURN(c->hello_, c->Call({{"op", "hello"}, {"version", kProtocolVersion}}, o));
  return c;
}

namespace {
using Clock = std::chrono::steady_clock;

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1000));  // wake up at least once a second
}
}  // namespace

StatusOr<json> MonitorClient::ReadUntil(Clock::time_point deadline, const CallOptions& o, const std::string& op) {
  char buf[65536];
  for (;;) {
    json msg;
    KCR_ASSIGN_OR_RETURN(bool have, reader_.Next(&msg));
    if (have) return msg;
    if (o.cancelled && o.cancelled()) return absl::CancelledError("monitor " + op + ": the caller went away");
    if (Clock::now() >= deadline) return absl::DeadlineExceededError("the pod monitor did not answer " + op + " in time");
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, MillisLeft(deadline));
    if (n < 0 && errno != EINTR) return ErrnoError("poll the pod monitor");
    if (n <= 0) continue;
    std::vector<int> fds;
    auto got = RecvWithFds(fd_.get(), buf, sizeof buf, &fds);
    for (int f : fds) reader_.AddFd(f);
    if (!got.ok()) return Annotate(got.status(), "read from monitor");
    if (*got == 0) return absl::UnavailableError("monitor closed the connection");
    reader_.Append(buf, *got);
  }
}

StatusOr<json> MonitorClient::Call(json req, std::vector<UniqueFd>* fds, const CallOptions& o) {
  auto deadline = Clock::now() + o.timeout;
  std::string op = req.value("op", "");
  std::unique_lock<std::timed_mutex> l(mu_, std::defer_lock);
  if (!l.try_lock_until(deadline))
    return absl::DeadlineExceededError("the pod monitor connection stayed busy; " + op + " not sent");
  uint64_t id = next_id_++;
  req["id"] = id;
  std::string frame = EncodeFrame(req);
  for (size_t off = 0; off < frame.size();) {
    ssize_t w = ::send(fd_.get(), frame.data() + off, frame.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
      Status st = ErrnoError("write to monitor");
      Close();
      return st;
    }
    pollfd p{fd_.get(), POLLOUT, 0};
    if (Clock::now() >= deadline || ::poll(&p, 1, MillisLeft(deadline)) < 0) {
      Close();
      return absl::DeadlineExceededError("the pod monitor did not take " + op + " in time");
    }
  }
  std::map<std::string, std::string> chunks;  // exec_sync output by stream
  for (;;) {
    auto resp = ReadUntil(deadline, o, op);
    if (!resp.ok()) {
      // A late reply would arrive on this connection: it is not reused.
      Close();
      return resp.status();
    }
    if (resp->contains("event")) continue;  // not subscribed here; ignore
    if (resp->value("id", uint64_t{0}) != id) continue;
    if (resp->contains("chunk")) {
      auto data = Base64Decode(resp->value("data", ""));
      if (!data.ok()) return Annotate(data.status(), "monitor " + op + " output");
      chunks[resp->value("chunk", "")] += *data;
      continue;
    }
    size_t nfds = resp->contains("fds") && (*resp)["fds"].is_array() ? (*resp)["fds"].size() : 0;
    KCR_ASSIGN_OR_RETURN(std::vector<UniqueFd> got, reader_.TakeFds(nfds));
    if (!resp->value("ok", false))
      return Status(static_cast<absl::StatusCode>(resp->value("code", 13)), resp->value("error", "monitor error"));
    for (auto& [stream, data] : chunks) (*resp)[stream] = std::move(data);
    if (fds) *fds = std::move(got);
    return resp;
  }
}

void MonitorClient::Close() {
  broken_.store(true);
  ::shutdown(fd_.get(), SHUT_RDWR);
}

Status MonitorClient::Subscribe() { return Call({{"op", "subscribe"}}).status(); }

StatusOr<json> MonitorClient::NextEvent() {
  for (;;) {
    KCR_ASSIGN_OR_RETURN(json msg, ReadFrame(fd_.get(), reader_));
    if (msg.contains("event")) return msg;
  }
}

}  // namespace kcr::monitor
