#include "runtime/cni/plugin_exec.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fd.h"

namespace kcr::runtime {

namespace {
struct Pipe {
  UniqueFd r, w;
  Status Open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
    r.reset(fds[0]);
    w.reset(fds[1]);
    return absl::OkStatus();
  }
};
}  // namespace

StatusOr<PluginOutput> ExecPlugin(const std::string& binary, const std::vector<std::string>& env,
                                  const std::string& input) {
  return ExecProgram(binary, {}, env, input);
}

StatusOr<PluginOutput> ExecProgram(const std::string& binary, const std::vector<std::string>& args,
                                   const std::vector<std::string>& env, const std::string& input) {
  Pipe in, out, err;
  KCR_RETURN_IF_ERROR(in.Open());
  KCR_RETURN_IF_ERROR(out.Open());
  KCR_RETURN_IF_ERROR(err.Open());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out.w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err.w.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);  // kcrd blocks SIGTERM; plugins must not inherit that
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv{const_cast<char*>(binary.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoError("exec CNI plugin " + binary, rc);
  in.r.reset();
  out.w.reset();
  err.w.reset();

  PluginOutput res;
  size_t written = 0;
  constexpr size_t kMax = 4 << 20;
  Status failure;
  ::fcntl(in.w.get(), F_SETFL, O_NONBLOCK);
  while (out.r || err.r) {
    pollfd p[3];
    int n = 0;
    if (in.w) p[n++] = {in.w.get(), POLLOUT, 0};
    if (out.r) p[n++] = {out.r.get(), POLLIN, 0};
    if (err.r) p[n++] = {err.r.get(), POLLIN, 0};
    if (::poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      failure = ErrnoError("poll CNI plugin " + binary);
      break;
    }
    for (int i = 0; i < n; i++) {
      if (!p[i].revents) continue;
      if (in.w && p[i].fd == in.w.get()) {
        ssize_t w = ::write(in.w.get(), input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) in.w.reset();
        if (written == input.size()) in.w.reset();
        continue;
      }
      UniqueFd& fd = (out.r && p[i].fd == out.r.get()) ? out.r : err.r;
      std::string& dst = (&fd == &out.r) ? res.out : res.err;
      char buf[8192];
      ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r <= 0) {
        fd.reset();
      } else {
        dst.append(buf, static_cast<size_t>(r));
        if (dst.size() > kMax) {
          failure = absl::ResourceExhaustedError("CNI plugin " + binary + " wrote more than 4 MiB");
          out.r.reset();
          err.r.reset();
        }
      }
    }
    if (input.empty()) in.w.reset();
  }
  in.w.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("wait CNI plugin " + binary);
  }
  KCR_RETURN_IF_ERROR(failure);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

}  // namespace kcr::runtime
