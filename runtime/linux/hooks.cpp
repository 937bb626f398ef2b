// OCI hooks: spawn, state on stdin, bounded wait, output kept for errors.
#include "runtime/linux/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace kcr::runtime {

namespace {

constexpr size_t kKeptOutput = 4096;  // the tail of what a failing hook wrote, for its error

// Appends what `out` (non-blocking) holds now to `tail`, keeping its end.
void DrainOutput(int out, std::string& tail) {
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n <= 0) continue;
    tail.append(buf, static_cast<size_t>(n));
    if (tail.size() > kKeptOutput) tail.erase(0, tail.size() - kKeptOutput);
  }
}

// The wait status of `pid` once it exits, or nullopt at `deadline` (the
// caller kills it). Reads the hook's output from `out` meanwhile, keeping
// the tail, so a chatty hook never blocks on a full pipe.
std::optional<int> WaitHook(pid_t pid, int out, std::string& tail, std::chrono::steady_clock::time_point deadline) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  bool out_open = true;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      DrainOutput(out, tail);  // what it wrote last (never a wait: a child it left may hold the pipe)
      return st;
    }
    if (r < 0 && errno != EINTR) return 255 << 8;  // not ours to wait for: treat as failed
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p[2] = {{pidfd.get(), POLLIN, 0}, {out_open ? out : -1, POLLIN, 0}};
    // Without a pidfd (an old kernel) poll in short steps.
    int wait_ms = pidfd ? static_cast<int>(std::min<int64_t>(left.count() + 1, 3600000)) : 10;
    if (::poll(p, 2, wait_ms) < 0 && errno != EINTR) return 255 << 8;
    if (out_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      DrainOutput(out, tail);
      if (p[1].revents & (POLLHUP | POLLERR) && !(p[1].revents & POLLIN)) out_open = false;  // ended
    }
  }
}

Status RunHook(const oci::Hook& h, const char* point, const std::string& state) {
  std::string what = std::string(point) + " hook " + h.path;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoError(what + ": pipe");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoError(what + ": pipe");
  UniqueFd out_r(out[0]), out_w(out[1]);
  // The state goes into the pipe before the hook runs: no write can block
  // on a hook that never reads (the state is a few hundred bytes; the pipe
  // is grown for large annotations).
  if (state.size() > 60000) ::fcntl(in_w.get(), F_SETPIPE_SZ, static_cast<int>(std::min<size_t>(state.size() + 4096, 1 << 20)));
  if (::write(in_w.get(), state.data(), state.size()) != static_cast<ssize_t>(state.size()))
    return absl::InvalidArgumentError(what + ": the container state does not fit its stdin pipe");
  in_w.reset();
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);  // kcrd and the monitor block signals for their signalfds
  posix_spawnattr_setsigdefault(&attr, &all);
  // Its own session: a timeout kills the hook and whatever it started.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = h.env;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, h.path.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  in_r.reset();
  out_w.reset();
  if (rc != 0) return absl::FailedPreconditionError(ErrnoError(what + ": exec", rc).message());

  auto timeout = h.timeout ? std::chrono::seconds(*h.timeout) : kDefaultHookTimeout;
  std::string tail;
  std::optional<int> st = WaitHook(pid, out_r.get(), tail, std::chrono::steady_clock::now() + timeout);
  if (!st) {
    ::kill(-pid, SIGKILL);
    int ignored;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    return absl::DeadlineExceededError(what + ": did not finish within " + std::to_string(timeout.count()) +
                                       "s; killed");
  }
  if (WIFEXITED(*st) && WEXITSTATUS(*st) == 0) return absl::OkStatus();
  while (tail.size() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  std::string how = WIFEXITED(*st) ? "exited with " + std::to_string(WEXITSTATUS(*st))
                                   : "killed by signal " + std::to_string(WTERMSIG(*st));
  return absl::FailedPreconditionError(what + ": " + how + (tail.empty() ? "" : ": " + tail));
}

}  // namespace

std::string HookState(const std::string& id, const std::string& status, pid_t pid, const std::string& bundle,
                      const std::map<std::string, std::string>& annotations) {
  nlohmann::json j = {{"ociVersion", "1.0.2"}, {"id", id}, {"status", status}, {"bundle", bundle}};
  if (pid > 0) j["pid"] = pid;
  if (!annotations.empty()) j["annotations"] = annotations;
  return j.dump();
}

Status RunHooks(const std::vector<oci::Hook>& hooks, const char* point, const std::string& state) {
  for (const auto& h : hooks) KCR_RETURN_IF_ERROR(RunHook(h, point, state));
  return absl::OkStatus();
}

}  // namespace kcr::runtime
