// kcr-monitor: the per-pod process (see monitor.h). Started by kcrd with
// --detach: it forks, the child sets the pod up and reports readiness, the
// parent exits, so the monitor is reparented away from kcrd and survives it.
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/log.h"
#include "runtime/linux/userns.h"
#include "runtime/monitor/monitor.h"

int main(int argc, char** argv) {
  // Nothing a launcher left open reaches a container (kcrd spawns monitors
  // with stdio only; another launcher may not): every container and exec
  // child is forked from this process.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  kcr::monitor::MonitorOptions o;
  bool detach = false;
  CLI::App app{"kcr-monitor: kcr's per-pod monitor"};
  app.add_option("--pod", o.pod_id, "pod sandbox ID")->required();
  app.add_option("--socket", o.socket, "control socket path")->required();
  app.add_option("--containers-dir", o.containers_dir, "where exit records are written")->required();
  app.add_option("--netns", o.netns, "the pod's pinned network namespace (empty: host network)");
  app.add_option("--hostname", o.hostname, "the pod's hostname");
  app.add_flag("--host-ipc", o.host_ipc, "use the host IPC namespace");
  app.add_flag("--host-uts", o.host_uts, "use the host UTS namespace");
  app.add_flag("--share-pid", o.share_pid, "one PID namespace for the whole pod");
  app.add_flag("--detach", detach, "fork into the background once ready");
  std::vector<std::string> uid_maps, gid_maps;
  app.add_option("--uid-map", uid_maps, "a pod user namespace's uid mapping, container:host:length");
  app.add_option("--gid-map", gid_maps, "a pod user namespace's gid mapping, container:host:length");
  CLI11_PARSE(app, argc, argv);
  for (auto [texts, out] : {std::pair{&uid_maps, &o.uid_mappings}, std::pair{&gid_maps, &o.gid_mappings}})
    for (const auto& t : *texts) {
      auto m = kcr::runtime::ParseIdMapping(t);
      if (!m.ok()) {
        std::fprintf(stderr, "kcr-monitor: %s\n", std::string(m.status().message()).c_str());
        return 2;
      }
      out->push_back(*m);
    }
  kcr::SetLogLevel("info").IgnoreError();

  int ready[2] = {-1, -1};
  if (detach) {
    if (::pipe2(ready, O_CLOEXEC) != 0) return 1;
    pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid > 0) {  // the parent reports the child's set-up result and exits
      ::close(ready[1]);
      char buf[4096];
      ssize_t n = ::read(ready[0], buf, sizeof buf);
      if (n == 1 && buf[0] == 'R') return 0;
      if (n > 0) std::fprintf(stderr, "kcr-monitor: %.*s\n", static_cast<int>(n - 1), buf + 1);
      return 1;
    }
    ::close(ready[0]);
    ::setsid();
  }
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_NAME, "kcr-monitor", 0, 0, 0);
  // RunMonitor reports readiness through this hook once listening.
  kcr::Status st = kcr::monitor::RunMonitor(o, [&](const kcr::Status& init) {
    if (ready[1] < 0) return;
    std::string msg = init.ok() ? "R" : "E" + std::string(init.message());
    (void)!::write(ready[1], msg.data(), msg.size());
    ::close(ready[1]);
    ready[1] = -1;
    if (detach) {  // stdio must not keep kcrd's pipes open
      // Only the copies on 0..2 may outlive this block: every container
      // and exec child is forked from this process.
      int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      if (devnull > 2) ::close(devnull);
    }
  });
  if (!st.ok()) {
    std::fprintf(stderr, "kcr-monitor: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  return 0;
}
